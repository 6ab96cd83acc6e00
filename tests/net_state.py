"""Exact comparison of net states, shared by the callback and step-API tests."""
import numpy as np


def same_arrays(a, b):
    """True when two ``net.get_state()`` dicts ({layer: {array: values}}) are bit-identical."""
    return a.keys() == b.keys() and all(
        a[k].keys() == b[k].keys() and all(np.array_equal(a[k][p], b[k][p]) for p in a[k])
        for k in a)


def same_snapshot(a, b):
    """True when two ``net.snapshot()`` results (arrays and optimizer state) are identical."""
    return same_arrays(a["arrays"], b["arrays"]) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        for x, y in zip(a["optimizer"], b["optimizer"]))
