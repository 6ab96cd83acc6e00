"""NeuralNet: an ordered list of named layers, trained and saved as one unit.

Mirrors the textbook's NeuralNet_4_0. The net owns the random streams (one
seed drives initial weights, batch order and dropout noise), checks shapes as
layers are added so a mistake fails at ``add_layer`` rather than deep inside a
matrix product, and counts completed epochs so training can resume.

Shapes are per sample: ``input_shape`` is ``(784,)`` for MNIST vectors and
``(1, 28, 28)`` for MNIST images; every layer's output shape is recorded.

For learners the net also has a step API: ``loss(x, y)``, ``gradients(x, y)``
(copies; nothing in the net changes), ``train_step(x, y)`` (the very step
``train`` takes) and ``framework.check_gradients(net, x, y)``.
"""
import math
import re

import numpy as np

from . import state
from .enums import NetType
from .hyper_parameters import LAYER_FIELDS, HyperParameters
from .infra.memory import PREDICT_CHUNK, PREDICT_VALUES
from .infra.validation import all_finite, check_flag
from .layers.base import Layer, as_shape
from .layers.builder import layers_from_specs
from .layers.classification import ClassificationLayer
from .random_streams import RandomStreams

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")


class NeuralNet:
    """``NeuralNet(params, name)``: the textbook's NeuralNet_4_0 (layers, train, save)."""

    def __init__(self, params, name="net"):
        if not isinstance(name, str) or not name.strip() or not name.isprintable():
            raise ValueError(f"name: expected a non-empty string of printable characters "
                             f"(it is saved in weight files), got {name!r}")
        self._params = None
        self._layers = []
        self.params = params
        self.name = name
        self.streams = RandomStreams(self.params.seed)
        self.epoch = 0          # completed epochs; train() continues from here
        self.iteration = 0      # completed mini-batch steps
        self.stop_training = False  # a callback sets True to end train() after this step
        self.stop_reason = None     # ... and may say why (history.stop_reason)
        self.learning_rate = None   # the rate the next step uses (None: params' at the next
        #                             train); the loop reads it every step, callbacks set it
        self._names = []
        self._shapes = []       # per-sample output shape after each layer (None: unknown)
        self._step = None
        self._inference_checked = False       # the training step closure, built on first use
        self.metadata = {}      # data options saved with the net (see save); load restores them
        self.input_shape = None

    @property
    def params(self):
        """The net's HyperParameters (frozen; assign a ``dataclasses.replace`` copy)."""
        return self._params

    @params.setter
    def params(self, params):
        if not isinstance(params, HyperParameters):
            raise ValueError(f"params: expected a HyperParameters, got {type(params).__name__}")
        old = self._params
        if old is not None and self._layers:
            for field in LAYER_FIELDS:
                if getattr(old, field) != getattr(params, field):
                    raise ValueError(
                        f"params: {field} cannot change once the net has layers (they were "
                        f"built with {getattr(old, field)!r}, got {getattr(params, field)!r}); "
                        f"build a new net to change it")
        elif old is not None and old.seed != params.seed:
            self.streams = RandomStreams(params.seed)
        if old is not None and (old.learning_rate, old.lr_schedule) != \
                (params.learning_rate, params.lr_schedule):
            self.learning_rate = None       # a new rate or schedule: the next train takes it
        if old is not None and (old.clip_norm, old.clip_value) != \
                (params.clip_norm, params.clip_value):
            self._step = None               # the step's clipper is made from them
        self._params = params

    @classmethod
    def from_specs(cls, params, specs, input_shape, name="net"):
        """A net with the layers ``specs`` describe (see ``layers_from_specs``); refused
        when even one inference pass could not fit in the memory available."""
        net = cls(params, name)
        net.add_specs(specs, input_shape)
        net._check_output_end()
        net.check_inference_memory()
        return net

    def check_inference_memory(self):
        """Refuse (ValueError) a net whose inference pass cannot fit in the memory this
        process has (a 60 KB file may declare a padding of 25,000), before it runs."""
        from .infra.memory import check_net_memory, inference_bytes
        check_net_memory(inference_bytes(self), f"net {self.name!r}: one inference pass")

    # ----- building -------------------------------------------------------
    def add_specs(self, specs, input_shape=None):
        """Append the layers ``specs`` describe, made for this net's current output
        (or, for an empty net, for ``input_shape``, which the first layer must accept)."""
        if not self._layers and input_shape is not None:
            self.input_shape = as_shape(input_shape, "input_shape")
        for name, layer in layers_from_specs(specs, self.output_shape, self.params):
            self.add_layer(layer, name)

    def add_layer(self, layer, name):
        """Append ``layer`` as ``name``: check its input shape, record its output
        shape, create its weights."""
        if not isinstance(layer, Layer):
            what = f"the class {layer.__name__}" if isinstance(layer, type) else repr(layer)
            raise ValueError(f"add_layer({name!r}): expected a Layer instance, got {what}")
        self._check_name(name)
        if any(layer is other for other in self._layers):
            raise ValueError(f"add_layer({name!r}): this layer object is already in the net")
        self._check_classifier(layer, name)
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
        self._step = None
        self._inference_checked = False

    def _check_classifier(self, layer, name):
        """Refuse a classification layer that does not match ``params.net_type``."""
        from .classifiers import Logistic, Softmax
        if not isinstance(layer, ClassificationLayer):
            return
        net_type, kind = self.params.net_type, type(layer.classifier).__name__
        wanted = {NetType.MULTIPLE_CLASSIFIER: Softmax, NetType.BINARY_CLASSIFIER: Logistic}
        if net_type is NetType.FITTING:
            raise ValueError(
                f"add_layer({name!r}): a {kind} classification layer does not belong in a "
                f"net of net_type 'fitting' (regression has no classifier); set "
                f"net_type='multiple_classifier' (softmax) or 'binary_classifier' (logistic)")
        for cls in wanted.values():
            if isinstance(layer.classifier, cls) and cls is not wanted[net_type]:
                raise ValueError(
                    f"add_layer({name!r}): a {kind} classification layer does not match "
                    f"net_type {net_type.value!r}, which needs "
                    f"{wanted[net_type].__name__}")

    def _check_output_end(self):
        """A classifier net must end in a classification layer (checked once built)."""
        net_type = self.params.net_type
        if net_type is not NetType.FITTING and self._layers \
                and not isinstance(self._layers[-1], ClassificationLayer):
            raise ValueError(
                f"net {self.name!r}: net_type {net_type.value!r} expects a classification "
                f"layer last (softmax or logistic), got {type(self._layers[-1]).__name__} "
                f"{self._names[-1]!r}")

    def _check_name(self, name):
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise ValueError(
                f"layer name: expected 1-64 characters from letters, digits, '_', '-', '.' "
                f"(not starting with '.' or '-'), usable as an HDF5 group name; got {name!r}")
        if name in self._names:
            raise ValueError(f"layer name: {name!r} is already used; names must be unique")

    @property
    def layers(self):
        """The layers in order (a new list; the layers themselves are live)."""
        return list(self._layers)

    @property
    def layer_names(self):
        """The layer names in order (``fc1``, ``bn1``, ...)."""
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
        """Values per output sample, None if not fixed."""
        shape = self.output_shape
        return None if shape is None else math.prod(shape)

    def get_layer(self, name):
        """The layer called ``name`` (KeyError listing the names otherwise)."""
        try:
            return self._layers[self._names.index(name)]
        except ValueError:
            raise KeyError(f"no layer named {name!r}; layers are {self._names}") from None

    def weights(self):
        """Every WeightsBias in layer order (the textbook's view of the weights)."""
        return [wb for layer in self._layers for wb in layer.weights()]

    def parameters(self):
        """``{"fc1/W": Parameter, "bn1/gamma": ...}``: every trainable array by its
        stable key, in layer order (``value``, ``grad``, ``optimizer`` on each)."""
        return {f"{name}/{key}": parameter for name, layer in zip(self._names, self._layers)
                for key, parameter in layer.parameters().items()}

    # ----- computing ------------------------------------------------------
    def forward(self, x, train):
        """Run every layer; the result is owned by the last layer (copy to keep it)."""
        for layer in self._layers:
            x = layer.forward(x, train)
        return x

    def predict(self, x):
        """Inference-mode outputs for ``x`` (rows are samples) as a new array.

        ``x`` is checked first (shape, real, finite; cast to params.dtype),
        as Keras's ``predict`` does; ``inference`` is the textbook's name for it.
        """
        return self._predict(self.check_input(x, "predict"))

    def _predict(self, x):
        """Inference-mode outputs for an already validated batch, in chunks to bound memory.

        Nets with feature maps run every chunk at one size: the last, shorter
        chunk is copied into a zero-padded chunk-sized array, so the layers
        keep one set of inference buffers instead of a second, odd-sized one
        (inference treats every sample on its own, so padding changes nothing).
        """
        if not self._inference_checked:
            self.check_inference_memory()
            self._inference_checked = True
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
        """The textbook's name for ``predict``: checked, inference-mode outputs."""
        return self._predict(self.check_input(x, "inference"))

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

    def check_batch(self, x, y, where):
        """(x, y) validated against the net: x by ``check_input``, y by
        ``framework.labels.as_targets`` (the output's shape, or class numbers for a
        classifier; values a loss can use), both cast to the net's dtype."""
        from .labels import as_targets
        x = self.check_input(x, where)
        params = self.params
        return x, as_targets(y, params.net_type, self.output_shape, params.dtype, x.shape[0],
                             where)

    def train(self, data_reader, epochs=None, checkpoint=0.1, need_test=True, callbacks=None,
              verbose=1, batch_order=None, restore_best=None, monitor=None):
        """The textbook's ``train(reader, checkpoint, need_test)``: ``epochs`` more epochs
        (None: up to ``params.max_epoch``); see ``framework.training``. ``monitor``
        ("val_loss", "val_accuracy", ...) judges the best checkpoint; ``restore_best``
        None ends on it when there is validation data, else on the last weights.
        Returns the TrainingHistory."""
        from .training import train
        return train(self, data_reader, epochs=epochs, checkpoint=checkpoint,
                     need_test=need_test, callbacks=callbacks, verbose=verbose,
                     batch_order=batch_order, restore_best=restore_best, monitor=monitor)

    def fit(self, x, y, epochs=None, batch_size=None, validation_split=0.0,
            validation_data=None, shuffle=True, callbacks=None, verbose=1, checkpoint=1.0,
            split_seed=0, restore_best=None, monitor=None, batch_order=None):
        """Keras's ``fit`` on arrays: ``epochs`` more epochs (None: up to ``max_epoch``),
        ``validation_split`` (a seeded split, stratified for classifiers, the rows in
        ``history.validation_rows``) or ``validation_data=(x_val, y_val)``; class
        numbers ``(N,)`` work for classifiers, targets ``(N,)`` for a one-output
        fitting net. Returns the TrainingHistory."""
        from .fitting import fit
        return fit(self, x, y, epochs=epochs, batch_size=batch_size,
                   validation_split=validation_split, validation_data=validation_data,
                   shuffle=shuffle, callbacks=callbacks, verbose=verbose,
                   checkpoint=checkpoint, split_seed=split_seed, restore_best=restore_best,
                   monitor=monitor, batch_order=batch_order)

    def evaluate(self, x, y, metrics=None):
        """Keras's ``evaluate``: ``{"loss": ..., "accuracy" or "r2": ..., ...}`` on (x, y)
        in inference mode (the data loss, without the weight penalty); ``metrics``
        adds registered metrics by name ("precision", "recall", "f1", "mae")."""
        from .fitting import evaluate
        return evaluate(self, x, y, metrics)

    # ----- the step API ---------------------------------------------------
    def loss(self, x, y, train=False):
        """(data loss, accuracy) on (x, y), without the weight penalty.

        Inference mode by default (what ``test`` measures); ``train=True``
        runs the training-mode forward pass (batch statistics, dropout) that
        ``gradients`` differentiates, leaving the net exactly as it was.
        """
        from .gradient_check import batch_loss
        return batch_loss(self, x, y, train)

    def gradients(self, x, y):
        """``{"layer/W": gradient copy}`` of the data loss plus the L1/L2 penalty at
        the current weights; nothing in the net changes (see ``gradient_check``)."""
        from .gradient_check import gradients
        return gradients(self, x, y)

    def train_step(self, x, y, lr=None):
        """One optimizer step on (x, y), exactly the step ``train`` takes; returns
        (loss incl. penalty, accuracy). ``lr`` None: the schedule's rate at ``net.epoch``."""
        from .step import train_step
        return train_step(self, x, y, lr)

    def training_step(self):
        """The step ``train`` and ``train_step`` share (see ``framework.step``)."""
        if self._step is None:
            from .step import Step
            self._step = Step(self)
        return self._step

    def test(self, data_reader):
        """(data loss, accuracy) on the reader's test set, without the weight penalty."""
        from .training import evaluate
        data_reader.astype(self.params.dtype)
        x, y = data_reader.get_test_set()
        return evaluate(self, self.check_input(x, "test"), y, penalty=False)

    # ----- state ----------------------------------------------------------
    def state_dict(self):
        """A copy of the whole state under one key scheme (see ``framework.state``):
        parameters ``"fc1/W"``, buffers ``"bn1/running_var"``, optimizer state
        ``"optimizer/fc1/W/m"``, ``"epoch"``, ``"iteration"``, ``"random_state"``."""
        return state.state_dict(self)

    def load_state_dict(self, values, strict=True):
        """Put a ``state_dict()`` (or ``snapshot()``) back, strictly: every key and
        shape must match; nothing changes if one does not. ``strict=False`` copies the
        keys this net has and returns ``(missing_keys, unexpected_keys)``, as PyTorch."""
        return state.load_state_dict(self, values, strict=check_flag("strict", strict))

    def snapshot(self):
        """Everything a rollback needs: parameters, buffers, optimizer state (copies)."""
        return state.state_dict(self, counters=False)

    def restore(self, snapshot):
        """Put a ``snapshot()`` back: weights, buffers and the optimizer state with them."""
        state.load_state_dict(self, snapshot)

    # ----- files ----------------------------------------------------------
    def save(self, path, include_optimizer=True, metadata=None):
        """Write the net to HDF5 atomically (see ``serialization``); ``metadata``, a
        JSON-able dict that may hold numpy arrays (default: ``self.metadata``), is
        stored in the file and checksummed like the weights."""
        from .infra.serialization import save_net
        if metadata is None:
            metadata = getattr(self, "metadata", None) or None
        save_net(self, path, include_optimizer=include_optimizer, metadata=metadata)

    @classmethod
    def load(cls, path):
        """Rebuild a working net (layers, weights, optimizer and RNG state) from a file;
        the saved metadata comes back as ``net.metadata`` (``{}`` if none)."""
        from .infra.serialization import load_net
        return load_net(path, cls)

    def load_weights(self, path):
        """Load weights and buffers into this net; names and shapes must match exactly.
        Returns the file's metadata (``{}`` if none)."""
        from .infra.serialization import load_weights
        return load_weights(self, path)

    def to_onnx(self, path, dynamic_batch=True, batch_size=None):
        """Write the net in inference form as an ONNX model (``framework.infra.onnx``;
        needs ``pip install 'miniframework[onnx]'``): any batch size with
        ``dynamic_batch``, else ``batch_size`` (1 by default). Returns ``path``."""
        from .infra.onnx import save_onnx
        return save_onnx(self, path, dynamic_batch=dynamic_batch, batch_size=batch_size)

    @classmethod
    def from_onnx(cls, path, params=None, name=None):
        """A net of registered layers from an ONNX model (this library's export, or an
        MLP or LeNet-style CNN from ``torch.onnx.export``); ``params`` sets how it
        trains (default: HyperParameters for the net type the graph implies)."""
        from .infra.onnx import load_onnx
        return load_onnx(path, cls, params=params, name=name)

    # ----- description ----------------------------------------------------
    def parameter_count(self, index=None):
        """Trainable values of layer ``index``, or of the whole net."""
        layers = self._layers if index is None else [self._layers[index]]
        return sum(p.size for layer in layers for p in layer.parameters().values())

    def summary(self):
        """A table: name, class, output shape, parameter count; then the total."""
        rows = [("#", "name", "class", "output shape", "params")]
        for i, (name, layer) in enumerate(zip(self._names, self._layers)):
            rows.append((str(i), name, type(layer).__name__, _shape_text(self._shapes[i]),
                         f"{self.parameter_count(i):,}"))
            rows.extend(_inner_rows(layer, "  "))
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


def _inner_rows(block, indent):
    """Summary rows for the layers inside a block (a residual block's), indented."""
    rows = []
    for name, layer in block.inner_layers():
        count = sum(p.size for p in layer.parameters().values())
        rows.append(("", indent + name, type(layer).__name__, _shape_text(layer.output_shape),
                     f"{count:,}"))
        rows.extend(_inner_rows(layer, indent + "  "))
    return rows


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
