"""BatchNormLayer: normalize each feature over the batch, then scale and shift.

Training:  mu, var = mean and (biased) variance of x over axis 0
           xhat = (x - mu) / sqrt(var + eps);  y = gamma * xhat + beta
           running = momentum * running + (1 - momentum) * batch statistic
Inference: the same with the running mean and variance, so a prediction
           never depends on what else is in the batch.

Backward (exact, with m rows, dgamma = sum(delta * xhat), dbeta = sum(delta)):
           dx = gamma / (m * sqrt(var + eps)) * (m * delta - dbeta - xhat * dgamma)

gamma and beta are a WeightsBias (W = gamma, B = beta, never regularized) so
the net updates them like any weights; the running statistics are buffers,
saved with the weights but never optimized. The textbook's running variance
is the biased batch variance; so is ours.
"""
import math

import numpy as np

from ..enums import OptimizerName
from ..hyper_parameters import HyperParameters
from ..weights_bias import WeightsBias
from .base import Layer, check_input, check_positive_int


class BatchNormLayer(Layer):
    """``BatchNormLayer(size, momentum=0.9, eps=1e-5, params=None)``.

    ``params`` (a HyperParameters, optional) supplies the dtype, optimizer and
    optimizer options for gamma/beta. Without it the layer takes the net's
    when it is added to one (``attach``); standing alone it uses float32 and
    plain SGD, as the textbook's batch-norm layer does.
    """

    def __init__(self, size, momentum=0.9, eps=1e-5, params=None):
        super().__init__()
        self.size = check_positive_int("BatchNormLayer", "size", size)
        self.input_size = self.output_size = self.size
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) \
                or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormLayer momentum: expected a number in [0, 1], "
                             f"got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) \
                or not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"BatchNormLayer eps: expected a positive number, got {eps!r}")
        if params is not None and not isinstance(params, HyperParameters):
            raise ValueError(f"BatchNormLayer params: expected HyperParameters or None, "
                             f"got {params!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self._own_params = params is not None
        self._configure(params)

    def attach(self, params):
        """Adopt the net's dtype and optimizer unless given params of its own."""
        if not self._own_params:
            self._configure(params)

    def _configure(self, params):
        if params is None:
            self.dtype, optimizer, options = np.dtype(np.float32), OptimizerName.SGD, {}
        else:
            self.dtype = params.dtype
            optimizer, options = params.optimizer_name, params.optimizer_options
        self.wb = WeightsBias.for_batch_norm(self.size, optimizer, self.dtype, options)
        self.running_mean = np.zeros((1, self.size), self.dtype)
        self.running_var = np.ones((1, self.size), self.dtype)
        # per-feature (1, size) work rows: batch mean and 1/std (kept for
        # backward, so inference never touches them), and two scratch rows
        self._mean, self._inv_std, self._row, self._row2 = (
            np.zeros((1, self.size), self.dtype) for _ in range(4))
        self.xhat = None

    def initialize(self, streams):
        self.wb.initialize(streams.init)   # gamma ones, beta zeros: draws nothing
        self.running_mean.fill(0)
        self.running_var.fill(1)

    def forward(self, x, train):
        check_input("BatchNormLayer", x, self.size)
        rows = x.shape[0]
        out = self._buffer("out", rows, self.size, self.dtype)
        mean, inv_std, row = self._mean, self._inv_std, self._row
        if not train:
            np.add(self.running_var, self.eps, out=self._row2)
            np.sqrt(self._row2, out=self._row2)
            np.divide(self.wb.W, self._row2, out=row)         # gamma / std
            np.subtract(x, self.running_mean, out=out)
            out *= row
            out += self.wb.B
            return out
        xhat = self.xhat = self._buffer("xhat", rows, self.size, self.dtype)
        np.mean(x, axis=0, keepdims=True, out=mean)
        np.subtract(x, mean, out=xhat)
        np.multiply(xhat, xhat, out=out)                      # out as scratch
        np.mean(out, axis=0, keepdims=True, out=row)          # biased batch variance
        self._update_running(self.running_var, row)
        self._update_running(self.running_mean, mean)
        row += self.eps
        np.sqrt(row, out=inv_std)
        np.divide(1.0, inv_std, out=inv_std)
        xhat *= inv_std
        np.multiply(xhat, self.wb.W, out=out)
        out += self.wb.B
        return out

    def _update_running(self, running, batch_value):
        np.multiply(batch_value, 1.0 - self.momentum, out=self._row2)
        running *= self.momentum
        running += self._row2

    def backward(self, delta):
        xhat, wb = self.xhat, self.wb
        rows = delta.shape[0]
        work = self._buffer("work", rows, self.size, self.dtype)
        np.multiply(delta, xhat, out=work)
        np.sum(work, axis=0, keepdims=True, out=wb.dW)        # dgamma
        np.sum(delta, axis=0, keepdims=True, out=wb.dB)       # dbeta
        if not self.need_input_grad:
            return None
        dx = self._buffer("dx", rows, self.size, self.dtype)
        np.multiply(xhat, wb.dW, out=dx)
        dx += wb.dB
        np.multiply(delta, rows, out=work)
        np.subtract(work, dx, out=dx)
        np.multiply(wb.W, self._inv_std, out=self._row)
        self._row *= 1.0 / rows
        dx *= self._row
        return dx

    def weights(self):
        return [self.wb]

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def get_config(self):
        return {"size": self.size, "momentum": self.momentum, "eps": self.eps}
