"""Each built-in layer as the ONNX op that computes it in inference form.

An exporter is ``function(layer, graph, x) -> output name`` (see
``registry.py``); ``graph.prefix`` is the layer's name, which names its node
and weights. The equations are the layers' own:

    FcLayer          z = x W + B                  Gemm(x, W, B)          W: (in, out)
    ConvLayer        y = W * x + B                Conv(x, W, B)          W: (F, C, kh, kw)
    PoolingLayer     max / mean of each window    MaxPool / AveragePool  no padding, floor
    FlattenLayer     (N, C, H, W) -> (N, CHW)     Flatten(axis=1)        C order, as ours
    BatchNormLayer   gamma (x - mu_run) / sqrt(var_run + eps) + beta
                                                  BatchNormalization     running statistics
    LayerNormLayer   gamma (x - mu) / sqrt(var + eps) + beta, over each sample's values
                                                  LayerNormalization     axis=1 (opset 17)
    ResidualLayer    y = x + F(x)  (or P(x) + F(x))
                                                  F's and P's nodes, Add
    DropoutLayer     the identity at inference    Dropout(x, ratio)      ratio kept for import
    ActivationLayer  its activator's op           Relu, Sigmoid, Tanh, LeakyRelu, Elu,
                                                  Softplus, Identity
    Classification   softmax over axis 1          Softmax(axis=1)
                     logistic                     Sigmoid
"""
import numpy as np

from ...layers.activation import ActivationLayer
from ...layers.batch_norm import BatchNormLayer
from ...layers.conv import ConvLayer
from ...layers.dropout import DropoutLayer
from ...layers.fc import FcLayer
from ...layers.flatten import FlattenLayer
from ...layers.layer_norm import LayerNormLayer
from ...layers.pooling import PoolingLayer, PoolType
from ...layers.residual import SHORTCUT, ResidualLayer
from .registry import (ACTIVATOR_EXPORTERS, register_activator_exporter,
                       register_layer_exporter, required_layer_exporter)


def _key(graph, name):
    return f"{graph.prefix}/{name}"


@register_layer_exporter(FcLayer)
def export_fc(layer, graph, x):
    """z = x W + B: Gemm with W as stored, (in, out), and B as a row of ``out``."""
    weights = graph.constant(_key(graph, "W"), layer.wb.W)
    bias = graph.constant(_key(graph, "B"), layer.wb.B.reshape(-1))
    return graph.node("Gemm", [x, weights, bias], doc="FcLayer: z = x W + B")


@register_layer_exporter(ConvLayer)
def export_conv(layer, graph, x):
    """Cross-correlation over the zero-padded input, W in PyTorch's (F, C, kh, kw)."""
    (ph, pw), (kh, kw) = layer.padding, layer.kernel_hw
    weights = graph.constant(_key(graph, "W"), layer.wb.W)
    bias = graph.constant(_key(graph, "B"), layer.wb.B.reshape(-1))
    return graph.node("Conv", [x, weights, bias], doc="ConvLayer", kernel_shape=[kh, kw],
                      strides=list(layer.stride), pads=[ph, pw, ph, pw],
                      dilations=[1, 1], group=1)


@register_layer_exporter(PoolingLayer)
def export_pooling(layer, graph, x):
    """Windows that do not fit are dropped (floor), as ONNX's ceil_mode=0."""
    op = "MaxPool" if layer.pool_type is PoolType.MAX else "AveragePool"
    return graph.node(op, [x], doc=f"PoolingLayer ({layer.pool_type.value})",
                      kernel_shape=list(layer.pool_shape), strides=list(layer.stride),
                      pads=[0, 0, 0, 0])


@register_layer_exporter(FlattenLayer)
def export_flatten(layer, graph, x):
    """Every sample to one row, in C order."""
    return graph.node("Flatten", [x], doc="FlattenLayer", axis=1)


@register_layer_exporter(BatchNormLayer)
def export_batch_norm(layer, graph, x):
    """The inference form: the running statistics, one value per feature or channel."""
    arrays = [graph.constant(_key(graph, name), value.reshape(-1)) for name, value in (
        ("gamma", layer.gamma.value), ("beta", layer.beta.value),
        ("running_mean", layer.running_mean), ("running_var", layer.running_var))]
    return graph.node("BatchNormalization", [x, *arrays], doc="BatchNormLayer (inference)",
                      epsilon=float(layer.eps), momentum=float(layer.momentum))


@register_layer_exporter(LayerNormLayer)
def export_layer_norm(layer, graph, x):
    """Each sample normalized over all its values (axes 1..), gamma and beta of its shape."""
    if graph.opset < 17:
        raise ValueError(f"to_onnx: layer {graph.prefix!r} (LayerNormLayer) needs opset >= 17 "
                         f"(LayerNormalization), got {graph.opset}")
    scale = graph.constant(_key(graph, "gamma"), layer.gamma.value.reshape(layer.input_shape))
    bias = graph.constant(_key(graph, "beta"), layer.beta.value.reshape(layer.input_shape))
    return graph.node("LayerNormalization", [x, scale, bias], doc="LayerNormLayer", axis=1,
                      epsilon=float(layer.eps))


@register_layer_exporter(ResidualLayer)
def export_residual(layer, graph, x):
    """F's layers in order, the shortcut (x itself, or P's node), then their sum; the
    inner nodes and weights are named ``block/inner`` as ``net.parameters()`` names them."""
    block = graph.prefix
    f = x
    for name, inner in layer.named_layers:
        f = _export_inner(graph, f"{block}/{name}", inner, f)
    s = x if layer.shortcut is None else \
        _export_inner(graph, f"{block}/{SHORTCUT}", layer.shortcut, x)
    graph.prefix = block
    return graph.node("Add", [s, f], doc="ResidualLayer: y = x + F(x)")


def _export_inner(graph, name, inner, x):
    exporter = required_layer_exporter(inner, name)
    graph.prefix = name
    return exporter(inner, graph, x)


@register_layer_exporter(DropoutLayer)
def export_dropout(layer, graph, x):
    """Dropout at inference is the identity; the node keeps the ratio for an import."""
    ratio = graph.constant(_key(graph, "ratio"), np.array(layer.ratio, dtype=graph.dtype))
    return graph.node("Dropout", [x, ratio], doc="DropoutLayer (inference: identity)")


@register_layer_exporter(ActivationLayer)
def export_activation(layer, graph, x):
    """The activator's (or classifier's) own op, by its registered name."""
    function = layer.function
    exporter = ACTIVATOR_EXPORTERS.get(function.name)
    if exporter is None:
        raise ValueError(f"to_onnx: layer {graph.prefix!r} applies {type(function).__name__} "
                         f"({function.name!r}), which has no ONNX form; register one with "
                         f"framework.infra.onnx.register_activator_exporter({function.name!r})")
    return exporter(function, graph, x)


def _simple(op):
    def export(function, graph, x):
        return graph.node(op, [x], doc=type(function).__name__)
    export.__doc__ = f"The activator as ONNX's {op}."
    return export


for _name, _op in (("identity", "Identity"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"),
                   ("relu", "Relu"), ("softplus", "Softplus"), ("logistic", "Sigmoid")):
    register_activator_exporter(_name)(_simple(_op))


@register_activator_exporter("leaky_relu")
def export_leaky_relu(function, graph, x):
    """z where z > 0 else alpha z."""
    return graph.node("LeakyRelu", [x], doc="LeakyRelu", alpha=float(function.alpha))


@register_activator_exporter("elu")
def export_elu(function, graph, x):
    """z where z > 0 else alpha (exp(z) - 1)."""
    return graph.node("Elu", [x], doc="Elu", alpha=float(function.alpha))


@register_activator_exporter("softmax")
def export_softmax(function, graph, x):
    """Over axis 1, the class axis (or a map's channel axis), as ours."""
    return graph.node("Softmax", [x], doc="Softmax", axis=1)
