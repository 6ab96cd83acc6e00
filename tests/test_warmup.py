"""WarmupLR: a linear warm-up in front of any schedule, equal to PyTorch's LinearLR +
SequentialLR; its options checked, saved with the net, read from the apps' flag, and
the rate training really uses."""
import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from framework.schedules import SCHEDULES, WarmupLR, make_schedule


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the 'reference' "
                                               "extra: pip install -e '.[reference]')")


def _pytorch_rates(torch, base, warm, start, then, epochs):
    """The rates PyTorch's SGD uses for ``epochs`` epochs: LinearLR for ``warm`` epochs,
    then ``then(optimizer)``, joined by SequentialLR (one scheduler step per epoch)."""
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([parameter], lr=base)
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=start, end_factor=1.0,
                                               total_iters=warm)
    sequence = torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, then(optimizer)],
                                                     milestones=[warm])
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sequence.step()
    return rates


def test_warmup_then_cosine_for_20_epochs_equals_linear_lr_and_sequential_lr():
    torch = _torch()
    schedule = make_schedule({"name": "warmup", "epochs": 5, "then": {
        "name": "cosine", "total_epochs": 15, "min_lr": 0.001}})
    expected = _pytorch_rates(torch, 0.1, 5, 1 / 3, lambda o: torch.optim.lr_scheduler.
                              CosineAnnealingLR(o, T_max=15, eta_min=0.001), 20)
    ours = [schedule(0.1, epoch) for epoch in range(20)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=0)
    assert ours[0] == pytest.approx(0.1 / 3) and ours[5] == 0.1
    assert ours[-1] == pytest.approx(0.001 + 0.099 * (1 + np.cos(np.pi * 14 / 15)) / 2)


@pytest.mark.parametrize("then,reference", [
    ({"name": "constant"}, lambda t, o: t.optim.lr_scheduler.ConstantLR(o, factor=1.0)),
    ({"name": "step", "step_size": 3, "gamma": 0.5},
     lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ({"name": "multi_step", "milestones": [2, 6], "gamma": 0.3},
     lambda t, o: t.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 6], gamma=0.3)),
    ({"name": "exponential", "gamma": 0.8},
     lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, gamma=0.8)),
    ({"name": "polynomial", "total_epochs": 9, "power": 2.0},
     lambda t, o: t.optim.lr_scheduler.PolynomialLR(o, total_iters=9, power=2.0)),
    ({"name": "cosine", "total_epochs": 11},         # (PyTorch's rises again after T_max)
     lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=11)),
], ids=lambda value: value["name"] if isinstance(value, dict) else "")
def test_warmup_composes_with_every_schedule_as_pytorch_does(then, reference):
    torch = _torch()
    schedule = WarmupLR(epochs=3, then=then, start_factor=0.1)
    expected = _pytorch_rates(torch, 0.5, 3, 0.1, lambda o: reference(torch, o), 14)
    np.testing.assert_allclose([schedule(0.5, e) for e in range(14)], expected, rtol=1e-12)


def test_every_registered_schedule_can_follow_a_warmup():
    for name in SCHEDULES.names():
        schedule = WarmupLR(epochs=2, then=name)
        assert schedule(1.0, 0) == pytest.approx(1 / 3)
        assert schedule(1.0, 2) == make_schedule(name)(1.0, 0)
        assert make_schedule(schedule.get_config()) == schedule


def test_the_rates_training_uses_and_the_saved_schedule(tmp_path):
    rng = np.random.default_rng(0)
    reader = ArrayDataReader(rng.normal(size=(40, 3)), rng.integers(0, 2, 40))
    reader.normalize_y("multiple_classifier")
    schedule = {"name": "warmup", "epochs": 3, "start_factor": 0.25,
                "then": {"name": "step", "step_size": 2, "gamma": 0.5}}
    params = fw.HyperParameters(0.2, 6, 10, net_type="multiple_classifier", lr_schedule=schedule)
    net = fw.NeuralNet.from_specs(params, [{"type": "fc", "size": 2}, {"type": "softmax"}], (3,))
    history = net.train(reader, checkpoint=1, verbose=0, need_test=False)
    assert history.column("learning_rate") == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2, 0.1])
    net.save(tmp_path / "n.h5")
    assert fw.NeuralNet.load(tmp_path / "n.h5").params.lr_schedule.get_config() == \
        {**schedule, "then": {**schedule["then"], "gamma": 0.5}}


@pytest.mark.parametrize("config,message", [
    ({"epochs": 0}, "lr_schedule 'warmup' epochs: expected a positive integer, got 0"),
    ({"start_factor": 0}, "lr_schedule 'warmup' start_factor"),
    ({"start_factor": 1.5}, "lr_schedule 'warmup' start_factor"),
    ({"then": "cosinus"}, "lr_schedule 'warmup' then: lr_schedule: expected one of"),
    ({"then": {"name": "step", "gamma": -1}}, "then: lr_schedule 'step' gamma"),
    ({"length": 3}, r"unknown option\(s\) \['length'\]"),
])
def test_bad_warmup_options_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        make_schedule({"name": "warmup", **config})


def test_the_apps_flag_syntax():
    from apps.support.flags import UsageError, parse_schedule
    assert parse_schedule("warmup:5,cosine", 20) == {
        "name": "warmup", "epochs": 5, "start_factor": 1 / 3,
        "then": {"name": "cosine", "total_epochs": 15, "min_lr": 0.0}}
    assert parse_schedule("warmup:2:0.1,multistep:3,6:0.5", 10) == {
        "name": "warmup", "epochs": 2, "start_factor": 0.1,
        "then": {"name": "multi_step", "milestones": [3, 6], "gamma": 0.5}}
    assert parse_schedule("warmup:3", 10)["then"] == {"name": "constant"}
    for bad in ("warmup", "warmup:0,cosine", "warmup:2:0,cosine", "warmup:x",
                "warmup:2:0.5:1,cosine", "warmup:2,cosinus"):
        with pytest.raises(UsageError, match="--lr-schedule: cannot read"):
            parse_schedule(bad, 10)
