"""Gradient clipping: a whole net's gradients against PyTorch's clip_grad_norm_ /
clip_grad_value_ (float64), every optimizer (NAG's look-ahead included) stepping
with the clipped gradient, the records saying how often and how hard it clipped,
the settings checked and saved, and nets without clipping untouched."""
import csv
import dataclasses

import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from framework.clipping import (GradientClipper, clip_by_global_norm, clip_by_value,
                                global_norm)


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the 'reference' "
                                               "extra: pip install -e '.[reference]')")


SPECS = [{"type": "fc", "size": 8}, {"type": "batch_norm"}, {"type": "relu"},
         {"type": "residual", "layers": [{"type": "fc", "size": 8}, {"type": "tanh"}]},
         {"type": "fc", "size": 3}, {"type": "softmax"}]


def _params(**fields):
    base = dict(learning_rate=0.1, max_epoch=2, batch_size=10, seed=4,
                net_type="multiple_classifier", dtype="float64")
    return fw.HyperParameters(**{**base, **fields})


def _batch(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)) * 3, rng.integers(0, 3, n)


def _reader(n=60, seed=0):
    x, y = _batch(n, seed)
    reader = ArrayDataReader(x, y)
    reader.normalize_y("multiple_classifier")
    return reader


# ----- against PyTorch -------------------------------------------------------------------
def _net_gradients_and_torch_copies(torch):
    """A net's gradients, and PyTorch tensors holding copies of them as their .grad."""
    net = fw.NeuralNet.from_specs(_params(), SPECS, (5,))
    grads = net.gradients(*_batch())
    tensors = [torch.tensor(g, requires_grad=True) for g in grads.values()]
    for tensor, g in zip(tensors, grads.values()):
        tensor.grad = torch.tensor(g.copy())
    return grads, tensors


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clipping_a_nets_gradients_by_global_norm_equals_clip_grad_norm(max_norm):
    torch = _torch()
    grads, tensors = _net_gradients_and_torch_copies(torch)
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    ours = [g.copy() for g in grads.values()]
    norm = global_norm(ours)
    clipped = clip_by_global_norm(ours, max_norm, norm)
    assert norm == pytest.approx(float(expected_norm), rel=1e-14)
    assert clipped == (norm > max_norm)
    for mine, tensor in zip(ours, tensors):
        np.testing.assert_allclose(mine, tensor.grad.numpy(), rtol=1e-14, atol=0)
    if clipped:
        assert global_norm(ours) == pytest.approx(max_norm, rel=1e-6)


@pytest.mark.parametrize("value", [0.01, 0.1, 1e6])
def test_clipping_a_nets_gradients_by_value_equals_clip_grad_value(value):
    torch = _torch()
    grads, tensors = _net_gradients_and_torch_copies(torch)
    torch.nn.utils.clip_grad_value_(tensors, value)
    ours = [g.copy() for g in grads.values()]
    outside = clip_by_value(ours, value)
    assert outside == any(np.abs(g).max() > value for g in grads.values())
    for mine, tensor in zip(ours, tensors):
        np.testing.assert_array_equal(mine, tensor.grad.numpy())


def test_a_training_step_with_clipping_equals_pytorch_sgd_after_clip_grad_norm():
    torch = _torch()
    specs = [{"type": "fc", "size": 6}, {"type": "tanh"}, {"type": "fc", "size": 3},
             {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(_params(clip_norm=0.3, learning_rate=0.5), specs, (5,))
    x, y = _batch()
    w1, b1, w2, b2 = (torch.tensor(p.value.copy(), requires_grad=True)
                      for p in net.parameters().values())
    net.train_step(x, y)
    logits = torch.tanh(torch.tensor(x) @ w1 + b1) @ w2 + b2
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    torch.nn.utils.clip_grad_norm_([w1, b1, w2, b2], 0.3)
    torch.optim.SGD([w1, b1, w2, b2], lr=0.5).step()
    for ours, theirs in zip(net.parameters().values(), (w1, b1, w2, b2)):
        np.testing.assert_allclose(ours.value, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


# ----- every optimizer sees the clipped gradient -------------------------------------------
def test_nag_takes_the_clipped_gradient_at_its_look_ahead_point():
    clip, lr, mu = 0.2, 0.3, 0.9
    net = fw.NeuralNet.from_specs(_params(optimizer_name="nag", clip_norm=clip,
                                          learning_rate=lr), SPECS, (5,))
    probe = fw.NeuralNet.from_specs(_params(optimizer_name="nag"), SPECS, (5,))
    x, y = _batch()
    theta = {k: p.value.copy() for k, p in net.parameters().items()}
    v = {k: np.zeros_like(t) for k, t in theta.items()}
    for _ in range(3):
        ahead = {k: theta[k] + mu * v[k] for k in theta}        # NAG's look-ahead point
        probe.load_state_dict({**ahead, **{k: b.copy() for k, b in _buffers(net).items()}})
        g = probe.gradients(x, y)
        grads = list(g.values())
        clip_by_global_norm(grads, clip)
        for k in theta:
            v[k] = mu * v[k] - lr * g[k]
            theta[k] = theta[k] + v[k]
        net.train_step(x, y)
    for key, parameter in net.parameters().items():
        np.testing.assert_allclose(parameter.value, theta[key], rtol=1e-11, atol=1e-13,
                                   err_msg=key)


def _buffers(net):
    return {k: v for k, v in net.state_dict().items()
            if k.endswith(("running_mean", "running_var"))}


@fw.register_optimizer
class RecordingSGD(fw.Optimizer):
    """SGD that keeps a copy of every gradient it is given (for the tests)."""

    name = "recording_sgd_for_clipping_tests"
    seen = []

    def step(self, theta, grad, lr):
        RecordingSGD.seen.append(grad.copy())
        theta -= lr * grad


@pytest.mark.parametrize("setting", [{"clip_norm": 0.01}, {"clip_value": 0.001}])
def test_the_optimizer_receives_only_clipped_gradients(setting):
    net = fw.NeuralNet.from_specs(_params(optimizer_name=RecordingSGD.name, **setting),
                                  SPECS, (5,))
    RecordingSGD.seen.clear()
    net.train_step(*_batch())
    seen = RecordingSGD.seen
    assert len(seen) == len(net.parameters())
    if "clip_norm" in setting:
        assert global_norm(seen) == pytest.approx(0.01, rel=1e-6)
    else:
        assert max(np.abs(g).max() for g in seen) == 0.001


# ----- what the history records ------------------------------------------------------------
def test_the_records_say_how_often_and_how_hard_it_clipped(tmp_path):
    reader = _reader()
    always = fw.NeuralNet.from_specs(_params(clip_norm=1e-3), SPECS, (5,))
    log = tmp_path / "log.csv"
    history = always.train(reader, checkpoint=0.5, verbose=0, need_test=False,
                           callbacks=[fw.CSVLogger(str(log))])
    assert [r.clipped for r in history.records] == [1.0] * 4
    assert all(r.grad_norm > 1e-3 for r in history.records)
    assert history.history["clipped"] == [1.0] * 4
    assert history.as_dict()["records"][0]["grad_norm"] == history.records[0].grad_norm
    rows = list(csv.reader(open(log)))
    assert rows[0][-2:] == ["clipped", "grad_norm"] and len(rows) == 5
    assert float(rows[1][-2]) == 1.0

    never = fw.NeuralNet.from_specs(_params(clip_norm=1e6), SPECS, (5,))
    plain = fw.NeuralNet.from_specs(_params(), SPECS, (5,))
    history = never.train(reader, checkpoint=1, verbose=0, need_test=False)
    assert [r.clipped for r in history.records] == [0.0, 0.0]
    assert all(0 < r.grad_norm < 1e6 for r in history.records)
    same = plain.train(reader, checkpoint=1, verbose=0, need_test=False)
    for key, value in plain.state_dict().items():        # never clipped: plain training
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(never.state_dict()[key], value)
    assert same.column("train_loss") == history.column("train_loss")


def test_without_clipping_the_step_has_no_clipper_and_the_records_no_clipping_fields(tmp_path):
    net = fw.NeuralNet.from_specs(_params(), SPECS, (5,))
    assert net.training_step().clipper is None
    log = tmp_path / "log.csv"
    history = net.train(_reader(), checkpoint=1, verbose=0, need_test=False,
                        callbacks=[fw.CSVLogger(str(log))])
    assert history.records[0].clipped is None and "clipped" not in history.history
    assert "clipped" not in history.as_dict()["records"][0]
    assert next(csv.reader(open(log))) == ["epoch", "iteration", "lr", "loss", "accuracy",
                                           "val_loss", "val_accuracy"]


def test_new_clipping_settings_give_the_net_a_new_step():
    net = fw.NeuralNet.from_specs(_params(), SPECS, (5,))
    first = net.training_step()
    net.params = dataclasses.replace(net.params, max_epoch=5)
    assert net.training_step() is first
    net.params = dataclasses.replace(net.params, clip_value=0.5)
    assert net.training_step().clipper.clip_value == 0.5


def test_clipping_keeps_a_run_that_diverges_without_it_training():
    """A deep ReLU net at a rate too high for its first steps: unclipped, the loss
    turns non-finite and the run stops; clipped to norm 1, it trains."""
    specs = [{"type": "fc", "size": 32}, {"type": "relu"}] * 8 + [
        {"type": "fc", "size": 3}, {"type": "softmax"}]
    reader = _reader(120)
    outcomes = {}
    for clip in (None, 1.0):
        net = fw.NeuralNet.from_specs(_params(learning_rate=3.0, init_method="msra",
                                              optimizer_name="momentum", clip_norm=clip,
                                              dtype="float32"), specs, (5,))
        outcomes[clip] = net.train(reader, epochs=3, checkpoint=1, verbose=0,
                                   need_test=False)
    assert outcomes[None].stop_reason.startswith("diverged")
    assert outcomes[1.0].stop_reason == "max_epoch reached"
    assert all(np.isfinite(r.train_loss) for r in outcomes[1.0].records)


# ----- settings -------------------------------------------------------------------------------
@pytest.mark.parametrize("fields,message", [
    ({"clip_norm": 0}, r"clip_norm: expected None \(no clipping\) or a finite number > 0"),
    ({"clip_norm": -1.0}, "clip_norm: expected None"),
    ({"clip_value": float("nan")}, "clip_value: expected None"),
    ({"clip_value": True}, "clip_value: expected None"),
    ({"clip_norm": "1"}, "clip_norm: expected None"),
    ({"clip_norm": 1.0, "clip_value": 0.5}, "clip_norm and clip_value: give one of them"),
])
def test_bad_clipping_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        _params(**fields)


def test_clipping_settings_are_saved_and_old_settings_without_them_load(tmp_path):
    params = _params(clip_norm=np.float32(2.5))
    assert params.clip_norm == 2.5 and type(params.clip_norm) is float
    assert fw.HyperParameters.from_dict(params.to_dict()) == params
    old = {k: v for k, v in params.to_dict().items() if not k.startswith("clip")}
    assert fw.HyperParameters.from_dict(old).clip_norm is None
    net = fw.NeuralNet.from_specs(_params(clip_value=0.25), SPECS, (5,))
    net.save(tmp_path / "n.h5")
    again = fw.NeuralNet.load(tmp_path / "n.h5")
    assert again.params.clip_value == 0.25 and again.training_step().clipper.clip_value == 0.25


def test_a_clipper_wants_one_setting_and_leaves_non_finite_gradients_alone():
    with pytest.raises(ValueError, match="expected clip_norm or clip_value"):
        GradientClipper([np.ones(2)])
    grads = [np.array([np.inf, 1.0])]
    assert not clip_by_global_norm(grads, 1.0)
    assert grads[0][1] == 1.0
    big = [np.full(4, 1e30, np.float32)]                  # squares overflow float32
    assert global_norm(big) == pytest.approx(2e30, rel=1e-6)
    clipper = GradientClipper([np.array([3.0, 4.0])], clip_norm=1.0)
    assert clipper.pop() == (None, None)
    clipper()
    clipper()
    assert clipper.pop() == (1.0, pytest.approx((5.0 + 1.0) / 2, rel=1e-5))
