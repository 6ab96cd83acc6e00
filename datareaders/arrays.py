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
    Every error names the array at fault. Only real numbers are accepted:
    complex values (casting would drop the imaginary part), strings, objects
    and dates are refused, as are values that the cast to ``dtype`` would turn
    into inf (1e39 in float32), which are named as overflows, not as NaN.
    """
    for name, given in sets.items():
        value = as_real_array(name, given)
        if name.startswith("y") and value.ndim == 1:
            value = value.reshape(-1, 1)
        if value.ndim < 2:
            raise ValueError(f"{name}: expected rows of samples (at least 2-D), "
                             f"got shape {value.shape}")
        source = value
        if value.dtype.kind == "f" or name.startswith("x"):
            with np.errstate(over="ignore"):
                value = value.astype(dtype, copy=False)
        value = np.ascontiguousarray(value)
        if value.dtype.kind == "f" and not all_finite(value):
            _refuse_non_finite(name, source, value)
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


def as_real_array(name, value):
    """``value`` as an array of real numbers (bool, integer or float); a ValueError
    naming ``name`` for anything else, before any cast could change a value."""
    try:
        array = np.asarray(value)
    except ValueError as error:         # ragged nested lists
        raise ValueError(f"{name}: expected a rectangular array of numbers ({error})") \
            from None
    kind = array.dtype.kind
    if kind == "c":
        raise ValueError(f"{name}: complex values (dtype {array.dtype}) are refused: the "
                         f"imaginary part would be dropped; pass real numbers")
    if kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got dtype {array.dtype} "
                         f"({_KINDS.get(kind, 'not numbers')})")
    return array


_KINDS = {"U": "text", "S": "bytes", "O": "Python objects", "M": "dates", "m": "durations",
          "V": "raw records"}


def _refuse_non_finite(name, source, value):
    """NaN or inf in ``value`` (the cast of ``source``): say which, and an overflow
    of the dtype when the value was finite before the cast."""
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
    original = source[where]
    if np.isfinite(original):
        column = f"column {where[1]}" if len(where) == 2 else f"position {where[1:]}"
        raise ValueError(f"{name}: the value {float(original):g} (row {where[0]}, {column}) "
                         f"overflows {value.dtype} (largest {np.finfo(value.dtype).max:.4g}); "
                         f"scale the data or use a wider dtype")
    raise ValueError(f"{name} contains NaN or inf (first at row {where[0]})")


def float_dtype(dtype, owner):
    """``dtype`` as a NumPy floating dtype; a ValueError naming ``owner`` for None
    (which NumPy reads as float64), integer, complex or unknown types."""
    try:
        found = None if dtype is None else np.dtype(dtype)
    except TypeError:
        found = None
    if found is None or found.kind != "f":
        raise ValueError(f"{owner}: dtype: expected a floating type such as np.float32 or "
                         f"np.float64, got {dtype!r}")
    return found


def check_generated_size(what, values, bytes_per_value):
    """Refuse a generated data set whose arrays would not fit in memory, before any
    is allocated (``framework.infra.memory``: MemAvailable, cgroup and limits)."""
    from framework.infra import memory
    memory.check_memory(int(values) * int(bytes_per_value), what=what)


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


