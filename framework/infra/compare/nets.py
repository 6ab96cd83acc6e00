"""Build a comparison run's NeuralNet from its JSON-able description.

A run has to be rebuilt in another process (a local worker or a Dask worker)
from plain data, so the architecture is a list of layer specs (see
``framework.layers.builder``) rather than layer objects::

    [{"type": "fc", "size": 100}, {"type": "batch_norm"}, {"type": "relu"},
     {"type": "dropout", "ratio": 0.5}, {"type": "fc", "size": 10},
     {"type": "softmax"}]

``expand_net`` turns the compact form ``{"hidden": [100, 100], "activation":
"relu", "batch_norm": False, "dropout": 0.0}`` into that list (ending with the
output layer the net type needs), so "batch norm on/off" or "dropout 0.5" can
be one axis of a sweep. ``fingerprint`` hashes the initial weights, which is
how the runner *shows* rather than assumes that variants started alike.
"""
import hashlib

import numpy as np

from ...enums import NetType
from ..validation import check_flag, check_integer, check_number

_CLASSIFIER = {NetType.MULTIPLE_CLASSIFIER: "softmax", NetType.BINARY_CLASSIFIER: "logistic"}


NET_KEYS = ("hidden", "activation", "batch_norm", "dropout")


def check_net(net):
    """Refuse a compact description that would build something else than it says:
    ``hidden`` a list of positive integers (a string "16" would be iterated into
    layers of 1 and 6 units), ``activation`` a registered activator's name,
    ``batch_norm`` a boolean ("false" is a true string), ``dropout`` a number in
    [0, 1). NumPy integers and floats count as numbers, bools never do."""
    from ...activators import ACTIVATORS
    if not isinstance(net, dict):
        raise ValueError(f"net: expected a dict with keys {list(NET_KEYS)}, got {net!r}")
    unknown = set(net) - set(NET_KEYS)
    if unknown:
        raise ValueError(f"net: unknown key(s) {sorted(unknown)}; "
                         "expected hidden, activation, batch_norm, dropout")
    hidden = net.get("hidden", [])
    if not isinstance(hidden, (list, tuple)):
        raise ValueError(f"net.hidden: expected a list of layer widths (positive "
                         f"integers), got {hidden!r}")
    for index, width in enumerate(hidden):
        check_integer(f"net.hidden[{index}]", width)
    activation = net.get("activation", "relu")
    if not isinstance(activation, str) or activation not in ACTIVATORS:
        raise ValueError(f"net.activation: expected one of {ACTIVATORS.names()}, "
                         f"got {activation!r}")
    check_flag("net.batch_norm", net.get("batch_norm", False))
    check_number("net.dropout", net.get("dropout", 0.0), 0.0, 1.0, below=True)


def expand_net(net, net_type, num_category):
    """The layer specs for the compact description ``net`` (see module doc)."""
    from ...layers.builder import mlp_specs
    check_net(net)
    net_type = NetType.parse(net_type, "net_type")
    width = 1 if net_type is NetType.BINARY_CLASSIFIER else int(num_category)
    return mlp_specs([int(w) for w in net.get("hidden", [])], width,
                     net.get("activation", "relu"), bool(net.get("batch_norm", False)),
                     float(net.get("dropout", 0.0)), _CLASSIFIER.get(net_type))


def check_layers(layers):
    """Refuse a layer list whose entries are not specs of known layer types (their
    options are checked when the net is built, with the data's shape)."""
    from ...layers.builder import layer_class, make_layer, parse_spec
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"layers: expected a non-empty list of layer specs, got {layers!r}")
    for index, spec in enumerate(layers):
        kind, _, _ = parse_spec(spec, index)
        if layer_class(kind) is None:
            make_layer(kind, {}, None, None)        # raises, listing the known types


def build_net(params, layer_specs, input_shape, name="net"):
    """A NeuralNet with ``layer_specs`` built by ``layers_from_specs``."""
    from ...net import NeuralNet
    return NeuralNet.from_specs(params, layer_specs, input_shape, name)


def fingerprint(net):
    """SHA-256 of every weight and buffer, overall and per layer.

    Two nets with equal fingerprints hold bit-identical arrays. Layers whose
    weights differ only because the architecture differs (a batch-norm layer
    added) still match layer by layer where the draws were the same.
    """
    from ...state import entries
    arrays = {}
    for entry in entries(net):
        if entry.kind != "optimizer":
            arrays.setdefault(entry.layer, {})[entry.name] = entry.value
    overall = hashlib.sha256()
    layers = {}
    for layer_name in net.layer_names:
        digest = hashlib.sha256()
        for key in sorted(arrays.get(layer_name, {})):
            data = np.ascontiguousarray(arrays[layer_name][key])
            digest.update(key.encode())
            digest.update(data.tobytes())
        layers[layer_name] = digest.hexdigest()[:16]
        overall.update(digest.digest())
    return {"all": overall.hexdigest()[:16], "layers": layers}
