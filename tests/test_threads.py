"""BLAS thread control (framework.infra.threads) and what the fast training step must keep:
bit-identical results for a fixed seed and thread count, no dx for the first layer,
no per-step allocations, and the same train loss/accuracy as LossFunction."""
import tracemalloc

import numpy as np
import pytest

import framework as fw
from framework import threads
from datareaders.base import ArrayDataReader


@pytest.fixture(autouse=True)
def _restore_setting():
    saved = threads._setting
    yield
    threads._setting = saved


def _mnist_like(n=512, seed=0):
    rng = np.random.default_rng(seed)
    reader = ArrayDataReader(rng.random((n, 64), dtype=np.float32), rng.integers(0, 10, n),
                             rng.random((64, 64), dtype=np.float32), rng.integers(0, 10, 64))
    reader.normalize_y("multiple_classifier", num_category=10)
    return reader


def _net(seed=5, epochs=2, batch=32):
    params = fw.HyperParameters(learning_rate=0.1, max_epoch=epochs, batch_size=batch,
                                net_type="multiple_classifier", init_method="msra",
                                optimizer_name="sgd", seed=seed)
    net = fw.NeuralNet(params, "t")
    for i, (a, b) in enumerate([(64, 48), (48, 24), (24, 10)]):
        net.add_layer(fw.FcLayer(a, b, params), f"fc{i}")
        if b != 10:
            net.add_layer(fw.ActivationLayer("relu"), f"relu{i}")
    net.add_layer(fw.ClassificationLayer("softmax"), "out")
    return net


def test_set_num_threads_validates_and_resolves(monkeypatch):
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="num_threads"):
            threads.set_num_threads(bad)
    threads.set_num_threads(3)
    assert threads.get_num_threads() == 3
    threads.set_num_threads(None)
    assert threads.get_num_threads() is None
    threads._setting = threads._UNSET
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "MINIFRAMEWORK_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert threads.get_num_threads() == 1                 # the default: one thread
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.get_num_threads() is None              # the user's BLAS setting wins
    monkeypatch.setenv("MINIFRAMEWORK_NUM_THREADS", "2")
    assert threads.get_num_threads() == 2
    monkeypatch.setenv("MINIFRAMEWORK_NUM_THREADS", "none")
    assert threads.get_num_threads() is None
    monkeypatch.setenv("MINIFRAMEWORK_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="MINIFRAMEWORK_NUM_THREADS"):
        threads.get_num_threads()


def test_train_applies_the_setting_and_restores_it():
    before = threads.current_blas_threads()
    seen = []
    threads.set_num_threads(2)
    class Probe(fw.Callback):
        def on_checkpoint(self, net, record):
            seen.append(threads.current_blas_threads())

    _net(epochs=1).train(_mnist_like(), checkpoint=1, need_test=False, verbose=False,
                         callbacks=[Probe()])
    assert seen == [2]
    assert threads.current_blas_threads() == before
    with threads.blas_threads(1):
        assert threads.get_num_threads() == 1 and threads.current_blas_threads() == 1
    assert threads.current_blas_threads() == before


def test_same_seed_one_thread_gives_bit_identical_weights():
    states = []
    for _ in range(2):
        with threads.blas_threads(1):
            net = _net()
            history = net.train(_mnist_like(), checkpoint=0.5, need_test=False,
                                restore_best=False, verbose=False)
        states.append((net.snapshot(), [r.train_loss for r in history.records]))
    (a, loss_a), (b, loss_b) = states
    assert loss_a == loss_b
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_first_layer_computes_no_input_gradient():
    net = _net()
    first = net.layers[0]
    assert first.need_input_grad is False
    x = np.random.default_rng(0).random((8, 64), dtype=np.float32)
    a = net.forward(x, True)
    delta = net.layers[1].backward(np.ones_like(net.layers[1].a))
    assert a.shape == (8, 10) and first.backward(delta) is None
    assert "dx" not in first._cache._arrays


def test_training_steps_allocate_nothing_new():
    """After the first epoch, more epochs must not grow memory per step."""
    net, reader = _net(epochs=1, batch=32), _mnist_like(n=2048)
    net.train(reader, checkpoint=1, need_test=False, restore_best=False, verbose=False)
    tracemalloc.start()
    try:
        net.train(reader, epochs=1, checkpoint=1, need_test=False, restore_best=False,
                  verbose=False)
        short = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        net.train(reader, epochs=3, checkpoint=1, need_test=False, restore_best=False,
                  verbose=False)
        long = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 64 steps or 192 steps: the same peak (a per-step leak or buffer would show)
    assert long < short + 64 * 1024


def test_step_metrics_match_loss_function():
    from framework.losses import CrossEntropy
    from framework.metrics import Accuracy
    rng = np.random.default_rng(1)
    z = rng.normal(size=(16, 10)).astype(np.float32)
    a = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 16)]
    loss, metric = CrossEntropy(), Accuracy()
    expected = -np.sum(y * np.log(a.astype(np.float64))) / 16
    hits = np.sum(a.argmax(1) == y.argmax(1))
    for _ in range(2):                                   # second call: cached buffers
        assert loss.loss(a, y) == pytest.approx(expected, rel=1e-6)   # float32, as the net
        metric.update(a, y)
    assert metric.result() == hits / 16
