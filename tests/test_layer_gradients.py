"""Backprop vs central differences, in float64, for every layer, loss and penalty.

Each layer check uses the scalar objective L = sum(forward(x) * g) with a fixed
random g, so dL/d(output) = g is what backward receives.
"""
import numpy as np
import pytest

from framework.activators import ACTIVATORS
from framework.classifiers import CLASSIFIERS, make_classifier
from framework.enums import NetType
from framework.hyper_parameters import HyperParameters
from framework.layers import (ActivationLayer, BatchNormLayer, ClassificationLayer,
                              DropoutLayer, FcLayer)
from framework.losses import LossFunction
from framework.random_streams import RandomStreams
from framework.regularizers import make_regularizer
from gradcheck import TOLERANCE, max_relative_error, numerical_gradient

ROWS, WIDTH = 5, 4


def params(**kwargs):
    return HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=ROWS,
                           dtype=np.float64, **kwargs)


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Random values with |v| in [low, high]: no kinks of ReLU & co. nearby."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def check_input_gradient(layer, x, g):
    objective = lambda: float(np.sum(layer.forward(x, train=True) * g))
    objective()
    analytic = layer.backward(g).copy()
    numeric = numerical_gradient(objective, x)
    assert max_relative_error(analytic, numeric) < TOLERANCE
    return analytic


def test_fc_layer_gradients():
    rng = np.random.default_rng(0)
    layer = FcLayer(WIDTH, 3, params())
    layer.initialize(RandomStreams(0))
    layer.wb.B[...] = rng.normal(size=(1, 3))
    x, g = rng.normal(size=(ROWS, WIDTH)), rng.normal(size=(ROWS, 3))
    check_input_gradient(layer, x, g)
    objective = lambda: float(np.sum(layer.forward(x, train=True) * g))
    objective()
    layer.backward(g)
    for analytic, array in ((layer.wb.dW.copy(), layer.wb.W), (layer.wb.dB.copy(), layer.wb.B)):
        assert max_relative_error(analytic, numerical_gradient(objective, array)) < TOLERANCE


@pytest.mark.parametrize("name", sorted(ACTIVATORS))
def test_activation_layer_gradients(name):
    rng = np.random.default_rng(1)
    layer = ActivationLayer(name)
    x, g = away_from_zero(rng, (ROWS, WIDTH)), rng.normal(size=(ROWS, WIDTH))
    check_input_gradient(layer, x, g)


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
def test_parametrized_activator_gradients(name):
    rng = np.random.default_rng(2)
    layer = ActivationLayer({"name": name, "alpha": 0.3})
    x, g = away_from_zero(rng, (ROWS, WIDTH)), rng.normal(size=(ROWS, WIDTH))
    check_input_gradient(layer, x, g)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classification_layer_gradients(name):
    rng = np.random.default_rng(3)
    layer = ClassificationLayer(name)
    x, g = rng.normal(size=(ROWS, WIDTH)), rng.normal(size=(ROWS, WIDTH))
    check_input_gradient(layer, x, g)


def test_batch_norm_gradients_in_training():
    rng = np.random.default_rng(4)
    layer = BatchNormLayer(WIDTH, params=params())
    layer.initialize(RandomStreams(0))
    layer.gamma.value[...] = rng.uniform(0.5, 2.0, (1, WIDTH))
    layer.beta.value[...] = rng.normal(size=(1, WIDTH))
    x = rng.normal(size=(ROWS, WIDTH)) * 3 + 1
    g = rng.normal(size=(ROWS, WIDTH))
    check_input_gradient(layer, x, g)
    objective = lambda: float(np.sum(layer.forward(x, train=True) * g))
    objective()
    layer.backward(g)
    for parameter in (layer.gamma, layer.beta):
        analytic = parameter.grad.copy()
        assert max_relative_error(analytic, numerical_gradient(objective, parameter.value)) \
            < TOLERANCE


def test_dropout_gradients_with_fixed_mask():
    rng = np.random.default_rng(5)
    layer = DropoutLayer(WIDTH, ratio=0.4)
    keep = rng.random((ROWS, WIDTH)) > 0.4
    x, g = rng.normal(size=(ROWS, WIDTH)), rng.normal(size=(ROWS, WIDTH))
    objective = lambda: float(np.sum(layer.forward(x, train=True, mask=keep) * g))
    objective()
    analytic = layer.backward(g).copy()
    assert max_relative_error(analytic, numerical_gradient(objective, x)) < TOLERANCE
    assert np.all(analytic[~keep] == 0)


def _labels(net_type, rng):
    if net_type is NetType.FITTING:
        return rng.normal(size=(ROWS, 2))
    if net_type is NetType.BINARY_CLASSIFIER:
        return rng.integers(0, 2, (ROWS, 1)).astype(np.float64)
    return np.eye(3)[rng.integers(0, 3, ROWS)]


@pytest.mark.parametrize("net_type,output", [
    (NetType.FITTING, None),
    (NetType.BINARY_CLASSIFIER, "logistic"),
    (NetType.MULTIPLE_CLASSIFIER, "softmax"),
])
def test_fused_loss_delta_matches_numerical_derivative(net_type, output):
    rng = np.random.default_rng(6)
    loss = LossFunction(net_type)
    y = _labels(net_type, rng)
    z = rng.normal(size=y.shape)
    if output is None:        # identity output: d loss / d a
        a = z
        analytic = loss.delta(z, a, y)
        numeric = numerical_gradient(lambda: loss.loss(a, y), a)
    else:
        classifier = make_classifier(output)
        forward = lambda: classifier.forward(z, np.empty_like(z))
        analytic = loss.delta(z, forward(), y)
        numeric = numerical_gradient(lambda: loss.loss(forward(), y), z)
    assert max_relative_error(analytic, numeric) < TOLERANCE


def test_loss_delta_writes_into_out_buffer():
    rng = np.random.default_rng(7)
    loss = LossFunction(NetType.MULTIPLE_CLASSIFIER)
    a, y = rng.random((ROWS, 3)), np.eye(3)[rng.integers(0, 3, ROWS)]
    out = np.zeros_like(a)
    assert loss.delta(None, a, y, out=out) is out
    np.testing.assert_allclose(out, (a - y) / ROWS, rtol=1e-15)


@pytest.mark.parametrize("method", ["l1", "l2"])
def test_regularizer_gradients(method):
    rng = np.random.default_rng(8)
    regularizer = make_regularizer(method, 0.3)
    W = away_from_zero(rng, (WIDTH, 3))          # L1 is not differentiable at 0
    dW = np.zeros_like(W)
    regularizer.add_gradient(W, dW)
    numeric = numerical_gradient(lambda: regularizer.penalty(W), W)
    assert max_relative_error(dW, numeric) < TOLERANCE
