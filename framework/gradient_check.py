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

from .enums import NetType
from .losses import LossFunction

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


def checked_batch(net, x, y, where):
    """(x, y) validated against the net: x by ``check_input``, y cast to the net's
    dtype with one row per sample of the net's output shape."""
    x = net.check_input(x, where)
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise ValueError(f"{where}: expected real labels, received dtype {y.dtype}")
    y = y.astype(net.params.dtype, copy=False)
    expected = (x.shape[0],) + net.output_shape
    if y.shape != expected:
        raise ValueError(f"{where}: expected labels of shape {expected} (one row per sample "
                         f"of x), received {y.shape}")
    return x, y


def batch_loss(net, x, y, train=False):
    """(data loss, accuracy) of (x, y); ``train`` picks the training-mode forward."""
    x, y = checked_batch(net, x, y, "loss")
    loss_fn = LossFunction(net.params.net_type)
    if not train:
        a = net._predict(x)
        return float(loss_fn.loss(a, y)), float(loss_fn.accuracy(a, y))
    with unchanged(net):
        a = net.forward(x, train=True)
        return float(loss_fn.loss(a, y)), float(loss_fn.accuracy(a, y))


def parameters(net):
    """``{"layer/W": live array}`` of every trainable array, in layer order."""
    from .net import param_name
    found = {}
    for name, layer in zip(net.layer_names, net.layers):
        for i, wb in enumerate(layer.weights()):
            found[f"{name}/{param_name(i, 'W')}"] = wb.W
            found[f"{name}/{param_name(i, 'B')}"] = wb.B
    return found


def gradients(net, x, y):
    """``{"layer/W": copy of d(data loss + penalty)/dW}`` at the current weights."""
    from .net import param_name
    x, y = checked_batch(net, x, y, "gradients")
    layers = net.layers
    fused = net.params.net_type is not NetType.FITTING    # start below the classifier
    with unchanged(net):
        a = net.forward(x, train=True)
        delta = LossFunction(net.params.net_type).delta(a, a, y)
        for layer in reversed(layers[:-1] if fused else layers):
            delta = layer.backward(delta)
    grads = {}
    for name, layer in zip(net.layer_names, layers):
        for i, wb in enumerate(layer.weights()):
            dW = wb.dW.copy()
            if wb.regularizer.lam:
                wb.regularizer.add_gradient(wb.W, dW)
            grads[f"{name}/{param_name(i, 'W')}"] = dW
            grads[f"{name}/{param_name(i, 'B')}"] = wb.dB.copy()
    return grads


def objective(net, x, y):
    """The training objective at the current weights: training-mode data loss plus the
    L1/L2 penalty (float), the net left unchanged."""
    with unchanged(net):
        a = net.forward(x, train=True)
        loss = LossFunction(net.params.net_type).loss(a, y)
    return loss + sum(float(wb.regular_loss()) for wb in net.weights())


def check_gradients(net, x, y, eps=EPS, tiny=1e-6):
    """``{"layer/W": relative error}`` of backprop against central differences.

    The relative error of one array is max|backprop - numeric| over the larger
    of the two arrays' largest magnitudes (at least ``tiny``, for arrays whose
    gradient is zero by construction, such as an FC bias right before batch
    norm). A float64 net is required: in float32 the differences are noise.
    """
    if net.params.dtype != np.float64:
        raise ValueError(f"check_gradients: expected a float64 net "
                         f"(HyperParameters(dtype='float64')), got {net.params.dtype}")
    x, y = checked_batch(net, x, y, "check_gradients")
    analytic = gradients(net, x, y)
    errors = {}
    for name, array in parameters(net).items():
        numeric = numerical_gradient(lambda: objective(net, x, y), array, eps)
        scale = max(float(np.max(np.abs(analytic[name]))), float(np.max(np.abs(numeric))), tiny)
        errors[name] = float(np.max(np.abs(analytic[name] - numeric))) / scale
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
