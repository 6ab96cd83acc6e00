"""NeuralNet: an ordered list of named layers, trained and saved as one unit.

Mirrors the textbook's NeuralNet_4_0. The net owns the random streams (one
seed drives initial weights, batch order and dropout noise), checks shapes as
layers are added so a mistake fails at ``add_layer`` rather than deep inside a
matrix product, and counts completed epochs so training can resume.

Shapes are per sample: ``input_shape`` is ``(784,)`` for MNIST vectors and
``(1, 28, 28)`` for MNIST images; every layer's output shape is recorded.
"""
import math
import re

import numpy as np

from . import threads  # noqa: F401  (makes ``framework.threads`` available)
from .hyper_parameters import HyperParameters
from .random_streams import RandomStreams
from .validation import all_finite

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
PREDICT_CHUNK = 4096        # most samples per inference pass
PREDICT_VALUES = 2 ** 20    # ... and at most about this many values in its widest layer


def param_name(index, key):
    """Name of array ``key`` ("W"/"B") of a layer's ``index``-th WeightsBias."""
    return key if index == 0 else f"{key}{index}"


class NeuralNet:
    def __init__(self, params, name="net"):
        if not isinstance(params, HyperParameters):
            raise ValueError(f"params: expected a HyperParameters, got {type(params).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        self.params = params
        self.name = name
        self.streams = RandomStreams(params.seed)
        self.epoch = 0          # completed epochs; train() continues from here
        self.iteration = 0      # completed mini-batch steps
        self._layers = []
        self._names = []
        self._shapes = []       # per-sample output shape after each layer (None: unknown)
        self._wbs = []
        self.input_shape = None

    @classmethod
    def from_specs(cls, params, specs, input_shape, name="net"):
        """A net with the layers ``specs`` describe (see ``layers_from_specs``)."""
        net = cls(params, name)
        net.add_specs(specs, input_shape)
        return net

    # ----- building -------------------------------------------------------
    def add_specs(self, specs, input_shape=None):
        """Append the layers ``specs`` describe, made for this net's current output
        (or, for an empty net, for ``input_shape``, which the first layer must accept)."""
        from .layers.base import as_shape
        from .layers.builder import layers_from_specs
        if not self._layers and input_shape is not None:
            self.input_shape = as_shape(input_shape, "input_shape")
        for name, layer in layers_from_specs(specs, self.output_shape, self.params):
            self.add_layer(layer, name)

    def add_layer(self, layer, name):
        """Append ``layer`` as ``name``: check its input shape, record its output
        shape, create its weights."""
        from .layers.base import Layer
        if not isinstance(layer, Layer):
            what = f"the class {layer.__name__}" if isinstance(layer, type) else repr(layer)
            raise ValueError(f"add_layer({name!r}): expected a Layer instance, got {what}")
        self._check_name(name)
        if any(layer is other for other in self._layers):
            raise ValueError(f"add_layer({name!r}): this layer object is already in the net")
        shape = self.output_shape
        declared = layer.input_shape
        if declared is not None and shape is not None and tuple(declared) != shape:
            source = f"the previous layer {self._names[-1]!r} outputs" if self._layers \
                else "the net's input shape is"
            raise ValueError(
                f"add_layer({name!r}): layer {name!r} ({type(layer).__name__}) expects "
                f"input shape {tuple(declared)}, but {source} {shape}"
                f"{_flatten_hint(declared, shape)}")
        first = not self._layers
        if shape is not None and declared is None:
            try:
                layer.build(shape)
            except ValueError as error:
                raise ValueError(f"add_layer({name!r}): {error}") from None
        out = layer.output_shape
        if first:
            layer.need_input_grad = False
            self.input_shape = None if layer.input_shape is None else tuple(layer.input_shape)
        layer.attach(self.params)
        layer.initialize(self.streams)
        self._layers.append(layer)
        self._names.append(name)
        self._shapes.append(None if out is None else tuple(out))
        self._wbs.extend(layer.weights())

    def _check_name(self, name):
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise ValueError(
                f"layer name: expected 1-64 characters from letters, digits, '_', '-', '.' "
                f"(not starting with '.' or '-'), usable as an HDF5 group name; got {name!r}")
        if name in self._names:
            raise ValueError(f"layer name: {name!r} is already used; names must be unique")

    @property
    def layers(self):
        return list(self._layers)

    @property
    def layer_names(self):
        return list(self._names)

    @property
    def output_shape(self):
        """Per-sample output shape of the last layer (the input's if it keeps shapes)."""
        for shape in reversed(self._shapes):
            if shape is not None:
                return shape
        return self.input_shape

    @property
    def layer_shapes(self):
        """Per-sample output shape after each layer, in order."""
        return list(self._shapes)

    @property
    def input_size(self):
        """Values per input sample (784 for MNIST), None if not fixed."""
        return None if self.input_shape is None else math.prod(self.input_shape)

    @property
    def output_size(self):
        shape = self.output_shape
        return None if shape is None else math.prod(shape)

    def get_layer(self, name):
        try:
            return self._layers[self._names.index(name)]
        except ValueError:
            raise KeyError(f"no layer named {name!r}; layers are {self._names}") from None

    def weights(self):
        """Every WeightsBias in layer order (the optimizer's view of the net)."""
        return list(self._wbs)

    # ----- computing ------------------------------------------------------
    def forward(self, x, train):
        """Run every layer; the result is owned by the last layer (copy to keep it)."""
        for layer in self._layers:
            x = layer.forward(x, train)
        return x

    def predict(self, x):
        """Inference-mode outputs for a validated batch, in chunks to bound memory.

        Nets with feature maps run every chunk at one size: the last, shorter
        chunk is copied into a zero-padded chunk-sized array, so the layers
        keep one set of inference buffers instead of a second, odd-sized one
        (inference treats every sample on its own, so padding changes nothing).
        """
        out, chunk_rows = None, self._predict_chunk()
        pad = chunk_rows < PREDICT_CHUNK and x.shape[0] > chunk_rows
        for start in range(0, x.shape[0], chunk_rows):
            part = x[start:start + chunk_rows]
            rows = part.shape[0]
            if pad and rows < chunk_rows:
                padded = np.zeros((chunk_rows,) + part.shape[1:], part.dtype)
                padded[:rows] = part
                part = padded
            chunk = self.forward(part, train=False)
            if out is None:
                out = np.empty((x.shape[0],) + chunk.shape[1:], dtype=self.params.dtype)
            out[start:start + rows] = chunk[:rows]
        return out

    def _predict_chunk(self):
        """Samples per inference pass: 4096 for vector nets, fewer for wide feature
        maps, whose im2col columns would otherwise take gigabytes."""
        widest = max([math.prod(shape) for shape in self._shapes + [self.input_shape]
                      if shape is not None] or [1])
        return max(1, min(PREDICT_CHUNK, PREDICT_VALUES // widest))

    def inference(self, x):
        """Predictions for ``x`` (rows are samples) as a new array."""
        return self.predict(self.check_input(x, "inference"))

    def check_input(self, x, where):
        """Validate features: a batch of ``input_shape`` samples, non-empty, finite,
        real; cast to params.dtype."""
        if not self._layers:
            raise ValueError(f"{where}: the net has no layers")
        x = np.asarray(x)
        shape = self.input_shape
        if shape is None:
            if x.ndim < 2:
                raise ValueError(f"{where}: expected a batch of samples (at least 2-D), "
                                 f"received shape {x.shape}")
        elif len(shape) == 1 and x.ndim == 2 and x.shape[1] != shape[0]:
            raise ValueError(f"{where}: expected {shape[0]} features, received {x.shape[1]} "
                             f"(shape {x.shape})")
        elif len(shape) == 1 and x.ndim != 2:
            raise ValueError(f"{where}: expected a 2-D array (samples, {shape[0]} features), "
                             f"received shape {x.shape}{_reshape_hint(x.shape, shape)}")
        elif x.ndim != len(shape) + 1 or x.shape[1:] != shape:
            raise ValueError(f"{where}: expected an array of shape (samples, "
                             f"{', '.join(map(str, shape))}), received shape {x.shape}"
                             f"{_reshape_hint(x.shape, shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{where}: expected at least one sample, received 0")
        if x.dtype.kind not in "fiub":
            raise ValueError(f"{where}: expected real numbers, received dtype {x.dtype}")
        x = x.astype(self.params.dtype, copy=False)
        if not all_finite(x):
            raise ValueError(f"{where}: expected finite values, received NaN or inf")
        return x

    def train(self, data_reader, checkpoint=0.1, need_test=True, restore_best=True,
              verbose=True, callback=None):
        """Train epochs ``self.epoch .. params.max_epoch - 1``; see ``training.train``."""
        from .training import train
        return train(self, data_reader, checkpoint=checkpoint, need_test=need_test,
                     restore_best=restore_best, verbose=verbose, callback=callback)

    def test(self, data_reader):
        """(data loss, accuracy) on the reader's test set, without the weight penalty."""
        from .training import evaluate
        data_reader.astype(self.params.dtype)
        x, y = data_reader.get_test_set()
        return evaluate(self, self.check_input(x, "test"), y, penalty=False)

    # ----- state ----------------------------------------------------------
    def layer_arrays(self, index):
        """Live arrays of layer ``index``: W/B of each WeightsBias, then its buffers."""
        layer = self._layers[index]
        arrays = {}
        for i, wb in enumerate(layer.weights()):
            arrays[param_name(i, "W")] = wb.W
            arrays[param_name(i, "B")] = wb.B
        arrays.update(layer.buffers())
        return arrays

    def set_layer_arrays(self, index, values):
        """Copy ``values`` (same names and shapes as ``layer_arrays``) into layer ``index``."""
        layer = self._layers[index]
        for i, wb in enumerate(layer.weights()):
            wb.set_arrays({key: np.asarray(values[param_name(i, key)], dtype=wb.dtype)
                           for key in ("W", "B")})
        own = layer.buffers()
        if own:
            layer.set_buffers({key: values[key] for key in own})

    def get_state(self):
        """A deep copy of every weight and buffer: {layer name: {array name: copy}}."""
        return {name: {k: v.copy() for k, v in self.layer_arrays(i).items()}
                for i, name in enumerate(self._names)}

    def set_state(self, state):
        for i, name in enumerate(self._names):
            self.set_layer_arrays(i, state[name])

    # ----- files ----------------------------------------------------------
    def save(self, path, include_optimizer=True):
        """Write the net to HDF5 atomically (see ``serialization``)."""
        from .serialization import save_net
        save_net(self, path, include_optimizer=include_optimizer)

    @classmethod
    def load(cls, path):
        """Rebuild a working net (layers, weights, optimizer and RNG state) from a file."""
        from .serialization import load_net
        return load_net(path)

    def load_weights(self, path):
        """Load weights and buffers into this net; names and shapes must match exactly."""
        from .serialization import load_weights
        load_weights(self, path)

    # ----- description ----------------------------------------------------
    def parameter_count(self, index=None):
        layers = self._layers if index is None else [self._layers[index]]
        return sum(wb.W.size + wb.B.size for layer in layers for wb in layer.weights())

    def summary(self):
        """A table: name, class, output shape, parameter count; then the total."""
        rows = [("#", "name", "class", "output shape", "params")]
        for i, (name, layer) in enumerate(zip(self._names, self._layers)):
            rows.append((str(i), name, type(layer).__name__, _shape_text(self._shapes[i]),
                         f"{self.parameter_count(i):,}"))
        widths = [max(len(row[c]) for row in rows) for c in range(5)]
        lines = [f"NeuralNet {self.name!r}: input {_shape_text(self.input_shape)}, "
                 f"{self.params.net_type.value}"]
        for j, row in enumerate(rows):
            lines.append("  ".join(cell.rjust(w) if c in (0, 4) else cell.ljust(w)
                                   for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
            if j == 0:
                lines.append("-" * (sum(widths) + 8))
        lines.append("-" * (sum(widths) + 8))
        lines.append(f"Total trainable parameters: {self.parameter_count():,}")
        return "\n".join(lines)

    def __repr__(self):
        return f"NeuralNet({self.name!r}, layers={self._names})"


def _shape_text(shape):
    """``(16, 14, 14)`` -> "16x14x14"; ``(10,)`` -> "10"; None -> "any"."""
    return "any" if shape is None else "x".join(str(n) for n in shape)


def _flatten_hint(expected, received):
    if len(expected) == 1 and len(received) > 1 and math.prod(received) == expected[0]:
        return "; add a FlattenLayer (spec {'type': 'flatten'}) before it"
    return ""


def _reshape_hint(received, expected):
    if len(received) > 1 and math.prod(received[1:]) == math.prod(expected):
        return (f" (the same number of values per sample: reshape it to "
                f"(samples, {', '.join(map(str, expected))}))")
    return ""
