"""Checks on arrays shared by the net and the data readers."""
import numpy as np


def all_finite(x):
    """True if ``x`` holds no NaN or inf, without an (N, F) bool temporary.

    One streaming sum decides it: NaN or inf anywhere makes the sum NaN or
    inf. A finite sum therefore proves every value finite; a non-finite one
    (possibly a finite overflow) falls back to the exact check.
    """
    if x.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(x, axis=None)):
            return True
    return bool(np.isfinite(x).all())
