"""FcLayer: the fully connected layer, y = x @ W + B."""
import numpy as np

from ..hyper_parameters import HyperParameters
from ..weights_bias import WeightsBias
from .base import Layer, check_input, check_positive_int, check_real
from .registry import register_layer

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


@register_layer
class FcLayer(Layer):
    """``FcLayer(input_size, output_size, params)``; W is (in, out), B is (1, out).

    Its input is a vector per sample, ``input_shape == (input_size,)``; put a
    ``FlattenLayer`` between images and a fully connected layer. In a spec,
    ``{"type": "fc", "size": 10}`` takes ``input_size`` from the previous layer.

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
        input_size = check_positive_int("FcLayer", "input_size", input_size)
        output_size = check_positive_int("FcLayer", "output_size", output_size)
        if not isinstance(params, HyperParameters):
            raise ValueError(f"FcLayer params: expected HyperParameters, got {params!r}")
        self.units = output_size
        self.build((input_size,))
        self.dtype = params.dtype
        self.wb = WeightsBias.from_params(params, input_size, output_size)
        self.x = None
        # the steady-state training step reuses the arrays of the previous call
        # when the shape is unchanged, skipping the checks and the cache lookup
        self._out_shape = self._out = None
        self._dx = self._ones = None

    def compute_output_shape(self, input_shape):
        _vector_width(input_shape)
        return (self.units,)

    @classmethod
    def from_config(cls, config, input_shape=None, params=None):
        """Also takes a spec's short form ``{"size": n}``, the input from ``input_shape``."""
        return super().from_config(cls._full_config(config, input_shape), input_shape, params)

    @classmethod
    def sizes_from_config(cls, config, input_shape=None):
        """``(input_size, output_size)`` of the layer a config describes, checked but
        without making its weights (what a memory estimate needs before allocating)."""
        config = cls._full_config(config, input_shape)
        return (check_positive_int("FcLayer", "input_size", config.get("input_size")),
                check_positive_int("FcLayer", "output_size", config.get("output_size")))

    @staticmethod
    def _full_config(config, input_shape):
        config = dict(config)
        if "size" in config:
            config["output_size"] = config.pop("size")
        if config.get("input_size") is None and input_shape is not None:
            config["input_size"] = _vector_width(input_shape)
        return config

    def initialize(self, streams):
        self.wb.initialize(streams.init)

    def forward(self, x, train):
        out = self._out
        if x.shape != self._out_shape:          # a new batch shape: check it, fetch its output
            check_input("FcLayer", x, self.input_shape)
            out = self._out = self.buffer("out", (x.shape[0], self.units), self.dtype)
            self._out_shape = x.shape
        self.x = x          # a reference: backward needs it, copying would cost
        wb = self.wb
        try:
            _dot(x, wb.W, out)                  # see _product: inlined, it runs every step
        except ValueError:                      # another dtype than the last batch's: the
            check_real("FcLayer", x)            # shape was checked, its numbers were not
            _matmul(x, wb.W, out=out)
        _add(out, wb.B, out=out)
        return out

    def backward(self, delta):
        # x.T of a C-contiguous batch is F-contiguous: BLAS reads it in place
        x, wb = self.x, self.wb
        _product(x.T, delta, wb.dW)
        ones = self._ones
        if ones is None or ones.shape[1] != delta.shape[0] or ones.dtype != delta.dtype:
            ones = self._ones = self._ones_row(delta.shape[0], delta.dtype)
        try:
            # dB as ones @ delta: one BLAS call (~1 us) instead of a NumPy
            # reduction (~2.5 us) on a mini-batch-sized delta
            _dot(ones, delta, wb.dB)
        except ValueError:
            _add.reduce(delta, axis=0, keepdims=True, out=wb.dB)
        if not self.need_input_grad:      # the first layer: nobody needs d(input)
            return None
        dx = self._dx
        if dx is None or dx.shape[0] != delta.shape[0]:
            dx = self._dx = self.buffer("dx", (delta.shape[0],) + self.input_shape, self.dtype)
        return _product(delta, wb.W.T, dx)

    def _ones_row(self, rows, dtype):
        """A (1, rows) row of ones from the layer's cache (new cache arrays are zeros)."""
        ones = self.buffer("ones", (1, rows), dtype)
        ones.fill(1)
        return ones

    def weights(self):
        return [self.wb]

    def get_config(self):
        return {"input_size": self.input_size, "output_size": self.units}


def _vector_width(input_shape):
    """The width of a vector sample; feature maps need a FlattenLayer first."""
    if len(input_shape) != 1:
        raise ValueError(f"FcLayer: expects a vector per sample, received shape "
                         f"{tuple(input_shape)}; add a FlattenLayer (spec 'flatten') before it")
    return input_shape[0]
