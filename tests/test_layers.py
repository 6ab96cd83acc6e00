"""Layer behaviour beyond gradients: statistics, masks, validation, buffer reuse,
configs, and the WeightsBias update path."""
import json
import warnings

import numpy as np
import pytest

from framework.activators import ACTIVATORS, make_activator
from framework.classifiers import make_classifier
from framework.enums import NetType
from framework.hyper_parameters import HyperParameters
from framework.layers import (LAYER_CLASSES, ActivationLayer, BatchNormLayer,
                              ClassificationLayer, DropoutLayer, FcLayer, layer_from_config)
from framework.losses import LossFunction
from framework.random_streams import RandomStreams
from framework.weights_bias import WeightsBias


def params(**kwargs):
    kwargs.setdefault("dtype", np.float64)
    return HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=4, **kwargs)


# --- FcLayer ---

def test_fc_forward_is_x_at_w_plus_b_in_the_params_dtype():
    layer = FcLayer(3, 2, params(dtype=np.float32))
    layer.initialize(RandomStreams(0))
    layer.wb.B[...] = [[0.5, -1.0]]
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    out = layer.forward(x, train=True)
    assert out.dtype == np.float32 and layer.x is x
    np.testing.assert_allclose(out, x @ layer.wb.W + layer.wb.B, rtol=1e-6)


@pytest.mark.parametrize("args,quoted", [((0, 2), "0"), ((3, -1), "-1"), ((2.5, 2), "2.5"),
                                         (("3", 2), "'3'")])
def test_fc_constructor_validation_quotes_the_value(args, quoted):
    with pytest.raises(ValueError, match=quoted):
        FcLayer(*args, params())
    with pytest.raises(ValueError, match="HyperParameters"):
        FcLayer(3, 2, {"dtype": "float64"})


def test_fc_without_input_grad_still_fills_weight_gradients():
    layer = FcLayer(3, 2, params())
    layer.initialize(RandomStreams(0))
    layer.need_input_grad = False
    rng = np.random.default_rng(1)
    x, delta = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer.forward(x, True)
    assert layer.backward(delta) is None
    np.testing.assert_allclose(layer.wb.dW, x.T @ delta)
    np.testing.assert_allclose(layer.wb.dB, delta.sum(0, keepdims=True))


def test_fc_rejects_wrong_width():
    layer = FcLayer(3, 2, params())
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        layer.forward(np.zeros((4, 5)), True)


@pytest.mark.parametrize("make", [
    lambda: FcLayer(3, 3, params()), lambda: ActivationLayer("relu"),
    lambda: ActivationLayer("elu"), lambda: ClassificationLayer("softmax"),
    lambda: BatchNormLayer(3, params=params()), lambda: DropoutLayer(3, 0.5)])
def test_no_new_buffers_after_first_call_per_batch_size(make):
    layer = make()
    layer.initialize(RandomStreams(0))
    rng = np.random.default_rng(2)
    x4, x7, d4 = rng.normal(size=(4, 3)), rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    out, dx = layer.forward(x4, True), layer.backward(d4)
    out7 = layer.forward(x7, True)
    assert out7 is not out and out7.shape == (7, 3)
    layer.backward(rng.normal(size=(7, 3)))
    assert layer.forward(x4 + 1, True) is out      # same object, new values
    assert layer.backward(d4) is dx


def test_buffer_cache_keeps_few_batch_sizes():
    layer = ActivationLayer("tanh")
    outs = {rows: layer.forward(np.ones((rows, 2)), True) for rows in (1, 2, 3, 4)}
    assert layer.forward(np.ones((4, 2)), True) is outs[4]
    assert layer.forward(np.ones((1, 2)), True) is not outs[1]    # evicted: oldest


# --- activators and classifiers ---

@pytest.mark.parametrize("name", sorted(ACTIVATORS) + ["logistic", "softmax"])
def test_functions_are_stable_and_backward_may_overwrite_delta(name):
    function = make_classifier(name) if name in ("logistic", "softmax") else make_activator(name)
    z = np.array([[-1000.0, -3.0, 0.5, 1000.0], [-0.5, 2.0, -700.0, 30.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = function.forward(z, np.empty_like(z))
        delta = np.random.default_rng(3).normal(size=z.shape)
        expected = function.backward(z, a, delta, np.empty_like(z))
        shared = delta.copy()
        assert function.backward(z, a, shared, shared) is shared
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(expected))
    np.testing.assert_array_equal(shared, expected)
    make = make_classifier if name in ("logistic", "softmax") else make_activator
    assert make(function.get_config()) == function


def test_activator_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    out = np.empty_like(z)
    np.testing.assert_allclose(make_activator("relu").forward(z, out), [[0, 0, 3]])
    np.testing.assert_allclose(make_activator({"name": "leaky_relu", "alpha": 0.1})
                               .forward(z, out), [[-0.2, 0, 3]])
    np.testing.assert_allclose(make_activator("elu").forward(z, out), [[np.expm1(-2), 0, 3]])
    np.testing.assert_allclose(make_activator("softplus").forward(z, out), np.log1p(np.exp(z)))
    np.testing.assert_allclose(make_activator("sigmoid").forward(z, out), 1 / (1 + np.exp(-z)))
    p = make_classifier("softmax").forward(z, out)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="'swish'"):
        make_activator("swish")
    with pytest.raises(ValueError, match="-1"):
        make_activator({"name": "elu", "alpha": -1})


# --- batch norm ---

def test_batch_norm_uses_batch_statistics_then_running_statistics():
    layer = BatchNormLayer(2, momentum=0.8, params=params())
    layer.initialize(RandomStreams(0))
    layer.gamma.value[...] = [[2.0, 0.5]]
    layer.beta.value[...] = [[1.0, -1.0]]
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 40.0]])
    mean, var = x.mean(0), x.var(0)
    out = layer.forward(x, train=True)
    np.testing.assert_allclose(out, [2.0, 0.5] * (x - mean) / np.sqrt(var + 1e-5) + [1.0, -1.0])
    np.testing.assert_allclose(out.mean(0), [1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(layer.running_mean, [0.2 * mean])
    np.testing.assert_allclose(layer.running_var, [0.8 * 1 + 0.2 * var])
    layer.forward(x, train=True)
    np.testing.assert_allclose(layer.running_mean, [0.2 * mean + 0.8 * 0.2 * mean])
    rm, rv = layer.running_mean.copy(), layer.running_var.copy()
    inference = layer.forward(x, train=False)
    np.testing.assert_allclose(inference, [2.0, 0.5] * (x - rm) / np.sqrt(rv + 1e-5) + [1, -1])
    np.testing.assert_array_equal(layer.running_mean, rm)          # inference changes nothing
    assert set(layer.buffers()) == {"running_mean", "running_var"}


def test_batch_norm_validation_and_defaults():
    for bad in ({"input_shape": 0}, {"input_shape": 3, "momentum": 1.5},
                {"input_shape": 3, "eps": 0}):
        with pytest.raises(ValueError):
            BatchNormLayer(**bad)
    layer = BatchNormLayer(3)
    layer.require_arrays()                       # standing alone: float32, plain SGD
    gamma, beta = layer.gamma.value, layer.beta.value
    assert gamma.dtype == np.float32 and np.all(gamma == 1) and not np.any(beta)
    assert layer.gamma.penalty() == 0.0 and not layer.gamma.decay


def test_batch_norm_without_params_adopts_the_nets_dtype_and_optimizer():
    from framework import HyperParameters, NeuralNet
    from framework.optimizers import Adam
    net_params = HyperParameters(0.01, 1, 8, optimizer_name="adam", dtype=np.float64)
    net = NeuralNet(net_params, "bn")
    layer = BatchNormLayer(3)
    net.add_layer(layer, "bn1")
    assert layer.gamma.value.dtype == np.float64 and layer.running_mean.dtype == np.float64
    assert isinstance(layer.gamma.optimizer, Adam)


# --- dropout ---

def test_dropout_keeps_the_mean_and_scales_by_inverse_keep_ratio():
    layer = DropoutLayer(1000, ratio=0.2)
    layer.initialize(RandomStreams(3))
    x = np.ones((200, 1000), np.float32)
    out = layer.forward(x, train=True)
    assert abs(out.mean() - 1.0) < 0.01
    assert out.max() == np.float32(1 / 0.8) and out.min() == 0.0
    assert abs((out == 0).mean() - 0.2) < 0.01
    assert layer.forward(x, train=False) is x


def test_dropout_masks_differ_between_calls_and_validation():
    layer = DropoutLayer(50, ratio=0.5)
    layer.initialize(RandomStreams(0))
    first = layer.forward(np.ones((4, 50)), True).copy()
    assert not np.array_equal(first, layer.forward(np.ones((4, 50)), True))
    for ratio in (1.0, -0.1, "0.5"):
        with pytest.raises(ValueError, match=repr(ratio)):
            DropoutLayer(5, ratio)


# --- registry ---

def test_every_layer_rebuilds_from_its_json_config():
    p = params(optimizer_name="adam")
    from framework import ConvLayer, FlattenLayer, LayerNormLayer, PoolingLayer, ResidualLayer
    layers = [FcLayer(4, 3, p), ActivationLayer({"name": "leaky_relu", "alpha": 0.2}),
              ClassificationLayer("softmax"), BatchNormLayer(3, momentum=0.7, params=p),
              DropoutLayer(3, 0.3), BatchNormLayer((2, 4, 4), params=p),
              ConvLayer((2, 6, 5), (3, 3, 2), stride=2, padding=1, params=p),
              PoolingLayer((2, 6, 6), (3, 3), stride=1, pool_type="mean"),
              FlattenLayer((2, 3, 3)), LayerNormLayer((2, 3, 3), eps=1e-3, params=p),
              ResidualLayer([{"type": "fc", "size": 5}, {"type": "relu"}], 4,
                            projection="linear", params=p)]
    built_in = {name for name in LAYER_CLASSES
                if LAYER_CLASSES[name].__module__.startswith("framework.")}
    assert {type(layer).__name__ for layer in layers} == built_in
    for layer in layers:
        config = json.loads(json.dumps(layer.get_config()))
        clone = layer_from_config(type(layer).__name__, config, p)
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    assert layer_from_config("BatchNormLayer", {"size": 3}, p).gamma.optimizer.name == "adam"
    with pytest.raises(ValueError, match="'Conv2d'"):
        layer_from_config("Conv2d", {}, p)


# --- WeightsBias ---

def _wb(input_size, output_size, **kwargs):
    return WeightsBias.from_params(params(**kwargs), input_size, output_size)


def test_weights_bias_update_adds_regularization_to_w_only():
    wb = _wb(2, 2, init_method="xavier", optimizer_name="sgd", regular_name="l2",
             regular_value=0.5)
    wb.initialize(np.random.default_rng(0))
    wb.B[...] = 1.0
    W0, B0 = wb.W.copy(), wb.B.copy()
    wb.dW[...] = 0.0
    wb.dB[...] = 0.0
    wb.update(0.1)
    np.testing.assert_allclose(wb.W, W0 - 0.1 * 0.5 * W0)
    np.testing.assert_array_equal(wb.B, B0)
    assert wb.regular_loss() == pytest.approx(0.25 * np.sum(wb.W ** 2))


def test_weights_bias_is_two_named_parameters_with_their_own_state():
    wb = _wb(3, 2, init_method="msra", optimizer_name="adam", dtype=np.float32)
    wb.initialize(np.random.default_rng(0))
    assert wb.W is wb.weight.value and wb.dB is wb.bias.grad
    assert wb.weight.decay and not wb.bias.decay
    wb.dW[...] = 1.0
    wb.dB[...] = -1.0
    wb.update(0.01)
    assert set(wb.weight.optimizer.state()) == {"m", "v", "t"} and wb.weight.optimizer.t == 1
    assert not np.array_equal(wb.weight.optimizer.state()["m"], wb.bias.optimizer.state()["m"])


def test_weights_bias_nag_pre_update_moves_to_look_ahead():
    wb = _wb(1, 1, init_method="zero", optimizer_name="nag")
    wb.dW[...] = 1.0
    wb.update(0.1)                              # v = -0.1, W = -0.1
    wb.pre_update()
    assert wb.W[0, 0] == pytest.approx(-0.1 + 0.9 * -0.1)
    wb.dW[...] = 0.0
    wb.update(0.1)                              # v = -0.09, W = -0.1 - 0.09
    assert wb.W[0, 0] == pytest.approx(-0.19)


# --- losses ---

def test_losses_and_accuracy_values():
    fit = LossFunction(NetType.FITTING)
    a, y = np.array([[1.0], [2.0], [4.0]]), np.array([[1.0], [3.0], [5.0]])
    assert fit.loss(a, y) == pytest.approx(2 / 6)
    assert fit.accuracy(a, y) == pytest.approx(1 - 2 / np.sum((y - 3) ** 2))
    binary = LossFunction("binary")
    p, t = np.array([[0.9], [0.2], [0.6]]), np.array([[1.0], [0.0], [0.0]])
    assert binary.loss(p, t) == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4])))
    assert binary.accuracy(p, t) == pytest.approx(2 / 3)
    assert np.isfinite(binary.loss(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]])))
    multi = LossFunction("multiple_classifier")
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    t = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert multi.loss(p, t) == pytest.approx(-(np.log(0.7) + np.log(0.3)) / 2)
    assert multi.accuracy(p, t) == 0.5
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 2\)"):
        multi.loss(p, t[:, :2])
