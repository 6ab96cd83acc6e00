"""Saving: check every value, build the whole HDF5 image in memory, then write it.

The image is built with h5py's "core" driver without a backing store, so HDF5
itself never touches the disk: a full disk or a file-size limit cannot crash it.
``atomic`` then puts the bytes in place. Every array dataset gets HDF5's
fletcher32 filter and a SHA-256 (``digests``); the attribute digest is computed
from what was written, without reading the file back.
"""
import json
import os
import secrets

import numpy as np

from ...errors import WeightsFileError
from .atomic import check_target, write_atomically
from .digests import array_digest, canonical_form, record_digest
from .layout import DATASETS_DIGEST_ATTR, DIGEST_ATTR, FORMAT_VERSION, METADATA_GROUP, h5py_module
from .metadata import encode_metadata
from .rules import save_problem

MAX_CHUNK_BYTES = 1 << 30        # HDF5 chunks must stay below 4 GiB
INLINE_TEXT = 32 * 1024          # longer text attributes are stored variable-length


def save_net(net, path, include_optimizer=True, metadata=None):
    """Write ``net`` to ``path``: built in memory, then written, fsynced and replaced.

    ``metadata``: a JSON-able dict (numpy arrays allowed anywhere in it) stored in
    the file, e.g. the data options the net was trained with; ``load_net`` gives it
    back as ``net.metadata``. Values ``load`` would refuse (NaN or inf, a negative
    variance, second moment or counter, metadata that is not JSON-able) raise
    ``WeightsFileError`` naming the layer and array before anything is written.
    OS failures (no space, file-size limit, permissions, missing folder, a
    target that is not a regular file) raise ``WeightsFileError`` naming
    ``path``; the previous file is left intact and no temporary file remains.
    """
    h5py = h5py_module()
    path = os.fspath(path)
    target = os.path.abspath(path)
    folder, name = os.path.split(target)
    mode = check_target(path, target, folder)
    problem = save_problem(net, include_optimizer)
    arrays = {}
    try:
        document = None if metadata is None else encode_metadata(metadata, arrays)
    except ValueError as error:
        problem = str(error)
    if problem:
        raise WeightsFileError(path, f"cannot save: {problem}; nothing was written")
    image = _file_image(h5py, net, include_optimizer, document, arrays)
    write_atomically(path, target, folder, name, image, mode)


def _file_image(h5py, net, include_optimizer, document, arrays):
    """The complete HDF5 file as bytes, built without touching the disk."""
    from ...state import entries
    found = entries(net)
    # a unique name: HDF5 refuses two open files of one name (concurrent saves, or the
    # target itself open for reading); with backing_store=False nothing touches the disk
    handle = h5py.File(f"<in-memory {secrets.token_hex(8)}>", "w", driver="core",
                       backing_store=False)
    try:
        record = {}
        _write_root(handle, net, record)
        _write_layers(handle, net, found, record)
        if include_optimizer:
            _write_optimizer(handle, net, found, record)
        if document is not None:
            _write_metadata(handle, document, arrays, record)
        _set_attrs(handle, "/", {DIGEST_ATTR: record_digest(record)}, {})
        handle.flush()
        return handle.id.get_file_image()
    finally:
        handle.close()


def _create_dataset(group, key, value):
    """A dataset with a fletcher32 checksum (unless it is a scalar); return its SHA-256."""
    value = np.asarray(value)
    if value.ndim == 0:
        group.create_dataset(key, data=value)
    else:
        chunks = (tuple(max(1, n) for n in value.shape)
                  if 0 < value.nbytes <= MAX_CHUNK_BYTES else True)
        group.create_dataset(key, data=value, chunks=chunks, fletcher32=True)
    return array_digest(value)


def _set_attrs(obj, name, attrs, record):
    """Write ``attrs`` on ``obj`` and note their canonical forms under ``name`` in
    ``record``: the digest is computed from these, without reading the file back.

    Ints are stored as int64. Text is stored as a fixed-length UTF-8 string inside the
    attribute itself, not as a variable-length string in HDF5's global heap: a
    damaged global-heap entry can make libhdf5 loop forever while reading it (found by
    the byte-flip test), which no check of ours could then stop. Loading decodes it
    back to str (``attr_value``). Text longer than INLINE_TEXT stays variable-length,
    because an object header message is limited to 64 KB.
    """
    canonical = record.setdefault(name, {})
    for key, value in attrs.items():
        value = np.int64(value) if isinstance(value, (int, np.integer)) else value
        stored = value
        if isinstance(value, str) and 0 < len(value.encode("utf-8")) <= INLINE_TEXT:
            stored = np.bytes_(value.encode("utf-8"))
        obj.attrs[key] = stored
        canonical[key] = canonical_form(value)


def _write_root(handle, net, record):
    """The root attributes: versions, name, hyper-parameters, layers, counters and the
    learning rate in use (when a run or a callback has set one)."""
    from ...version import __version__
    attrs = {
        "format_version": FORMAT_VERSION, "library_version": __version__,
        "net_name": net.name, "hyper_parameters": json.dumps(net.params.to_dict()),
        "layer_names": json.dumps(net.layer_names),
        "input_shape": json.dumps(None if net.input_shape is None else list(net.input_shape)),
        "epoch": net.epoch, "iteration": net.iteration}
    if net.learning_rate is not None:
        attrs["learning_rate"] = np.float64(net.learning_rate)
    _set_attrs(handle, "/", attrs, record)


def _write_layers(handle, net, found, record):
    """One group per layer: class, config, index and a dataset per parameter and buffer
    (``/layers/fc1/W``, ``/layers/bn1/running_var``)."""
    layers = handle.create_group("layers")
    for index, (name, layer) in enumerate(zip(net.layer_names, net.layers)):
        group = layers.create_group(name)
        digests = {entry.name: _create_dataset(group, entry.name, entry.value)
                   for entry in found if entry.layer == name and entry.kind != "optimizer"}
        _set_attrs(group, f"/layers/{name}", {
            "class": type(layer).__name__, "config": json.dumps(layer.get_config()),
            "index": index, DATASETS_DIGEST_ATTR: json.dumps(digests, sort_keys=True)}, record)


def _write_optimizer(handle, net, found, record):
    """The /optimizer group: every optimizer state array (``/optimizer/fc1/W/m``, the step
    count ``t`` as a scalar) and the random streams' state."""
    group = handle.create_group("optimizer")
    digests = {f"{entry.layer}/{entry.name}":
               _create_dataset(group, f"{entry.layer}/{entry.name}", entry.value)
               for entry in found if entry.kind == "optimizer"}
    _set_attrs(group, "/optimizer", {
        "rng_state": json.dumps(net.streams.get_state()),
        DATASETS_DIGEST_ATTR: json.dumps(digests, sort_keys=True)}, record)


def _write_metadata(handle, document, arrays, record):
    """The /metadata group: the JSON document and its arrays."""
    group = handle.create_group(METADATA_GROUP)
    digests = {key: _create_dataset(group, key, value) for key, value in arrays.items()}
    _set_attrs(group, f"/{METADATA_GROUP}", {
        "json": json.dumps(document, sort_keys=True, allow_nan=False),
        DATASETS_DIGEST_ATTR: json.dumps(digests, sort_keys=True)}, record)
