"""The one state layout: ``net.state_dict()`` keys, and ``net.load_state_dict``'s strict
and PyTorch-style non-strict loading (every key checked before anything changes)."""
import numpy as np
import pytest

import framework as fw
from net_state import same_arrays

SPECS = [{"type": "fc", "size": 5}, {"type": "batch_norm"}, {"type": "relu"},
         {"type": "fc", "size": 3}, {"type": "softmax"}]


def _net(seed=1, specs=SPECS, optimizer="adam"):
    params = fw.HyperParameters(0.05, 2, 8, net_type="multiple_classifier", seed=seed,
                                optimizer_name=optimizer)
    return fw.NeuralNet.from_specs(params, specs, (4,))


def _trained(seed=1):
    net = _net(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 4))
    y = rng.integers(0, 3, 8)
    for _ in range(3):
        net.train_step(x, y)
    return net


def test_one_key_scheme_for_weights_buffers_optimizer_and_counters():
    state = _trained().state_dict()
    assert {"fc1/W", "fc1/B", "bn1/gamma", "bn1/beta", "bn1/running_mean",
            "bn1/running_var", "fc2/W", "optimizer/fc1/W/m", "optimizer/fc1/W/v",
            "optimizer/fc1/W/t", "optimizer/bn1/gamma/m", "epoch", "iteration",
            "learning_rate", "random_state"} <= set(state)
    assert state["iteration"] == 3 and state["optimizer/fc1/W/t"] == 3


def test_a_state_dict_round_trips_into_another_net_exactly():
    source, target = _trained(1), _net(2)
    target.load_state_dict(source.state_dict())
    assert same_arrays(target.state_dict(), source.state_dict())


@pytest.mark.parametrize("change,words", [
    (lambda s: s.update({"fc9/W": np.zeros((2, 2))}), "unknown key"),
    (lambda s: s.pop("fc2/B"), "missing parameter and buffer key"),
    (lambda s: s.pop("bn1/running_var"), "missing parameter and buffer key"),
    (lambda s: s.pop("optimizer/fc1/W/v"), "missing optimizer key"),
    (lambda s: s.pop("epoch"), "all or none of"),
    (lambda s: s.update({"fc1/W": np.zeros((5, 4))}), "shape"),
    (lambda s: s.update({"fc1/W": np.full((4, 5), np.nan)}), "NaN or inf"),
    (lambda s: s.update({"fc1/W": np.full((4, 5), 1e39)}), "NaN or inf"),  # inf in float32
    (lambda s: s.update({"bn1/running_var": -np.ones((1, 5))}), "never be negative"),
    (lambda s: s.update({"learning_rate": -1.0}), "learning_rate"),
])
def test_strict_loading_refuses_what_does_not_match_and_changes_nothing(change, words):
    net, other = _trained(1), _trained(2)
    before = net.state_dict()
    state = other.state_dict()
    change(state)
    with pytest.raises(ValueError, match=words):
        net.load_state_dict(state)
    assert same_arrays(net.state_dict(), before)


def test_non_strict_loading_copies_what_matches_and_says_what_it_left_out():
    """PyTorch's ``strict=False``: start a deeper net from a shallower one's first layers."""
    small = _trained(1)
    bigger = _net(2, SPECS[:3] + [{"type": "fc", "size": 6}, {"type": "relu"}] + SPECS[3:])
    untouched = bigger.state_dict()["fc2/W"].copy()
    weights = {k: v for k, v in small.state_dict().items() if k.startswith(("fc1/", "bn1/"))}
    weights["head/W"] = np.zeros((2, 2))
    result = bigger.load_state_dict(weights, strict=False)
    assert result.unexpected_keys == ["head/W"]
    assert "fc2/W" in result.missing_keys and "fc1/W" not in result.missing_keys
    np.testing.assert_array_equal(bigger.state_dict()["fc1/W"], small.state_dict()["fc1/W"])
    np.testing.assert_array_equal(bigger.state_dict()["fc2/W"], untouched)
    assert small.load_state_dict(small.state_dict()) == ([], [])  # strict: nothing left out


def test_non_strict_loading_still_checks_shapes_and_strict_is_a_real_bool():
    net = _net()
    with pytest.raises(ValueError, match="shape"):
        net.load_state_dict({"fc1/W": np.zeros((3, 3))}, strict=False)
    with pytest.raises(ValueError, match="strict"):
        net.load_state_dict(net.state_dict(), strict="no")
