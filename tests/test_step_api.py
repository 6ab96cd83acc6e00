"""The step API for learners (loss, gradients, train_step, check_gradients), explicit
batch orders, and the net's own checks on what it is given (predict, add_layer)."""
import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from net_state import same_snapshot


def _params(**kw):
    base = dict(learning_rate=0.05, max_epoch=3, batch_size=16,
                net_type="multiple_classifier", optimizer_name="sgd", seed=3)
    base.update(kw)
    return fw.HyperParameters(**base)


def _batch(rng, n=10, features=4, classes=3):
    return rng.normal(size=(n, features)), np.eye(classes)[rng.integers(0, classes, n)]


# ----- gradients --------------------------------------------------------------
def test_mlp_gradients_equal_central_differences(build_net):
    """Batch norm, dropout and an L2 penalty included: the check rewinds the noise
    stream, so every evaluation sees the same dropout mask."""
    params = _params(dtype=np.float64, regular_name="l2", regular_value=0.05)
    net = build_net([4, 8, 8, 3], params, batch_norm=True, dropout=0.3)
    x, y = _batch(np.random.default_rng(1))
    errors = fw.check_gradients(net, x, y)
    assert sorted(errors) == sorted(net.gradients(x, y))
    assert set(errors) == {"fc1/W", "fc1/B", "bn1/gamma", "bn1/beta", "fc2/W", "fc2/B", "bn2/gamma",
                           "bn2/beta", "fc3/W", "fc3/B"}
    assert max(errors.values()) < 1e-6, errors


def test_cnn_gradients_equal_central_differences():
    params = _params(dtype=np.float64, batch_size=5)
    specs = [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "relu"},
             {"type": "pooling", "size": 2, "stride": 2}, {"type": "flatten"},
             {"type": "fc", "size": 3}, {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(params, specs, (2, 6, 6), "cnn")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 2, 6, 6)), np.eye(3)[rng.integers(0, 3, 5)]
    errors = fw.check_gradients(net, x, y)
    assert len(errors) == 4 and max(errors.values()) < 1e-6, errors


def test_a_wrong_gradient_is_caught(build_net):
    """The check can fail: a backward pass that drops a factor shows at once."""
    net = build_net([4, 6, 3], _params(dtype=np.float64))
    x, y = _batch(np.random.default_rng(3))
    layer = net.get_layer("fc1")
    honest = layer.backward
    layer.backward = lambda delta: (honest(delta), layer.wb.dW.__imul__(0.5))[0]
    assert fw.check_gradients(net, x, y)["fc1/W"] > 0.3
    with pytest.raises(ValueError, match="float64"):
        fw.check_gradients(build_net([4, 6, 3], _params()), x, y)


def test_gradients_and_loss_change_nothing(build_net):
    net = build_net([4, 8, 3], _params(optimizer_name="adam"), batch_norm=True, dropout=0.2)
    x, y = _batch(np.random.default_rng(4), n=16)
    net.train_step(x, y)                          # some optimizer state and running stats
    before = net.snapshot()
    noise = net.streams.noise.bit_generator.state
    grads = net.gradients(x, y)
    loss_train, _ = net.loss(x, y, train=True)
    loss, accuracy = net.loss(x, y)
    assert same_snapshot(net.snapshot(), before)
    assert net.streams.noise.bit_generator.state == noise
    grads["fc1/W"] += 1.0                          # copies, not the net's arrays
    assert same_snapshot(net.snapshot(), before)
    a = net.predict(x)
    expected = fw.LossFunction("multiple_classifier")
    assert loss == expected.loss(a, y.astype(np.float32)) and 0 <= accuracy <= 1
    assert loss_train != loss                      # batch statistics and dropout differ


# ----- train_step -------------------------------------------------------------
def _reader(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 4)), rng.integers(0, 3, n)
    reader = ArrayDataReader(x, y)
    reader.normalize_x()
    reader.normalize_y("multiple_classifier")
    return reader


def test_train_step_is_bit_identical_to_train_on_the_same_batches(build_net):
    params = _params(optimizer_name="nag", regular_name="l2", regular_value=0.01,
                     lr_schedule={"name": "step", "step_size": 1, "gamma": 0.5})
    order = fw.BatchOrder(100, 16, seed=9)
    by_train = build_net([4, 8, 3], params, batch_norm=True, dropout=0.2)
    by_steps = build_net([4, 8, 3], params, batch_norm=True, dropout=0.2)
    reader = _reader()
    history = by_train.train(reader, checkpoint=1, need_test=False, restore_best=False,
                             verbose=0, batch_order=order)
    x, y = reader.x_train, reader.y_train
    losses = []
    for epoch in range(3):
        for rows in order.epoch(epoch):
            loss, _ = by_steps.train_step(x[rows], y[rows], lr=params.learning_rate_at(epoch))
            losses.append(loss)
        by_steps.epoch += 1
    assert same_snapshot(by_steps.snapshot(), by_train.snapshot())
    assert by_steps.iteration == by_train.iteration == 21
    assert history.records[0].learning_rate == 0.05 and history.records[2].learning_rate == 0.0125
    assert by_steps.streams.noise.bit_generator.state == \
        by_train.streams.noise.bit_generator.state
    assert np.isfinite(losses).all()


def test_train_step_checks_its_input(build_net):
    net = build_net([4, 8, 3], _params())
    x, y = _batch(np.random.default_rng(0))
    with pytest.raises(ValueError, match="train_step: expected 4 features"):
        net.train_step(x[:, :3], y)
    with pytest.raises(ValueError, match=r"train_step: expected labels of shape \(10, 3\)"):
        net.train_step(x, y[:, :2])
    with pytest.raises(ValueError, match="lr: expected a finite number"):
        net.train_step(x, y, lr=float("nan"))


# ----- batch order ------------------------------------------------------------
class _RecordingReader(ArrayDataReader):
    """Keeps a copy of every training batch it hands out."""

    def batches(self, *args, **kwargs):
        for x, y in super().batches(*args, **kwargs):
            self.seen.append(x.copy())
            yield x, y


def _recording_reader():
    rng = np.random.default_rng(0)
    reader = _RecordingReader(rng.normal(size=(50, 4)), rng.integers(0, 3, 50))
    reader.normalize_x()
    reader.normalize_y("multiple_classifier")
    reader.seen = []
    return reader


@pytest.mark.parametrize("given", ["object", "per_epoch", "flat"])
def test_two_nets_with_the_same_batch_order_see_the_same_batches(build_net, given):
    order = fw.BatchOrder(50, 8, seed=4)
    batch_order = {"object": order, "per_epoch": [order.epoch(e) for e in range(3)],
                   "flat": order.epoch(0)}[given]
    seen = []
    for seed in (1, 2):       # different seeds: different own shuffles
        reader = _recording_reader()
        build_net([4, 6, 3], _params(seed=seed, batch_size=8)).train(
            reader, verbose=0, need_test=False, batch_order=batch_order)
        seen.append(reader.seen)
    assert len(seen[0]) == 21 and all(np.array_equal(a, b) for a, b in zip(*seen))
    rows = order.epoch(0)[0]
    assert np.array_equal(seen[0][0], _recording_reader().x_train[rows])
    if given != "flat":
        assert not np.array_equal(seen[0][0], seen[0][7])   # epoch 1 differs from epoch 0
    shuffled = []
    for seed in (1, 2):
        reader = _recording_reader()
        build_net([4, 6, 3], _params(seed=seed, batch_size=8)).train(reader, verbose=0)
        shuffled.append(reader.seen)
    assert not all(np.array_equal(a, b) for a, b in zip(*shuffled))


def test_bad_batch_orders_are_refused(build_net):
    net = build_net([4, 6, 3], _params(batch_size=8))
    with pytest.raises(ValueError, match="row indices must lie in 0..49, got 0..50"):
        net.train(_recording_reader(), verbose=0, batch_order=[np.array([0, 50])])
    with pytest.raises(ValueError, match="one list of index arrays per epoch"):
        net.train(_recording_reader(), verbose=0, batch_order=[[np.arange(50)]])
    with pytest.raises(ValueError, match="batch_order: expected a BatchOrder"):
        net.train(_recording_reader(), verbose=0, batch_order="shuffle")


def test_a_batch_order_that_does_not_use_every_row_once_is_refused(build_net):
    """BatchOrder(10, 5) on a 30-row reader used to train on rows 0-9 and call it an
    epoch. Every form of order is checked where it meets the reader."""
    from framework.batch_order import epoch_orders
    reader = _recording_reader()                              # 50 training rows
    net = build_net([4, 6, 3], _params(batch_size=8))
    before = net.snapshot()
    short = fw.BatchOrder(10, 5, seed=1)
    every_row = r"an epoch must use each of the reader's 50 training rows exactly once"
    with pytest.raises(ValueError, match=r"BatchOrder\(10, 5, seed=1\) is made for 10 "
                                         r"training rows, but the reader has 50"):
        net.train(reader, verbose=0, batch_order=short)         # before any epoch
    with pytest.raises(ValueError, match=rf"batch_order epoch 0: {every_row}; these "
                                         r"batches hold 10 row indices \(40 never used\)"):
        net.train(reader, verbose=0, batch_order=short.epoch(0))
    with pytest.raises(ValueError, match=r"BatchOrder\(10, 5, seed=1\) is made for 10 "
                                         r"training rows, but the reader has 50"):
        epoch_orders(short, 0, 3, num_train=50)
    twice = [np.arange(25), np.arange(25)]                  # 50 indices, half the rows
    with pytest.raises(ValueError, match=r"50 row indices \(25 never used, 25 used more "
                                         r"than once\)"):
        net.train(reader, verbose=0, batch_order=twice)
    per_epoch = [fw.BatchOrder(50, 8).epoch(0), fw.BatchOrder(50, 8).epoch(1)[:3]]
    with pytest.raises(ValueError, match=r"batch_order epoch 1: an epoch must use .* "
                                         r"24 row indices \(26 never used\)"):
        epoch_orders(per_epoch, 0, 2, num_train=50)           # checked before epoch 0
    with pytest.raises(ValueError, match=rf"batches order: {every_row}"):
        next(reader.batches(8, order=short.epoch(0)))
    assert same_snapshot(net.snapshot(), before) and reader.seen == []
    assert epoch_orders(fw.BatchOrder(50, 8), 0, 3, num_train=50) is not None


def test_reader_batches_copy_option_and_reused_buffers():
    reader = _recording_reader()
    rng = np.random.default_rng(0)
    views = [x for x, _ in ArrayDataReader.batches(reader, 8, rng)]
    assert all(np.shares_memory(views[0], v) for v in views[1:3])      # one buffer, reused
    copies = [x for x, _ in ArrayDataReader.batches(reader, 8, np.random.default_rng(0),
                                                    copy=True)]
    perm = np.random.default_rng(0).permutation(50)
    assert all(np.array_equal(c, reader.x_train[perm[8 * i:8 * i + 8]])
               for i, c in enumerate(copies))


# ----- the net's checks ----------------------------------------------------------
def test_predict_is_checked_and_inference_is_the_same_call(build_net):
    net = build_net([4, 6, 3], _params())
    x = np.random.default_rng(0).normal(size=(5, 4))
    assert np.array_equal(net.predict(x), net.inference(x))
    assert net.predict(x).dtype == np.float32
    with pytest.raises(ValueError, match="predict: expected 4 features, received 3"):
        net.predict(x[:, :3])
    with pytest.raises(ValueError, match="predict: expected real numbers, received dtype "
                                         "complex128"):
        net.predict(x + 1j)
    with pytest.raises(ValueError, match="inference: expected finite values"):
        net.inference(np.full((2, 4), np.nan))


@pytest.mark.parametrize("net_type,classifier,words", [
    ("binary_classifier", "softmax", "Softmax classification layer does not match net_type "
                                     "'binary_classifier', which needs Logistic"),
    ("multiple_classifier", "logistic", "Logistic classification layer does not match "
                                        "net_type 'multiple_classifier', which needs Softmax"),
    ("fitting", "softmax", "Softmax classification layer does not belong in a net of "
                           "net_type 'fitting'"),
])
def test_a_classifier_that_does_not_match_net_type_is_refused(net_type, classifier, words):
    params = _params(net_type=net_type)
    net = fw.NeuralNet(params)
    net.add_layer(fw.FcLayer(4, 3 if classifier == "softmax" else 1, params), "fc")
    with pytest.raises(ValueError, match=words):
        net.add_layer(fw.ClassificationLayer(classifier), "out")


def test_forgetting_net_type_or_the_classifier_is_refused():
    default = fw.HyperParameters(0.1, 2, 8)                 # net_type left at fitting
    with pytest.raises(ValueError, match="net_type='multiple_classifier'"):
        fw.NeuralNet.from_specs(default, fw.mlp_specs([8], 3, "relu", classifier="softmax"), 4)
    with pytest.raises(ValueError, match="expects a classification layer last"):
        fw.NeuralNet.from_specs(_params(), fw.mlp_specs([8], 3, "relu"), 4)


def test_add_layer_checks_the_argument_before_touching_it():
    net = fw.NeuralNet(_params())
    for wrong in (fw.FcLayer, fw.BatchNormLayer, "fc"):
        with pytest.raises(ValueError, match="expected a Layer instance"):
            net.add_layer(wrong, "first")
    assert fw.FcLayer.need_input_grad is True and fw.BatchNormLayer.need_input_grad is True
    assert net.layers == [] and "need_input_grad" not in vars(fw.FcLayer)


def test_array_reader_needs_no_test_set(build_net):
    reader = _reader(n=40)
    assert reader.num_test == 0 and reader.x_test.shape == (0, 4)
    history = build_net([4, 6, 3], _params(max_epoch=1)).train(reader, checkpoint=1, verbose=0)
    assert history.test_loss is None and len(history) == 1
    with pytest.raises(ValueError, match="both x_test and y_test or neither"):
        ArrayDataReader(np.zeros((4, 2)), np.zeros(4), np.zeros((2, 2)))
