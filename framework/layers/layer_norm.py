"""LayerNormLayer: normalize each sample over its own features, then scale and shift.

For one sample x with N values (its features, or all of its C x H x W values):

    mu   = mean(x)                      var = mean((x - mu)^2)     (biased)
    xhat = (x - mu) / sqrt(var + eps)
    y    = gamma * xhat + beta          gamma, beta: one per value (the sample's shape)

Backward, per sample (dxhat = delta * gamma; sums over the sample's N values):

    dx     = (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)) / (N * sqrt(var + eps))
    dgamma = sum over the batch of delta * xhat          dbeta = sum over the batch of delta

Unlike batch norm the statistics never mix samples: training and inference
compute the same thing, a batch of one is fine, and nothing is kept between
batches (no running statistics). As in Ba, Kiros & Hinton (2016) and PyTorch's
``LayerNorm(input_shape)``, gamma starts at ones, beta at zeros, and both have
the sample's shape, so on a (C, H, W) map every position has its own pair.
gamma and beta are parameters that never decay (like batch norm's).
"""
import math

import numpy as np

from ..infra.validation import check_number
from .base import Layer
from .registry import register_layer


@register_layer
class LayerNormLayer(Layer):
    """``LayerNormLayer(input_shape=None, eps=1e-5, params=None)``.

    ``input_shape``: an int (features) or a tuple such as ``(C, H, W)``; None takes
    the previous layer's shape when the layer is added to a net. Spec:
    ``{"type": "layer_norm"}`` (``"eps": 1e-5`` optional).
    """

    def __init__(self, input_shape=None, eps=1e-5, params=None):
        super().__init__(params)
        self.eps = float(check_number("LayerNormLayer eps", eps, 0, above=True))
        self.xhat = self.inv_std = None
        if input_shape is not None:
            self.build(input_shape)

    def build(self, input_shape):
        shape = super().build(input_shape)
        if not self._parameters:
            per_sample = (1,) + shape
            self.gamma = self.add_parameter("gamma", per_sample, init="ones", decay=False)
            self.beta = self.add_parameter("beta", per_sample, init="zeros", decay=False)
        return shape

    @property
    def size(self):
        """N: the values each sample is normalized over."""
        return math.prod(self.input_shape)

    def forward(self, x, train):
        self.checked(x)
        m, n = x.shape[0], self.size
        x2 = x.reshape(m, n)                                   # one row per sample
        mean, inv_std = self.work("mean", (m, 1)), self.work("inv_std", (m, 1))
        xhat = self.xhat = self.work("xhat", (m, n))
        out = self.work("out", (m, n))
        np.mean(x2, axis=1, keepdims=True, out=mean)           # mu
        np.subtract(x2, mean, out=xhat)                        # x - mu
        np.multiply(xhat, xhat, out=out)                       # (out as scratch)
        np.mean(out, axis=1, keepdims=True, out=inv_std)       # var (biased)
        inv_std += self.eps
        np.sqrt(inv_std, out=inv_std)
        np.divide(1.0, inv_std, out=inv_std)                   # 1 / sqrt(var + eps)
        self.inv_std = inv_std
        xhat *= inv_std                                        # xhat
        np.multiply(xhat, self._row(self.gamma.value), out=out)    # y = gamma * xhat
        out += self._row(self.beta.value)                      #   + beta
        return out.reshape(x.shape)

    def backward(self, delta):
        m, n = delta.shape[0], self.size
        delta2, xhat = delta.reshape(m, n), self.xhat
        work = self.work("work", (m, n))
        np.multiply(delta2, xhat, out=work)
        dgamma, dbeta = self._row(self.gamma.grad), self._row(self.beta.grad)
        np.sum(work, axis=0, keepdims=True, out=dgamma)        # dgamma = sum(delta xhat)
        np.sum(delta2, axis=0, keepdims=True, out=dbeta)       # dbeta = sum(delta)
        if not self.need_input_grad:
            return None
        dx = self.work("dx", (m, n))
        np.multiply(delta2, self._row(self.gamma.value), out=dx)   # dxhat = delta gamma
        total, projected = self.work("sum", (m, 1)), self.work("projected", (m, 1))
        np.sum(dx, axis=1, keepdims=True, out=total)           # sum(dxhat)
        np.multiply(dx, xhat, out=work)
        np.sum(work, axis=1, keepdims=True, out=projected)     # sum(dxhat xhat)
        # dx = (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)) / (N std)
        dx *= n
        dx -= total
        np.multiply(xhat, projected, out=work)
        dx -= work
        np.multiply(self.inv_std, 1.0 / n, out=total)
        dx *= total
        return dx.reshape(delta.shape)

    @staticmethod
    def _row(array):
        """A (1, ...) per-sample array seen as one row of N values (a view)."""
        return array.reshape(1, -1)

    def initialize(self, streams):
        if self.input_shape is None:
            raise RuntimeError("LayerNormLayer: no input shape yet; give input_shape or "
                               "add the layer to a net")
        super().initialize(streams)

    def name_hint(self):
        return "ln"

    def get_config(self):
        shape = None if self.input_shape is None else list(self.input_shape)
        return {"input_shape": shape, "eps": self.eps}
