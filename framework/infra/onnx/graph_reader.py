"""GraphReader: one ONNX file, read and checked, seen as a chain of nodes.

It knows the file (every error names it), the graph's one data input (its
per-sample shape must be fixed; the batch may be anything) and one output,
the constants (initializers and Constant nodes), who reads which tensor, and
the node attributes with ONNX's defaults. An op importer asks it for a
node's constant inputs and attributes, and refuses through it, so every
refusal reads ``<file>: node '<name>' (<op>): <why>``.
"""
import json
import os

import numpy as np

from .dependency import DOUBLE, FLOAT, require_onnx

DTYPES = {FLOAT: np.float32, DOUBLE: np.float64}


class GraphReader:
    """The model in ``path``: ``input_name``, ``input_shape``, ``dtype``,
    ``output_name``, ``nodes`` (Constant nodes aside), ``constants``, ``opset``,
    ``metadata`` (what MiniFramework's own export recorded, else {})."""

    def __init__(self, path):
        self.onnx = require_onnx()
        self.path = os.fspath(path)
        self.model = _load(self.onnx, self.path)
        graph = self.model.graph
        self.opset = next((entry.version for entry in self.model.opset_import
                           if entry.domain in ("", "ai.onnx")), 1)
        to_array = self.onnx.numpy_helper.to_array
        self.constants = {init.name: to_array(init) for init in graph.initializer}
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self.constants[node.output[0]] = self._constant_value(node)
            else:
                self.nodes.append(node)
        self.readers = {}
        for node in self.nodes:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)
        self._read_input(graph)
        if len(graph.output) != 1:
            raise ValueError(f"{self.path}: expected a graph with one output, it has "
                             f"{len(graph.output)} ({[o.name for o in graph.output]})")
        self.output_name = graph.output[0].name
        self.name = graph.name
        self.metadata = _our_metadata(self.model)

    # ----- what the graph is
    def _read_input(self, graph):
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: expected one data input, the graph has "
                             f"{len(inputs)} ({[value.name for value in inputs]})")
        value = inputs[0]
        tensor = value.type.tensor_type
        if tensor.elem_type not in DTYPES:
            kind = self.onnx.TensorProto.DataType.Name(tensor.elem_type) \
                if tensor.elem_type else "unknown"
            raise ValueError(f"{self.path}: input {value.name!r} holds {kind} values; "
                             f"expected float or double")
        dims = list(tensor.shape.dim) if tensor.HasField("shape") else []
        if len(dims) < 2:
            raise ValueError(f"{self.path}: input {value.name!r} has {len(dims)} dimension(s); "
                             f"expected a batch of samples: (batch, features) or "
                             f"(batch, C, H, W)")
        shape = []
        for axis, dim in enumerate(dims[1:], 1):
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                raise ValueError(f"{self.path}: input {value.name!r} dimension {axis} has no "
                                 f"fixed size ({dim.dim_param or '?'}); only the batch may vary")
            shape.append(int(dim.dim_value))
        self.input_name, self.input_shape = value.name, tuple(shape)
        self.dtype = np.dtype(DTYPES[tensor.elem_type])

    def _constant_value(self, node):
        for attribute in node.attribute:
            if attribute.name == "value":
                return self.onnx.numpy_helper.to_array(attribute.t)
            if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
                return np.array(self.onnx.helper.get_attribute_value(attribute))
        raise self.refuse(node, "a Constant without a numeric value")

    # ----- what a node holds
    def attribute(self, node, name, default=None):
        """The node's attribute ``name`` as Python data (bytes decoded), or ``default``."""
        for attribute in node.attribute:
            if attribute.name == name:
                value = self.onnx.helper.get_attribute_value(attribute)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def number(self, node, name, default):
        """A float attribute as the shortest decimal that ONNX's float32 stores (0.9,
        not 0.8999999761581421), so options survive a round trip unchanged."""
        return shortest(self.attribute(node, name, default))

    def has_input(self, node, index):
        """True if the node has a (non-empty) input ``index``."""
        return len(node.input) > index and node.input[index] != ""

    def constant(self, node, index, what):
        """The constant at input ``index`` (a float array in the net's dtype for
        weights); refused if that input is computed or missing."""
        if not self.has_input(node, index):
            raise self.refuse(node, f"has no {what} (input {index})")
        name = node.input[index]
        if name not in self.constants:
            raise self.refuse(node, f"its {what} ({name!r}) is computed by the graph; only "
                                    f"constant {what} can become a layer's arrays")
        return self.constants[name]

    def weights(self, node, index, what, ndim=None):
        """``constant`` as float64, finite, of ``ndim`` dimensions when given."""
        value = np.asarray(self.constant(node, index, what))
        if value.dtype.kind not in "fiu":
            raise self.refuse(node, f"its {what} hold {value.dtype} values, expected numbers")
        if ndim is not None and value.ndim != ndim:
            raise self.refuse(node, f"its {what} have shape {value.shape}, expected "
                                    f"{ndim} dimensions")
        value = value.astype(np.float64)
        if not np.all(np.isfinite(value)):
            raise self.refuse(node, f"its {what} contain NaN or inf")
        return value

    def only_reader(self, node):
        """The one node that reads ``node``'s output, or None (none, or several)."""
        found = self.readers.get(node.output[0], [])
        return found[0] if len(found) == 1 else None

    def unused_outputs(self, node):
        """True if no node and no graph output reads any output after the first."""
        return all(name == "" or (name not in self.readers and name != self.output_name)
                   for name in node.output[1:])

    def refuse(self, node, problem):
        """The ValueError for ``node``: ``<file>: node '<name>' (<op>): <problem>``."""
        label = node.name or (node.output[0] if node.output else "?")
        return ValueError(f"{self.path}: node {label!r} ({node.op_type}): {problem}")


def shortest(value):
    """``value`` as the shortest decimal with the same float32 (exact float32s and
    float64s that are not float32s are kept as they are)."""
    value = float(value)
    single = np.float32(value)
    return float(str(single)) if float(single) == value else value


def _load(onnx, path):
    """The checked ModelProto; a ValueError naming the file if it is not one."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except (OSError, MemoryError):
        raise
    except Exception as error:          # protobuf's DecodeError, onnx's ValidationError
        text = " ".join(str(error).split())[:300] or type(error).__name__
        raise ValueError(f"{path}: not a valid ONNX model ({text})") from None
    return model


def _our_metadata(model):
    """The JSON MiniFramework's export stored (``{}`` for other producers or a bad one)."""
    for entry in model.metadata_props:
        if entry.key == "miniframework":
            try:
                found = json.loads(entry.value)
            except ValueError:
                return {}
            return found if isinstance(found, dict) else {}
    return {}
