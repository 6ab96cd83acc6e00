"""The training loop: resume, stopping rules, best-weight restore, reproducibility,
checkpoint bookkeeping and bad-input errors."""
import math

import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from net_state import same_arrays


def _params(**kw):
    base = dict(learning_rate=0.01, max_epoch=4, batch_size=32,
                net_type="multiple_classifier", optimizer_name="adam", seed=7)
    base.update(kw)
    return fw.HyperParameters(**base)


def _same_state(a, b):
    return same_arrays(a, b)


class _StateAtEachCheckpoint(fw.Callback):
    """Keeps a copy of the net's weights at every checkpoint."""

    def __init__(self):
        self.states = []

    def on_checkpoint(self, net, record):
        self.states.append(net.snapshot())


def _noise_reader(n=120, seed=0, features=3):
    """Fitting targets that are pure noise: nothing generalizes, so validation
    loss soon rises while train loss falls (what early stopping is for)."""
    rng = np.random.default_rng(seed)
    reader = ArrayDataReader(rng.normal(size=(n, features)), rng.normal(size=(n, 1)),
                             rng.normal(size=(40, features)), rng.normal(size=(40, 1)))
    reader.normalize_x()
    reader.normalize_y("fitting")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


@pytest.mark.parametrize("optimizer,batch_norm", [("adam", False), ("nag", True)])
def test_resume_from_file_equals_training_straight_through(build_net, spiral_reader, tmp_path,
                                                           optimizer, batch_norm):
    straight = build_net([2, 16, 16, 3], _params(max_epoch=8, optimizer_name=optimizer),
                         dropout=0.3, batch_norm=batch_norm)
    straight.train(spiral_reader(), checkpoint=1, restore_best=False, verbose=False)

    first = build_net([2, 16, 16, 3], _params(max_epoch=4, optimizer_name=optimizer),
                      dropout=0.3, batch_norm=batch_norm)
    first.train(spiral_reader(), checkpoint=1, restore_best=False, verbose=False)
    first.save(tmp_path / "half.h5", include_optimizer=True)
    resumed = fw.NeuralNet.load(tmp_path / "half.h5")
    assert resumed.epoch == 4
    history = resumed.train(spiral_reader(), epochs=4, checkpoint=1, restore_best=False,
                            verbose=False)

    assert [r.epoch for r in history.records] == [5.0, 6.0, 7.0, 8.0]
    assert resumed.iteration == straight.iteration
    assert _same_state(resumed.snapshot(), straight.snapshot())


def test_same_seed_gives_bit_identical_weights(build_net, spiral_reader):
    states = []
    for seed in (3, 3, 4):
        net = build_net([2, 16, 3], _params(seed=seed), dropout=0.2)
        net.train(spiral_reader(), checkpoint=1, verbose=False)
        states.append(net.snapshot())
    assert _same_state(states[0], states[1])
    assert not _same_state(states[0], states[2])


def test_train_loss_is_the_sample_weighted_interval_mean(build_net, spiral_reader):
    """With a negligible learning rate every batch is measured at the initial
    weights, so the interval mean must equal the loss over all its rows, which
    differs from any single batch's loss."""
    reader = spiral_reader(n_train=150, validation=False)  # 150 rows / 32 -> 5 batches
    params = _params(learning_rate=1e-300, optimizer_name="sgd", dtype=np.float64,
                     max_epoch=2, batch_size=32)
    net = build_net([2, 8, 3], params)
    x, y = reader.x_train, reader.y_train
    full_loss, full_accuracy = fw.training.evaluate(net, x, y)
    batch_losses = [fw.training.evaluate(net, bx, by)[0]
                    for bx, by in reader.batches(32, np.random.default_rng(0))]
    history = net.train(reader, checkpoint=1, need_test=False, verbose=False)
    assert len(history) == 2
    for record in history.records:
        assert record.train_loss == pytest.approx(full_loss, rel=1e-9)
        assert record.train_accuracy == pytest.approx(full_accuracy, rel=1e-9)
        assert all(abs(record.train_loss - b) > 1e-6 for b in batch_losses)


def test_checkpoint_is_epochs_between_records(build_net, spiral_reader):
    reader = spiral_reader(n_train=160, validation=False)        # 5 batches of 32
    net = build_net([2, 8, 3], _params(max_epoch=3))
    history = net.train(reader, checkpoint=0.4, need_test=False, verbose=False)
    # 1/0.4 -> 3 records per 5-iteration epoch, evenly spaced, the last at its end
    assert [r.iteration for r in history.records] == [2, 4, 5, 7, 9, 10, 12, 14, 15]
    assert history.stop_reason == "max_epoch reached"
    net = build_net([2, 8, 3], _params(max_epoch=5))
    history = net.train(reader, checkpoint=2, need_test=False, verbose=False)
    assert [r.epoch for r in history.records] == [2.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="checkpoint"):
        net.train(reader, checkpoint=0, verbose=False)


def test_records_follow_the_learning_rate_schedule(build_net, spiral_reader):
    params = _params(max_epoch=3, lr_schedule={"name": "step", "step_size": 1, "gamma": 0.5})
    history = build_net([2, 8, 3], params).train(spiral_reader(), checkpoint=1,
                                                 verbose=False)
    assert [r.learning_rate for r in history.records] == [0.01, 0.005, 0.0025]


def test_stop_loss_stops_early(build_net, spiral_reader):
    params = _params(max_epoch=200, learning_rate=0.02, stopper=("stop_loss", 0.3))
    history = build_net([2, 32, 3], params).train(spiral_reader(), checkpoint=1,
                                                  verbose=False)
    assert history.stop_reason.startswith("stop_loss")
    assert len(history) < 200
    assert history.records[-1].val_loss <= 0.3
    assert all(r.val_loss > 0.3 for r in history.records[:-1])


def test_stop_diff_stops_when_the_loss_settles(build_net, spiral_reader):
    params = _params(max_epoch=200, stopper=("stop_diff", 1e-3))
    history = build_net([2, 16, 3], params).train(spiral_reader(), checkpoint=1,
                                                  verbose=False)
    assert history.stop_reason.startswith("stop_diff")
    assert len(history) < 200
    last, previous = history.records[-1].val_loss, history.records[-2].val_loss
    assert abs(last - previous) < 1e-3


def test_early_stopping_restores_the_best_weights(build_net):
    reader = _noise_reader()
    params = _params(net_type="fitting", learning_rate=0.01, max_epoch=300, batch_size=8,
                     regular_name="early_stop", regular_value=5)
    net = build_net([3, 64, 64, 1], params, activation="relu")
    seen = _StateAtEachCheckpoint()
    history = net.train(reader, checkpoint=1, verbose=False, callbacks=[seen])
    assert history.stop_reason.startswith("early_stop")
    assert len(history) < 300
    best = history.best_index
    assert best == len(history) - 1 - 5
    assert all(r.val_loss >= history.best_val_loss for r in history.records[best + 1:])
    assert _same_state(net.snapshot(), seen.states[best])
    twin = build_net([3, 64, 64, 1], params, activation="relu")
    twin.restore(seen.states[best])
    x = reader.get_test_set()[0]
    assert np.array_equal(net.inference(x), twin.inference(x))


def test_restore_best_false_keeps_the_final_weights(build_net):
    reader = _noise_reader()
    params = _params(net_type="fitting", max_epoch=30, batch_size=8)
    net = build_net([3, 64, 1], params, activation="relu")
    seen = _StateAtEachCheckpoint()
    history = net.train(reader, checkpoint=1, restore_best=False, verbose=False,
                        callbacks=[seen])
    assert history.best_index != len(history) - 1
    assert _same_state(net.snapshot(), seen.states[-1])
    assert not _same_state(net.snapshot(), seen.states[history.best_index])


def test_non_finite_loss_stops_at_once_and_restores(build_net, capsys):
    reader = _noise_reader()
    params = _params(net_type="fitting", optimizer_name="sgd", learning_rate=1e6,
                     max_epoch=50, batch_size=8)
    net = build_net([3, 32, 1], params, activation="relu")
    start = net.snapshot()
    history = net.train(reader, checkpoint=1, verbose=True)
    assert history.stop_reason.startswith("diverged")
    assert "learning rate" in history.stop_reason
    assert "diverged" in capsys.readouterr().out
    assert history.records[-1].epoch < 1.0             # did not finish the epoch
    assert not math.isfinite(history.records[-1].train_loss)
    assert history.best_index is None
    assert _same_state(net.snapshot(), start)


def test_callback_can_stop_training(build_net, spiral_reader):
    class StopAtThird(fw.Callback):
        def __init__(self):
            self.seen = []

        def on_checkpoint(self, net, record):
            self.seen.append(record.epoch)
            net.stop_training = len(self.seen) == 3

    stopper = StopAtThird()
    history = build_net([2, 8, 3], _params(max_epoch=10)).train(
        spiral_reader(), checkpoint=1, verbose=False, callbacks=[stopper])
    assert stopper.seen == [1.0, 2.0, 3.0] and history.stop_reason == "stopped by callback"


def test_test_metrics_are_recorded(build_net, spiral_reader):
    reader = spiral_reader()
    net = build_net([2, 16, 3], _params())
    history = net.train(reader, checkpoint=1, verbose=False)
    assert (history.test_loss, history.test_accuracy) == net.test(reader)


# ----- bad input ---------------------------------------------------------
def test_labels_must_match_the_output_width(build_net, spiral_reader):
    reader = spiral_reader()
    net = build_net([2, 8, 4], _params())
    with pytest.raises(ValueError, match=r"expected labels of shape \(\d+, 4\).*received"):
        net.train(reader, verbose=False)


def test_labels_outside_the_classes_are_rejected_by_the_reader():
    reader = ArrayDataReader(np.zeros((4, 2)), np.array([0, 1, 2, 5]), np.zeros((2, 2)),
                             np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[5\].*0\.\.2"):
        reader.normalize_y("multiple_classifier", num_category=3)


def test_integer_labels_without_normalize_y_are_rejected(build_net):
    reader = ArrayDataReader(np.zeros((4, 2)), np.array([0, 1, 2, 1]), np.zeros((2, 2)),
                             np.array([0, 1]))
    with pytest.raises(ValueError, match="expected labels of shape"):
        build_net([2, 4, 3], _params()).train(reader, verbose=False)


def test_non_finite_and_wrong_width_inputs_are_rejected(build_net, spiral_reader):
    reader = spiral_reader(validation=False)
    reader.x_train[3, 1] = np.nan
    with pytest.raises(ValueError, match="training set: expected finite"):
        build_net([2, 8, 3], _params()).train(reader, verbose=False)
    with pytest.raises(ValueError, match="expected 3 features, received 2"):
        build_net([3, 8, 3], _params()).train(spiral_reader(), verbose=False)


def test_empty_training_set_is_rejected(build_net, spiral_reader):
    with pytest.raises(ValueError, match="empty"):
        ArrayDataReader(np.zeros((0, 2)), np.zeros(0), np.zeros((2, 2)), np.zeros(2))
    reader = spiral_reader(validation=False)
    reader.x_train, reader.y_train = reader.x_train[:0], reader.y_train[:0]
    with pytest.raises(ValueError, match="expected at least one training sample, received 0"):
        build_net([2, 8, 3], _params()).train(reader, verbose=False)


def test_classifier_needs_a_classification_layer(build_net, spiral_reader):
    params = _params()
    net = fw.NeuralNet(params)
    net.add_layer(fw.FcLayer(2, 3, params), "fc")
    with pytest.raises(ValueError, match="ClassificationLayer"):
        net.train(spiral_reader(), verbose=False)


def test_validation_loss_is_the_data_loss_without_the_penalty(build_net, spiral_reader):
    """The penalty is a training device: the validation loss (which picks the
    best checkpoint) must not grow with lambda, only the train loss includes it."""
    reader = spiral_reader()
    params = _params(max_epoch=1, regular_name="l2", regular_value=0.5, dtype=np.float64)
    net = build_net([2, 16, 3], params)
    history = net.train(reader, checkpoint=1, need_test=False, restore_best=False,
                        verbose=False)
    x_val, y_val = reader.get_validation_set()
    data_loss, _ = fw.training.evaluate(net, x_val, y_val, penalty=False)
    with_penalty, _ = fw.training.evaluate(net, x_val, y_val, penalty=True)
    assert with_penalty > data_loss + 1e-3
    assert history.records[-1].val_loss == pytest.approx(data_loss, rel=1e-12)
