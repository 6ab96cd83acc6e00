"""HyperParameters cannot drift: frozen, validated copies, NumPy scalars, the net's
guard on the fields its layers were built from, and what train(epochs=) means."""
import dataclasses
import pickle

import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader


def _params(**kw):
    base = dict(learning_rate=0.05, max_epoch=4, batch_size=16,
                net_type="multiple_classifier", optimizer_name="adam", seed=3)
    base.update(kw)
    return fw.HyperParameters(**base)


def _reader(n=96, seed=0, validation=True):
    rng = np.random.default_rng(seed)
    reader = ArrayDataReader(rng.normal(size=(n, 4)), rng.integers(0, 3, n))
    reader.normalize_x()
    reader.normalize_y("multiple_classifier")
    if validation:
        reader.generate_validation_set(k=4, seed=seed)
    return reader


def test_fields_cannot_be_assigned_and_replace_gives_a_validated_copy():
    params = _params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.optimizer_name = "nag"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.stopper.value = 1.0
    with pytest.raises(TypeError, match="read-only"):
        _params(optimizer_options={"beta1": 0.8}).optimizer_options["beta1"] = 0.5
    longer = dataclasses.replace(params, max_epoch=10, lr_schedule="cosine")
    assert (longer.max_epoch, params.max_epoch) == (10, 4)
    assert longer.optimizer_name == fw.OptimizerName.ADAM == "adam"
    with pytest.raises(ValueError, match="learning_rate: expected a number greater than 0"):
        dataclasses.replace(params, learning_rate=0)
    copy = pickle.loads(pickle.dumps(_params(optimizer_options={"beta1": 0.8})))
    assert copy == _params(optimizer_options={"beta1": 0.8})


def test_numpy_scalars_are_accepted_as_numbers():
    params = fw.HyperParameters(np.float32(0.5), np.int64(3), np.int32(8),
                                regular_name="l2", regular_value=np.float64(0.01),
                                seed=np.uint8(4), init_scale=np.float16(2.0),
                                stopper=("stop_loss", np.float32(0.25)))
    assert (params.learning_rate, params.max_epoch, params.batch_size, params.seed) == \
        (0.5, 3, 8, 4)
    assert type(params.max_epoch) is int and type(params.learning_rate) is float
    assert params.stopper.value == 0.25 and params.init_scale == 2.0
    assert fw.HyperParameters(0.1, np.float32(3.0), 8).max_epoch == 3
    momentum = _params(optimizer_name="momentum", optimizer_options={"mu": np.float32(0.8)},
                       learning_rate=np.float32(0.1), batch_size=np.int64(16))
    net = fw.NeuralNet.from_specs(momentum, fw.mlp_specs([8], 3, "relu", classifier="softmax"),
                                  np.int64(4))
    history = net.train(_reader(), epochs=np.int64(2), checkpoint=np.float32(0.5), verbose=0)
    assert len(history) == 2 * 2 and net.parameters()["fc1/W"].optimizer.mu == pytest.approx(0.8)
    for bad in (np.bool_(True), np.float32("nan"), 1 + 2j):
        with pytest.raises(ValueError, match="learning_rate: expected a finite number"):
            fw.HyperParameters(bad, 3, 8)


def test_the_net_refuses_params_its_layers_were_not_built_with(build_net):
    net = build_net([4, 8, 3], _params())
    net.params = dataclasses.replace(net.params, max_epoch=9, learning_rate=0.01)
    assert net.params.max_epoch == 9
    for field, value in (("optimizer_name", "nag"), ("regular_name", "l2"),
                         ("dtype", np.float64), ("net_type", "binary_classifier"),
                         ("optimizer_options", {"beta1": 0.5}), ("seed", 4)):
        with pytest.raises(ValueError, match=f"params: {field} cannot change once the net "
                                             f"has layers"):
            net.params = dataclasses.replace(net.params, **{field: value})
    assert net.params.optimizer_name == fw.OptimizerName.ADAM


def test_plain_train_at_max_epoch_raises_naming_epochs(build_net):
    net = build_net([4, 8, 3], _params(max_epoch=2))
    net.train(_reader(), verbose=0)
    with pytest.raises(ValueError, match=r"already trained 2 epochs and params.max_epoch is "
                                         r"2.*pass epochs=N to train N more epochs"):
        net.train(_reader(), verbose=0)
    history = net.train(_reader(), epochs=3, checkpoint=1, verbose=0)
    assert net.epoch == 5 and [r.epoch for r in history.records] == [3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="epochs: expected a positive integer"):
        net.train(_reader(), epochs=0, verbose=0)


@pytest.mark.parametrize("optimizer,batch_norm", [("adam", False), ("nag", True)])
def test_two_calls_of_two_epochs_equal_one_call_of_four(build_net, optimizer, batch_norm):
    params = _params(optimizer_name=optimizer, max_epoch=4,
                     lr_schedule={"name": "step", "step_size": 1, "gamma": 0.7})
    once = build_net([4, 8, 3], params, dropout=0.2, batch_norm=batch_norm)
    twice = build_net([4, 8, 3], params, dropout=0.2, batch_norm=batch_norm)
    reader = _reader()
    whole = once.train(reader, epochs=4, checkpoint=0.5, restore_best=False, verbose=0)
    halves = [twice.train(reader, epochs=2, checkpoint=0.5, restore_best=False, verbose=0)
              for _ in range(2)]
    assert whole.records == halves[0].records + halves[1].records
    assert (whole.test_loss, whole.test_accuracy) == \
        (halves[1].test_loss, halves[1].test_accuracy)
    a, b = once.state_dict(), twice.state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert once.streams.get_state() == twice.streams.get_state()
    assert (once.epoch, once.iteration) == (twice.epoch, twice.iteration) == (4, 20)


def test_early_stop_setting_parses_and_combines_with_l2(build_net):
    textbook = _params(regular_name="EarlyStop", regular_value=3)
    assert textbook.regular_name is fw.RegularMethod.EARLY_STOP and textbook.patience == 3
    from framework.stopping import callbacks_from_params
    (rule,) = callbacks_from_params(textbook)
    assert isinstance(rule, fw.EarlyStopping) and rule.patience == 3
    with pytest.raises(ValueError, match="early-stop patience"):
        _params(regular_name="early_stop", regular_value=0)
    l2 = _params(regular_name="l2", regular_value=0.1, max_epoch=200)
    assert callbacks_from_params(l2) == []
    net = build_net([4, 32, 3], l2)
    history = net.train(_reader(), checkpoint=1, verbose=0,
                        callbacks=[fw.EarlyStopping(patience=2)])
    assert history.stop_reason.startswith("early_stop") and len(history) < 200
    penalty = sum(wb.regular_loss() for wb in net.weights())
    assert penalty > 0 and all(wb.weight.regularizer.lam == 0.1 for wb in net.weights())
