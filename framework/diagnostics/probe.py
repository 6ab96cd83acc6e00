"""The diagnostic pass: one training step on a sample batch, measured layer by layer.

What the notes draw after the fact -- activations that collapse or saturate,
gradients that vanish toward the input, dead ReLUs, updates too large or too
small for their weights -- is measured here on a live net, with the very
methods the training step calls:

    look-ahead     NAG's, as the step does
    forward        a_l = f_l(a_{l-1}), training mode      output mean, std, share of zeros
    output grad    dL/da at the output (or the fused (a - y) / m at the logits)
    backward       d_{l-1} = layer_l.backward(d_l)        RMS of each layer's input gradient
                   (every parameter's grad is filled)     RMS of each parameter's gradient
    clip           only with clip_norm / clip_value       (the gradients above: before it)
    update         every parameter's optimizer step       |theta' - theta| / |theta|
                                                          (RMS over RMS: the update-to-
                                                          weight ratio, ~1e-3 is healthy)

and then everything is put back: parameters, their gradients and optimizer
state, batch-norm running statistics, the noise stream. The net trains on as
if the probe had never run (``tests/test_layer_monitor.py`` checks that the
training run is bit-identical with and without it). Nothing here is called by
the training step: the probe costs a run exactly what its callers spend, at
the checkpoints they choose.

The first layer computes no input gradient (the net skips it: the data needs
none), so its ``input_grad_rms`` is NaN. With the fused softmax/logistic
output the classifier's backward is skipped too; its input gradient is the
fused one, dL/dz at the logits.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from ..clipping import make_clipper
from ..losses import loss_for
from ..step import fuses


@dataclass
class LayerReading:
    """One layer's numbers in one probe (``output``/``input_grad``: copies, if kept)."""

    name: str
    output_mean: float
    output_std: float
    zero_fraction: float        # share of outputs that are exactly 0 (dead ReLUs)
    input_grad_rms: float       # RMS of dL/d(input); NaN for the first layer
    output: np.ndarray = None
    input_grad: np.ndarray = None


@dataclass
class ParameterReading:
    """One parameter's numbers in one probe (``grad``: a copy, if kept)."""

    name: str                   # "fc1/W"
    value_rms: float
    grad_rms: float             # RMS of the data-loss gradient (before any penalty)
    update_ratio: float         # RMS(update) / RMS(value) of one optimizer step
    grad: np.ndarray = None


@dataclass
class Reading:
    """What one probe measured: the loss, then per layer and per parameter."""

    loss: float
    learning_rate: float
    layers: list = field(default_factory=list)          # LayerReading, in layer order
    parameters: dict = field(default_factory=dict)      # "fc1/W" -> ParameterReading


def rms(array):
    """Root mean square, accumulated in float64 (NaN for None or an empty array)."""
    if array is None or array.size == 0:
        return math.nan
    flat = np.asarray(array, dtype=np.float64).reshape(-1)
    return math.sqrt(float(np.dot(flat, flat)) / flat.size)


def output_statistics(a):
    """(mean, std, share of exact zeros) of a layer's output, in float64."""
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    return float(flat.mean()), float(flat.std()), float(np.count_nonzero(flat == 0)) / flat.size


def probe(net, x, y, lr=None, keep=False):
    """Measure one training step of ``net`` on (x, y); return a ``Reading``.

    ``lr``: the rate of the measured update (None: ``net.learning_rate``, else the
    schedule's rate at ``net.epoch``). ``keep``: also return copies of every
    output, input gradient and parameter gradient (for histograms). The net is
    left exactly as it was (see the module docstring).
    """
    x, y = net.check_batch(x, y, "probe")
    if lr is None:
        lr = net.learning_rate if net.learning_rate is not None \
            else net.params.learning_rate_at(net.epoch)
    parameters = net.parameters()
    saved = _Saved(net, parameters)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            reading = _measure(net, parameters, x, y, float(lr), saved.values, keep)
    finally:
        saved.restore()
    return reading


def _measure(net, parameters, x, y, lr, before, keep):
    """The step itself, measured (the caller puts the net back)."""
    layers, loss = net.layers, loss_for(net.params)
    fused = fuses(loss, layers[-1])
    for parameter in parameters.values():
        if parameter.optimizer.uses_look_ahead:
            parameter.look_ahead()
    outputs, a = [], x
    for layer in layers:
        a = layer.forward(a, True)
        outputs.append((output_statistics(a), a.copy() if keep else None))
    reading = Reading(loss=float(loss.loss(a, y)), learning_rate=lr)
    gradient = loss.fused_gradient if fused else loss.gradient
    delta = gradient(a, y, np.empty_like(a))
    input_grads = [None] * len(layers)
    if fused:
        input_grads[-1] = delta
    for index in reversed(range(len(layers) - int(fused))):
        delta = layers[index].backward(delta)
        input_grads[index] = delta
        if delta is None:
            break
    for name, ((mean, std, zeros), output), grad in zip(net.layer_names, outputs,
                                                         input_grads):
        reading.layers.append(LayerReading(
            name, mean, std, zeros, rms(grad), output,
            grad.copy() if keep and grad is not None else None))
    for key, parameter in parameters.items():
        reading.parameters[key] = ParameterReading(
            key, rms(before[key]), rms(parameter.grad), math.nan,
            parameter.grad.copy() if keep else None)
    clipper = make_clipper(net.params, parameters.values())   # the update training makes
    if clipper is not None:
        clipper()
    for key, parameter in parameters.items():
        parameter.update(lr)
        step = rms(parameter.value - before[key])
        scale = reading.parameters[key].value_rms
        reading.parameters[key].update_ratio = step / scale if scale > 0 else math.inf
    return reading


class _Saved:
    """Everything a probe changes, copied before it: the snapshot (parameters,
    buffers, optimizer state), every gradient and the noise stream."""

    def __init__(self, net, parameters):
        self.net = net
        self.snapshot = net.snapshot()
        self.values = {key: self.snapshot[key] for key in parameters}
        self.grads = [(p.grad, p.grad.copy()) for p in parameters.values()]
        self.noise = net.streams.noise.bit_generator.state

    def restore(self):
        """Put it all back."""
        self.net.restore(self.snapshot)
        for grad, copy in self.grads:
            np.copyto(grad, copy)
        self.net.streams.noise.bit_generator.state = self.noise
