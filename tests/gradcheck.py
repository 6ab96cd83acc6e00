"""Helpers for the gradient checks (not a test module).

The check itself lives in the library (``framework.gradient_check``), so the
tests and learners use the same central differences; see that module for
the choice of eps.
"""
from framework.gradient_check import EPS, max_relative_error, numerical_gradient

TOLERANCE = 1e-6

__all__ = ["EPS", "TOLERANCE", "max_relative_error", "numerical_gradient"]
