"""Checked reading: the root attributes, the checksums, and one dataset at a time.

Every name, shape, dtype and value is checked, and the checksums verified, as it
is read, so a bad file raises ``WeightsFileError`` naming the file and the
problem. Files written before checksums (such as tests/data/format1_mlp.h5)
load exactly as before.
"""
import contextlib
import os

import numpy as np

from ...errors import WeightsFileError
from .digests import array_digest, attrs_digest
from .layout import (CHECKSUMS_FROM_VERSION, DATASETS_DIGEST_ATTR, DIGEST_ATTR, FORMAT_VERSION,
                     METADATA_GROUP, h5py_module, json_attr)
from .rules import counter_problem, value_problem
from .safety import CheckedGroup, check_hdf5_file, check_links, check_storage


@contextlib.contextmanager
def reading(path):
    """Open ``path`` read-only after the safety checks; map read errors to WeightsFileError."""
    path = os.fspath(path)
    handle = check_hdf5_file(path)
    try:
        tree = CheckedGroup(handle, "/")
        check_storage(check_links(handle, path, tree), path)
        tree.read_all(path)
        yield tree
    except WeightsFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError,
            ArithmeticError, MemoryError) as error:
        raise WeightsFileError(path, f"invalid content ({type(error).__name__}: {error})") \
            from error
    finally:
        handle.close()


def check_root(handle, path):
    """Check the version, the layer list and the attribute checksum.

    Return the layer names in order and whether the file carries checksums
    (then every dataset's are verified as it is read).
    """
    version = handle.attrs.get("format_version")
    if version is None:
        raise WeightsFileError(path, "no format_version attribute: not a MiniFramework file")
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise WeightsFileError(path, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise WeightsFileError(path, f"format_version {int(version)} is newer than this "
                                     f"MiniFramework reads (up to {FORMAT_VERSION}); upgrade it")
    for key in ("epoch", "iteration"):
        problem = counter_problem(handle.attrs.get(key))
        if problem:
            raise WeightsFileError(path, f"root attribute {key!r} {problem}")
    names = json_attr(handle, "layer_names", path)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise WeightsFileError(path, "layer_names is not a JSON list of strings")
    if "layers" not in handle:
        raise WeightsFileError(path, "no /layers group")
    groups = list(handle["layers"])
    for name in names:
        if name not in groups:
            raise WeightsFileError(path, f"missing layer {name!r}: listed in layer_names but "
                                         "absent from /layers")
    extra = [g for g in groups if g not in names]
    if extra:
        raise WeightsFileError(path, f"extra layer group(s) {extra} not listed in layer_names")
    for index, name in enumerate(names):
        if handle["layers"][name].attrs.get("index") != index:
            raise WeightsFileError(path, f"layer {name!r}: index attribute does not match its "
                                         f"position {index} in layer_names")
    checked = _is_checked(handle, names, version)
    if checked:
        _check_classes(handle, names, path)
        stored = handle.attrs.get(DIGEST_ATTR)
        if not isinstance(stored, str):
            raise WeightsFileError(path, f"attribute checksum {DIGEST_ATTR!r} is missing or not "
                                         "text, although the file was written with checksums")
        if stored != attrs_digest(handle):
            raise WeightsFileError(path, "attribute checksum mismatch: the attributes (hyper-"
                                         "parameters, layer configs, counters or RNG state) are "
                                         "damaged or were changed after saving")
    return names, checked


def _check_classes(handle, names, path):
    """Name an unknown layer class plainly (before the checksum, which would also catch it)."""
    from ...layers.builder import ACTIVATORS, CLASSIFIERS, LAYERS
    for name in names:
        kind = handle["layers"][name].attrs.get("class")
        if not isinstance(kind, str) or not any(kind in r for r in (LAYERS, ACTIVATORS,
                                                                        CLASSIFIERS)):
            raise WeightsFileError(path, f"the saved architecture cannot be rebuilt: layer "
                                         f"{name!r}: unknown layer type {kind!r}; if it is "
                                         f"a class of your own, import the module that "
                                         f"defines and registers it before loading (a file "
                                         f"names classes, it never imports code)")


def _is_checked(handle, names, version):
    """Files from CHECKSUMS_FROM_VERSION on, or carrying any of our digests (or metadata,
    which only checksummed files have), must verify."""
    if (version >= CHECKSUMS_FROM_VERSION or DIGEST_ATTR in handle.attrs
            or METADATA_GROUP in handle):
        return True
    return any(DATASETS_DIGEST_ATTR in handle["layers"][name].attrs for name in names)


def dataset_digests(group, path, checked):
    """The {dataset: SHA-256} map of a checksummed group (None for files without checksums)."""
    if not checked:
        return None
    digests = json_attr(group, DATASETS_DIGEST_ATTR, path)
    if not isinstance(digests, dict):
        raise WeightsFileError(path, f"attribute {DATASETS_DIGEST_ATTR!r} of {group.name} is "
                                     "not a JSON object")
    return digests


def read_dataset(group, key, shape, path, where, kinds="f", digests=None,
                 non_negative=False):
    """Read ``group[key]`` after checking it exists, its shape and dtype kind; then its
    values by the rules ``save`` applies (``value_problem``).

    ``digests`` (files with checksums): {key: SHA-256}; the dataset must then have
    the fletcher32 filter (unless it is a scalar) and values matching its digest.
    """
    h5py = h5py_module()
    dataset = group.get(key)
    if not isinstance(dataset, h5py.Dataset):
        raise WeightsFileError(path, f"{where}: missing parameter {key!r}")
    if dataset.shape != tuple(shape):
        raise WeightsFileError(path, f"{where} parameter {key!r}: shape mismatch, file has "
                                     f"{dataset.shape}, the net expects {tuple(shape)}")
    if dataset.dtype.kind not in kinds:
        expected = {"f": "floating point", "iu": "integer"}.get(kinds, "numeric")
        raise WeightsFileError(path, f"{where} parameter {key!r}: dtype {dataset.dtype} is not "
                                     f"{expected}")
    checked = digests is not None
    stored = digests.get(key) if checked else None
    if checked:
        if (dataset.ndim > 0 and not dataset.fletcher32) or not isinstance(stored, str):
            raise WeightsFileError(path, f"{where} parameter {key!r}: has no checksum, although "
                                         "the file was written with checksums")
    try:
        value = group.read(key) if isinstance(group, CheckedGroup) else dataset[()]
    except OSError as error:
        raise WeightsFileError(path, f"{where} parameter {key!r}: checksum mismatch or "
                                     f"unreadable data, the file is damaged ({error})") from None
    problem = value_problem(value, non_negative)
    if problem:
        raise WeightsFileError(path, f"{where} parameter {key!r} {problem}")
    if checked and array_digest(value) != stored:
        raise WeightsFileError(path, f"{where} parameter {key!r}: checksum mismatch (SHA-256), "
                                     "the values are damaged or were changed after saving")
    return value
