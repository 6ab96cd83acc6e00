"""Save and load nets as HDF5, atomically, checksummed and strictly.

Layout (see docs/architecture.md)::

    / attrs: format_version, library_version, net_name, hyper_parameters (JSON),
             layer_names (JSON), input_shape (JSON), epoch, iteration, attrs_sha256
    /layers/<name>  attrs: class, config (JSON), index; one dataset per array
    /optimizer/<layer>/<param>/<state>  attrs: rng_state (JSON)   (optional)
    /metadata  attrs: json (the JSON-able part), sha256; datasets a0, a1, ...  (optional:
               the caller's data options; arrays appear in the JSON as {"__ndarray__": "a0"})

One concept per module, in the order a save and a load pass through them:

    layout     group and attribute names, the format version, text attributes
    rules      value rules shared by save and load (a file that saves always loads)
    metadata   the caller's metadata as JSON plus numpy arrays
    digests    SHA-256 of every array and of all attributes
    writer     save_net: check, build the HDF5 image in memory
    atomic     temporary file, fsync, os.replace; stale temporary files
    safety     opening an untrusted file: signature, links, stored sizes, CheckedGroup
    reader     root checks, checksums, one checked dataset at a time
    loader     load_net, load_weights, read_metadata

This package re-exports the public API, so ``from framework.infra.serialization import
save_net`` (and the other names below) works as before the split.
"""
from .layout import (CHECKSUMS_FROM_VERSION, DATASETS_DIGEST_ATTR, DIGEST_ATTR, FORMAT_VERSION,
                     METADATA_GROUP, h5py_module)
from .loader import load_net, load_weights, read_metadata
from .metadata import ARRAY_TAG, decode_metadata, encode_metadata
from .reader import read_dataset
from .rules import MAX_COUNTER, value_problem
from .safety import CheckedGroup, check_hdf5_file, check_links
from .writer import save_net

__all__ = [
    "save_net", "load_net", "load_weights", "read_metadata",
    "encode_metadata", "decode_metadata", "value_problem", "read_dataset",
    "check_hdf5_file", "check_links", "CheckedGroup", "h5py_module",
    "FORMAT_VERSION", "CHECKSUMS_FROM_VERSION", "DIGEST_ATTR", "DATASETS_DIGEST_ATTR",
    "METADATA_GROUP", "ARRAY_TAG", "MAX_COUNTER",
]
