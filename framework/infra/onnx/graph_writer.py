"""GraphWriter: the nodes and constants of one ONNX graph, named after the layers.

A layer exporter sees only this: ``constant(name, array)`` adds a weight (an
initializer) and returns its name; ``node(op, inputs, **attributes)`` adds one
node named after the layer being exported (``fc1``, then ``fc1_1`` if a layer
needs two) and returns its output's name. Weights keep the net's own keys
(``fc1/W``), so a viewer shows the names ``net.parameters()`` uses.
"""
import numpy as np

from .dependency import DOUBLE, FLOAT, require_onnx

ELEMENT_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.float64): DOUBLE}
INPUT, OUTPUT = "input", "output"


class GraphWriter:
    """Nodes and initializers in the order they are added, in the net's dtype."""

    def __init__(self, dtype, opset=17):
        self.onnx = require_onnx()
        self.opset = opset          # exporters of newer ops check it
        self.dtype = np.dtype(dtype)
        if self.dtype not in ELEMENT_TYPES:
            raise ValueError(f"to_onnx: expected a float32 or float64 net, got {self.dtype}")
        self.nodes, self.initializers = [], []
        self.prefix = None          # the layer being exported (set by the exporter loop)
        self._used = set()

    def constant(self, name, array, dtype=None):
        """Add ``array`` (a copy, in the net's dtype unless ``dtype``) as an initializer
        called ``name``; return the name."""
        value = np.array(array, dtype=self.dtype if dtype is None else dtype, copy=True)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, self._unique(name)))
        return self.initializers[-1].name

    def node(self, op_type, inputs, doc=None, **attributes):
        """Add one ``op_type`` node reading ``inputs``; return its output's name."""
        name = self._unique(self.prefix or op_type)
        node = self.onnx.helper.make_node(op_type, list(inputs), [name], name=name, **attributes)
        if doc:
            node.doc_string = doc
        self.nodes.append(node)
        return name

    def model(self, x, input_shape, output_shape, batch, opset, metadata, graph_name):
        """The finished ModelProto: ``x`` (the last node's output) renamed "output";
        ``batch`` a fixed size or a symbolic name for a dynamic batch."""
        if not self.nodes or self.nodes[-1].output[0] != x:
            self.node("Identity", [x])          # the output must be a node's own
        self.nodes[-1].output[0] = OUTPUT
        element, helper = ELEMENT_TYPES[self.dtype], self.onnx.helper
        graph = helper.make_graph(
            self.nodes, graph_name,
            [helper.make_tensor_value_info(INPUT, element, [batch, *input_shape])],
            [helper.make_tensor_value_info(OUTPUT, element, [batch, *output_shape])],
            initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="MiniFramework")
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        return model

    def _unique(self, name):
        candidate, count = name, 0
        while candidate in self._used or candidate in (INPUT, OUTPUT):
            count += 1
            candidate = f"{name}_{count}"
        self._used.add(candidate)
        return candidate


def check_model(model, where):
    """onnx's checker with shape inference; a ValueError naming ``where`` on a fault."""
    onnx = require_onnx()
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ValueError(f"{where}: the ONNX model is not valid: {error}") from None
