"""FlattenLayer: a view in C order forward, a reshape back, the contract."""
import json

import numpy as np
import pytest

from framework.layers.flatten import FlattenLayer
from framework.layers.registry import LAYERS, layer_from_config
from gradcheck import TOLERANCE, max_relative_error, numerical_gradient


def test_forward_is_a_c_order_view_and_backward_reshapes_back():
    layer = FlattenLayer((3, 4, 5))
    assert layer.output_shape == (60,)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    y = layer.forward(x, True)
    assert y.shape == (2, 60) and np.shares_memory(y, x)
    np.testing.assert_array_equal(y[1], x[1].ravel())       # channel, row, column
    delta = np.random.default_rng(1).normal(size=(2, 60))
    dx = layer.backward(delta)
    assert dx.shape == (2, 3, 4, 5) and np.shares_memory(dx, delta)
    np.testing.assert_array_equal(dx.reshape(2, 60), delta)


def test_non_contiguous_input_is_copied_correctly():
    layer = FlattenLayer((3, 4, 5))
    base = np.random.default_rng(2).normal(size=(3, 2, 4, 5))
    x = base.transpose(1, 0, 2, 3)              # a transposed view, as a conv may give
    y = layer.forward(x, True)
    assert not np.shares_memory(y, base)
    np.testing.assert_array_equal(y, np.ascontiguousarray(x).reshape(2, 60))
    assert layer.forward(x, True) is y          # the copy's buffer is reused


def test_gradient_matches_central_differences():
    layer = FlattenLayer((2, 3, 2))
    x = np.random.default_rng(3).normal(size=(3, 2, 3, 2))
    G = np.random.default_rng(4).normal(size=(3, 12))

    def loss():
        return float(np.sum(layer.forward(x, True) * G))

    loss()
    dx = layer.backward(G).copy()
    assert max_relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE


def test_shapes_and_validation():
    layer = FlattenLayer()
    assert layer.build((32, 7, 7)) == (1568,)
    with pytest.raises(ValueError, match=r"\(32, 7, 7\).*\(32, 7, 8\)"):
        layer.build((32, 7, 8))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 32, 7, 7\)"):
        layer.forward(np.zeros((2, 32, 7, 8)), True)
    with pytest.raises(ValueError, match=r"delta of shape \(batch, 1568\)"):
        layer.backward(np.zeros((2, 1567)))
    with pytest.raises(ValueError, match="0"):
        FlattenLayer((3, 0, 2))


def test_need_input_grad_false_returns_none():
    layer = FlattenLayer((2, 2))
    layer.need_input_grad = False
    layer.forward(np.zeros((1, 2, 2)), True)
    assert layer.backward(np.zeros((1, 4))) is None


def test_config_round_trip_and_registry():
    layer = FlattenLayer((32, 7, 7))
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"input_shape": [32, 7, 7]}
    assert layer_from_config("FlattenLayer", config, None).output_shape == (1568,)
    assert FlattenLayer.from_config({}, (32, 7, 7), None).output_shape == (1568,)
    assert LAYERS.get("flatten") is FlattenLayer
    assert LAYERS.name_of(FlattenLayer) == "flatten"
