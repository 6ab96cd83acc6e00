"""Build a NeuralNet from a JSON-able description, for comparison runs.

A run has to be rebuilt in another process (a local worker or a Dask worker)
from plain data, so the architecture is a list of small dicts rather than
layer objects::

    [{"type": "fc", "size": 100}, {"type": "batch_norm"},
     {"type": "activation", "name": "relu"}, {"type": "dropout", "ratio": 0.5},
     {"type": "fc", "size": 10}, {"type": "classification", "name": "softmax"}]

``expand_net`` turns the compact form ``{"hidden": [100, 100], "activation":
"relu", "batch_norm": False, "dropout": 0.0}`` into that list (ending with the
output layer the net type needs), so "batch norm on/off" or "dropout 0.5" can
be one axis of a sweep. ``fingerprint`` hashes the initial weights, which is
how the runner *shows* rather than assumes that variants started alike.
"""
import hashlib

import numpy as np

from .enums import NetType

_ACTIVATORS = {"identity": "Identity", "sigmoid": "Sigmoid", "tanh": "Tanh",
               "relu": "Relu", "leaky_relu": "LeakyRelu", "elu": "Elu",
               "softplus": "Softplus"}
_CLASSIFIERS = {"softmax": "Softmax", "logistic": "Logistic"}


def expand_net(net, net_type, num_category):
    """The layer list for the compact description ``net`` (see module doc)."""
    unknown = set(net) - {"hidden", "activation", "batch_norm", "dropout"}
    if unknown:
        raise ValueError(f"net: unknown key(s) {sorted(unknown)}; "
                         "expected hidden, activation, batch_norm, dropout")
    layers = []
    for size in net.get("hidden", []):
        layers.append({"type": "fc", "size": int(size)})
        if net.get("batch_norm"):
            layers.append({"type": "batch_norm"})
        layers.append({"type": "activation", "name": net.get("activation", "relu")})
        if net.get("dropout"):
            layers.append({"type": "dropout", "ratio": float(net["dropout"])})
    return layers + output_layers(net_type, num_category)


def output_layers(net_type, num_category):
    """The last fc layer and the classifier (if any) that ``net_type`` needs."""
    net_type = NetType.parse(net_type, "net_type")
    if net_type is NetType.MULTIPLE_CLASSIFIER:
        return [{"type": "fc", "size": int(num_category)},
                {"type": "classification", "name": "softmax"}]
    if net_type is NetType.BINARY_CLASSIFIER:
        return [{"type": "fc", "size": 1}, {"type": "classification", "name": "logistic"}]
    return [{"type": "fc", "size": int(num_category)}]


def build_net(params, layer_specs, input_size, name="net"):
    """A NeuralNet with ``layer_specs`` added in order, named ``<index>_<type>``."""
    from .net import NeuralNet
    net = NeuralNet(params, name)
    width = int(input_size)
    for index, spec in enumerate(layer_specs):
        layer, width = _make_layer(spec, width, params)
        net.add_layer(layer, f"{index:02d}_{spec['type']}")
    return net


def _make_layer(spec, width, params):
    """(layer, output width) for one layer dict."""
    from . import activators, classifiers
    from .layers.activation import ActivationLayer
    from .layers.batch_norm import BatchNormLayer
    from .layers.classification import ClassificationLayer
    from .layers.dropout import DropoutLayer
    from .layers.fc import FcLayer
    kind = spec.get("type")
    options = {k: v for k, v in spec.items() if k not in ("type", "size", "name")}
    if kind == "fc":
        return FcLayer(width, int(spec["size"]), params), int(spec["size"])
    if kind == "activation":
        cls = getattr(activators, _lookup(_ACTIVATORS, spec.get("name"), "activation"))
        return ActivationLayer(cls(**options)), width
    if kind == "classification":
        cls = getattr(classifiers, _lookup(_CLASSIFIERS, spec.get("name"), "classification"))
        return ClassificationLayer(cls()), width
    if kind == "batch_norm":
        return BatchNormLayer(width, params=params, **options), width
    if kind == "dropout":
        return DropoutLayer(width, **options), width
    raise ValueError(f"layer type: expected fc, activation, classification, batch_norm "
                     f"or dropout, got {kind!r} in {spec!r}")


def _lookup(table, name, what):
    key = str(name).strip().lower().replace("-", "_")
    if key not in table:
        raise ValueError(f"{what}: expected one of {sorted(table)}, got {name!r}")
    return table[key]


def fingerprint(net):
    """SHA-256 of every weight and buffer, overall and per layer.

    Two nets with equal fingerprints hold bit-identical arrays. Layers whose
    weights differ only because the architecture differs (a batch-norm layer
    added) still match layer by layer where the draws were the same.
    """
    overall = hashlib.sha256()
    layers = {}
    for layer_name, arrays in net.get_state().items():
        digest = hashlib.sha256()
        for key in sorted(arrays):
            data = np.ascontiguousarray(arrays[key])
            digest.update(key.encode())
            digest.update(data.tobytes())
        layers[layer_name] = digest.hexdigest()[:16]
        overall.update(digest.digest())
    return {"all": overall.hexdigest()[:16], "layers": layers}
