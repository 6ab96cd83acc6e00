"""NeuralNet: whole-net gradient checks, add_layer/inference validation, summary."""
import numpy as np
import pytest

import framework as fw
from framework.losses import LossFunction
from framework.step import Step
from gradcheck import numerical_gradient


def _total_loss(net, x, y):
    """Data loss of a train-mode forward pass plus the weight penalty (float64)."""
    a = net.forward(x, train=True)
    penalty = sum(p.penalty() for p in net.parameters().values())
    return LossFunction(net.params.net_type).loss(a, y) + penalty


def _relative_error(a, b):
    """Max abs difference over the larger magnitude; the floor covers arrays whose
    gradient is zero by construction (an Fc bias right before batch norm)."""
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-6)


CASES = [  # net_type, activation, regularization, batch_norm
    ("multiple_classifier", "tanh", "l1", False),
    ("multiple_classifier", "sigmoid", "l2", False),
    ("fitting", "sigmoid", "l1", False),
    ("fitting", "tanh", "l2", False),
    ("binary_classifier", "tanh", "l2", False),
    ("multiple_classifier", "tanh", "l2", True),
]


@pytest.mark.parametrize("net_type,activation,regular,batch_norm", CASES)
def test_whole_net_gradient_matches_central_differences(build_net, net_type, activation,
                                                        regular, batch_norm):
    """One real training step (SGD, lr=1) moves each array by exactly its gradient,
    so (before - after) must equal d(data loss + penalty)/d(array)."""
    out = {"multiple_classifier": 3, "binary_classifier": 1, "fitting": 2}[net_type]
    params = fw.HyperParameters(1.0, 1, 10, net_type=net_type, optimizer_name="sgd",
                                regular_name=regular, regular_value=0.05, dtype=np.float64,
                                init_method="xavier", seed=3)
    net = build_net([4, 8, 8, 8, out], params, activation=activation, batch_norm=batch_norm)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 4))
    if net_type == "multiple_classifier":
        y = np.eye(3)[rng.integers(0, 3, 10)]
    elif net_type == "binary_classifier":
        y = rng.integers(0, 2, (10, 1)).astype(np.float64)
    else:
        y = rng.uniform(-1, 1, (10, 2))
    arrays = [p.value for p in net.parameters().values()]
    numerical = [numerical_gradient(lambda: _total_loss(net, x, y), a) for a in arrays]
    before = [a.copy() for a in arrays]
    loss = Step(net)(x, y, 1.0)
    assert loss == pytest.approx(_total_loss_at(net, before, arrays, x, y), rel=1e-12)
    for b, a, n in zip(before, arrays, numerical):
        assert _relative_error(b - a, n) < 1e-6


def _total_loss_at(net, values, arrays, x, y):
    after = [a.copy() for a in arrays]
    for a, v in zip(arrays, values):
        a[...] = v
    loss = _total_loss(net, x, y)
    for a, v in zip(arrays, after):
        a[...] = v
    return loss


def _params(**kw):
    base = dict(learning_rate=0.1, max_epoch=2, batch_size=8, net_type="multiple_classifier")
    base.update(kw)
    return fw.HyperParameters(**base)


def test_add_layer_rejects_width_mismatch_naming_both_layers():
    params = _params()
    net = fw.NeuralNet(params, "n")
    net.add_layer(fw.FcLayer(4, 8, params), "hidden")
    net.add_layer(fw.ActivationLayer("relu"), "relu")
    with pytest.raises(ValueError) as info:
        net.add_layer(fw.FcLayer(7, 3, params), "out")
    message = str(info.value)
    assert "'out'" in message and "'relu'" in message and "7" in message and "8" in message
    assert net.layer_names == ["hidden", "relu"]


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", "-x", "has space", 3, "x" * 65])
def test_add_layer_rejects_names_unusable_in_hdf5(name):
    params = _params()
    with pytest.raises(ValueError, match="layer name"):
        fw.NeuralNet(params).add_layer(fw.FcLayer(2, 2, params), name)


def test_add_layer_rejects_duplicates_and_reuse():
    params = _params()
    net = fw.NeuralNet(params)
    layer = fw.FcLayer(2, 2, params)
    net.add_layer(layer, "a")
    with pytest.raises(ValueError, match="already used"):
        net.add_layer(fw.FcLayer(2, 2, params), "a")
    with pytest.raises(ValueError, match="already in the net"):
        net.add_layer(layer, "b")


def test_first_layer_skips_input_gradient_and_widths_are_tracked(build_net):
    net = build_net([4, 6, 3], _params())
    assert net.layers[0].need_input_grad is False
    assert all(layer.need_input_grad for layer in net.layers[1:])
    assert (net.input_size, net.output_size) == (4, 3)


@pytest.mark.parametrize("x,expected", [
    (np.zeros((3, 5)), "expected 4 features, received 5"),
    (np.zeros(4), "expected a 2-D array"),
    (np.zeros((0, 4)), "at least one sample, received 0"),
    (np.array([[0, 0, np.nan, 0.0]]), "finite"),
    (np.array([[0, np.inf, 0, 0.0]]), "finite"),
])
def test_inference_validates_input(build_net, x, expected):
    net = build_net([4, 6, 3], _params())
    with pytest.raises(ValueError, match=expected):
        net.inference(x)


def test_inference_returns_a_fresh_copy(build_net):
    net = build_net([4, 6, 3], _params())
    x = np.random.default_rng(0).normal(size=(5, 4))
    first = net.inference(x)
    first[...] = -1.0
    second = net.inference(x)
    assert not np.shares_memory(first, second)
    assert np.allclose(second.sum(axis=1), 1.0)
    assert second.dtype == np.float32


def test_inference_in_chunks_equals_one_pass(build_net, monkeypatch):
    import framework.net as net_module
    net = build_net([4, 6, 3], _params(dtype=np.float64))
    x = np.random.default_rng(0).normal(size=(50, 4))
    whole = net.inference(x)
    monkeypatch.setattr(net_module, "PREDICT_CHUNK", 7)
    assert np.allclose(net.inference(x), whole, rtol=1e-12)


def test_summary_lists_layers_and_total(build_net):
    net = build_net([4, 6, 3], _params())
    text = net.summary()
    for word in ("fc1", "tanh1", "fc2", "softmax1", "FcLayer", "ClassificationLayer"):
        assert word in text
    assert "Total trainable parameters: 51" in text      # 4*6+6 + 6*3+3
    assert "output shape" in text and "input 4," in text


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        _params(batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        _params(batch_size=-3)
