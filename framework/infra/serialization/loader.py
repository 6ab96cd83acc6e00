"""Loading: from a checked file to a net, or into an existing net.

Everything is read and checked before the net is touched. While the net is
built from the saved configs, its layers may allocate at most a few times the
values the file stores (``parameter_budget``), so a config declaring gigabytes
in a small file is refused.
"""
from contextlib import nullcontext

import numpy as np

from ...errors import WeightsFileError
from .layout import METADATA_GROUP, json_attr
from .metadata import decode_metadata
from .reader import check_root, dataset_digests, read_dataset, reading
from .rules import MAX_COUNTER

# While a load builds the net, its layers may allocate W and B for at most this many
# times the values the file stores, plus BUDGET_SLACK values: room for layers that build
# their weights twice, but a config declaring gigabytes in a small file is refused.
BUDGET_FACTOR = 4
BUDGET_SLACK = 1 << 20
RNG_STREAMS = ("init", "shuffle", "noise")


def load_net(path, net_class):
    """Rebuild the saved net as a ``net_class`` (``NeuralNet``): layers from their configs,
    weights, optimizer, RNG, counters; the saved metadata (``{}`` if none) becomes
    ``net.metadata``."""
    from ...hyper_parameters import HyperParameters
    from ...parameter import parameter_budget, values_replaced_next
    with reading(path) as handle:
        names, checked = check_root(handle, path)
        params = HyperParameters.from_dict(json_attr(handle, "hyper_parameters", path))
        net = net_class(params, str(handle.attrs.get("net_name", "net")))
        specs = [{"type": str(handle["layers"][name].attrs["class"]), "name": name,
                  "config": json_attr(handle["layers"][name], "config", path)}
                 for name in names]
        # every value comes from the file; with its random state too, no draw is needed
        no_draws = values_replaced_next() if "optimizer" in handle else nullcontext()
        try:
            with parameter_budget(BUDGET_FACTOR * _stored_values(handle) + BUDGET_SLACK,
                                  "the file (a few times what it stores)"), no_draws:
                net.add_specs(specs, _input_shape(handle, path))
            net.check_inference_memory()
        except ValueError as error:
            raise WeightsFileError(path, f"the saved architecture cannot be rebuilt: "
                                         f"{error}{import_hint(error)}") from None
        state = _read_state(handle, net, path, checked, optimizer=True)
        metadata = _read_metadata(handle, path, checked)
        net.load_state_dict(state)
        net.metadata = metadata
    return net


def import_hint(error):
    """What to do when a file names a class this program does not know."""
    if "expected one of" in str(error) or "unknown layer type" in str(error):
        return ("; if it is a class of your own, import the module that defines and "
                "registers it before loading (a file names classes, it never imports code)")
    return ""


def read_metadata(path):
    """Only the metadata saved with a net (``{}`` if none), checked like ``load_net`` does."""
    with reading(path) as handle:
        _, checked = check_root(handle, path)
        return _read_metadata(handle, path, checked)


def load_weights(net, path):
    """Load weights and buffers into ``net``; everything must match before anything is set.

    Returns the file's metadata (``{}`` if none)."""
    with reading(path) as handle:
        names, checked = check_root(handle, path)
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
        state = _read_state(handle, net, path, checked, optimizer=False)
        metadata = _read_metadata(handle, path, checked)
    net.load_state_dict(state)
    return metadata


def _stored_values(handle):
    """How many values the layers' datasets hold (each checked by check_storage)."""
    found = []
    handle["layers"].visititems(
        lambda key, obj: found.append(obj.size) if hasattr(obj, "shape") else None)
    return sum(found)


def _input_shape(handle, path):
    """The saved per-sample input shape (files before it was saved: None)."""
    if "input_shape" not in handle.attrs:
        return None
    shape = json_attr(handle, "input_shape", path)
    if shape is not None and not (isinstance(shape, list) and shape and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise WeightsFileError(path, f"input_shape {shape!r} is not a list of positive ints")
    return shape


def _read_state(handle, net, path, checked, optimizer):
    """The checked state dict the file holds for ``net`` (see ``framework.state``): every
    parameter and buffer; with ``optimizer``, the optimizer state (if saved), the
    counters and the random state. Nothing in the net changes."""
    from ...state import RANDOM_STATE, entries
    found, version = entries(net), int(handle.attrs["format_version"])
    state = _read_layers(handle, net, found, path, checked, version)
    if optimizer:
        if "optimizer" in handle:
            values, rng_state = _read_optimizer(handle, net, found, path, checked, version)
            state.update(values)
            state[RANDOM_STATE] = rng_state
        else:
            state[RANDOM_STATE] = net.streams.get_state()
        state["epoch"] = int(handle.attrs["epoch"])
        state["iteration"] = int(handle.attrs["iteration"])
        state["learning_rate"] = _learning_rate(handle, path)
    return state


def _learning_rate(handle, path):
    """The saved learning rate in use (files without one, or before it was saved: None)."""
    rate = handle.attrs.get("learning_rate")
    if rate is None:
        return None
    if not isinstance(rate, (float, np.floating)) or not np.isfinite(rate) or rate < 0:
        raise WeightsFileError(path, f"root attribute 'learning_rate' is {rate!r}, expected "
                                     f"a finite number >= 0")
    return float(rate)


def _file_name(net, entry, version):
    """The dataset name of a state entry in a file of format ``version`` (format 1 said
    what a layer's ``legacy_names`` list: batch norm's W and B for gamma and beta)."""
    if version >= 2:
        return entry.name
    renamed = {new: old for old, new in getattr(
        net.get_layer(entry.layer), "legacy_names", {}).items()}
    first, _, rest = entry.name.partition("/")
    first = renamed.get(first, first)
    return f"{first}/{rest}" if rest else first


def _dataset_names(group):
    """Every dataset below ``group``, by its path relative to it."""
    found = []
    group.visititems(lambda key, obj: found.append(key) if hasattr(obj, "shape") else None)
    return found


def _read_layers(handle, net, found, path, checked, version):
    """Validated parameter and buffer arrays ``{key: value}``, without changing the net."""
    values = {}
    for name in net.layer_names:
        group = handle["layers"][name]
        expected = {_file_name(net, e, version): e for e in found
                    if e.layer == name and e.kind != "optimizer"}
        extra = sorted(set(_dataset_names(group)) - set(expected))
        if extra:
            raise WeightsFileError(path, f"layer {name!r}: unexpected dataset(s) {extra}")
        digests = dataset_digests(group, path, checked)
        for key, entry in expected.items():
            values[entry.key] = _fits(read_dataset(group, key, entry.value.shape, path,
                                                   f"layer {name!r}", digests=digests,
                                                   non_negative=entry.non_negative),
                                      entry, path)
    return values


def _fits(value, entry, path):
    """``value`` if it fits the net's dtype: a float64 1e39 would load as inf in float32."""
    if isinstance(entry.value, np.ndarray) and value.dtype.kind == "f" and value.size:
        limit = float(np.finfo(entry.value.dtype).max)
        largest = float(np.max(np.abs(value)))
        if largest > limit:
            raise WeightsFileError(path, f"layer {entry.layer!r} {entry.kind} {entry.name!r} "
                                         f"holds {largest:.3g}, beyond the largest "
                                         f"{entry.value.dtype} ({limit:.3g}) the net computes in")
    return value


def _read_optimizer(handle, net, found, path, checked, version):
    """Validated optimizer state ``{key: value}`` and the checked RNG state."""
    group = handle["optimizer"]
    rng_state = _check_rng_state(json_attr(group, "rng_state", path), net, path)
    expected = {f"{e.layer}/{_file_name(net, e, version)}": e for e in found
                if e.kind == "optimizer"}
    extra = sorted(set(_dataset_names(group)) - set(expected))
    if extra:
        raise WeightsFileError(path, f"/optimizer has unexpected dataset(s) {extra}")
    values = {}
    digests = dataset_digests(group, path, checked)
    for key, entry in expected.items():
        where = f"layer {entry.layer!r} optimizer state"
        if isinstance(entry.value, np.ndarray):
            values[entry.key] = _fits(read_dataset(group, key, entry.value.shape, path, where,
                                                   digests=digests,
                                                   non_negative=entry.non_negative),
                                      entry, path)
        else:
            count = read_dataset(group, key, (), path, where, kinds="iu", digests=digests,
                                 non_negative=True)
            if count > MAX_COUNTER:
                raise WeightsFileError(path, f"{where} {key!r}: step count {int(count)} "
                                             f"exceeds {MAX_COUNTER}")
            values[entry.key] = int(count)
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
    document = json_attr(group, "json", path)
    if not isinstance(document, dict):
        raise WeightsFileError(path, f"metadata: expected a JSON object, got "
                                     f"{type(document).__name__}")
    digests = dataset_digests(group, path, checked)
    arrays = {key: np.asarray(read_dataset(group, key, group[key].shape, path, "metadata",
                                           kinds="fiub", digests=digests)) for key in group}
    used = set()
    try:
        metadata = decode_metadata(document, arrays, used)
    except ValueError as error:
        raise WeightsFileError(path, str(error)) from None
    unused = sorted(set(arrays) - used)
    if unused:
        raise WeightsFileError(path, f"metadata: dataset(s) {unused} are not referenced")
    return metadata
