"""DropoutLayer: inverted dropout.

Training: each unit is kept with probability ``1 - ratio`` and kept units are
scaled by ``1 / (1 - ratio)``, so the expected activation is unchanged and
inference needs no rescaling (the textbook's non-inverted dropout had to
shrink the weights at test time instead). Inference is the identity: the
input array itself is returned. Any input shape works (every value of a
feature map is dropped on its own).

The mask is drawn from ``streams.noise`` (kept at ``initialize``), so it never
disturbs weight initialization or batch order. Tests can fix it:
``layer.forward(x, train=True, mask=keep)`` with a boolean ``keep`` array
(True = kept) of x's shape uses that mask instead of drawing one.
"""
import numpy as np

from ..infra.validation import check_number
from .base import Layer
from .registry import register_layer


@register_layer
class DropoutLayer(Layer):
    """``DropoutLayer(input_shape=None, ratio=0.5)``; ``ratio`` is the drop probability.

    ``input_shape`` (an int or a tuple; None: the previous layer's) is only
    checked; ``DropoutLayer(128, 0.5)`` is the textbook's call.
    """

    def __init__(self, input_shape=None, ratio=0.5):
        super().__init__()
        self.ratio = check_number("DropoutLayer ratio", ratio, 0, 1, below=True)
        if input_shape is not None:
            self.build(input_shape)
        self.rng = None
        self.scale_mask = None     # 0 for dropped units, 1/(1-ratio) for kept ones

    @property
    def size(self):
        """Values per sample (the textbook's constructor argument), None until built."""
        return self.input_size

    def initialize(self, streams):
        self.rng = streams.noise

    def forward(self, x, train, mask=None):
        self.checked(x)
        if not train:                                   # inference: a = x
            self.scale_mask = None
            return x
        keep = self._keep(x, mask)                      # keep ~ Bernoulli(1 - ratio)
        scale = self.work("mask", x.shape, x.dtype)     # scale = keep / (1 - ratio)
        self.scale_mask = np.multiply(keep, x.dtype.type(1.0 / (1.0 - self.ratio)), out=scale)
        return np.multiply(x, scale, out=self.work("out", x.shape, x.dtype))   # a = x * scale

    def backward(self, delta):
        if not self.need_input_grad:
            return None
        if self.scale_mask is None:       # the forward pass was inference: identity
            return delta
        dx = self.work("dx", delta.shape, delta.dtype)
        return np.multiply(delta, self.scale_mask, out=dx)         # dx = delta * scale

    def _keep(self, x, mask):
        """The bool keep mask: ``mask`` if given, else drawn from the noise stream (the
        uniform draws pass through the scale array, which is overwritten next)."""
        keep = self.work("keep", x.shape, bool)
        if mask is not None:
            np.copyto(keep, mask)
            return keep
        if self.rng is None:
            raise RuntimeError("DropoutLayer: call initialize(streams) before training")
        draws = self.work("mask", x.shape, x.dtype)
        self.rng.random(out=draws, dtype=x.dtype)
        return np.greater_equal(draws, self.ratio, out=keep)

    def get_config(self):
        shape = None if self.input_shape is None else list(self.input_shape)
        return {"input_shape": shape, "ratio": self.ratio}
