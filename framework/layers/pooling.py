"""PoolingLayer: max or mean pooling over (possibly overlapping) windows.

``y[n, c, r, s]`` is the maximum (or the mean) of the window
``x[n, c, r*sh : r*sh + ph, s*sw : s*sw + pw]``. Windows that do not fit
the input are dropped (PyTorch's floor rule); no padding is needed.

Max pooling sends each window's gradient to exactly one input: the first
maximum in row-major window order, as PyTorch does. Mean pooling spreads it
evenly, ``delta / (ph*pw)`` to every input of the window. Overlapping windows
add up their contributions.

How it is computed (``pool_kernels.py``): a window is a rectangle of rows,
so its maximum is the maximum over its ``ph`` rows of each row's maximum over
``pw`` columns, and its sum likewise; every pass is one whole-batch NumPy
operation on strided views, ``ph + pw`` of them, never a loop over samples,
pixels or the ``ph*pw`` offsets of a big window (a 3000x3000 window costs
6,000 passes, not nine million). The first maximum of a window is found the
same way round: the first row whose maximum equals the window's, then the
first column of that row holding it (for small windows, walking the offsets
directly is cheaper and gives the same answer). The batch is split into
parts run by ``framework.infra.workers``' threads.
"""
from ..enums import _ParsableEnum
from ..infra import workers
from . import pool_kernels
from .base import Layer, as_shape, check_input
from .im2col import as_pair, output_size
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
        # each input in at most one window: gradients are assigned, not summed
        self._disjoint = self.stride[0] >= ph and self.stride[1] >= pw
        self.x = self._out = self._plan = None
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

    def forward(self, x, train):
        plan = self._plan
        if plan is None or x.shape != plan.x_shape or x.dtype != plan.dtype:
            if self.input_shape is None:         # used on its own: the first batch decides
                self.build(x.shape[1:])
            check_input("PoolingLayer", x, self.input_shape)
            plan = self._plan = pool_kernels.PoolPlan(self, x.shape, x.dtype,
                                                      mean=self.pool_type is PoolType.MEAN)
            self._out = plan.out
        pool = pool_kernels.max_pool if self.pool_type is PoolType.MAX else \
            pool_kernels.mean_pool
        parts = plan.parts
        workers.run(len(parts), lambda part, slot: pool(plan, x, parts[part]))
        self.x = x
        return plan.out

    def backward(self, delta):
        plan = self._plan
        if self.x is None or delta.shape != plan.out.shape:
            raise ValueError(f"PoolingLayer: expected delta of shape "
                             f"{None if self._out is None else self._out.shape} after a "
                             f"forward pass, got {delta.shape}")
        if not self.need_input_grad:
            return None
        dx = plan.backward_arrays()["dx"]
        route = pool_kernels.route_max if self.pool_type is PoolType.MAX else \
            pool_kernels.spread_mean
        x, parts = self.x, plan.parts
        workers.run(len(parts), lambda part, slot: route(plan, x, delta, parts[part]))
        return dx

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

