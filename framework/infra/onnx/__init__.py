"""ONNX: a net out to any runtime or viewer, and a net in from PyTorch and others.

    net.to_onnx("mnist.onnx")                  # dynamic batch; dynamic_batch=False: fixed
    net = NeuralNet.from_onnx("mnist.onnx")    # a NeuralNet of registered layers

Export writes every built-in layer as the standard op that computes it in
inference form (``layer_exporters.py``): FcLayer -> Gemm, ConvLayer -> Conv,
PoolingLayer -> MaxPool / AveragePool, FlattenLayer -> Flatten, batch norm ->
BatchNormalization with its running statistics, dropout -> Dropout (the
identity at inference), the activators -> Relu, Sigmoid, Tanh, LeakyRelu,
Elu, Softplus, Identity, softmax -> Softmax, logistic -> Sigmoid.

Import reads a chain of those ops -- the graphs export makes, and what
``torch.onnx.export`` makes of an MLP or a LeNet-style CNN (Gemm or MatMul +
Add, Conv, MaxPool, AveragePool, Flatten or a flattening Reshape, the
activations, Softmax, BatchNormalization, Dropout, Identity) -- into layer
specs and their arrays (``op_importers.py``), and builds the net with the
ordinary builder: it saves, loads and trains like any other. Any other op,
a branch or an attribute the layers cannot honour (a group, a dilation,
asymmetric padding) is refused with a message naming the node and the op.

Both tables are registries: ``register_layer_exporter(LayerClass)``,
``register_activator_exporter(name)`` and ``register_op_importer(op_type)``
add a user's own. The ``onnx`` package is imported only when a net is exported or imported
(``dependency.py``): ``import framework`` never loads it, and every module
here imports without it (``pip install 'miniframework[onnx]'``).
"""
from .dependency import require_onnx
from .registry import (register_activator_exporter, register_layer_exporter,
                       register_op_importer)

OPSET = 17      # Softmax over one axis (13+), Dropout's ratio as an input (12+)


def save_onnx(net, path, dynamic_batch=True, batch_size=None, opset=OPSET):
    """Write ``net`` to ``path`` as an ONNX model (see ``export.py``)."""
    require_onnx()
    from .export import save_onnx as save
    return save(net, path, dynamic_batch=dynamic_batch, batch_size=batch_size, opset=opset)


def load_onnx(path, cls, params=None, name=None):
    """A ``cls`` (NeuralNet) built from the ONNX model in ``path`` (see ``load.py``)."""
    require_onnx()
    from .load import load_onnx as load
    return load(path, cls, params=params, name=name)


__all__ = ["save_onnx", "load_onnx", "require_onnx", "register_layer_exporter",
           "register_activator_exporter", "register_op_importer", "OPSET"]
