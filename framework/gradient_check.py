"""A batch's loss and gradients for learners, and the central-difference check.

``net.gradients(x, y)`` is backprop exactly as a training step does it
(training-mode forward, the fused ``(a - y) / m`` output delta, backward),
plus the L1/L2 penalty's gradient that ``WeightsBias.update`` adds, returned
as copies and without the update. A training-mode forward pass changes
things besides its output -- batch norm moves its running statistics and
dropout draws from the noise stream -- so both are put back afterwards:
asking for a gradient never changes what training does next.

``check_gradients`` compares those gradients with central differences in
float64, df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), whose
truncation error is O(eps^2) and rounding error O(1e-16 / eps); eps = 1e-6
balances the two. Every evaluation sees the same dropout mask (the noise
stream is rewound each time), so a net with dropout is checked too.
"""
import contextlib

import numpy as np

from .infra.validation import check_number
from .losses import loss_for
from .metrics import metric_for
from .step import fuses

EPS = 1e-6


@contextlib.contextmanager
def unchanged(net):
    """Leave the net's buffers (batch-norm running statistics) and its noise stream
    as they were before the block."""
    saved = [(target, target.copy()) for layer in net.layers
             for target in layer.buffers().values()]
    noise = net.streams.noise.bit_generator.state
    try:
        yield
    finally:
        for target, value in saved:
            np.copyto(target, value)
        net.streams.noise.bit_generator.state = noise


def batch_loss(net, x, y, train=False):
    """(data loss, accuracy) of (x, y); ``train`` picks the training-mode forward."""
    x, y = net.check_batch(x, y, "loss")
    if not train:
        a = net._predict(x)
    else:
        with unchanged(net):
            a = net.forward(x, train=True)
    return loss_for(net.params).loss(a, y), metric_for(net.params.net_type).of(a, y)


def parameters(net):
    """``{"layer/W": live array}`` of every trainable array, in layer order."""
    return {key: parameter.value for key, parameter in net.parameters().items()}


def gradients(net, x, y):
    """``{"layer/W": copy of d(data loss + penalty)/dW}`` at the current weights."""
    x, y = net.check_batch(x, y, "gradients")
    layers, loss = net.layers, loss_for(net.params)
    fused = fuses(loss, layers[-1])             # start below the classifier
    with unchanged(net):
        a = net.forward(x, train=True)
        output_gradient = loss.fused_gradient if fused else loss.gradient
        delta = output_gradient(a, y, np.empty_like(a))
        for layer in reversed(layers[:-1] if fused else layers):
            delta = layer.backward(delta)
    grads = {}
    for key, parameter in net.parameters().items():
        grad = parameter.grad.copy()
        if parameter.regularizer.lam:
            parameter.regularizer.add_gradient(parameter.value, grad)
        grads[key] = grad
    return grads


def objective(net, x, y):
    """The training objective at the current weights: training-mode data loss plus the
    L1/L2 penalty (float), the net left unchanged."""
    with unchanged(net):
        a = net.forward(x, train=True)
        loss = loss_for(net.params).loss(a, y)
    return loss + sum(float(p.penalty()) for p in net.parameters().values())


def check_gradients(net, x, y, eps=EPS, tiny=1e-2):
    """``{"layer/W": relative error}`` of backprop against central differences.

    The relative error of one array is max|backprop - numeric| over the larger of
    the two arrays' largest magnitudes, and at least ``tiny`` times the largest
    gradient anywhere in the net: an array whose gradient is zero by construction
    (an FC bias right before batch norm) has a numeric gradient of pure rounding
    noise, ~1e-10, which must not read as a 100 % error. A float64 net is required:
    in float32 the differences are noise. ``eps`` is the central-difference step,
    a number in [1e-10, 1e-2] (1e-6 balances truncation and rounding).
    """
    if net.params.dtype != np.float64:
        raise ValueError(f"check_gradients: expected a float64 net "
                         f"(HyperParameters(dtype='float64')), got {net.params.dtype}")
    eps = check_number("check_gradients eps", eps, 1e-10, 1e-2)
    tiny = check_number("check_gradients tiny", tiny, 0, 1)
    x, y = net.check_batch(x, y, "check_gradients")
    analytic = gradients(net, x, y)
    numeric = {name: numerical_gradient(lambda: objective(net, x, y), array, eps)
               for name, array in parameters(net).items()}
    floor = tiny * max([float(np.max(np.abs(a))) for a in analytic.values() if a.size] + [0])
    errors = {}
    for name, estimate in numeric.items():
        scale = max(float(np.max(np.abs(analytic[name]))), float(np.max(np.abs(estimate))),
                    floor, 1e-300)
        errors[name] = float(np.max(np.abs(analytic[name] - estimate))) / scale
    return errors


def numerical_gradient(f, x, eps=EPS):
    """Central-difference gradient of the scalar ``f()`` w.r.t. the float64 array ``x``,
    which is perturbed in place (and restored)."""
    if x.dtype != np.float64 or not x.flags.c_contiguous:
        raise ValueError(f"numerical_gradient: expected a C-contiguous float64 array, got "
                         f"{x.dtype}{'' if x.flags.c_contiguous else ' (not contiguous)'}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def max_relative_error(a, b, tiny=1e-12):
    """max |a - b| / max(|a| + |b|, tiny), element-wise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"max_relative_error: shapes differ, {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)))
