"""Read the textbook's ``.npz`` files (keys ``data`` and ``label``) safely.

``allow_pickle=False`` so that loading a file can never run code; a file with
object arrays is refused instead.
"""
import zipfile

import numpy as np

from .errors import DataFileError


def read_npz_pair(path, num_feature=None):
    """Return (x, y) from a textbook npz file, both 2-D float arrays.

    Checks the keys, that x and y have the same number of rows, that values
    are finite, and (if given) the number of feature columns.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"data", "label"} - set(npz.files)
            if missing:
                raise DataFileError(path, f"missing key(s) {sorted(missing)}; "
                                    f"found {sorted(npz.files)}")
            x, y = npz["data"], npz["label"]
    except FileNotFoundError as exc:
        raise DataFileError(path, "file not found") from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(path, f"not a readable npz file: {exc}") from exc
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    y = y.reshape(-1, 1) if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataFileError(path, f"'data' {x.shape} and 'label' {y.shape} do not "
                            "have matching rows")
    if x.dtype.kind not in "iuf" or y.dtype.kind not in "iuf":
        raise DataFileError(path, f"expected numeric arrays, got {x.dtype}, {y.dtype}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataFileError(path, "contains NaN or inf")
    if num_feature is not None and x.shape[1] != num_feature:
        raise DataFileError(path, f"expected {num_feature} feature columns, "
                            f"got {x.shape[1]}")
    return x, y
