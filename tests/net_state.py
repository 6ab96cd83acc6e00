"""Exact comparison of net states, shared by the callback and step-API tests."""
import numpy as np


def same_arrays(a, b):
    """True when two flat state dicts (``net.state_dict()`` / ``net.snapshot()``) hold the
    same keys and bit-identical values."""
    return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)


def _equal(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(x, y)
    return x == y


def weights_only(state):
    """The parameter and buffer entries of a flat state dict (no optimizer, no counters)."""
    return {k: v for k, v in state.items() if "/" in k and not k.startswith("optimizer/")}


same_snapshot = same_arrays
