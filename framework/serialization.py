"""Save and load nets as HDF5, atomically, checksummed and strictly.

Layout (see docs/architecture.md)::

    / attrs: format_version, library_version, net_name, hyper_parameters (JSON),
             layer_names (JSON), input_shape (JSON), epoch, iteration, attrs_sha256
    /layers/<name>  attrs: class, config (JSON), index; one dataset per array
    /optimizer/<layer>/<param>/<state>  attrs: rng_state (JSON)   (optional)

Saving builds the whole HDF5 image in memory (h5py's "core" driver without a
backing store), then writes those bytes with plain ``os.write`` to a temporary
file ``.<name>.<16 hex>.tmp`` beside the target, ``fsync``s it and
``os.replace``s it onto the target. HDF5 itself never touches the disk, so a
full disk or a file-size limit cannot crash it; any OS failure raises
``WeightsFileError`` naming the target, the old file stays as it was and the
temporary file is removed (docs/reliability.md lists the guarantees).

Integrity: every array dataset is written with HDF5's fletcher32 filter and
carries a ``sha256`` attribute (dtype, shape and bytes of its values; scalar
datasets such as Adam's ``t`` cannot be chunked and rely on this digest alone).
The root attribute ``attrs_sha256`` is a SHA-256 of a canonical serialisation
of every root, layer-group and /optimizer attribute (the JSON configs,
counters and RNG state); it is verified right after the structural checks,
before the net is built. Files without these (written before checksums, such
as tests/data/format1_mlp.h5) load exactly as before.

Loading executes no code (no pickle), refuses links and external storage that
could make it read other files, and checks every name, shape and dtype before
touching the net, so a bad file raises ``WeightsFileError`` naming the file and
the problem.
"""
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import signal
import stat
import threading
import time

import numpy as np

from .errors import WeightsFileError

# The version written and the newest one read. Files written with checksums are
# recognised by their digests (see _is_checked), so the format stays readable by
# earlier releases; CHECKSUMS_FROM_VERSION marks the version from which a
# missing checksum is an error by itself (see docs/reliability.md).
FORMAT_VERSION = 1
CHECKSUMS_FROM_VERSION = 2
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_DEPTH = 8
DIGEST_ATTR = "attrs_sha256"
DATASETS_DIGEST_ATTR = "sha256"    # on each layer group and /optimizer: {dataset: SHA-256}
MAX_CHUNK_BYTES = 1 << 30        # HDF5 chunks must stay below 4 GiB
WRITE_PIECE = 1 << 24
STALE_SECONDS = 2.0              # younger temporary files may belong to a running save


def save_net(net, path, include_optimizer=True):
    """Write ``net`` to ``path``: built in memory, then written, fsynced and replaced.

    OS failures (no space, file-size limit, permissions, missing folder, a
    target that is not a regular file) raise ``WeightsFileError`` naming
    ``path``; the previous file is left intact and no temporary file remains.
    """
    h5py = h5py_module()
    path = os.fspath(path)
    target = os.path.abspath(path)
    folder, name = os.path.split(target)
    mode = _check_target(path, target, folder)
    image = _file_image(h5py, net, include_optimizer)
    _write_atomically(path, target, folder, name, image, mode)


def _file_image(h5py, net, include_optimizer):
    """The complete HDF5 file as bytes, built without touching the disk."""
    # a unique name: HDF5 refuses two open files of one name (concurrent saves, or the
    # target itself open for reading); with backing_store=False nothing touches the disk
    handle = h5py.File(f"<in-memory {secrets.token_hex(8)}>", "w", driver="core",
                       backing_store=False)
    try:
        _write_root(handle, net)
        _write_layers(handle, net)
        if include_optimizer:
            _write_optimizer(handle, net)
        handle.attrs[DIGEST_ATTR] = _attrs_digest(handle)
        handle.flush()
        return handle.id.get_file_image()
    finally:
        handle.close()


def _check_target(path, target, folder):
    """Refuse targets we must not replace; return an existing file's permission bits."""
    if not os.path.isdir(folder):
        problem = "does not exist" if not os.path.lexists(folder) else "is not a folder"
        raise WeightsFileError(path, f"cannot save: the folder {folder} {problem}")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise WeightsFileError(path, f"cannot save: {_describe(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise WeightsFileError(path, f"cannot save: the target is {_kind(info.st_mode)}, not a "
                                     "regular file; nothing was written")
    return stat.S_IMODE(info.st_mode)


def _kind(mode):
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _describe(error):
    """An OSError without its file name (which may be the temporary file's)."""
    code = errno.errorcode.get(error.errno, "") if error.errno else ""
    text = error.strerror or type(error).__name__
    return f"{text} ({code})" if code else text


def _write_atomically(path, target, folder, name, image, mode):
    _remove_stale_temps(folder, name)
    _check_size_limit(path, len(image))
    tmp = fd = None
    try:
        with _sigxfsz_ignored():
            tmp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0), 0o644)
            _lock(fd)
            if mode is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, mode)
                else:
                    os.chmod(tmp, mode)
            _write_all(fd, image)
            os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, target)
        tmp = None
        _fsync_folder(folder)
    except OSError as error:
        problem = _describe(error)
        if error.errno == errno.EFBIG:
            problem += f": the {len(image)}-byte file exceeds the file size limit (ulimit -f)"
        raise WeightsFileError(path, f"cannot save: {problem}; the previous file, if any, is "
                                     "unchanged") from None
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_all(fd, data):
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.write(fd, view[offset:offset + WRITE_PIECE])


def _check_size_limit(path, size):
    """Fail before writing if RLIMIT_FSIZE cannot hold the file (works in any thread)."""
    try:
        import resource
    except ImportError:
        return
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY and size > soft:
        raise WeightsFileError(path, f"cannot save: File too large (EFBIG): the {size}-byte file "
                                     f"exceeds the file size limit of {soft} bytes (ulimit -f); "
                                     "the previous file, if any, is unchanged")


@contextlib.contextmanager
def _sigxfsz_ignored():
    """Make exceeding the file-size limit fail with EFBIG instead of killing the process.

    Signal handlers can only be changed in the main thread; elsewhere the
    size pre-check in _check_size_limit is the protection.
    """
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(sig, signal.SIG_IGN)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(sig, signal.SIG_DFL if previous is None else previous)


def _lock(fd):
    """Mark our temporary file as in use, so another save does not remove it."""
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        pass


def _temp_pattern(name):
    """Temporary files of saves to ``name``: ours (16 hex) and mkstemp's (8 chars, before)."""
    return re.compile(rf"\.{re.escape(name)}\.(?:[0-9a-f]{{16}}|[a-z0-9_]{{8}})\.tmp")


def _remove_stale_temps(folder, name):
    """Remove regular files left by killed saves of this target.

    Not ones still in use: a running save holds an flock on its file, and a file
    changed in the last STALE_SECONDS may be one just created, not yet locked.
    """
    pattern = _temp_pattern(name)
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry):
            continue
        full = os.path.join(folder, entry)
        with contextlib.suppress(OSError):
            info = os.lstat(full)
            if (stat.S_ISREG(info.st_mode) and time.time() - info.st_mtime >= STALE_SECONDS
                    and not _in_use(full)):
                os.unlink(full)


def _in_use(full):
    """True if a running save holds the lock on ``full`` (or it is not a regular file)."""
    try:
        import fcntl
    except ImportError:
        return False
    fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False
    finally:
        os.close(fd)


def _fsync_folder(folder):
    """Make the rename durable; not all systems can fsync a folder."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_dataset(group, key, value):
    """A dataset with a fletcher32 checksum (unless it is a scalar); return its SHA-256."""
    value = np.asarray(value)
    if value.ndim == 0:
        group.create_dataset(key, data=value)
    else:
        chunks = (tuple(max(1, n) for n in value.shape)
                  if 0 < value.nbytes <= MAX_CHUNK_BYTES else True)
        group.create_dataset(key, data=value, chunks=chunks, fletcher32=True)
    return _array_digest(value)


def _array_digest(value):
    value = np.asarray(value)
    digest = hashlib.sha256(f"{value.dtype.str}|{value.shape}|".encode())
    digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _canonical(value):
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind != "O":
        value = np.asarray(value)
        return [value.dtype.str, list(value.shape), np.ascontiguousarray(value).tobytes().hex()]
    return ["repr", type(value).__name__, repr(value)]


def _attrs_digest(handle):
    """SHA-256 over every root, /layers/<name> and /optimizer attribute (but itself)."""
    objects = [handle]
    if "layers" in handle:
        objects += [handle["layers"][key] for key in sorted(handle["layers"])]
    if "optimizer" in handle:
        objects.append(handle["optimizer"])
    items = [[obj.name, key, _canonical(obj.attrs[key])]
             for obj in objects for key in sorted(obj.attrs)
             if not (obj.name == "/" and key == DIGEST_ATTR)]
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


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
        digests = {key: _create_dataset(group, key, value)
                   for key, value in net.layer_arrays(index).items()}
        group.attrs[DATASETS_DIGEST_ATTR] = json.dumps(digests, sort_keys=True)


def _write_optimizer(handle, net):
    group = handle.create_group("optimizer")
    group.attrs["rng_state"] = json.dumps(net.streams.get_state())
    digests = {f"{name}/{path}": _create_dataset(group, f"{name}/{path}", value)
               for name, path, value in _optimizer_items(net)}
    group.attrs[DATASETS_DIGEST_ATTR] = json.dumps(digests, sort_keys=True)


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
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError,
            ArithmeticError, MemoryError) as error:
        raise WeightsFileError(path, f"invalid content ({type(error).__name__}: {error})") \
            from error
    finally:
        handle.close()


def load_net(path):
    """Rebuild the saved net: layers from their configs, weights, optimizer, RNG, counters."""
    from .hyper_parameters import HyperParameters
    from .net import NeuralNet
    with _reading(path) as handle:
        names, checked = _check_root(handle, path)
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
        values = _read_layers(handle, net, path, checked)
        state = _read_optimizer(handle, net, path, checked) if "optimizer" in handle else None
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
        names, checked = _check_root(handle, path)
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
        values = _read_layers(handle, net, path, checked)
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
    checked = _is_checked(handle, names, version)
    if checked:
        _check_classes(handle, names, path)
        stored = handle.attrs.get(DIGEST_ATTR)
        if not isinstance(stored, str):
            raise WeightsFileError(path, f"attribute checksum {DIGEST_ATTR!r} is missing or not "
                                         "text, although the file was written with checksums")
        if stored != _attrs_digest(handle):
            raise WeightsFileError(path, "attribute checksum mismatch: the attributes (hyper-"
                                         "parameters, layer configs, counters or RNG state) are "
                                         "damaged or were changed after saving")
    return names, checked


def _check_classes(handle, names, path):
    """Name an unknown layer class plainly (before the checksum, which would also catch it)."""
    from .layers.builder import ACTIVATORS, CLASSIFIERS, LAYERS
    for name in names:
        kind = handle["layers"][name].attrs.get("class")
        if not isinstance(kind, str) or not any(kind in r for r in (LAYERS, ACTIVATORS,
                                                                        CLASSIFIERS)):
            raise WeightsFileError(path, f"the saved architecture cannot be rebuilt: layer "
                                         f"{name!r}: unknown layer type {kind!r}")


def _is_checked(handle, names, version):
    """Files from CHECKSUMS_FROM_VERSION on, or carrying any of our digests, must verify."""
    if version >= CHECKSUMS_FROM_VERSION or DIGEST_ATTR in handle.attrs:
        return True
    return any(DATASETS_DIGEST_ATTR in handle["layers"][name].attrs for name in names)


def _digests(group, path, checked):
    """The {dataset: SHA-256} map of a checksummed group (None for files without checksums)."""
    if not checked:
        return None
    digests = _json_attr(group, DATASETS_DIGEST_ATTR, path)
    if not isinstance(digests, dict):
        raise WeightsFileError(path, f"attribute {DATASETS_DIGEST_ATTR!r} of {group.name} is "
                                     "not a JSON object")
    return digests


def _read_layers(handle, net, path, checked=False):
    """Validated arrays for every layer, in order, without changing the net."""
    out = []
    for index, name in enumerate(net.layer_names):
        group = handle["layers"][name]
        expected = net.layer_arrays(index)
        extra = sorted(set(group) - set(expected))
        if extra:
            raise WeightsFileError(path, f"layer {name!r}: unexpected dataset(s) {extra}")
        digests = _digests(group, path, checked)
        out.append({key: read_dataset(group, key, target.shape, path, f"layer {name!r}",
                                      digests=digests)
                    for key, target in expected.items()})
    return out


def _read_optimizer(handle, net, path, checked=False):
    group = handle["optimizer"]
    rng_state = _json_attr(group, "rng_state", path)
    expected = {f"{name}/{key}": value for name, key, value in _optimizer_items(net)}
    found = []
    group.visititems(lambda key, obj: found.append(key) if hasattr(obj, "shape") else None)
    extra = sorted(set(found) - set(expected))
    if extra:
        raise WeightsFileError(path, f"/optimizer has unexpected dataset(s) {extra}")
    values = {}
    digests = _digests(group, path, checked)
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            values[key] = read_dataset(group, key, value.shape, path, "optimizer state",
                                       digests=digests)
        else:
            values[key] = int(read_dataset(group, key, (), path, "optimizer state",
                                           kinds="iu", digests=digests))
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


def read_dataset(group, key, shape, path, where, kinds="f", digests=None):
    """Read ``group[key]`` after checking it exists, its shape and dtype kind; finite values.

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
        expected = "floating point" if kinds == "f" else "integer"
        raise WeightsFileError(path, f"{where} parameter {key!r}: dtype {dataset.dtype} is not "
                                     f"{expected}")
    checked = digests is not None
    stored = digests.get(key) if checked else None
    if checked:
        if (dataset.ndim > 0 and not dataset.fletcher32) or not isinstance(stored, str):
            raise WeightsFileError(path, f"{where} parameter {key!r}: has no checksum, although "
                                         "the file was written with checksums")
    try:
        value = dataset[()]
    except OSError as error:
        raise WeightsFileError(path, f"{where} parameter {key!r}: checksum mismatch or "
                                     f"unreadable data, the file is damaged ({error})") from None
    if kinds == "f" and not np.isfinite(value).all():
        raise WeightsFileError(path, f"{where} parameter {key!r} contains NaN or inf")
    if checked and _array_digest(value) != stored:
        raise WeightsFileError(path, f"{where} parameter {key!r}: checksum mismatch (SHA-256), "
                                     "the values are damaged or were changed after saving")
    return value
