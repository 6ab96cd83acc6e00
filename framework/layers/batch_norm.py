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

gamma and beta are parameters (trained, never decayed); the running
statistics are buffers (saved with the weights, never trained). The
textbook's running variance is the biased batch variance; so is ours.
"""
import math

import numpy as np

from ..infra.validation import check_number
from .base import Layer
from .registry import register_layer


@register_layer
class BatchNormLayer(Layer):
    """``BatchNormLayer(input_shape=None, momentum=0.9, eps=1e-5, params=None)``.

    ``input_shape``: an int (features) or a tuple; ``(C, H, W)`` is spatial.
    None takes the previous layer's shape when the layer is added to a net.
    ``params`` (a HyperParameters, optional) supplies the dtype, optimizer and
    optimizer options for gamma/beta. Without it the layer takes the net's
    when it is added to one; standing alone it uses float32 and plain SGD, as
    the textbook's batch-norm layer does.
    """

    legacy_names = {"W": "gamma", "B": "beta"}   # what files before named parameters said

    def __init__(self, input_shape=None, momentum=0.9, eps=1e-5, params=None):
        super().__init__(params)
        self.momentum = float(check_number("BatchNormLayer momentum", momentum, 0, 1))
        self.eps = float(check_number("BatchNormLayer eps", eps, 0, above=True))
        self.xhat = None
        if input_shape is not None:
            self.build(input_shape)

    def forward(self, x, train):
        self.checked(x)
        out = self.work("out", x.shape)
        gamma, beta = self.gamma.value, self.beta.value
        if not train:                               # y = gamma / std_run * (x - mu_run) + beta
            std = np.add(self.running_var, self.eps, out=self._row2)
            np.sqrt(std, out=std)
            scale = np.divide(gamma, std, out=self._row)
            np.subtract(x, self.running_mean, out=out)
            out *= scale
            out += beta
            return out
        if x.size == self.size:
            self._refuse_single_value(x)
        mean, inv_std, var = self._mean, self._inv_std, self._row
        xhat = self.xhat = self.work("xhat", x.shape)
        np.mean(x, axis=self._axes, keepdims=True, out=mean)      # mu
        np.subtract(x, mean, out=xhat)                            # x - mu
        np.multiply(xhat, xhat, out=out)                          # (out as scratch)
        np.mean(out, axis=self._axes, keepdims=True, out=var)     # var (biased)
        self._update_running(self.running_var, var)
        self._update_running(self.running_mean, mean)
        var += self.eps
        np.sqrt(var, out=inv_std)
        np.divide(1.0, inv_std, out=inv_std)                      # 1 / sqrt(var + eps)
        xhat *= inv_std                                           # xhat
        np.multiply(xhat, gamma, out=out)                         # y = gamma * xhat
        out += beta                                               #   + beta
        return out

    def backward(self, delta):
        xhat, axes = self.xhat, self._axes
        m = delta.size // self.size                               # values per statistic
        dgamma, dbeta = self.gamma.grad, self.beta.grad
        work = self.work("work", delta.shape)
        np.multiply(delta, xhat, out=work)
        np.sum(work, axis=axes, keepdims=True, out=dgamma)        # dgamma = sum(delta xhat)
        np.sum(delta, axis=axes, keepdims=True, out=dbeta)        # dbeta = sum(delta)
        if not self.need_input_grad:
            return None
        # dx = gamma / (m std) * (m delta - dbeta - xhat dgamma)
        dx = self.work("dx", delta.shape)
        np.multiply(xhat, dgamma, out=dx)
        dx += dbeta
        np.multiply(delta, m, out=work)
        np.subtract(work, dx, out=dx)
        np.multiply(self.gamma.value, self._inv_std, out=self._row)
        self._row *= 1.0 / m
        dx *= self._row
        return dx

    # ----- shapes, arrays ---------------------------------------------------------
    @property
    def size(self):
        """Features (vectors) or channels (feature maps): one statistic each."""
        return self.input_shape[0]

    @property
    def running_mean(self):
        """The running mean used at inference (a live array, a buffer of the net)."""
        return self._running_mean.value

    @property
    def running_var(self):
        """The running (biased) variance used at inference (a live array)."""
        return self._running_var.value

    @property
    def spatial(self):
        """True for (C, H, W) inputs, normalized per channel over N, H and W."""
        return self.input_shape is not None and len(self.input_shape) > 1

    def build(self, input_shape):
        shape = super().build(input_shape)
        if not self._parameters:
            stat = (1, self.size) + (1,) * (len(self.input_shape) - 1)
            # axes each statistic is taken over: the batch, and every position of a map
            self._axes = (0,) + tuple(range(2, len(self.input_shape) + 1)) \
                if self.spatial else 0
            self.gamma = self.add_parameter("gamma", stat, init="ones", decay=False)
            self.beta = self.add_parameter("beta", stat, init="zeros", decay=False)
            self._running_mean = self.add_buffer("running_mean", stat, fill=0.0)
            self._running_var = self.add_buffer("running_var", stat, fill=1.0,
                                                non_negative=True)
            self._stat = stat
            self._make_rows()
        return shape

    def attach(self, params):
        super().attach(params)
        self._make_rows()

    def _make_rows(self):
        """Per-statistic work rows: the batch mean and 1/std (kept for backward, so
        inference never touches them), and two scratch rows."""
        self._mean, self._inv_std, self._row, self._row2 = (
            np.zeros(self._stat, self.dtype) for _ in range(4))

    def initialize(self, streams):
        self._require_shape()
        super().initialize(streams)

    def _require_shape(self):
        if self.input_shape is None:
            raise RuntimeError("BatchNormLayer: no input shape yet; give input_shape or "
                               "add the layer to a net")

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

    def name_hint(self):
        return "bn"

    def get_config(self):
        shape = None if self.input_shape is None else list(self.input_shape)
        return {"input_shape": shape, "momentum": self.momentum, "eps": self.eps}
