"""Array plumbing for DataReader: input checks, min-max fitting, batch buffers.

Kept apart from ``base.py`` so the reader class reads as the textbook's steps.
"""
import numpy as np


def all_finite(a):
    """NaN/inf check by two reductions: no (N, F) bool temporary."""
    return a.size == 0 or bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def check_sets(dtype, **sets):
    """Validate and convert x_train, y_train, x_test, y_test; return them as a dict.

    x becomes ``dtype``; y stays integer if it holds integer labels (they
    become float in ``normalize_y``) and becomes ``dtype`` if it is float;
    a 1-D y becomes a column. Every error names the array at fault.
    """
    for name, value in sets.items():
        value = np.asarray(value)
        if name.startswith("y") and value.ndim == 1:
            value = value.reshape(-1, 1)
        if value.ndim < 2:
            raise ValueError(f"{name}: expected rows of samples (at least 2-D), "
                             f"got shape {value.shape}")
        if value.dtype.kind == "f" or name.startswith("x"):
            value = value.astype(dtype, copy=False)
        if value.dtype.kind == "f" and not all_finite(value):
            row = int(np.argwhere(~np.isfinite(value))[0][0])
            raise ValueError(f"{name} contains NaN or inf (first at row {row})")
        sets[name] = value
    for part in ("train", "test"):
        nx, ny = sets[f"x_{part}"].shape[0], sets[f"y_{part}"].shape[0]
        if nx != ny:
            raise ValueError(f"x_{part} has {nx} rows but y_{part} has {ny}")
    if sets["x_train"].shape[0] == 0:
        raise ValueError("the training set is empty")
    if sets["x_train"].shape[1:] != sets["x_test"].shape[1:]:
        raise ValueError(f"x_train rows have shape {sets['x_train'].shape[1:]} "
                         f"but x_test rows {sets['x_test'].shape[1:]}")
    return sets


def fit_min_max(parts, per_feature=True):
    """(min, range) in float64 over the rows of all ``parts``; range 0 -> 1.

    A constant column gets range 1 so it maps to 0 instead of dividing by 0.
    """
    flat = [p.reshape(p.shape[0], int(np.prod(p.shape[1:]))) for p in parts if p.shape[0]]
    axis = 0 if per_feature else None
    lo = np.min([f.min(axis=axis) for f in flat], axis=0).astype(np.float64)
    hi = np.max([f.max(axis=axis) for f in flat], axis=0).astype(np.float64)
    return lo, np.where(hi - lo > 0, hi - lo, 1.0)


def iter_batches(x, y, batch_size, rng, buffers):
    """Yield consecutive slices of (x, y), permuted by ``rng`` into ``buffers``.

    ``buffers`` is a (x_buffer, y_buffer) pair of x's and y's shape, or None
    to slice x and y in their stored order. ``mode="clip"`` keeps ``np.take``
    from buffering (the indices are a permutation, always in range).
    """
    if rng is not None:
        perm = rng.permutation(x.shape[0])
        np.take(x, perm, axis=0, out=buffers[0], mode="clip")
        np.take(y, perm, axis=0, out=buffers[1], mode="clip")
        x, y = buffers
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]
