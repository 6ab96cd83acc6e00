"""One training step: the textbook's forward, loss, backward and update, in order.

    look-ahead     NAG moves every parameter to its look-ahead point first
    forward        a = f_L(... f_2(f_1(x)))                     (training mode)
    loss           L = loss(a, y) + the L1/L2 penalties          (reported)
    output grad    dz = (a - y) / m at the classifier's logits   (the fused fast path:
                   cross-entropy after softmax, binary cross-entropy after logistic)
                   or dL/da at the output, then through every layer
    backward       dz <- layer.backward(dz), last layer first    (fills every gradient)
    clip           only with clip_norm / clip_value: every gradient (framework/clipping.py)
    update         every parameter: penalty gradient, then its optimizer's step

``make_step(net)`` returns that step as a closure over lists built once (the
layers' bound methods, the parameters' update methods, one delta array per batch
shape), so the per-batch Python overhead is a handful of calls per layer and a
steady-state step allocates nothing. ``NeuralNet.train`` and ``train_step`` run
this very closure, so the two are bit-identical on the same batches.
"""
import math
from functools import partial

import numpy as np

from .clipping import make_clipper
from .infra.buffers import BufferCache
from .layers.classification import ClassificationLayer
from .losses import check_pair, loss_for
from .metrics import metric_for


class Step:
    """``step(x, y, lr) -> loss`` (penalty included); ``step.metric`` accumulates the
    net type's metric (accuracy, R²) over every batch since its last ``reset``."""

    def __init__(self, net):
        layers, parameters = net.layers, list(net.parameters().values())
        self.loss = loss_for(net.params)
        self.metric = metric_for(net.params.net_type)
        fused = fuses(self.loss, layers[-1])
        self._forward = [layer.forward for layer in layers]
        self._backward = [layer.backward for layer in reversed(layers[:-1] if fused
                                                              else layers)]
        self._output_gradient = self.loss.fused_gradient if fused else self.loss.gradient
        self._look_ahead = [p.look_ahead for p in parameters if p.optimizer.uses_look_ahead]
        self._penalties = [p.penalty for p in parameters if p.regularizer.lam]
        self._updates = [update_of(p) for p in parameters]
        self.clipper = make_clipper(net.params, parameters)     # None: no clipping
        self._work = BufferCache()
        self._shape = None

    def __call__(self, x, y, lr):
        for look_ahead in self._look_ahead:
            look_ahead()
        a = x
        for forward in self._forward:
            a = forward(a, True)
        if a.shape != self._shape:             # once per batch shape: check, fetch its array
            check_pair(a, y)
            self._shape, self._delta = a.shape, self._work.get("delta", a.shape, a.dtype)
        loss = self.loss.loss(a, y)
        self.metric.update(a, y)
        for penalty in self._penalties:
            loss += float(penalty())
        delta = self._output_gradient(a, y, self._delta)
        for backward in self._backward:
            delta = backward(delta)
        if self.clipper is not None:
            self.clipper()
        for update in self._updates:
            update(lr)
        return loss


def update_of(parameter):
    """``update(lr)`` of one parameter: ``parameter.update``, or, with no penalty to add,
    its optimizer's step bound to its value and gradient (the same arithmetic, one
    Python call less per parameter and step)."""
    if parameter.regularizer.lam:
        return parameter.update
    return partial(parameter.optimizer.step_discarding_grad, parameter.value, parameter.grad)


def fuses(loss, last_layer):
    """True if ``loss`` fuses with the classifier of ``last_layer`` (backprop then starts
    below it, from ``loss.fused_gradient``)."""
    return (isinstance(last_layer, ClassificationLayer) and loss.fuses_with is not None
            and loss.fuses_with == last_layer.classifier.name)


def check_learning_rate(lr, where):
    """A learning rate a step can use: a finite number >= 0 (NumPy scalars welcome)."""
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.number)) \
            or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"{where}: lr: expected a finite number >= 0, got {lr!r}")
    return float(lr)


def train_step(net, x, y, lr=None):
    """One optimizer step on a checked (x, y): the very closure ``train`` runs.

    Returns (loss incl. penalty, the batch's accuracy or R²) and counts the step
    in ``net.iteration``. ``lr`` None: ``net.learning_rate`` (what ``train`` would use
    next), or before any training the schedule's rate at ``net.epoch``. The
    caller picks the BLAS threads (``framework.threads``).
    """
    x, y = net.check_batch(x, y, "train_step")
    if lr is None:
        lr = net.learning_rate if net.learning_rate is not None \
            else net.params.learning_rate_at(net.epoch)
    else:
        lr = check_learning_rate(lr, "train_step")
    step = net.training_step()
    step.metric.reset()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss = step(x, y, lr)
    net.iteration += 1
    metric = step.metric.result()
    step.metric.reset()
    return loss, metric
