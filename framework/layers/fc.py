"""FcLayer: the fully connected layer, y = x @ W + B."""
import numpy as np

from ..hyper_parameters import HyperParameters
from ..weights_bias import WeightsBias
from .base import Layer, check_input, check_positive_int

_matmul, _dot, _add = np.matmul, np.dot, np.add


def _product(a, b, out):
    """``out = a @ b``. ``np.dot`` calls the same BLAS GEMM as ``np.matmul`` (same
    bits) with ~0.5 us less dispatch per call, which matters for the small
    layers; it only accepts an exact-dtype C-contiguous ``out``, so anything
    else (a float64 batch into a float32 layer) goes through ``matmul``."""
    try:
        return _dot(a, b, out)
    except ValueError:
        return _matmul(a, b, out=out)


_ONES = {}      # (rows, dtype) -> a read-only (1, rows) row of ones, shared by all layers


def _ones_row(rows, dtype):
    """The shared read-only (1, rows) row of ones of ``dtype``."""
    key = (rows, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 16:
            _ONES.clear()
        ones = _ONES[key] = np.ones((1, rows), dtype)
        ones.flags.writeable = False
    return ones


def _column_sums(delta, out):
    """``out[0] = delta.sum(axis=0)`` as ``ones @ delta``: one BLAS call (~1 us)
    instead of a NumPy reduction (~2.5 us) on a mini-batch-sized delta."""
    ones = _ones_row(delta.shape[0], delta.dtype)
    try:
        return _dot(ones, delta, out)
    except ValueError:
        return _add.reduce(delta, axis=0, keepdims=True, out=out)


class FcLayer(Layer):
    """``FcLayer(input_size, output_size, params)``; W is (in, out), B is (1, out).

    ``params`` (a HyperParameters) supplies the init method and scale, the
    optimizer and its options, the dtype and the L1/L2 regularization, so a
    net's layers all train the same way and a file's hyper-parameters are
    enough to rebuild them.

    backward: dW = x.T @ delta, dB = sum(delta, axis 0) (as ones @ delta),
    dx = delta @ W.T (skipped for the first layer: ``need_input_grad`` is False).
    Regularization is added later by WeightsBias.update, never here.
    """

    def __init__(self, input_size, output_size, params):
        super().__init__()
        self.input_size = check_positive_int("FcLayer", "input_size", input_size)
        self.output_size = check_positive_int("FcLayer", "output_size", output_size)
        if not isinstance(params, HyperParameters):
            raise ValueError(f"FcLayer params: expected HyperParameters, got {params!r}")
        self.dtype = params.dtype
        self.wb = WeightsBias(self.input_size, self.output_size, params.init_method,
                              params.optimizer_name, params.dtype,
                              regular_name=params.regular_name,
                              regular_value=params.regular_value,
                              init_scale=params.init_scale,
                              optimizer_options=params.optimizer_options)
        self.x = None
        # the steady-state training step reuses the arrays of the previous call
        # when the shape is unchanged, skipping the checks and the cache lookup
        self._out_shape = self._out = None
        self._dx = self._ones = None

    def initialize(self, streams):
        self.wb.initialize(streams.init)

    def forward(self, x, train):
        out = self._out
        if x.shape != self._out_shape:          # a new batch shape: check it, fetch its output
            if x.ndim != 2 or x.shape[1] != self.input_size:
                check_input("FcLayer", x, self.input_size)
            out = self._out = self._cache.get("out", x.shape[0], self.output_size, self.dtype)
            self._out_shape = x.shape
        self.x = x          # a reference: backward needs it, copying would cost
        wb = self.wb
        try:
            _dot(x, wb.W, out)                  # see _product: inlined, it runs every step
        except ValueError:
            _matmul(x, wb.W, out=out)
        _add(out, wb.B, out=out)
        return out

    def backward(self, delta):
        # x.T of a C-contiguous batch is F-contiguous: BLAS reads it in place
        x, wb = self.x, self.wb
        _product(x.T, delta, wb.dW)
        ones = self._ones
        if ones is None or ones.shape[1] != delta.shape[0] or ones.dtype != delta.dtype:
            ones = self._ones = _ones_row(delta.shape[0], delta.dtype)
        try:
            _dot(ones, delta, wb.dB)            # see _column_sums
        except ValueError:
            _add.reduce(delta, axis=0, keepdims=True, out=wb.dB)
        if not self.need_input_grad:      # the first layer: nobody needs d(input)
            return None
        dx = self._dx
        if dx is None or dx.shape[0] != delta.shape[0]:
            dx = self._dx = self._cache.get("dx", delta.shape[0], self.input_size, self.dtype)
        return _product(delta, wb.W.T, dx)

    def weights(self):
        return [self.wb]

    def get_config(self):
        return {"input_size": self.input_size, "output_size": self.output_size}
