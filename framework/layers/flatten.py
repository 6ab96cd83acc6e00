"""FlattenLayer: ``(N, C, H, W)`` images to ``(N, C*H*W)`` rows for an FcLayer.

The rows are in C order (channel, row, column), PyTorch's ``Flatten`` order,
so weights carry over. A C-contiguous input is only viewed, never copied;
any other input (a transposed view, say) is copied into a reused buffer.
"""
import math

import numpy as np

from .base import Layer, as_shape, check_input
from .registry import register_layer


@register_layer(name="flatten")
class FlattenLayer(Layer):
    """``FlattenLayer(input_shape=None)``: the per-sample shape becomes ``(prod,)``."""

    def __init__(self, input_shape=None):
        super().__init__()
        if input_shape is not None:
            self.build(input_shape)

    def compute_output_shape(self, input_shape):
        return (math.prod(as_shape(input_shape, "FlattenLayer input_shape")),)

    def forward(self, x, train):
        if x.shape[1:] != self.input_shape or x.dtype.kind == "c":
            if self.input_shape is None:         # used on its own: the first batch decides
                self.build(x.shape[1:])
            check_input("FlattenLayer", x, self.input_shape)
        return _reshaped(self, "out", x, (x.shape[0],) + self.output_shape)

    def backward(self, delta):
        if delta.shape[1:] != self.output_shape or delta.ndim != 2:
            raise ValueError(f"FlattenLayer: expected delta of shape (batch, "
                             f"{self.output_shape[0]}), got {delta.shape}")
        if not self.need_input_grad:
            return None
        return _reshaped(self, "dx", delta, (delta.shape[0],) + self.input_shape)

    def get_config(self):
        return {"input_shape": None if self.input_shape is None else list(self.input_shape)}


def _reshaped(layer, name, array, shape):
    """A view of ``array`` in ``shape`` if it is C-contiguous, else a copy in a buffer."""
    if array.flags.c_contiguous:
        return array.reshape(shape)
    out = layer.buffer(name, shape, array.dtype)
    np.copyto(out.reshape(array.shape), array)
    return out
