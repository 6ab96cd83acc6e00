"""Loss, fused output gradient and accuracy for each kind of net.

The net type fixes the whole output end: FITTING uses an identity output
with the textbook's MSE ``sum((a - y)^2) / (2m)``; BINARY_CLASSIFIER a
Logistic output with binary cross-entropy; MULTIPLE_CLASSIFIER a Softmax
output with cross-entropy. In all three cases the gradient of the mean loss
with respect to the last pre-activation ``z`` simplifies to ``(a - y) / m``,
which ``delta`` returns directly: it is cheaper than chaining the loss
derivative through the classifier and it cannot blow up where ``a`` is
close to 0 or 1.
"""
import numpy as np

from .enums import NetType

# Probabilities are clipped into [_CLIP, 1 - _CLIP] (in float64) before log.
_CLIP = 1e-12


class LossFunction:
    """The loss, its output gradient and the accuracy of one NetType (see above)."""

    def __init__(self, net_type):
        self.net_type = NetType.parse(net_type, "net_type")

    def loss(self, a, y):
        """Mean loss over the ``m`` rows, as a Python float."""
        a, y = _check(a, y)
        m = a.shape[0]
        if self.net_type is NetType.FITTING:
            diff = a - y
            return float(np.vdot(diff, diff)) / (2.0 * m)
        p = np.clip(a.astype(np.float64, copy=False), _CLIP, 1.0 - _CLIP)
        if self.net_type is NetType.BINARY_CLASSIFIER:
            total = np.sum(y * np.log(p) + (1.0 - y) * np.log1p(-p))
        else:
            total = np.sum(y * np.log(p))
        return -float(total) / m

    def delta(self, z, a, y, out=None):
        """d(mean loss)/dz = (a - y) / m, written into ``out`` if given.

        ``z`` is accepted for the interface (a loss whose gradient needed the
        logits could use it) but the three fused forms do not need it.
        """
        a, y = _check(a, y)
        out = np.subtract(a, y, out=out)
        out *= 1.0 / a.shape[0]
        return out

    def accuracy(self, a, y):
        """FITTING: R^2 = 1 - SS_res / SS_tot; BINARY: a > 0.5 matches y;
        MULTIPLE: argmax over axis 1 (the class axis) matches, averaged over
        samples (and positions, for (N, K, H, W) outputs). Returns a Python float.

        R^2 of a constant target (SS_tot = 0) is 1.0 for a perfect fit, else 0.0.
        """
        a, y = _check(a, y)
        if self.net_type is NetType.FITTING:
            ss_res = float(np.sum((y - a) ** 2, dtype=np.float64))
            ss_tot = float(np.sum((y - y.mean(axis=0)) ** 2, dtype=np.float64))
            if ss_tot == 0.0:
                return 1.0 if ss_res == 0.0 else 0.0
            return 1.0 - ss_res / ss_tot
        if self.net_type is NetType.BINARY_CLASSIFIER:
            return float(np.mean((a > 0.5) == (y > 0.5)))
        return float(np.mean(np.argmax(a, axis=1) == np.argmax(y, axis=1)))

    def __repr__(self):
        return f"LossFunction({self.net_type.value!r})"


def _check(a, y):
    a, y = np.asarray(a), np.asarray(y)
    if a.shape != y.shape or a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"loss: output shape {a.shape} and label shape {y.shape} "
                         f"must be equal, at least 2-D (samples first) and non-empty")
    return a, y
