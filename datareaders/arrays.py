"""Array plumbing for DataReader: input checks, min-max fitting, batch buffers.

Kept apart from ``base.py`` so the reader class reads as the textbook's steps.
"""
import numpy as np

from framework.infra.batches import iter_batches  # noqa: F401  (the readers' batches)
from framework.infra.validation import all_finite


def check_sets(dtype, **sets):
    """Validate and convert x_train, y_train, x_test, y_test; return them as a dict.

    x becomes ``dtype``; y stays integer if it holds integer labels (they
    become float in ``normalize_y``) and becomes ``dtype`` if it is float;
    a 1-D y becomes a column. x may be (N, features) or N-D, e.g. (N, C, H, W)
    images. Every set comes back C-contiguous (a transposed or Fortran-order
    input is copied once here): ``np.take`` copies a non-contiguous source
    whole on every call, which would copy the training set for every batch.
    Every error names the array at fault.
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
        value = np.ascontiguousarray(value)
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


def fit_z_score(parts, per_feature=True):
    """(mean, standard deviation) in float64 over the rows of all ``parts``; std 0 -> 1,
    in the (offset, scale) form ``fit_min_max`` returns, so one transform serves both."""
    flat = np.concatenate([p.reshape(p.shape[0], -1) for p in parts if p.shape[0]])
    axis = 0 if per_feature else None
    mean = flat.mean(axis=axis, dtype=np.float64)
    std = flat.std(axis=axis, dtype=np.float64)
    return mean, np.where(std > 0, std, 1.0)


SCALINGS = {"min_max": fit_min_max, "z_score": fit_z_score}


