"""Each supported ONNX op as a layer spec and its arrays.

An importer is ``function(node, graph, shape) -> Converted`` (see
``registry.py``): ``graph`` a GraphReader, ``shape`` the per-sample shape
reaching the node. It returns the pieces (a spec for the builder plus the
arrays for the layer's parameters and buffers, by name), the shape after
them, and any following nodes it folded in (a MatMul's bias Add). What the
layers cannot compute (a group, a dilation, asymmetric or ceil-mode padding,
an op in training mode) is refused, naming the node and the attribute.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from ...layers.im2col import output_size
from .graph_reader import shortest
from .registry import register_op_importer


@dataclass
class Piece:
    """One layer: its spec, its arrays by parameter or buffer name, its source node."""

    spec: dict
    values: dict = field(default_factory=dict)
    source: str = ""


@dataclass
class Converted:
    """What one node (with the nodes it folded in) becomes."""

    pieces: list
    shape: tuple
    folded: list = field(default_factory=list)     # later nodes consumed with this one


def _require_vector(node, graph, shape):
    if len(shape) != 1:
        raise graph.refuse(node, f"expects (batch, features) rows, but the tensor reaching "
                                 f"it is (batch, {', '.join(map(str, shape))}); flatten first")


def _require_map(node, graph, shape):
    if len(shape) != 3:
        raise graph.refuse(node, f"expects (batch, C, H, W) maps, but the tensor reaching it "
                                 f"is (batch, {', '.join(map(str, shape))})")


def _bias(node, graph, bias, units, what="bias"):
    """A bias adding one value per output unit (or one for all) as a (units,) vector."""
    if bias.size == 1:
        return np.full(units, float(bias.reshape(-1)[0]))
    if bias.size != units or bias.shape[-1] != units:
        raise graph.refuse(node, f"its {what} of shape {bias.shape} is not one value per "
                                 f"output ({units})")
    return bias.reshape(units)


def _fc(node, weights, bias):
    units = weights.shape[1]
    return Piece({"type": "fc", "size": int(units)}, {"W": weights, "B": bias}, node.name)


@register_op_importer("Gemm")
def import_gemm(node, graph, shape):
    """alpha * x B' + beta * C as an FcLayer (W = alpha B', the bias beta C)."""
    _require_vector(node, graph, shape)
    if graph.attribute(node, "transA", 0):
        raise graph.refuse(node, "transA=1 (the input transposed) has no layer form")
    weights = graph.weights(node, 1, "weights", ndim=2)
    if graph.attribute(node, "transB", 0):
        weights = weights.T
    weights = weights * graph.attribute(node, "alpha", 1.0)      # (float32 attributes)
    if weights.shape[0] != shape[0]:
        raise graph.refuse(node, f"its weights map {weights.shape[0]} features, but "
                                 f"{shape[0]} reach it")
    units = weights.shape[1]
    bias = np.zeros(units)
    if graph.has_input(node, 2):
        bias = _bias(node, graph, graph.weights(node, 2, "bias"), units) \
            * graph.attribute(node, "beta", 1.0)
    return Converted([_fc(node, weights, bias)], (units,))


@register_op_importer("MatMul")
def import_matmul(node, graph, shape):
    """x W (+ b from a following Add of a constant) as an FcLayer."""
    _require_vector(node, graph, shape)
    if node.input[0] in graph.constants:
        raise graph.refuse(node, "multiplies a constant by the data (W x); a layer computes "
                                 "x W")
    weights = graph.weights(node, 1, "weights", ndim=2)
    if weights.shape[0] != shape[0]:
        raise graph.refuse(node, f"its weights map {weights.shape[0]} features, but "
                                 f"{shape[0]} reach it")
    units, bias, folded = weights.shape[1], np.zeros(weights.shape[1]), []
    add = graph.only_reader(node)
    if add is not None and add.op_type == "Add" and len(add.input) == 2:
        other = [name for name in add.input if name != node.output[0]]
        if len(other) == 1 and other[0] in graph.constants:
            index = list(add.input).index(other[0])
            bias = _bias(add, graph, graph.weights(add, index, "bias"), units)
            folded = [add]
    return Converted([_fc(node, weights, bias)], (units,), folded)


def _pair(node, graph, name, default):
    value = graph.attribute(node, name, default)
    value = list(value) if value is not None else None
    if value is not None and len(value) != 2:
        raise graph.refuse(node, f"{name}={value}: only 2-D (H, W) windows are supported")
    return value


def _padding(node, graph):
    """Symmetric (ph, pw) padding from ``pads`` / ``auto_pad``, or a refusal."""
    auto = graph.attribute(node, "auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):
        raise graph.refuse(node, f"auto_pad={auto}: give explicit pads")
    pads = list(graph.attribute(node, "pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0] * 4
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise graph.refuse(node, f"pads={pads}: only the same padding on both sides of an "
                                 f"axis is supported")
    return pads[0], pads[1]


def _window_shape(node, graph, shape, kernel, stride, padding):
    (channels, height, width) = shape
    sizes = [output_size(size, k, s, p) for size, k, s, p in
             zip((height, width), kernel, stride, padding)]
    if min(sizes) < 1:
        raise graph.refuse(node, f"a {kernel[0]}x{kernel[1]} window does not fit the "
                                 f"{height}x{width} input")
    return sizes


@register_op_importer("Conv")
def import_conv(node, graph, shape):
    """A 2-D convolution (group 1, no dilation, symmetric padding) as a ConvLayer."""
    _require_map(node, graph, shape)
    weights = graph.weights(node, 1, "weights", ndim=4)
    filters, channels, kh, kw = weights.shape
    if graph.attribute(node, "group", 1) != 1:
        raise graph.refuse(node, f"group={graph.attribute(node, 'group')}: grouped "
                                 f"convolution has no layer form")
    if any(d != 1 for d in graph.attribute(node, "dilations", [1, 1])):
        raise graph.refuse(node, f"dilations={list(graph.attribute(node, 'dilations'))}: "
                                 f"dilated convolution has no layer form")
    kernel = _pair(node, graph, "kernel_shape", [kh, kw])
    if kernel != [kh, kw]:
        raise graph.refuse(node, f"kernel_shape={kernel} but its weights are {kh}x{kw}")
    if channels != shape[0]:
        raise graph.refuse(node, f"its weights expect {channels} input channels, but "
                                 f"{shape[0]} reach it")
    stride, padding = _pair(node, graph, "strides", [1, 1]), _padding(node, graph)
    height, width = _window_shape(node, graph, shape, kernel, stride, padding)
    bias = _bias(node, graph, graph.weights(node, 2, "bias"), filters) \
        if graph.has_input(node, 2) else np.zeros(filters)
    spec = {"type": "conv", "filters": int(filters), "kernel": [kh, kw], "stride": stride,
            "padding": list(padding)}
    return Converted([Piece(spec, {"W": weights, "B": bias}, node.name)],
                     (int(filters), height, width))


def _pooling(node, graph, shape, pool_type):
    _require_map(node, graph, shape)
    kernel = _pair(node, graph, "kernel_shape", None)
    if kernel is None:
        raise graph.refuse(node, "no kernel_shape")
    if graph.attribute(node, "ceil_mode", 0):
        raise graph.refuse(node, "ceil_mode=1: the pooling layer drops windows that do not "
                                 "fit (floor)")
    if any(d != 1 for d in graph.attribute(node, "dilations", [1, 1])):
        raise graph.refuse(node, "dilated pooling has no layer form")
    if _padding(node, graph) != (0, 0):
        raise graph.refuse(node, f"pads={list(graph.attribute(node, 'pads'))}: the pooling "
                                 f"layer has no padding")
    if not graph.unused_outputs(node):
        raise graph.refuse(node, "its Indices output is used")
    stride = _pair(node, graph, "strides", [1, 1])
    height, width = _window_shape(node, graph, shape, kernel, stride, (0, 0))
    spec = {"type": "pooling", "pool_shape": kernel, "stride": stride, "pool_type": pool_type}
    return Converted([Piece(spec, source=node.name)], (shape[0], height, width))


@register_op_importer("MaxPool")
def import_max_pool(node, graph, shape):
    """Max over each window, as a PoolingLayer."""
    return _pooling(node, graph, shape, "max")


@register_op_importer("AveragePool")
def import_average_pool(node, graph, shape):
    """Mean over each window (no padding, so count_include_pad does not matter)."""
    return _pooling(node, graph, shape, "mean")


def _flatten(node, shape):
    if len(shape) == 1:
        return Converted([], shape)                 # rows already: nothing to do
    return Converted([Piece({"type": "flatten"}, source=node.name)], (math.prod(shape),))


@register_op_importer("Flatten")
def import_flatten(node, graph, shape):
    """Flatten(axis=1): every sample to one row (C order, as the FlattenLayer)."""
    axis = graph.attribute(node, "axis", 1)
    if axis % (len(shape) + 1) != 1:
        raise graph.refuse(node, f"axis={axis}: only axis 1 (one row per sample) is "
                                 f"supported")
    return _flatten(node, shape)


@register_op_importer("Reshape")
def import_reshape(node, graph, shape):
    """A Reshape that flattens each sample ((0 or -1 or N, -1 or C*H*W)), or none."""
    target = [int(v) for v in np.asarray(graph.constant(node, 1, "target shape")).reshape(-1)]
    size, zero_copies = math.prod(shape), not graph.attribute(node, "allowzero", 0)
    rows_kept = len(target) == 2 and (target[0] > 0 or target[0] == -1 and target[1] == size
                                      or target[0] == 0 and zero_copies)
    if rows_kept and target[1] in (-1, size) and target != [-1, -1]:
        return _flatten(node, shape)
    if len(target) == len(shape) + 1 and target[1:] == list(shape):
        return Converted([], shape)                 # the same shape again
    raise graph.refuse(node, f"reshapes (batch, {', '.join(map(str, shape))}) to {target}; "
                             f"only flattening each sample is supported")


@register_op_importer("BatchNormalization")
def import_batch_norm(node, graph, shape):
    """Inference batch norm (running statistics) as a BatchNormLayer."""
    if graph.attribute(node, "training_mode", 0) or not graph.unused_outputs(node):
        raise graph.refuse(node, "training mode (batch statistics) has no inference form; "
                                 "export the model in eval mode")
    channels = shape[0]
    values = {}
    for index, name in ((1, "gamma"), (2, "beta"), (3, "running_mean"), (4, "running_var")):
        value = graph.weights(node, index, name)
        if value.size != channels:
            raise graph.refuse(node, f"its {name} has {value.size} values; expected one per "
                                     f"feature or channel ({channels})")
        values[name] = value.reshape(-1)
    if np.any(values["running_var"] < 0):
        raise graph.refuse(node, "its running variance has negative values")
    spec = {"type": "batch_norm", "momentum": graph.number(node, "momentum", 0.9),
            "eps": graph.number(node, "epsilon", 1e-5)}
    return Converted([Piece(spec, values, node.name)], shape)


@register_op_importer("LayerNormalization")
def import_layer_norm(node, graph, shape):
    """Each sample normalized over all its values (axis 1, or -len(shape)) as a
    LayerNormLayer; Scale and B of the sample's shape (or broadcast to it)."""
    axis = graph.attribute(node, "axis", -1)
    if axis not in (1, -len(shape)):
        raise graph.refuse(node, f"axis={axis}: MiniFramework's layer norm normalizes each "
                                 f"sample over all its values (axis 1 of a {len(shape) + 1}-D "
                                 f"input)")
    if not graph.unused_outputs(node):
        raise graph.refuse(node, "its mean and inverse std outputs are used")
    values = {}
    for index, name in ((1, "gamma"), (2, "beta")):
        value = graph.weights(node, index, name) if graph.has_input(node, index) \
            else np.zeros(shape)                        # B is optional: no shift
        try:
            values[name] = np.broadcast_to(value, shape)
        except ValueError:
            raise graph.refuse(node, f"its {name} has shape {value.shape}; expected the "
                                     f"sample's shape {tuple(shape)}") from None
    spec = {"type": "layer_norm", "eps": graph.number(node, "epsilon", 1e-5)}
    return Converted([Piece(spec, values, node.name)], shape)


@register_op_importer("Dropout")
def import_dropout(node, graph, shape):
    """Dropout (the identity at inference) as a DropoutLayer with its ratio."""
    if graph.has_input(node, 2) and bool(np.any(graph.constant(node, 2, "training_mode"))):
        raise graph.refuse(node, "training_mode is on")
    if not graph.unused_outputs(node):
        raise graph.refuse(node, "its mask output is used")
    ratio = shortest(np.asarray(graph.constant(node, 1, "ratio")).reshape(-1)[0]) \
        if graph.has_input(node, 1) else graph.number(node, "ratio", 0.5)
    if not 0 <= ratio < 1:
        raise graph.refuse(node, f"ratio {ratio}: expected a number in [0, 1)")
    return Converted([Piece({"type": "dropout", "ratio": ratio}, source=node.name)], shape)


def _activation(name, **defaults):
    def convert(node, graph, shape):
        options = {key: graph.number(node, key, value) for key, value in defaults.items()}
        return Converted([Piece({"type": name, **options}, source=node.name)], shape)
    convert.__doc__ = f"An activation layer applying {name}."
    return convert


for _op, _name, _defaults in (("Identity", "identity", {}),
                              ("Relu", "relu", {}), ("Sigmoid", "sigmoid", {}),
                              ("Tanh", "tanh", {}), ("Softplus", "softplus", {}),
                              ("LeakyRelu", "leaky_relu", {"alpha": 0.01}),
                              ("Elu", "elu", {"alpha": 1.0})):
    register_op_importer(_op)(_activation(_name, **_defaults))


@register_op_importer("Softmax")
def import_softmax(node, graph, shape):
    """Softmax over axis 1 (the classes, or a map's channels) as the softmax output."""
    axis = graph.attribute(node, "axis", -1 if graph.opset >= 13 else 1)
    rank = len(shape) + 1
    if axis % rank != 1 or rank > 2 and graph.opset < 13:
        raise graph.refuse(node, f"axis={axis} over a (batch, "
                                 f"{', '.join(map(str, shape))}) tensor (opset "
                                 f"{graph.opset}): only axis 1 is supported")
    return Converted([Piece({"type": "softmax"}, source=node.name)], shape)
