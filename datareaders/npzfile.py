"""Read the textbook's ``.npz`` files (keys ``data`` and ``label``) safely.

``allow_pickle=False`` so that loading a file can never run code; a file with
object arrays is refused instead. Before numpy allocates an array, the shape
its ``.npy`` header declares is checked against the bytes the zip member
really holds, so a small file that claims a huge array is refused at once.
"""
import math
import os
import zipfile

import numpy as np

from .errors import DataFileError

KEYS = ("data", "label")
MAX_DEFLATE_RATIO = 1032    # deflate never expands a byte into more than this


def read_npz_pair(path, num_feature=None):
    """Return (x, y) from a textbook npz file, both 2-D float arrays.

    Checks the keys, that x and y have the same number of rows, that values
    are finite, and (if given) the number of feature columns.
    """
    try:
        check_declared_sizes(path, KEYS)
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


def check_declared_sizes(path, keys):
    """Refuse members whose .npy header declares more bytes than the member holds.

    A member's size in the zip directory is checked against the archive (a
    stored member holds exactly its size; a deflated one at most
    MAX_DEFLATE_RATIO times its compressed size), and the array the header
    declares against the member's size. Missing keys are left to the caller.
    """
    archive = os.path.getsize(path)
    with zipfile.ZipFile(path) as zf:
        for key in keys:
            try:
                info = zf.getinfo(f"{key}.npy")
            except KeyError:
                continue
            if info.compress_size > archive:
                raise DataFileError(path, f"member {info.filename!r} claims "
                                    f"{info.compress_size} compressed bytes, more than the "
                                    f"{archive}-byte file")
            stored = info.compress_type == zipfile.ZIP_STORED
            limit = info.compress_size * (1 if stored else MAX_DEFLATE_RATIO)
            with zf.open(info) as member:
                shape, dtype, header = _npy_header(path, key, member)
            declared = header + math.prod(shape) * dtype.itemsize
            if declared > info.file_size or info.file_size > limit:
                raise DataFileError(path, f"{key!r} declares shape {shape} of {dtype} "
                                    f"({declared} bytes with its header) but the file holds "
                                    f"only {min(info.file_size, limit)} bytes of it; refused "
                                    "before allocating")


def _npy_header(path, key, member):
    """(shape, dtype, header length) of the .npy stream ``member``."""
    fmt = np.lib.format
    try:
        major, _ = fmt.read_magic(member)
        read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, _, dtype = read(member)
    except ValueError as exc:
        raise DataFileError(path, f"{key!r}: not a readable .npy header ({exc})") from None
    if dtype.hasobject:
        raise DataFileError(path, f"{key!r}: holds Python objects (dtype {dtype}); refused, "
                            "loading it would unpickle")
    return shape, dtype, member.tell()
