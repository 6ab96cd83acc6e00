"""PoolingLayer: max or mean pooling over (possibly overlapping) windows.

Every pass is a Python loop over the ``ph*pw`` offsets of the window, each a
whole-batch NumPy operation on the strided view ``x[:, :, i::sh, j::sw]``
(never a loop over samples or pixels); a 2x2 pool is four such operations.
Windows that do not fit the input are dropped (PyTorch's floor rule); no
padding is needed.

Max pooling sends each window's gradient to exactly one input: the first
maximum in row-major window order, as PyTorch does. The backward pass finds
it without an argmax: walking the offsets in row-major order, an offset wins
where its value equals the window's maximum and no earlier offset has won.
Forward only takes the maximum, so inference pays nothing for this.
"""
import numpy as np

from ..enums import _ParsableEnum
from .base import Layer, as_shape, check_input
from .im2col import as_pair, output_size, window
from .registry import register_layer


class PoolType(_ParsableEnum):
    """MAX keeps each window's largest value (the textbook's and LeNet's
    choice); MEAN its average (``"average"`` and ``"avg"`` work too)."""

    MAX = "max"
    MEAN = "mean"

    @classmethod
    def _aliases(cls):
        return {"average": "mean", "avg": "mean"}


@register_layer(name="pooling")
class PoolingLayer(Layer):
    """``PoolingLayer(input_shape=None, pool_shape=(2, 2), stride=2, pool_type="max")``.

    ``pool_shape`` and ``stride`` are ints or ``(h, w)`` pairs; ``input_shape``
    ``(C, H, W)``, or None to take it from the previous layer.
    """

    def __init__(self, input_shape=None, pool_shape=(2, 2), stride=2, pool_type="max"):
        super().__init__()
        self.pool_shape = as_pair(pool_shape, "PoolingLayer pool_shape", 1)
        self.stride = as_pair(stride, "PoolingLayer stride", 1)
        self.pool_type = PoolType.parse(pool_type, "PoolingLayer pool_type")
        ph, pw = self.pool_shape
        self.offsets = [(i, j) for i in range(ph) for j in range(pw)]
        # each input in at most one window: gradients are assigned, not summed
        self._disjoint = self.stride[0] >= ph and self.stride[1] >= pw
        self.x = self._out = None
        if input_shape is not None:
            self.build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = as_shape(input_shape, "PoolingLayer input_shape")
        if len(shape) != 3:
            raise ValueError(f"PoolingLayer input_shape: expected (C, H, W), "
                             f"got {input_shape!r}")
        for axis, size, p in zip("HW", shape[1:], self.pool_shape):
            if p > size:
                raise ValueError(f"PoolingLayer: pool {axis} {p} is larger than the "
                                 f"input {axis} {size}")
        return (shape[0],) + tuple(output_size(size, p, s, 0) for size, p, s in
                                   zip(shape[1:], self.pool_shape, self.stride))

    def _windows(self, x):
        """The ``(N, C, OH, OW)`` view of ``x`` per window offset, row-major."""
        out_hw = self.output_shape[1:]
        return [window(x, i, j, out_hw, self.stride) for i, j in self.offsets]

    def forward(self, x, train):
        out = self._out
        if out is None or out.shape[0] != x.shape[0] or x.shape[1:] != self.input_shape \
                or out.dtype != x.dtype:
            if self.input_shape is None:         # used on its own: the first batch decides
                self.build(x.shape[1:])
            check_input("PoolingLayer", x, self.input_shape)
            out = self._out = self.buffer("out", (x.shape[0],) + self.output_shape, x.dtype)
        views = self._windows(x)
        combine = np.maximum if self.pool_type is PoolType.MAX else np.add
        np.copyto(out, views[0])
        for view in views[1:]:
            combine(out, view, out=out)
        if self.pool_type is PoolType.MEAN:
            np.multiply(out, 1.0 / len(views), out=out)
        self.x = x
        return out

    def backward(self, delta):
        if self.x is None or delta.shape != self._out.shape:
            raise ValueError(f"PoolingLayer: expected delta of shape "
                             f"{None if self._out is None else self._out.shape} after a "
                             f"forward pass, got {delta.shape}")
        if not self.need_input_grad:
            return None
        dx = self.buffer("dx", self.x.shape, delta.dtype)
        if not self._disjoint:          # summed into; inputs in no window are never
            dx.fill(0)                  # written, so stay the new buffer's zeros
        targets = self._windows(dx)
        if self.pool_type is PoolType.MAX:
            self._route_max(delta, targets)
        else:
            share = self.buffer("share", delta.shape, delta.dtype)
            np.multiply(delta, 1.0 / len(targets), out=share)
            for target in targets:
                self._deposit(target, share)
        return dx

    def _route_max(self, delta, targets):
        """Each window's delta to its first maximum (row-major), nowhere else.

        ``hit`` marks where offset k equals the maximum and no earlier offset
        did (``taken``); the masks are bools, a quarter of the memory traffic
        of float arithmetic (routing by subtracting the routed delta measured
        15% slower).
        """
        hit = self.buffer("hit", delta.shape, np.bool_)
        taken = self.buffer("taken", delta.shape, np.bool_)
        part = None if self._disjoint else self.buffer("part", delta.shape, delta.dtype)
        last = len(targets) - 1
        for k, (view, target) in enumerate(zip(self._windows(self.x), targets)):
            np.equal(view, self._out, out=hit)
            if k:
                np.greater(hit, taken, out=hit)         # hit and not taken
            if k == 0:
                np.copyto(taken, hit)
            elif k < last:
                np.logical_or(taken, hit, out=taken)
            if part is None:                            # disjoint: write in place
                np.multiply(delta, hit, out=target)
            else:
                np.multiply(delta, hit, out=part)
                np.add(target, part, out=target)

    def _deposit(self, target, values):
        if self._disjoint:
            np.copyto(target, values)
        else:
            np.add(target, values, out=target)

    def get_config(self):
        return {"input_shape": None if self.input_shape is None else list(self.input_shape),
                "pool_shape": list(self.pool_shape), "stride": list(self.stride),
                "pool_type": self.pool_type.value}

    @classmethod
    def from_config(cls, config, input_shape=None, params=None):
        """Also takes a spec's short key ``size`` (int or pair) for ``pool_shape``."""
        config = dict(config)
        if "size" in config:
            if "pool_shape" in config:
                raise ValueError(f"PoolingLayer config {config!r}: give pool_shape or "
                                 f"size, not both")
            config["pool_shape"] = config.pop("size")
        return super().from_config(config, input_shape, params)
