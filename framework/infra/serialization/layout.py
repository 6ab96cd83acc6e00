"""Names in the weights file: groups, attributes, the format version, and text attributes.

Writer and reader both take these names from here, so the two sides cannot drift
apart. Format 2 names every array as the net's state does (batch norm's
``gamma`` / ``beta``, where format 1 said ``W`` / ``B``: a layer class lists such
old names in ``legacy_names``, and format-1 files still load) and always carries
checksums; CHECKSUMS_FROM_VERSION marks the version from which a missing
checksum is an error by itself (see docs/reliability.md). Format-1 files
written with checksums are recognised by their digests.
"""
import json

import numpy as np

from ...errors import WeightsFileError

FORMAT_VERSION = 2
CHECKSUMS_FROM_VERSION = 2
DIGEST_ATTR = "attrs_sha256"
DATASETS_DIGEST_ATTR = "sha256"    # on each layer group and /optimizer: {dataset: SHA-256}
METADATA_GROUP = "metadata"


def h5py_module():
    """Import h5py only when a file is read or written, with an actionable message."""
    try:
        import h5py
    except ImportError as error:
        raise ImportError("saving and loading nets needs h5py: pip install h5py") from error
    return h5py


def attr_value(value):
    """An attribute as written: fixed-length text (numpy bytes) decoded back to str."""
    if isinstance(value, np.bytes_):
        return value.decode("utf-8")
    return value


def _no_constant(name):
    """JSON's NaN / Infinity: refused on reading as ``save`` refuses them on writing."""
    raise ValueError(f"{name} is not a finite number")


def json_attr(obj, key, path):
    """The JSON text attribute ``key`` of ``obj``, parsed; WeightsFileError if absent or bad."""
    raw = obj.attrs.get(key)
    if not isinstance(raw, (str, bytes)):
        raise WeightsFileError(path, f"attribute {key!r} of {obj.name} is missing or not text")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ValueError as error:
        raise WeightsFileError(path, f"attribute {key!r} of {obj.name} is not valid JSON "
                                     f"({error})") from None
