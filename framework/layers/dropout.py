"""DropoutLayer: inverted dropout.

Training: each unit is kept with probability ``1 - ratio`` and kept units are
scaled by ``1 / (1 - ratio)``, so the expected activation is unchanged and
inference needs no rescaling (the textbook's non-inverted dropout had to
shrink the weights at test time instead). Inference is the identity: the
input array itself is returned.

The mask is drawn from ``streams.noise`` (kept at ``initialize``), so it never
disturbs weight initialization or batch order. Tests can fix it:
``layer.forward(x, train=True, mask=keep)`` with a boolean ``keep`` array
(True = kept) of x's shape uses that mask instead of drawing one.
"""
import numpy as np

from .base import Layer, check_input, check_positive_int


class DropoutLayer(Layer):
    """``DropoutLayer(size, ratio=0.5)``; ``ratio`` is the drop probability, in [0, 1)."""

    def __init__(self, size, ratio=0.5):
        super().__init__()
        self.size = check_positive_int("DropoutLayer", "size", size)
        self.input_size = self.output_size = self.size
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) \
                or not 0.0 <= ratio < 1.0:
            raise ValueError(f"DropoutLayer ratio: expected a number in [0, 1), got {ratio!r}")
        self.ratio = float(ratio)
        self.rng = None
        self.scale_mask = None     # 0 for dropped units, 1/(1-ratio) for kept ones

    def initialize(self, streams):
        self.rng = streams.noise

    def forward(self, x, train, mask=None):
        check_input("DropoutLayer", x, self.size)
        if not train:
            self.scale_mask = None
            return x
        rows, dtype = x.shape[0], x.dtype
        scale_mask = self._buffer("mask", rows, self.size, dtype)
        keep = self._buffer("keep", rows, self.size, bool)
        if mask is not None:
            np.copyto(keep, mask)
        else:
            if self.rng is None:
                raise RuntimeError("DropoutLayer: call initialize(streams) before training")
            self.rng.random(out=scale_mask, dtype=dtype)
            np.greater_equal(scale_mask, self.ratio, out=keep)
        np.multiply(keep, dtype.type(1.0 / (1.0 - self.ratio)), out=scale_mask)
        self.scale_mask = scale_mask
        out = self._buffer("out", rows, self.size, dtype)
        return np.multiply(x, scale_mask, out=out)

    def backward(self, delta):
        if not self.need_input_grad:
            return None
        if self.scale_mask is None:       # the forward pass was inference: identity
            return delta
        dx = self._buffer("dx", delta.shape[0], self.size, delta.dtype)
        return np.multiply(delta, self.scale_mask, out=dx)

    def get_config(self):
        return {"size": self.size, "ratio": self.ratio}
