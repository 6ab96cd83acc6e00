"""Save and load nets as HDF5, atomically, checksummed and strictly.

Layout (see docs/architecture.md)::

    / attrs: format_version, library_version, net_name, hyper_parameters (JSON),
             layer_names (JSON), input_shape (JSON), epoch, iteration, attrs_sha256
    /layers/<name>  attrs: class, config (JSON), index; one dataset per array
    /optimizer/<layer>/<param>/<state>  attrs: rng_state (JSON)   (optional)
    /metadata  attrs: json (the JSON-able part), sha256; datasets a0, a1, ...  (optional:
               the caller's data options; arrays appear in the JSON as {"__ndarray__": "a0"})

Saving builds the whole HDF5 image in memory (h5py's "core" driver without a
backing store), then writes those bytes with plain ``os.write`` to a temporary
file ``.<name>.<16 hex>.tmp`` beside the target, ``fsync``s it and
``os.replace``s it onto the target. HDF5 itself never touches the disk, so a
full disk or a file-size limit cannot crash it; any OS failure raises
``WeightsFileError`` naming the target, the old file stays as it was and the
temporary file is removed (docs/reliability.md lists the guarantees).

Text attributes are fixed-length UTF-8 strings stored in the attribute itself (no
variable-length strings in HDF5's global heap, whose damage can hang libhdf5); loading
decodes them back to str and also reads the variable-length text of older files.

Integrity: every array dataset is written with HDF5's fletcher32 filter and
carries a ``sha256`` attribute (dtype, shape and bytes of its values; scalar
datasets such as Adam's ``t`` cannot be chunked and rely on this digest alone).
The root attribute ``attrs_sha256`` is a SHA-256 of a canonical serialisation
of every root, layer-group, /optimizer and /metadata attribute (the JSON configs,
counters and RNG state); it is verified right after the structural checks,
before the net is built. Files without these (written before checksums, such
as tests/data/format1_mlp.h5) load exactly as before.

Validation is symmetric: one set of value rules (finite values; variances,
second moments and counters not negative) is applied by ``save`` before
anything is written and by ``load`` to everything it reads, so a file that
saves always loads.

Loading executes no code (no pickle), refuses links and external storage that
could make it read other files, checks that every dataset's declared size is
really stored in the file and that the architecture's parameters fit in what
the file holds before anything is allocated, and checks every name, shape,
dtype and value before touching the net, so a bad file raises
``WeightsFileError`` naming the file and the problem.
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
METADATA_GROUP = "metadata"
ARRAY_TAG = "__ndarray__"        # {"__ndarray__": "a0"} in the metadata JSON: dataset a0
MAX_METADATA_DEPTH = 16
MAX_COUNTER = 2 ** 63 - 1
INLINE_TEXT = 32 * 1024          # longer text attributes are stored variable-length
# While a load builds the net, its layers may allocate W and B for at most this many
# times the values the file stores, plus BUDGET_SLACK values: room for layers that build
# their weights twice, but a config declaring gigabytes in a small file is refused.
BUDGET_FACTOR = 4
BUDGET_SLACK = 1 << 20
RNG_STREAMS = ("init", "shuffle", "noise")

# Arrays that must not be negative (a variance or second moment below 0 turns into
# NaN at its first square root). A layer or optimizer class may declare its own with a
# ``non_negative`` tuple attribute; these are the built-in ones.
NON_NEGATIVE_BUFFERS = {"BatchNormLayer": ("running_var",)}
NON_NEGATIVE_STATE = {"adam": ("v",), "adagrad": ("r",), "rmsprop": ("r",),
                      "adadelta": ("Eg", "Edx")}


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
    mode = _check_target(path, target, folder)
    state = list(_optimizer_items(net)) if include_optimizer else None
    problem = _save_problem(net, state)
    arrays = {}
    try:
        document = None if metadata is None else encode_metadata(metadata, arrays)
    except ValueError as error:
        problem = str(error)
    if problem:
        raise WeightsFileError(path, f"cannot save: {problem}; nothing was written")
    image = _file_image(h5py, net, state, document, arrays)
    _write_atomically(path, target, folder, name, image, mode)


def _file_image(h5py, net, state, document, arrays):
    """The complete HDF5 file as bytes, built without touching the disk."""
    # a unique name: HDF5 refuses two open files of one name (concurrent saves, or the
    # target itself open for reading); with backing_store=False nothing touches the disk
    handle = h5py.File(f"<in-memory {secrets.token_hex(8)}>", "w", driver="core",
                       backing_store=False)
    try:
        record = {}
        _write_root(handle, net, record)
        _write_layers(handle, net, record)
        if state is not None:
            _write_optimizer(handle, net, state, record)
        if document is not None:
            _write_metadata(handle, document, arrays, record)
        _set_attrs(handle, "/", {DIGEST_ATTR: _record_digest(record)}, {})
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
    """SHA-256 over every root, /layers/<name>, /optimizer and /metadata attribute
    (but itself), as read from the file."""
    objects = [handle]
    if "layers" in handle:
        objects += [handle["layers"][key] for key in handle["layers"]]
    objects += [handle[key] for key in ("optimizer", METADATA_GROUP) if key in handle]
    record = {}
    for obj in objects:
        attrs = record[obj.name] = {}
        for key in obj.attrs:
            attrs[key] = _canonical(_attr_value(obj.attrs[key]))
    return _record_digest(record)


def _record_digest(record):
    """The digest of {object name: {attribute: canonical value}}: root first, then the
    layer groups in name order, /optimizer, /metadata; attributes in name order."""
    names = ["/"] + sorted(n for n in record if n.startswith("/layers/"))
    names += [n for n in ("/optimizer", f"/{METADATA_GROUP}") if n in record]
    items = [[name, key, record[name][key]] for name in names for key in sorted(record[name])
             if not (name == "/" and key == DIGEST_ATTR)]
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _set_attrs(obj, name, attrs, record):
    """Write ``attrs`` on ``obj`` and note their canonical forms under ``name`` in
    ``record``: the digest is computed from these, without reading the file back.

    Ints are stored as int64. Text is stored as a fixed-length UTF-8 string inside the
    attribute itself, not as a variable-length string in HDF5's global heap: a
    damaged global-heap entry can make libhdf5 loop forever while reading it (found by
    the byte-flip test), which no check of ours could then stop. Loading decodes it
    back to str (``_attr_value``). Text longer than INLINE_TEXT stays variable-length,
    because an object header message is limited to 64 KB.
    """
    canonical = record.setdefault(name, {})
    for key, value in attrs.items():
        value = np.int64(value) if isinstance(value, (int, np.integer)) else value
        stored = value
        if isinstance(value, str) and 0 < len(value.encode("utf-8")) <= INLINE_TEXT:
            stored = np.bytes_(value.encode("utf-8"))
        obj.attrs[key] = stored
        canonical[key] = _canonical(value)


def _attr_value(value):
    """An attribute as written: fixed-length text (numpy bytes) decoded back to str."""
    if isinstance(value, np.bytes_):
        return value.decode("utf-8")
    return value


def _write_root(handle, net, record):
    from . import __version__
    _set_attrs(handle, "/", {
        "format_version": FORMAT_VERSION, "library_version": __version__,
        "net_name": net.name, "hyper_parameters": json.dumps(net.params.to_dict()),
        "layer_names": json.dumps(net.layer_names),
        "input_shape": json.dumps(None if net.input_shape is None else list(net.input_shape)),
        "epoch": net.epoch, "iteration": net.iteration}, record)


def _write_layers(handle, net, record):
    layers = handle.create_group("layers")
    for index, (name, layer) in enumerate(zip(net.layer_names, net.layers)):
        group = layers.create_group(name)
        digests = {key: _create_dataset(group, key, value)
                   for key, value in net.layer_arrays(index).items()}
        _set_attrs(group, f"/layers/{name}", {
            "class": type(layer).__name__, "config": json.dumps(layer.get_config()),
            "index": index, DATASETS_DIGEST_ATTR: json.dumps(digests, sort_keys=True)}, record)


def _write_optimizer(handle, net, state, record):
    group = handle.create_group("optimizer")
    digests = {f"{name}/{path}": _create_dataset(group, f"{name}/{path}", value)
               for name, path, value, _ in state}
    _set_attrs(group, "/optimizer", {
        "rng_state": json.dumps(net.streams.get_state()),
        DATASETS_DIGEST_ATTR: json.dumps(digests, sort_keys=True)}, record)


def _write_metadata(handle, document, arrays, record):
    group = handle.create_group(METADATA_GROUP)
    digests = {key: _create_dataset(group, key, value) for key, value in arrays.items()}
    _set_attrs(group, f"/{METADATA_GROUP}", {
        "json": json.dumps(document, sort_keys=True, allow_nan=False),
        DATASETS_DIGEST_ATTR: json.dumps(digests, sort_keys=True)}, record)


def _optimizer_items(net):
    """(layer name, "<param>/<state>", value, must be >= 0) for every optimizer state entry."""
    from .net import param_name
    for name, layer in zip(net.layer_names, net.layers):
        for index, wb in enumerate(layer.weights()):
            non_negative = _declared(wb.optimizer_W, NON_NEGATIVE_STATE,
                                     getattr(wb.optimizer_W, "name", None))
            for key, value in wb.optimizer_state().items():
                param, state = key.split("/", 1)
                yield (name, f"{param_name(index, param)}/{state}", value,
                       state in non_negative)


def _declared(obj, table, key):
    """The names ``obj`` declares non-negative (its ``non_negative``, else ``table``)."""
    own = getattr(obj, "non_negative", None)
    return tuple(own) if own is not None else table.get(key, ())


def _non_negative_buffers(layer):
    return _declared(layer, NON_NEGATIVE_BUFFERS, type(layer).__name__)


# ----- value rules, shared by save and load ----------------------------------
def value_problem(value, non_negative=False):
    """Why ``value`` may not be saved or loaded ("contains NaN or inf", ...), or None.

    Both directions call this one function, so a file that saves always loads.
    """
    value = np.asarray(value)
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        return "contains NaN or inf"
    if value.dtype.kind not in "fiub":
        return f"has dtype {value.dtype}, expected numbers"
    if non_negative and value.size and value.min() < 0:
        return f"has a negative value ({float(value.min())!r}); it must be >= 0"
    return None


def _counter_problem(value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return f"is {value!r}, expected an integer"
    if value < 0:
        return f"is {int(value)}, a negative count (it must be >= 0)"
    if value > MAX_COUNTER:
        return f"is {int(value)}, beyond the largest count {MAX_COUNTER}"
    return None


def _save_problem(net, state):
    """The first value of ``net`` that ``load`` would refuse, described; or None."""
    from .hyper_parameters import HyperParameters
    try:
        HyperParameters.from_dict(net.params.to_dict())
        json.dumps(net.params.to_dict(), allow_nan=False)
    except (ValueError, TypeError) as error:
        return f"the hyper-parameters would not load back ({error})"
    for name, layer in zip(net.layer_names, net.layers):
        try:
            json.dumps(layer.get_config(), allow_nan=False)
        except (ValueError, TypeError) as error:
            return f"layer {name!r} config is not JSON with finite numbers ({error})"
    for key in ("epoch", "iteration"):
        problem = _counter_problem(getattr(net, key))
        if problem:
            return f"net.{key} {problem}"
    for index, (name, layer) in enumerate(zip(net.layer_names, net.layers)):
        non_negative = _non_negative_buffers(layer)
        for key, value in net.layer_arrays(index).items():
            problem = value_problem(value, key in non_negative)
            if problem:
                return f"layer {name!r} array {key!r} {problem}"
    for name, key, value, non_negative in state or ():
        problem = (value_problem(value, non_negative) if isinstance(value, np.ndarray)
                   else _counter_problem(value))
        if problem:
            return f"layer {name!r} optimizer state {key!r} {problem}"
    return None


def encode_metadata(value, arrays, where="metadata", depth=0):
    """``value`` as JSON-able data; numpy arrays are moved into ``arrays`` (name -> array)
    and replaced by ``{"__ndarray__": name}``. ValueError naming the entry otherwise."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{where}: keys must be strings, got {bad[0]!r}")
        if ARRAY_TAG in value:
            raise ValueError(f"{where}: the key {ARRAY_TAG!r} is reserved")
        return {k: encode_metadata(v, arrays, f"{where}[{k!r}]", depth + 1)
                for k, v in value.items()}
    if depth == 0:
        raise ValueError(f"metadata: expected a dict, got {type(value).__name__}")
    if isinstance(value, (list, tuple)):
        return [encode_metadata(v, arrays, f"{where}[{i}]", depth + 1)
                for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        problem = value_problem(value)
        if problem:
            raise ValueError(f"{where}: the array {problem}")
        name = f"a{len(arrays)}"
        arrays[name] = np.ascontiguousarray(value)
        return {ARRAY_TAG: name}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return value
    raise ValueError(f"{where}: a {type(value).__name__} is not JSON-able (expected None, "
                     "bool, int, float, str, list, dict or a numpy array)")


def decode_metadata(value, arrays, used, where="metadata"):
    """The inverse of ``encode_metadata``: ``{"__ndarray__": name}`` -> ``arrays[name]``."""
    if isinstance(value, dict):
        if ARRAY_TAG in value:
            name = value[ARRAY_TAG]
            if len(value) != 1 or not isinstance(name, str) or name not in arrays:
                raise ValueError(f"{where}: {value!r} names no array stored in the file")
            if name in used:
                raise ValueError(f"{where}: array {name!r} is referenced twice")
            used.add(name)
            return arrays[name]
        return {k: decode_metadata(v, arrays, used, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [decode_metadata(v, arrays, used, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


# ----- loading -----------------------------------------------------------
@contextlib.contextmanager
def _reading(path):
    """Open ``path`` read-only after the safety checks; map read errors to WeightsFileError."""
    path = os.fspath(path)
    handle = check_hdf5_file(path)
    try:
        tree = CheckedGroup(handle, "/")
        _check_storage(check_links(handle, path, tree), path)
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


def load_net(path):
    """Rebuild the saved net: layers from their configs, weights, optimizer, RNG, counters;
    the saved metadata (``{}`` if none) becomes ``net.metadata``."""
    from .hyper_parameters import HyperParameters
    from .net import NeuralNet
    from .weights_bias import parameter_budget
    with _reading(path) as handle:
        names, checked = _check_root(handle, path)
        params = HyperParameters.from_dict(_json_attr(handle, "hyper_parameters", path))
        net = NeuralNet(params, str(handle.attrs.get("net_name", "net")))
        specs = [{"type": str(handle["layers"][name].attrs["class"]), "name": name,
                  "config": _json_attr(handle["layers"][name], "config", path)}
                 for name in names]
        try:
            with parameter_budget(BUDGET_FACTOR * _stored_values(handle) + BUDGET_SLACK,
                                  "the file (a few times what it stores)"):
                net.add_specs(specs, _input_shape(handle, path))
        except ValueError as error:
            raise WeightsFileError(path, f"the saved architecture cannot be rebuilt: "
                                         f"{error}") from None
        values = _read_layers(handle, net, path, checked)
        state = _read_optimizer(handle, net, path, checked) if "optimizer" in handle else None
        metadata = _read_metadata(handle, path, checked)
        for index, value in enumerate(values):
            net.set_layer_arrays(index, value)
        if state is not None:
            _apply_optimizer(net, *state)
        net.epoch = int(handle.attrs["epoch"])
        net.iteration = int(handle.attrs["iteration"])
        net.metadata = metadata
    return net


def read_metadata(path):
    """Only the metadata saved with a net (``{}`` if none), checked like ``load_net`` does."""
    with _reading(path) as handle:
        _, checked = _check_root(handle, path)
        return _read_metadata(handle, path, checked)


def load_weights(net, path):
    """Load weights and buffers into ``net``; everything must match before anything is set.

    Returns the file's metadata (``{}`` if none)."""
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
        metadata = _read_metadata(handle, path, checked)
    for index, value in enumerate(values):
        net.set_layer_arrays(index, value)
    return metadata


def _stored_values(handle):
    """How many values the layers' datasets hold (each checked by _check_storage)."""
    return sum(handle["layers"][name][key].size
               for name in handle["layers"] for key in handle["layers"][name])


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
        problem = _counter_problem(handle.attrs.get(key))
        if problem:
            raise WeightsFileError(path, f"root attribute {key!r} {problem}")
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
    """Files from CHECKSUMS_FROM_VERSION on, or carrying any of our digests (or metadata,
    which only checksummed files have), must verify."""
    if (version >= CHECKSUMS_FROM_VERSION or DIGEST_ATTR in handle.attrs
            or METADATA_GROUP in handle):
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
    for index, (name, layer) in enumerate(zip(net.layer_names, net.layers)):
        group = handle["layers"][name]
        expected = net.layer_arrays(index)
        extra = sorted(set(group) - set(expected))
        if extra:
            raise WeightsFileError(path, f"layer {name!r}: unexpected dataset(s) {extra}")
        digests = _digests(group, path, checked)
        non_negative = _non_negative_buffers(layer)
        out.append({key: read_dataset(group, key, target.shape, path, f"layer {name!r}",
                                      digests=digests, non_negative=key in non_negative)
                    for key, target in expected.items()})
    return out


def _read_optimizer(handle, net, path, checked=False):
    group = handle["optimizer"]
    rng_state = _check_rng_state(_json_attr(group, "rng_state", path), net, path)
    expected = {f"{name}/{key}": (value, non_negative)
                for name, key, value, non_negative in _optimizer_items(net)}
    found = []
    group.visititems(lambda key, obj: found.append(key) if hasattr(obj, "shape") else None)
    extra = sorted(set(found) - set(expected))
    if extra:
        raise WeightsFileError(path, f"/optimizer has unexpected dataset(s) {extra}")
    values = {}
    digests = _digests(group, path, checked)
    for key, (value, non_negative) in expected.items():
        where = f"layer {key.split('/', 1)[0]!r} optimizer state"
        if isinstance(value, np.ndarray):
            values[key] = read_dataset(group, key, value.shape, path, where,
                                       digests=digests, non_negative=non_negative)
        else:
            count = read_dataset(group, key, (), path, where, kinds="iu", digests=digests,
                                 non_negative=True)
            if count > MAX_COUNTER:
                raise WeightsFileError(path, f"{where} {key!r}: step count {int(count)} "
                                             f"exceeds {MAX_COUNTER}")
            values[key] = int(count)
    return values, rng_state


def _check_rng_state(state, net, path):
    """The random-state record, proven usable on scratch generators before it is applied."""
    if not isinstance(state, dict) or sorted(state) != sorted(RNG_STREAMS):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise WeightsFileError(path, f"rng_state: expected an object with the streams "
                                     f"{list(RNG_STREAMS)}, got {keys}")
    for name in RNG_STREAMS:
        kind = type(getattr(net.streams, name).bit_generator)
        entry = state[name]
        if not isinstance(entry, dict) or entry.get("bit_generator") != kind.__name__:
            raise WeightsFileError(path, f"rng_state[{name!r}]: expected a {kind.__name__} "
                                         f"state, got {str(entry)[:80]!r}")
        try:
            kind().state = entry
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as error:
            raise WeightsFileError(path, f"rng_state[{name!r}] is malformed "
                                         f"({type(error).__name__}: {error})") from None
    return state


def _read_metadata(handle, path, checked):
    """The saved metadata dict, every array checked like the weights; ``{}`` if none."""
    if METADATA_GROUP not in handle:
        return {}
    group = handle[METADATA_GROUP]
    document = _json_attr(group, "json", path)
    if not isinstance(document, dict):
        raise WeightsFileError(path, f"metadata: expected a JSON object, got "
                                     f"{type(document).__name__}")
    digests = _digests(group, path, checked)
    arrays = {key: read_dataset(group, key, group[key].shape, path, "metadata",
                                kinds="fiub", digests=digests) for key in group}
    used = set()
    try:
        metadata = decode_metadata(document, arrays, used)
    except ValueError as error:
        raise WeightsFileError(path, str(error)) from None
    unused = sorted(set(arrays) - used)
    if unused:
        raise WeightsFileError(path, f"metadata: dataset(s) {unused} are not referenced")
    return metadata


def _apply_optimizer(net, values, rng_state):
    from .net import param_name
    for name, layer in zip(net.layer_names, net.layers):
        for index, wb in enumerate(layer.weights()):
            state = {}
            for key in wb.optimizer_state():
                param, entry = key.split("/", 1)
                state[key] = values[f"{name}/{param_name(index, param)}/{entry}"]
            wb.set_optimizer_state(state)
    net.streams.set_state(rng_state)   # already proven by _check_rng_state


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
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise WeightsFileError(path, f"cannot load: it is {_kind(info.st_mode)}, not a "
                                         "regular file")
        if info.st_size == 0:
            raise WeightsFileError(path, "file is empty (0 bytes)")
        with open(path, "rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except FileNotFoundError:
        raise WeightsFileError(path, "file not found") from None
    except OSError as error:
        raise WeightsFileError(path, f"cannot read: {_describe(error)}") from None
    if head != HDF5_SIGNATURE:
        raise WeightsFileError(path, "not an HDF5 file (the HDF5 signature is missing)")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise WeightsFileError(path, f"unreadable HDF5 file, truncated or damaged ({error})") \
            from None


class CheckedGroup:
    """A read-only view of an HDF5 group whose links ``check_links`` has checked.

    It offers what loading uses of h5py's Group (``[]`` with paths, ``get``, ``in``,
    iteration, ``visititems``, ``name``, ``attrs`` as a dict) but looks every child
    and attribute up once: h5py's lookups cost far more than the checks themselves,
    and a load asks for the same objects many times.
    """

    def __init__(self, group, name):
        self._group, self.name = group, name
        self.children = {}          # key -> CheckedGroup or h5py.Dataset, in file order
        self.values = {}            # key -> the dataset's values, once read_all has run
        self._attrs = None

    def read_all(self, path):
        """Read every dataset below (after _check_storage bounded their sizes), so a
        damaged one (a fletcher32 mismatch) is refused before any net is built."""
        for key, child in self.children.items():
            if isinstance(child, CheckedGroup):
                child.read_all(path)
                continue
            try:
                self.values[key] = child[()]
            except OSError as error:
                raise WeightsFileError(path, f"{_dataset_label(child.name)}: checksum "
                                             "mismatch or unreadable data, the file is "
                                             f"damaged ({error})") from None

    def read(self, key):
        """The values of dataset ``key`` (a path below this group)."""
        head, _, tail = key.strip("/").rpartition("/")
        node = self[head] if head else self
        if tail in node.values:
            return node.values[tail]
        return node.children[tail][()]

    @property
    def attrs(self):
        if self._attrs is None:
            attrs = self._group.attrs
            self._attrs = {key: _attr_value(attrs[key]) for key in attrs}
        return self._attrs

    def __getitem__(self, key):
        node = self
        for part in key.strip("/").split("/"):
            if not isinstance(node, CheckedGroup) or part not in node.children:
                raise KeyError(f"no object {key!r} in {self.name}")
            node = node.children[part]
        return node

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        return self.get(key) is not None

    def __iter__(self):
        return iter(self.children)

    def __len__(self):
        return len(self.children)

    def visititems(self, visit, prefix=""):
        """Call ``visit(relative path, object)`` for every object below, as h5py does."""
        for key, child in self.children.items():
            where = f"{prefix}{key}"
            visit(where, child)
            if isinstance(child, CheckedGroup):
                child.visititems(visit, where + "/")


def _dataset_label(name):
    """How error messages name a dataset: "layer 'fc1' parameter 'W'" and the like."""
    parts = name.strip("/").split("/")
    if parts[0] == "layers" and len(parts) == 3:
        return f"layer {parts[1]!r} parameter {parts[2]!r}"
    if parts[0] == "optimizer" and len(parts) > 2:
        return f"layer {parts[1]!r} optimizer state parameter {'/'.join(parts[1:])!r}"
    if parts[0] == METADATA_GROUP and len(parts) == 2:
        return f"metadata parameter {parts[1]!r}"
    return f"dataset {name}"


def check_links(handle, path, tree=None):
    """Reject soft/external links, external or virtual datasets, anywhere in the file;
    return every dataset found (and fill ``tree``, a CheckedGroup of ``handle``).

    Any of these could make a load read a different file (or loop), so a
    weights file from elsewhere could smuggle in data it does not contain.
    """
    h5py = h5py_module()
    datasets = []

    def walk(group, node, depth):
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
                child = node.children[key] = CheckedGroup(obj, where)
                walk(obj, child, depth + 1)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise WeightsFileError(path, f"dataset {where} uses external storage "
                                                 f"({obj.external[0][0]!r}); not allowed")
                if obj.is_virtual:
                    raise WeightsFileError(path, f"dataset {where} is a virtual dataset; "
                                                 "not allowed")
                datasets.append(obj)
                node.children[key] = obj
            else:
                raise WeightsFileError(path, f"unexpected object {where} ({type(obj).__name__})")

    walk(handle, CheckedGroup(handle, "/") if tree is None else tree, 0)
    return datasets


def _check_storage(datasets, path):
    """Every dataset numeric and stored whole: its declared size must be in the file.

    Runs before anything is read or allocated, so a small file whose datasets (or a
    fill value) declare gigabytes is refused, not allocated; ``load_net`` then caps
    the parameters its configs may declare at what is stored here (``parameter_budget``).
    """
    total = 0
    for dataset in datasets:
        if dataset.dtype.kind not in "fiub" or dataset.dtype.itemsize > 16:
            raise WeightsFileError(path, f"dataset {dataset.name} has dtype {dataset.dtype}, "
                                         "expected numbers")
        declared = dataset.size * dataset.dtype.itemsize
        stored = dataset.id.get_storage_size()
        if declared > stored:
            raise WeightsFileError(path, f"dataset {dataset.name} declares shape "
                                         f"{dataset.shape} ({declared:,} bytes) but the file "
                                         f"stores only {stored:,} bytes of it; refused "
                                         "before allocating")
        total += stored
    size = os.path.getsize(path)
    if total > size:
        raise WeightsFileError(path, f"the datasets claim {total:,} bytes of storage, more "
                                     f"than the whole {size:,}-byte file")


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
    if checked and _array_digest(value) != stored:
        raise WeightsFileError(path, f"{where} parameter {key!r}: checksum mismatch (SHA-256), "
                                     "the values are damaged or were changed after saving")
    return value
