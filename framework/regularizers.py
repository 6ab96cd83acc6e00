"""L1 / L2 weight penalties: the one place regularization enters training.

Layers never see the penalty. ``WeightsBias.update`` calls ``add_gradient``
on the weights (never the biases) just before the optimizer step, and the
training loop adds ``penalty`` to the reported loss, so the gradient and the
loss always describe the same objective.

Convention (see docs/architecture.md): L2 penalty ``lam/2 * sum(W**2)`` with
gradient ``lam * W``; L1 penalty ``lam * sum(|W|)`` with (sub)gradient
``lam * sign(W)``. Unlike the textbook, nothing is divided by the batch size,
so ``lam`` means the same at any batch size.
"""
import numpy as np

from .enums import RegularMethod


class Regularizer:
    """No penalty (also used for EARLY_STOP, which regularizes by stopping)."""

    name = RegularMethod.NOTHING

    def __init__(self, lam=0.0):
        self.lam = float(lam)
        self._scratch = None

    def penalty(self, W):
        """What this term adds to the loss for the weights ``W`` (a Python float)."""
        return 0.0

    def add_gradient(self, W, dW):
        """Add the penalty's gradient to ``dW`` in place and return ``dW``."""
        return dW

    def _work(self, W):
        """A scratch array like ``W``, allocated on first use only."""
        if self._scratch is None or self._scratch.shape != W.shape \
                or self._scratch.dtype != W.dtype:
            self._scratch = np.zeros_like(W)
        return self._scratch

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam!r})"


class L1(Regularizer):
    """penalty = lam * sum(|W|);  dW += lam * sign(W)"""

    name = RegularMethod.L1

    def penalty(self, W):
        return self.lam * float(np.abs(W).sum())

    def add_gradient(self, W, dW):
        s = self._work(W)
        np.sign(W, out=s)
        s *= self.lam
        dW += s
        return dW


class L2(Regularizer):
    """penalty = lam / 2 * sum(W**2);  dW += lam * W"""

    name = RegularMethod.L2

    def penalty(self, W):
        return 0.5 * self.lam * float(np.vdot(W, W))

    def add_gradient(self, W, dW):
        s = self._work(W)
        np.multiply(W, self.lam, out=s)
        dW += s
        return dW


def make_regularizer(regular_name=RegularMethod.NOTHING, regular_value=0.0):
    """L1/L2 with ``lam = regular_value``; anything else (or lam 0) -> no penalty."""
    method = RegularMethod.parse(regular_name, "regular_name")
    lam = float(regular_value)
    if lam < 0 or not np.isfinite(lam):
        raise ValueError(f"regular_value: expected a finite number >= 0, got {regular_value!r}")
    if method is RegularMethod.L1 and lam > 0:
        return L1(lam)
    if method is RegularMethod.L2 and lam > 0:
        return L2(lam)
    return Regularizer()
