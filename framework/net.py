"""NeuralNet: an ordered list of named layers, trained and saved as one unit.

Mirrors the textbook's NeuralNet_4_0. The net owns the random streams (one
seed drives initial weights, batch order and dropout noise), checks widths as
layers are added so a mistake fails at ``add_layer`` rather than deep inside a
matrix product, and counts completed epochs so training can resume.
"""
import re

import numpy as np

from . import threads  # noqa: F401  (makes ``framework.threads`` available)
from .hyper_parameters import HyperParameters
from .random_streams import RandomStreams
from .validation import all_finite

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
PREDICT_CHUNK = 4096


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
        self._widths = []       # output width after each layer
        self._wbs = []
        self.input_size = None

    # ----- building -------------------------------------------------------
    def add_layer(self, layer, name):
        """Append ``layer`` as ``name``, check its input width, create its weights."""
        self._check_name(name)
        if any(layer is other for other in self._layers):
            raise ValueError(f"add_layer({name!r}): this layer object is already in the net")
        width = self.output_size
        expected = getattr(layer, "input_size", None)
        if expected is not None and width is not None and expected != width:
            raise ValueError(
                f"add_layer({name!r}): layer {name!r} ({type(layer).__name__}) expects "
                f"input_size {expected}, but the previous layer {self._names[-1]!r} "
                f"outputs {width}")
        first = not self._layers
        if first:
            layer.need_input_grad = False
        out = getattr(layer, "output_size", None)
        width = (expected if width is None else width) if out is None else out
        layer.attach(self.params)
        layer.initialize(self.streams)
        if first:
            self.input_size = expected
        self._layers.append(layer)
        self._names.append(name)
        self._widths.append(width)
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
    def output_size(self):
        return self._widths[-1] if self._widths else self.input_size

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
        """Inference-mode outputs for a validated 2-D array, in chunks to bound memory."""
        out = np.empty((x.shape[0], self.output_size), dtype=self.params.dtype)
        for start in range(0, x.shape[0], PREDICT_CHUNK):
            stop = start + PREDICT_CHUNK
            out[start:stop] = self.forward(x[start:stop], train=False)
        return out

    def inference(self, x):
        """Predictions for ``x`` (rows are samples) as a new array."""
        return self.predict(self.check_input(x, "inference"))

    def check_input(self, x, where):
        """Validate features: 2-D, right width, non-empty, finite; cast to params.dtype."""
        if not self._layers:
            raise ValueError(f"{where}: the net has no layers")
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"{where}: expected a 2-D array (samples, {self.input_size} "
                             f"features), received shape {x.shape}")
        if self.input_size is not None and x.shape[1] != self.input_size:
            raise ValueError(f"{where}: expected {self.input_size} features, "
                             f"received {x.shape[1]} (shape {x.shape})")
        if x.shape[0] == 0:
            raise ValueError(f"{where}: expected at least one sample, received 0")
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
        """A table: name, class, output width, parameter count; then the total."""
        rows = [("#", "name", "class", "output", "params")]
        for i, (name, layer) in enumerate(zip(self._names, self._layers)):
            rows.append((str(i), name, type(layer).__name__, str(self._widths[i]),
                         f"{self.parameter_count(i):,}"))
        widths = [max(len(row[c]) for row in rows) for c in range(5)]
        lines = [f"NeuralNet {self.name!r}: input {self.input_size}, "
                 f"{self.params.net_type.value}"]
        for j, row in enumerate(rows):
            lines.append("  ".join(cell.rjust(w) if c in (0, 3, 4) else cell.ljust(w)
                                   for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
            if j == 0:
                lines.append("-" * (sum(widths) + 8))
        lines.append("-" * (sum(widths) + 8))
        lines.append(f"Total trainable parameters: {self.parameter_count():,}")
        return "\n".join(lines)

    def __repr__(self):
        return f"NeuralNet({self.name!r}, layers={self._names})"
