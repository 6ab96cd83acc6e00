"""Helpers for the gradient checks (not a test module).

Backprop is compared with central differences in float64:
df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), whose truncation error
is O(eps^2) and rounding error O(1e-16 / eps); eps = 1e-6 balances the two.
"""
import numpy as np

EPS = 1e-6
TOLERANCE = 1e-6


def numerical_gradient(f, x, eps=EPS):
    """Central-difference gradient of the scalar ``f()`` w.r.t. array ``x``,
    which is perturbed in place (and restored)."""
    assert x.dtype == np.float64, "gradient checks must run in float64"
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, x)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def max_relative_error(a, b, tiny=1e-12):
    """max |a - b| / max(|a| + |b|, tiny), element-wise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)))
