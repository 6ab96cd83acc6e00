"""Save and load nets as HDF5, atomically and strictly.

Layout (see docs/architecture.md)::

    / attrs: format_version, library_version, net_name, hyper_parameters (JSON),
             layer_names (JSON), epoch, iteration
    /layers/<name>  attrs: class, config (JSON), index; one dataset per array
    /optimizer/<layer>/<param>/<state>  attrs: rng_state (JSON)   (optional)

Writes go to a temporary file in the target's folder that is ``os.replace``d
onto the target only when complete, so a crash never leaves a half-written
file where a good one was. Loading executes no code (no pickle), refuses
links and external storage that could make it read other files, and checks
every name, shape and dtype before touching the net, so a bad file raises
``WeightsFileError`` naming the file and the problem.
"""
import contextlib
import json
import os
import tempfile

import numpy as np

from .errors import WeightsFileError

FORMAT_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_DEPTH = 8


def save_net(net, path, include_optimizer=True):
    h5py = h5py_module()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as handle:
            _write_root(handle, net)
            _write_layers(handle, net)
            if include_optimizer:
                _write_optimizer(handle, net)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_root(handle, net):
    from . import __version__
    attrs = handle.attrs
    attrs["format_version"] = FORMAT_VERSION
    attrs["library_version"] = __version__
    attrs["net_name"] = net.name
    attrs["hyper_parameters"] = json.dumps(net.params.to_dict())
    attrs["layer_names"] = json.dumps(net.layer_names)
    attrs["input_shape"] = json.dumps(None if net.input_shape is None else list(net.input_shape))
    attrs["epoch"] = net.epoch
    attrs["iteration"] = net.iteration


def _write_layers(handle, net):
    layers = handle.create_group("layers")
    for index, (name, layer) in enumerate(zip(net.layer_names, net.layers)):
        group = layers.create_group(name)
        group.attrs["class"] = type(layer).__name__
        group.attrs["config"] = json.dumps(layer.get_config())
        group.attrs["index"] = index
        for key, value in net.layer_arrays(index).items():
            group.create_dataset(key, data=value)


def _write_optimizer(handle, net):
    group = handle.create_group("optimizer")
    group.attrs["rng_state"] = json.dumps(net.streams.get_state())
    for name, path, value in _optimizer_items(net):
        group.create_dataset(f"{name}/{path}", data=np.asarray(value))


def _optimizer_items(net):
    """(layer name, "<param>/<state>", value) for every optimizer state entry."""
    from .net import param_name
    for name, layer in zip(net.layer_names, net.layers):
        for index, wb in enumerate(layer.weights()):
            for key, value in wb.optimizer_state().items():
                param, state = key.split("/", 1)
                yield name, f"{param_name(index, param)}/{state}", value


# ----- loading -----------------------------------------------------------
@contextlib.contextmanager
def _reading(path):
    """Open ``path`` read-only after the safety checks; map read errors to WeightsFileError."""
    path = os.fspath(path)
    handle = check_hdf5_file(path)
    try:
        check_links(handle, path)
        yield handle
    except WeightsFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as error:
        raise WeightsFileError(path, f"invalid content ({type(error).__name__}: {error})") \
            from error
    finally:
        handle.close()


def load_net(path):
    """Rebuild the saved net: layers from their configs, weights, optimizer, RNG, counters."""
    from .hyper_parameters import HyperParameters
    from .net import NeuralNet
    with _reading(path) as handle:
        names = _check_root(handle, path)
        params = HyperParameters.from_dict(_json_attr(handle, "hyper_parameters", path))
        net = NeuralNet(params, str(handle.attrs.get("net_name", "net")))
        specs = [{"type": str(handle["layers"][name].attrs["class"]), "name": name,
                  "config": _json_attr(handle["layers"][name], "config", path)}
                 for name in names]
        try:
            net.add_specs(specs, _input_shape(handle, path))
        except ValueError as error:
            raise WeightsFileError(path, f"the saved architecture cannot be rebuilt: "
                                         f"{error}") from None
        values = _read_layers(handle, net, path)
        state = _read_optimizer(handle, net, path) if "optimizer" in handle else None
        for index, value in enumerate(values):
            net.set_layer_arrays(index, value)
        if state is not None:
            _apply_optimizer(net, *state)
        net.epoch = int(handle.attrs["epoch"])
        net.iteration = int(handle.attrs["iteration"])
    return net


def load_weights(net, path):
    """Load weights and buffers into ``net``; everything must match before anything is set."""
    with _reading(path) as handle:
        names = _check_root(handle, path)
        missing = [n for n in net.layer_names if n not in names]
        extra = [n for n in names if n not in net.layer_names]
        if missing:
            raise WeightsFileError(path, f"missing layer(s) {missing}: the net has them, "
                                         "the file does not")
        if extra:
            raise WeightsFileError(path, f"extra layer(s) {extra} in the file are not in the net")
        if names != net.layer_names:
            raise WeightsFileError(path, f"layer order {names} differs from the net's "
                                         f"{net.layer_names}")
        for name, layer in zip(names, net.layers):
            saved = str(handle["layers"][name].attrs.get("class"))
            if saved != type(layer).__name__:
                raise WeightsFileError(path, f"layer {name!r} is a {saved} in the file but a "
                                             f"{type(layer).__name__} in the net")
        values = _read_layers(handle, net, path)
    for index, value in enumerate(values):
        net.set_layer_arrays(index, value)


def _input_shape(handle, path):
    """The saved per-sample input shape (files before it was saved: None)."""
    if "input_shape" not in handle.attrs:
        return None
    shape = _json_attr(handle, "input_shape", path)
    if shape is not None and not (isinstance(shape, list) and shape and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise WeightsFileError(path, f"input_shape {shape!r} is not a list of positive ints")
    return shape


def _check_root(handle, path):
    """Check the version and the layer list; return the layer names in order."""
    version = handle.attrs.get("format_version")
    if version is None:
        raise WeightsFileError(path, "no format_version attribute: not a MiniFramework file")
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise WeightsFileError(path, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise WeightsFileError(path, f"format_version {int(version)} is newer than this "
                                     f"MiniFramework reads (up to {FORMAT_VERSION}); upgrade it")
    for key in ("epoch", "iteration"):
        if not isinstance(handle.attrs.get(key), (int, np.integer)):
            raise WeightsFileError(path, f"root attribute {key!r} is missing or not an integer")
    names = _json_attr(handle, "layer_names", path)
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
    return names


def _read_layers(handle, net, path):
    """Validated arrays for every layer, in order, without changing the net."""
    out = []
    for index, name in enumerate(net.layer_names):
        group = handle["layers"][name]
        expected = net.layer_arrays(index)
        extra = sorted(set(group) - set(expected))
        if extra:
            raise WeightsFileError(path, f"layer {name!r}: unexpected dataset(s) {extra}")
        out.append({key: read_dataset(group, key, target.shape, path, f"layer {name!r}")
                    for key, target in expected.items()})
    return out


def _read_optimizer(handle, net, path):
    group = handle["optimizer"]
    rng_state = _json_attr(group, "rng_state", path)
    expected = {f"{name}/{key}": value for name, key, value in _optimizer_items(net)}
    found = []
    group.visititems(lambda key, obj: found.append(key) if hasattr(obj, "shape") else None)
    extra = sorted(set(found) - set(expected))
    if extra:
        raise WeightsFileError(path, f"/optimizer has unexpected dataset(s) {extra}")
    values = {}
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            values[key] = read_dataset(group, key, value.shape, path, "optimizer state")
        else:
            values[key] = int(read_dataset(group, key, (), path, "optimizer state",
                                           kinds="iu"))
    return values, rng_state


def _apply_optimizer(net, values, rng_state):
    from .net import param_name
    for name, layer in zip(net.layer_names, net.layers):
        for index, wb in enumerate(layer.weights()):
            state = {}
            for key in wb.optimizer_state():
                param, entry = key.split("/", 1)
                state[key] = values[f"{name}/{param_name(index, param)}/{entry}"]
            wb.set_optimizer_state(state)
    net.streams.set_state(rng_state)


def _json_attr(obj, key, path):
    raw = obj.attrs.get(key)
    if not isinstance(raw, (str, bytes)):
        raise WeightsFileError(path, f"attribute {key!r} of {obj.name} is missing or not text")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise WeightsFileError(path, f"attribute {key!r} of {obj.name} is not valid JSON "
                                     f"({error})") from None


# ----- safety checks -------------------------------------------------------
def h5py_module():
    """Import h5py only when a file is read or written, with an actionable message."""
    try:
        import h5py
    except ImportError as error:
        raise ImportError("saving and loading nets needs h5py: pip install h5py") from error
    return h5py


def check_hdf5_file(path):
    """Open ``path`` read-only after checking it exists and starts with the HDF5 signature.

    Our writer never adds a user block, so the signature must be at offset 0.
    """
    h5py = h5py_module()
    if not os.path.exists(path):
        raise WeightsFileError(path, "file not found")
    if not os.path.isfile(path):
        raise WeightsFileError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise WeightsFileError(path, "file is empty (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        raise WeightsFileError(path, "not an HDF5 file (the HDF5 signature is missing)")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise WeightsFileError(path, f"unreadable HDF5 file, truncated or damaged ({error})") \
            from None


def check_links(handle, path):
    """Reject soft/external links, external or virtual datasets, anywhere in the file.

    Any of these could make a load read a different file (or loop), so a
    weights file from elsewhere could smuggle in data it does not contain.
    """
    h5py = h5py_module()

    def walk(group, depth):
        if depth > MAX_DEPTH:
            raise WeightsFileError(path, f"groups nested deeper than {MAX_DEPTH} at {group.name}")
        for key in group:
            where = f"{group.name.rstrip('/')}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise WeightsFileError(path, f"external link at {where} (to {link.filename}:"
                                             f"{link.path}) is not allowed")
            if not isinstance(link, h5py.HardLink):
                raise WeightsFileError(path, f"soft link at {where} is not allowed")
            obj = group[key]
            if isinstance(obj, h5py.Group):
                walk(obj, depth + 1)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise WeightsFileError(path, f"dataset {where} uses external storage "
                                                 f"({obj.external[0][0]!r}); not allowed")
                if obj.is_virtual:
                    raise WeightsFileError(path, f"dataset {where} is a virtual dataset; "
                                                 "not allowed")
            else:
                raise WeightsFileError(path, f"unexpected object {where} ({type(obj).__name__})")

    walk(handle, 0)


def read_dataset(group, key, shape, path, where, kinds="f"):
    """Read ``group[key]`` after checking it exists, its shape and dtype kind; finite values."""
    h5py = h5py_module()
    dataset = group.get(key)
    if not isinstance(dataset, h5py.Dataset):
        raise WeightsFileError(path, f"{where}: missing parameter {key!r}")
    if dataset.shape != tuple(shape):
        raise WeightsFileError(path, f"{where} parameter {key!r}: shape mismatch, file has "
                                     f"{dataset.shape}, the net expects {tuple(shape)}")
    if dataset.dtype.kind not in kinds:
        expected = "floating point" if kinds == "f" else "integer"
        raise WeightsFileError(path, f"{where} parameter {key!r}: dtype {dataset.dtype} is not "
                                     f"{expected}")
    value = dataset[()]
    if kinds == "f" and not np.isfinite(value).all():
        raise WeightsFileError(path, f"{where} parameter {key!r} contains NaN or inf")
    return value
