"""ResidualLayer: a block of layers F whose input is added to its output.

    y  = x + F(x)                    the identity shortcut (He et al., 2016)
    y  = P(x) + F(x)                 a learned linear shortcut P ("projection": "linear"):
                                     an fc layer on vectors, a 1x1 convolution on maps

Backward, from delta = dL/dy:

    dL/dx = delta + (dF/dx)ᵀ delta           (identity)
    dL/dx = (dP/dx)ᵀ delta + (dF/dx)ᵀ delta  (projection)

and F's layers (and P) fill their own parameters' gradients on the way. The
shortcut's "delta +" is why a deep stack of blocks does not starve its first
layers of gradient: however small F's Jacobian gets, the identity passes
delta down unchanged.

The block holds its own list of named layers, made from specs by the same
builder as a net (``layers_from_specs``): ``{"type": "residual", "layers":
[{"type": "fc", "size": 64}, {"type": "relu"}]}``. Its parameters and buffers are
theirs, named below theirs (``"fc1/W"``; in a net ``"res1/fc1/W"``), so state
dicts, snapshots, the NaN guard, gradient checks and weights files see them like
any other; the weights file stores them as ``/layers/res1/fc1/W``. The block
initializes its layers in order (then the shortcut), so a seed gives the same
weights as the same layers without the block.

Where F changes the shape, ``x + F(x)`` has no meaning: the block refuses to be
built unless ``"projection": "linear"`` asks for a learned shortcut (on maps the
1x1 convolution's stride matches F's down-sampling, as in ResNet). A classifier
inside a block is refused (the net's output layer belongs at the net's end).
"""
import re

import numpy as np

from .base import Layer, as_shape
from .builder import layer_spec, layers_from_specs
from .classification import ClassificationLayer
from .conv import ConvLayer
from .fc import FcLayer
from .registry import register_layer

PROJECTIONS = ("identity", "linear")
SHORTCUT = "shortcut"           # the learned projection's name inside the block
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")   # as a net's layer names


@register_layer
class ResidualLayer(Layer):
    """``ResidualLayer(layers, input_shape=None, projection="identity", params=None)``.

    ``layers``: the block's F as layer specs (dicts, as ``layers_from_specs`` takes
    them) or Layer objects; ``projection``: "identity" (``x + F(x)``, shapes must
    match) or "linear" (``P(x) + F(x)`` with a learned fc / 1x1 conv shortcut).
    ``input_shape`` None: the previous layer's, when the block is added to a net.
    """

    def __init__(self, layers, input_shape=None, projection="identity", params=None):
        super().__init__(params)
        if isinstance(layers, (str, bytes, dict, Layer)) or not hasattr(layers, "__iter__"):
            raise ValueError(f"ResidualLayer layers: expected a list of layer specs, got "
                             f"{layers!r}")
        self._specs = list(layers)
        if not self._specs:
            raise ValueError("ResidualLayer layers: expected at least one layer (F in "
                             "x + F(x)), got an empty list")
        if projection is None:
            projection = "identity"
        if projection not in PROJECTIONS:
            raise ValueError(f"ResidualLayer projection: expected one of "
                             f"{list(PROJECTIONS)}, got {projection!r}")
        self.projection = projection
        self.named_layers = None    # [(name, layer)] of F, once built; then the shortcut
        self.shortcut = None        # P, a layer (projection "linear"), else None
        self.x = None
        if input_shape is not None:
            self.build(input_shape)

    # ----- y = x + F(x) ---------------------------------------------------------------
    def forward(self, x, train):
        self.x = self.checked(x)
        f = x
        for _, layer in self.named_layers:
            f = layer.forward(f, train)                         # F(x)
        s = x if self.shortcut is None else self.shortcut.forward(x, train)   # x or P(x)
        return np.add(s, f, out=self.work("out", f.shape))     # y = x + F(x)

    def backward(self, delta):
        d = delta
        for _, layer in reversed(self.named_layers):
            d = layer.backward(d)                               # (dF/dx)ᵀ delta
        s = delta if self.shortcut is None else self.shortcut.backward(delta)
        if not self.need_input_grad:
            return None
        return np.add(s, d, out=self.work("dx", self.x.shape))  # dx = delta + (dF/dx)ᵀ delta

    # ----- building ---------------------------------------------------------------------
    def build(self, input_shape):
        """Make F's layers for ``input_shape`` (once), check the shortcut can add."""
        shape = as_shape(input_shape, "ResidualLayer input_shape")
        if self.named_layers is None:
            self.named_layers = self._make_layers(shape)
            self.shortcut = self._make_shortcut(shape, self._f_output())
        return super().build(shape)

    def compute_output_shape(self, input_shape):
        if self.named_layers is None:
            self.build(input_shape)
        shape = tuple(input_shape)
        if shape != self.input_shape and self.input_shape is not None:
            raise ValueError(f"ResidualLayer: expects input shape {self.input_shape}, "
                             f"received {shape}")
        return self._f_output()

    def _make_layers(self, shape):
        """F's named layers, each built for the shape before it (what ``add_layer`` does
        for a net's layers)."""
        try:
            named = layers_from_specs(self._specs, shape, self.params)
        except ValueError as error:
            raise ValueError(f"ResidualLayer: {error}") from None
        current = shape
        for name, layer in named:
            self._check_inner(name, layer)
            if layer.input_shape is None:
                layer.build(current)
            elif tuple(layer.input_shape) != current:
                raise ValueError(f"ResidualLayer: layer {name!r} ({type(layer).__name__}) "
                                 f"expects input shape {tuple(layer.input_shape)}, but "
                                 f"receives {current}")
            current = tuple(layer.output_shape)
        return named

    def _check_inner(self, name, layer):
        if _NAME.fullmatch(name) is None or (name == SHORTCUT and
                                             self.projection == "linear"):
            raise ValueError(f"ResidualLayer: inner layer name {name!r} is not allowed "
                             f"(1-64 letters, digits, '_', '-', '.'; {SHORTCUT!r} is the "
                             f"projection's)")
        if isinstance(layer, ClassificationLayer):
            raise ValueError(f"ResidualLayer: a classification layer ({name!r}) cannot be "
                             f"inside a block; put it at the end of the net")

    def _f_output(self):
        """F's output shape: its last layer's."""
        return tuple(self.named_layers[-1][1].output_shape)

    def _make_shortcut(self, shape, output):
        """None for the identity (shapes must match), else the learned projection P."""
        if self.projection == "identity":
            if output != shape:
                raise ValueError(
                    f"ResidualLayer: F outputs shape {output} but its input has shape "
                    f"{shape}, so x + F(x) is undefined; give \"projection\": \"linear\" "
                    f"(a learned fc / 1x1 conv shortcut) or make F keep the shape")
            return None
        if len(shape) == 1 and len(output) == 1:
            return FcLayer(shape[0], output[0], self.params)
        if len(shape) == 3 and len(output) == 3:
            stride = [_stride(n, m) for n, m in zip(shape[1:], output[1:])]
            if None not in stride:
                return ConvLayer(shape, (output[0], 1, 1), stride=stride, params=self.params)
        raise ValueError(f"ResidualLayer: no linear shortcut maps shape {shape} to F's "
                         f"output {output} (fc: vectors to vectors; 1x1 conv: maps whose "
                         f"height and width shrink by a whole stride)")

    def inner_layers(self):
        """``[(name, layer)]``: F's layers in order, then the shortcut (if learned)."""
        found = list(self.named_layers or [])
        if self.shortcut is not None:
            found.append((SHORTCUT, self.shortcut))
        return found

    # ----- what the block holds: its layers', under their names -------------------------
    def parameters(self):
        return {f"{name}/{key}": parameter for name, layer in self.inner_layers()
                for key, parameter in layer.parameters().items()}

    def buffers(self):
        return {f"{name}/{key}": value for name, layer in self.inner_layers()
                for key, value in layer.buffers().items()}

    def non_negative_buffers(self):
        return tuple(f"{name}/{key}" for name, layer in self.inner_layers()
                     for key in layer.non_negative_buffers())

    def weights(self):
        return [wb for _, layer in self.inner_layers() for wb in layer.weights()]

    def attach(self, params):
        super().attach(params)
        for _, layer in self.inner_layers():
            layer.attach(self.params)

    def initialize(self, streams):
        """Every inner layer in order, then the shortcut: a fixed order of draws."""
        if self.named_layers is None:
            raise RuntimeError("ResidualLayer: no input shape yet; give input_shape or add "
                               "the block to a net")
        for _, layer in self.inner_layers():
            layer.initialize(streams)

    def min_training_batch(self):
        return max(layer.min_training_batch() for _, layer in self.inner_layers())

    # ----- description -------------------------------------------------------------------
    def name_hint(self):
        return "res"

    def get_config(self):
        specs = [layer_spec(name, layer) for name, layer in self.named_layers] \
            if self.named_layers is not None else self._specs
        shape = None if self.input_shape is None else list(self.input_shape)
        return {"input_shape": shape, "layers": specs, "projection": self.projection}


def _stride(size, out):
    """The stride s of a 1x1 convolution taking ``size`` positions to ``out``
    (``(size - 1) // s + 1 == out``), or None if there is none."""
    for s in range(1, size + 1):
        if (size - 1) // s + 1 == out:
            return s
    return None
