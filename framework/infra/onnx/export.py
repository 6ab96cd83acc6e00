"""``net.to_onnx(path)``: every layer's exporter in order, checked, written atomically.

The graph reads ``input`` (``(batch,) + net.input_shape``; the batch symbolic
with ``dynamic_batch``, else ``batch_size``, 1 by default) and writes
``output``. The model's metadata (``miniframework``: JSON with the net's name,
net type and layer names) lets ``from_onnx`` give the layers back their names
and tell a logistic output from a sigmoid activation. The file is checked by
onnx's own checker with shape inference before anything is written, then
written like a weights file: to a temporary file beside the target, fsynced,
renamed over it (a failure names the path and leaves the old file).
"""
import json
import os

from ...infra.validation import check_flag, check_integer
from ...version import __version__
from ..serialization.atomic import check_target, write_atomically
from . import layer_exporters  # noqa: F401  (registers the built-in layers' exporters)
from .graph_writer import GraphWriter, check_model
from .registry import required_layer_exporter

METADATA_KEY = "miniframework"
DYNAMIC_BATCH = "batch"


def build_model(net, dynamic_batch=True, batch_size=None, opset=17):
    """The net as an ONNX ModelProto (checked), without writing it."""
    dynamic_batch = check_flag("to_onnx dynamic_batch", dynamic_batch)
    if batch_size is not None and dynamic_batch:
        raise ValueError("to_onnx: batch_size fixes the batch; give it with "
                         "dynamic_batch=False")
    batch = DYNAMIC_BATCH if dynamic_batch else \
        check_integer("to_onnx batch_size", 1 if batch_size is None else batch_size)
    opset = check_integer("to_onnx opset", opset, minimum=13)
    if not net.layers or net.input_shape is None:
        raise ValueError(f"to_onnx: net {net.name!r} has no layers or no fixed input shape")
    graph, x = GraphWriter(net.params.dtype, opset), "input"
    for name, layer in zip(net.layer_names, net.layers):
        exporter = required_layer_exporter(layer, name)
        graph.prefix = name
        x = exporter(layer, graph, x)
    metadata = {METADATA_KEY: json.dumps({
        "version": __version__, "name": net.name, "net_type": net.params.net_type.value,
        "layers": net.layer_names})}
    model = graph.model(x, net.input_shape, net.output_shape, batch, opset, metadata,
                        graph_name=net.name)
    check_model(model, f"to_onnx({net.name!r})")
    return model


def save_onnx(net, path, dynamic_batch=True, batch_size=None, opset=17):
    """Write the net's ONNX model to ``path`` atomically; return the path."""
    model = build_model(net, dynamic_batch, batch_size, opset)
    target = os.path.abspath(path)
    folder, name = os.path.split(target)
    mode = check_target(path, target, folder)
    write_atomically(path, target, folder, name, model.SerializeToString(), mode)
    return path
