"""``NeuralNet.from_onnx(path)``: a chain of ONNX nodes into a net of registered layers.

    1. read and check the file (``GraphReader``): one data input of fixed
       per-sample shape, one output, float or double
    2. walk the nodes from the input to the output, each reading the one
       before (and constants), and turn each into layer specs and arrays
       (``op_importers.py``); anything else is refused, naming node and op
    3. decide the net type: the caller's ``params``, else the one MiniFramework's
       export recorded, else from the last op (Softmax: multi-class; Sigmoid
       over one output: binary; anything else: fitting)
    4. build the net from the specs with the ordinary builder (so it saves, loads
       and trains like any other) and copy the arrays into its layers

The optimizer state starts fresh: ``train`` then fine-tunes from the imported
weights with the ``params`` given (default: ``DEFAULTS``, Keras's SGD rate and
batch size, for ``epochs=`` more epochs).
"""
import os
import re

import numpy as np

from ...enums import NetType
from ...hyper_parameters import HyperParameters
from . import op_importers  # noqa: F401  (registers the built-in op importers)
from .graph_reader import GraphReader
from .registry import OP_IMPORTERS

DEFAULTS = {"learning_rate": 0.01, "max_epoch": 10, "batch_size": 32}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")


def load_onnx(path, cls, params=None, name=None):
    """A ``cls`` built from the ONNX model in ``path`` (see the module docstring)."""
    graph = GraphReader(path)
    pieces = convert_chain(graph)
    if not pieces:
        raise ValueError(f"{graph.path}: the graph computes nothing a layer can hold")
    params = _params(graph, pieces, params)
    _classifier_last(graph, pieces, params.net_type)
    names = _layer_names(graph, pieces)
    specs = [dict(piece.spec, name=layer) if layer else dict(piece.spec)
             for piece, layer in zip(pieces, names)]
    try:
        net = cls.from_specs(params, specs, graph.input_shape, name or _net_name(graph))
    except ValueError as error:                 # a shape or net type the layers refuse
        raise ValueError(f"{graph.path}: {error}") from None
    for layer_name, layer, piece in zip(net.layer_names, net.layers, pieces):
        _fill(graph, layer_name, layer, piece)
    return net


def convert_chain(graph):
    """Every node from the input to the output, as a list of ``Piece``s."""
    current, shape, pieces, folded = graph.input_name, graph.input_shape, [], set()
    for node in graph.nodes:
        if id(node) in folded:
            continue
        data = [name for name in node.input if name and name not in graph.constants]
        if data != [current]:
            raise graph.refuse(node, f"reads {data or 'only constants'}, but the net is a "
                                     f"chain: each node must read the tensor before it "
                                     f"({current!r}) and constants; branches are not imported")
        importer = OP_IMPORTERS.get(node.op_type)
        if importer is None or node.domain not in ("", "ai.onnx"):
            raise graph.refuse(node, f"op {node.op_type!r} is not supported; MiniFramework "
                                     f"imports chains of {', '.join(sorted(OP_IMPORTERS))}")
        converted = importer(node, graph, shape)
        pieces += converted.pieces
        shape = converted.shape
        folded.update(id(n) for n in converted.folded)
        current = (converted.folded[-1] if converted.folded else node).output[0]
    if current != graph.output_name:
        raise ValueError(f"{graph.path}: the chain ends in {current!r}, not in the graph's "
                         f"output {graph.output_name!r}")
    return pieces


def _params(graph, pieces, params):
    """The caller's HyperParameters, else ones with the net type the graph implies."""
    if params is not None:
        if not isinstance(params, HyperParameters):
            raise ValueError(f"from_onnx: params: expected a HyperParameters, got "
                             f"{type(params).__name__}")
        return params
    recorded = graph.metadata.get("net_type")
    if recorded in {kind.value for kind in NetType}:
        net_type = NetType(recorded)
    elif pieces[-1].spec["type"] == "softmax":
        net_type = NetType.MULTIPLE_CLASSIFIER
    elif pieces[-1].spec["type"] == "sigmoid" and _units(pieces) == 1:
        net_type = NetType.BINARY_CLASSIFIER
    else:
        net_type = NetType.FITTING
    return HyperParameters(**DEFAULTS, net_type=net_type, dtype=graph.dtype.name)


def _units(pieces):
    """Outputs of the last fully connected piece (None if there is none)."""
    for piece in reversed(pieces):
        if piece.spec["type"] == "fc":
            return piece.spec["size"]
    return None


def _classifier_last(graph, pieces, net_type):
    """A binary net's last Sigmoid is its logistic output; Softmax only ends a net."""
    for piece in pieces[:-1]:
        if piece.spec["type"] == "softmax":
            raise ValueError(f"{graph.path}: node {piece.source!r} (Softmax) is not the last "
                             f"op; softmax is imported only as a classifier's output")
    if net_type is NetType.BINARY_CLASSIFIER and pieces[-1].spec["type"] == "sigmoid":
        pieces[-1].spec = {"type": "logistic"}


def _layer_names(graph, pieces):
    """The names MiniFramework's export recorded, if they fit; else None each (the
    builder names them fc1, relu1, ...)."""
    names = graph.metadata.get("layers")
    if isinstance(names, list) and len(names) == len(pieces) and len(set(names)) == len(names) \
            and all(isinstance(n, str) and _NAME.fullmatch(n) for n in names):
        return names
    return [None] * len(pieces)


def _net_name(graph):
    """The recorded net name, else the graph's, else the file's stem."""
    for candidate in (graph.metadata.get("name"), graph.name,
                      os.path.splitext(os.path.basename(graph.path))[0]):
        if isinstance(candidate, str) and candidate.strip() and candidate.isprintable():
            return candidate
    return "onnx"


def _fill(graph, layer_name, layer, piece):
    """Copy the piece's arrays into the layer's parameters and buffers."""
    targets = {name: p.value for name, p in layer.parameters().items()}
    targets.update(layer.buffers())
    for key, value in piece.values.items():
        target = targets[key]
        if value.size != target.size:
            raise ValueError(f"{graph.path}: node {piece.source!r}: {key} has {value.size} "
                             f"values, layer {layer_name!r} needs {target.shape}")
        np.copyto(target, np.asarray(value).reshape(target.shape), casting="unsafe")
