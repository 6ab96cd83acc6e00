"""BatchNormLayer: normalize each feature over the batch, then scale and shift.

Training:  mu, var = mean and (biased) variance of x over the batch
           xhat = (x - mu) / sqrt(var + eps);  y = gamma * xhat + beta
           running = momentum * running + (1 - momentum) * batch statistic
Inference: the same with the running mean and variance, so a prediction
           never depends on what else is in the batch.

Backward (exact, with m values per statistic, dgamma = sum(delta * xhat),
dbeta = sum(delta)):
           dx = gamma / (m * sqrt(var + eps)) * (m * delta - dbeta - xhat * dgamma)

On vectors ``(N, F)`` every feature has its own statistics (m = N). On
feature maps ``(N, C, H, W)`` every channel has one, taken over the batch and
all positions (m = N*H*W): spatial batch norm, as in Ioffe & Szegedy's
convolutional form and PyTorch's BatchNorm2d, so a filter's response is
scaled alike wherever it fires. Statistics, gamma and beta are then shaped
``(1, C, 1, 1)`` to broadcast over the map.

Training on a single value per statistic (a batch of one vector, or one
1x1 map) is refused: its variance is 0, so xhat is 0 and nothing is learnt.

gamma and beta are a WeightsBias (W = gamma, B = beta, never regularized) so
the net updates them like any weights; the running statistics are buffers,
saved with the weights but never optimized. The textbook's running variance
is the biased batch variance; so is ours.
"""
import math

import numpy as np

from ..enums import OptimizerName
from ..hyper_parameters import HyperParameters
from ..infra.validation import check_number
from ..weights_bias import WeightsBias
from .base import Layer, check_input
from .registry import register_layer


@register_layer
class BatchNormLayer(Layer):
    """``BatchNormLayer(input_shape=None, momentum=0.9, eps=1e-5, params=None)``.

    ``input_shape``: an int (features) or a tuple; ``(C, H, W)`` is spatial.
    None takes the previous layer's shape when the layer is added to a net.
    ``params`` (a HyperParameters, optional) supplies the dtype, optimizer and
    optimizer options for gamma/beta. Without it the layer takes the net's
    when it is added to one (``attach``); standing alone it uses float32 and
    plain SGD, as the textbook's batch-norm layer does.
    """

    def __init__(self, input_shape=None, momentum=0.9, eps=1e-5, params=None):
        super().__init__()
        momentum = check_number("BatchNormLayer momentum", momentum, 0, 1)
        eps = check_number("BatchNormLayer eps", eps, 0, above=True)
        if params is not None and not isinstance(params, HyperParameters):
            raise ValueError(f"BatchNormLayer params: expected HyperParameters or None, "
                             f"got {params!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self._own_params = params is not None
        self._params = params
        self.wb = None
        if input_shape is not None:
            self.build(input_shape)

    @property
    def size(self):
        """Features (vectors) or channels (feature maps): one statistic each."""
        return self.input_shape[0]

    @property
    def spatial(self):
        """True for (C, H, W) inputs, normalized per channel over N, H and W."""
        return self.input_shape is not None and len(self.input_shape) > 1

    def build(self, input_shape):
        shape = super().build(input_shape)
        self._configure()
        return shape

    def attach(self, params):
        """Adopt the net's dtype and optimizer unless given params of its own."""
        if not self._own_params:
            self._params = params
            self._configure()

    def _configure(self):
        params = self._params
        if params is None:
            self.dtype, optimizer, options = np.dtype(np.float32), OptimizerName.SGD, {}
        else:
            self.dtype = params.dtype
            optimizer, options = params.optimizer_name, params.optimizer_options
        stat = (1, self.size) + (1,) * (len(self.input_shape) - 1)
        # axes each statistic is taken over: the batch, and every position of a map
        self._axes = (0,) + tuple(range(2, len(self.input_shape) + 1)) if self.spatial else 0
        self.wb = WeightsBias.for_batch_norm(self.size, optimizer, self.dtype, options,
                                             shape=stat)
        self.running_mean = np.zeros(stat, self.dtype)
        self.running_var = np.ones(stat, self.dtype)
        # per-statistic work arrays: batch mean and 1/std (kept for backward, so
        # inference never touches them), and two scratch rows
        self._mean, self._inv_std, self._row, self._row2 = (
            np.zeros(stat, self.dtype) for _ in range(4))
        self.xhat = None

    def initialize(self, streams):
        self._require_shape()
        self.wb.initialize(streams.init)   # gamma ones, beta zeros: draws nothing
        self.running_mean.fill(0)
        self.running_var.fill(1)

    def _require_shape(self):
        if self.wb is None:
            raise RuntimeError("BatchNormLayer: no input shape yet; give input_shape or "
                               "add the layer to a net")

    def forward(self, x, train):
        self._require_shape()
        check_input("BatchNormLayer", x, self.input_shape)
        out = self.buffer("out", x.shape, self.dtype)
        mean, inv_std, row = self._mean, self._inv_std, self._row
        if not train:
            np.add(self.running_var, self.eps, out=self._row2)
            np.sqrt(self._row2, out=self._row2)
            np.divide(self.wb.W, self._row2, out=row)         # gamma / std
            np.subtract(x, self.running_mean, out=out)
            out *= row
            out += self.wb.B
            return out
        if x.size == self.size:
            self._refuse_single_value(x)
        axes = self._axes
        xhat = self.xhat = self.buffer("xhat", x.shape, self.dtype)
        np.mean(x, axis=axes, keepdims=True, out=mean)
        np.subtract(x, mean, out=xhat)
        np.multiply(xhat, xhat, out=out)                      # out as scratch
        np.mean(out, axis=axes, keepdims=True, out=row)       # biased batch variance
        self._update_running(self.running_var, row)
        self._update_running(self.running_mean, mean)
        row += self.eps
        np.sqrt(row, out=inv_std)
        np.divide(1.0, inv_std, out=inv_std)
        xhat *= inv_std
        np.multiply(xhat, self.wb.W, out=out)
        out += self.wb.B
        return out

    def min_training_batch(self):
        """2 samples when each sample gives one value per statistic, else 1."""
        self._require_shape()
        return 2 if math.prod(self.input_shape[1:]) == 1 else 1

    def _refuse_single_value(self, x):
        """Training on one value per statistic: its variance is 0, every xhat is 0,
        the output is beta whatever the input, and gamma and the layers below
        get no gradient: the layer would train silently on nothing."""
        per = "channel (batch x height x width)" if self.spatial else "feature (batch rows)"
        raise ValueError(f"BatchNormLayer: training needs at least 2 values per {per} to "
                         f"normalize over, received input of shape {x.shape}, 1 value each; "
                         f"use a batch size of at least 2 (inference on one sample is fine)")

    def _update_running(self, running, batch_value):
        np.multiply(batch_value, 1.0 - self.momentum, out=self._row2)
        running *= self.momentum
        running += self._row2

    def backward(self, delta):
        xhat, wb, axes = self.xhat, self.wb, self._axes
        m = delta.size // self.size                           # values per statistic
        work = self.buffer("work", delta.shape, self.dtype)
        np.multiply(delta, xhat, out=work)
        np.sum(work, axis=axes, keepdims=True, out=wb.dW)     # dgamma
        np.sum(delta, axis=axes, keepdims=True, out=wb.dB)    # dbeta
        if not self.need_input_grad:
            return None
        dx = self.buffer("dx", delta.shape, self.dtype)
        np.multiply(xhat, wb.dW, out=dx)
        dx += wb.dB
        np.multiply(delta, m, out=work)
        np.subtract(work, dx, out=dx)
        np.multiply(wb.W, self._inv_std, out=self._row)
        self._row *= 1.0 / m
        dx *= self._row
        return dx

    def weights(self):
        self._require_shape()
        return [self.wb]

    def buffers(self):
        self._require_shape()
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def name_hint(self):
        return "bn"

    def get_config(self):
        shape = None if self.input_shape is None else list(self.input_shape)
        return {"input_shape": shape, "momentum": self.momentum, "eps": self.eps}
