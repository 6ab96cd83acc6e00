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

_CLASSIFIER = {NetType.MULTIPLE_CLASSIFIER: "softmax", NetType.BINARY_CLASSIFIER: "logistic"}


def expand_net(net, net_type, num_category):
    """The layer specs for the compact description ``net`` (see module doc)."""
    from ...layers.builder import mlp_specs
    unknown = set(net) - {"hidden", "activation", "batch_norm", "dropout"}
    if unknown:
        raise ValueError(f"net: unknown key(s) {sorted(unknown)}; "
                         "expected hidden, activation, batch_norm, dropout")
    net_type = NetType.parse(net_type, "net_type")
    width = 1 if net_type is NetType.BINARY_CLASSIFIER else int(num_category)
    return mlp_specs(net.get("hidden", []), width, net.get("activation", "relu"),
                     bool(net.get("batch_norm")), float(net.get("dropout") or 0.0),
                     _CLASSIFIER.get(net_type))


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
