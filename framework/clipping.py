"""Gradient clipping: bound a step's gradients before any optimizer uses them.

By global norm, ``clip_norm = c`` (PyTorch's ``clip_grad_norm_``, Keras's
``global_clipnorm``): with the norm of every gradient of the net taken together,

    ||g|| = sqrt(sum over every parameter of sum(g^2))
    g    <- g * c / (||g|| + 1e-6)        when that factor is below 1

so the step keeps its direction and only its length is capped (the 1e-6 is
PyTorch's, so the two agree to the last bits in float64).

By value, ``clip_value = v`` (``clip_grad_value_``, Keras's ``clipvalue``):

    g    <- min(max(g, -v), v)            every value on its own

which bounds each value but can turn the step's direction.

An exploding gradient -- a deep net, a rate too high for the start of
training -- makes one update so large that the weights leave the region where
the loss made sense, and the run diverges. Clipping caps that one step; a
rate warm-up (``framework.schedules.WarmupLR``) avoids it instead.

``HyperParameters(clip_norm=1.0)`` or ``(clip_value=0.5)`` (one of them; Keras
refuses both too) makes the training step (``framework.step``) clip between
backward and update, so NAG's look-ahead, momentum and Adam's moments all see
the clipped gradient. The L1/L2 penalty's gradient is added afterwards by each
parameter's update, as PyTorch's optimizers add ``weight_decay`` after
``clip_grad_norm_``: clipping bounds the data loss's gradient. Without either
setting the step has no clipper and does no extra work.

The clipper also counts: each step's global norm before clipping and whether
it clipped, until the training loop reads them at a checkpoint (``pop``),
which puts them in the record: ``clipped`` (the fraction of steps clipped) and
``grad_norm`` (their mean norm before clipping).
"""
import math

import numpy as np

EPS = 1e-6      # PyTorch's: c / (||g|| + EPS)


def global_norm(grads):
    """sqrt(sum of every g^2) over the arrays ``grads`` (a Python float)."""
    total = sum(float(np.vdot(g, g)) for g in grads)
    if not math.isfinite(total):        # float32 squares overflow long before the norm does
        total = sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)
    return math.sqrt(total)


def clip_by_global_norm(grads, max_norm, norm=None):
    """Scale every array of ``grads`` in place by ``max_norm / (norm + 1e-6)`` if that is
    below 1; ``norm`` (default: ``global_norm(grads)``) is the norm before clipping.
    Returns True if it scaled. A non-finite norm is left alone (nothing can scale an
    inf or NaN gradient back; the training loop's NaN guard stops that run)."""
    norm = global_norm(grads) if norm is None else norm
    factor = max_norm / (norm + EPS)
    if not factor < 1.0 or not math.isfinite(norm):
        return False
    for g in grads:
        g *= factor
    return True


def clip_by_value(grads, value):
    """Clip every array of ``grads`` in place to [-value, value]; True if any value was
    outside."""
    outside = False
    for g in grads:
        if g.max() > value or g.min() < -value:
            outside = True
            np.clip(g, -value, value, out=g)
    return outside


class GradientClipper:
    """``GradientClipper(grads, clip_norm=None, clip_value=None)``: ``clipper()`` clips the
    live gradient arrays ``grads`` (one way or the other) and counts; ``pop()`` gives
    (fraction of steps clipped, mean norm before clipping) since the last ``pop``."""

    def __init__(self, grads, clip_norm=None, clip_value=None):
        if (clip_norm is None) == (clip_value is None):
            raise ValueError(f"GradientClipper: expected clip_norm or clip_value, got "
                             f"clip_norm={clip_norm!r}, clip_value={clip_value!r}")
        self.grads = list(grads)
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.steps = self.clipped = 0
        self.norm_sum = 0.0

    def __call__(self):
        norm = global_norm(self.grads)
        if self.clip_norm is not None:
            clipped = clip_by_global_norm(self.grads, self.clip_norm, norm)
        else:
            clipped = clip_by_value(self.grads, self.clip_value)
        self.steps += 1
        self.clipped += clipped
        self.norm_sum += norm

    def pop(self):
        """(fraction of the steps since the last pop that clipped, their mean gradient
        norm before clipping); (None, None) if there were none. Starts counting anew."""
        if not self.steps:
            return None, None
        result = self.clipped / self.steps, self.norm_sum / self.steps
        self.steps = self.clipped = 0
        self.norm_sum = 0.0
        return result

    def __repr__(self):
        how = f"clip_norm={self.clip_norm}" if self.clip_norm is not None \
            else f"clip_value={self.clip_value}"
        return f"GradientClipper({how}, {len(self.grads)} arrays)"


def make_clipper(params, parameters):
    """The clipper ``params`` (a HyperParameters) asks for over ``parameters``' gradients,
    or None when it asks for none (the step then does no clipping work at all)."""
    if params.clip_norm is None and params.clip_value is None:
        return None
    return GradientClipper([p.grad for p in parameters], params.clip_norm, params.clip_value)
