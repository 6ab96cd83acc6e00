"""FcLayer: the fully connected layer, y = x @ W + B."""
import numpy as np

from ..hyper_parameters import HyperParameters
from ..weights_bias import WeightsBias
from .base import Layer, check_input, check_positive_int


class FcLayer(Layer):
    """``FcLayer(input_size, output_size, params)``; W is (in, out), B is (1, out).

    ``params`` (a HyperParameters) supplies the init method and scale, the
    optimizer and its options, the dtype and the L1/L2 regularization, so a
    net's layers all train the same way and a file's hyper-parameters are
    enough to rebuild them.

    backward: dW = x.T @ delta, dB = sum(delta, axis 0), dx = delta @ W.T.
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

    def initialize(self, streams):
        self.wb.initialize(streams.init)

    def forward(self, x, train):
        check_input("FcLayer", x, self.input_size)
        self.x = x          # a reference: backward needs it, copying would cost
        out = self._buffer("out", x.shape[0], self.output_size, self.dtype)
        np.matmul(x, self.wb.W, out=out)
        np.add(out, self.wb.B, out=out)
        return out

    def backward(self, delta):
        x, wb = self.x, self.wb
        np.matmul(x.T, delta, out=wb.dW)
        np.sum(delta, axis=0, keepdims=True, out=wb.dB)
        if not self.need_input_grad:
            return None
        dx = self._buffer("dx", delta.shape[0], self.input_size, self.dtype)
        return np.matmul(delta, wb.W.T, out=dx)

    def weights(self):
        return [self.wb]

    def get_config(self):
        return {"input_size": self.input_size, "output_size": self.output_size}
