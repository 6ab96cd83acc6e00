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


# ----- worker threads for conv and pooling layers (framework.infra.workers) ------------
@pytest.fixture
def two_workers(monkeypatch):
    """Layers split batches over two threads, even on a one-core machine."""
    monkeypatch.setattr(threads, "_usable_cores", lambda: 8)
    threads.set_num_threads(2)


def test_worker_threads_follow_the_setting(monkeypatch):
    monkeypatch.setattr(threads, "_usable_cores", lambda: 4)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "MINIFRAMEWORK_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    threads._setting = threads._UNSET
    assert threads.worker_threads() == 1                     # the default
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert threads.worker_threads() == 3                     # the user's BLAS count
    threads.set_num_threads(2)
    assert threads.worker_threads() == 2
    threads.set_num_threads(0)
    assert threads.worker_threads() == 4                     # every usable core
    threads.set_num_threads(16)
    assert threads.worker_threads() == 4                     # never more than the cores
    with threads.blas_threads(1):
        assert threads.worker_threads() == 1                 # the enclosing limit decides


def test_every_part_runs_once_on_some_thread(two_workers):
    from framework.infra import workers
    seen = []
    workers.run(50, lambda part, slot: seen.append((part, slot)))
    assert sorted(part for part, _ in seen) == list(range(50))
    assert {slot for _, slot in seen} <= {0, 1}


def test_parts_run_in_parallel_on_two_threads(two_workers):
    """Two parts that each wait for the other can only finish side by side."""
    import threading

    from framework.infra import workers
    barrier = threading.Barrier(2, timeout=10)
    workers.run(2, lambda part, slot: barrier.wait())


def test_an_error_in_a_worker_reaches_the_caller_and_the_pool_still_works(two_workers):
    import threading

    from framework.infra import workers
    barrier = threading.Barrier(2, timeout=10)

    def fail_on_the_worker(part, slot):
        barrier.wait()                      # both threads hold a part
        if slot == 1:
            raise ZeroDivisionError(f"part {part}")

    with pytest.raises(ZeroDivisionError, match="part"):
        workers.run(2, fail_on_the_worker)
    done = []
    workers.run(8, lambda part, slot: done.append(part))
    assert sorted(done) == list(range(8))


def test_nested_and_concurrent_runs_fall_back_to_the_calling_thread(two_workers):
    import threading

    from framework.infra import workers
    inner = []

    def outer(part, slot):
        workers.run(3, lambda p, s: inner.append((part, p, s)))

    workers.run(2, outer)
    assert sorted((a, b) for a, b, _ in inner) == [(a, b) for a in range(2) for b in range(3)]
    assert {s for _, _, s in inner} == {0}                   # in line, on the caller
    results = {}

    def caller(name):
        values = []
        for _ in range(20):
            workers.run(4, lambda part, slot: values.append(part))
        results[name] = sorted(values)

    callers = [threading.Thread(target=caller, args=(n,)) for n in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(30)
    assert all(results[n] == sorted(list(range(4)) * 20) for n in range(3))


def test_ctrl_c_waits_for_the_parts_in_flight(two_workers):
    import threading
    import time

    from framework.infra import workers
    started, finished = threading.Event(), []

    def part_function(part, slot):
        if slot == 0:
            started.wait(10)
            raise KeyboardInterrupt
        started.set()
        time.sleep(0.2)
        finished.append(part)

    with pytest.raises(KeyboardInterrupt):
        workers.run(2, part_function)
    assert len(finished) == 1               # the worker's part ended before run returned


def test_a_forked_child_starts_its_own_workers(two_workers):
    import os

    from framework.infra import workers
    workers.run(4, lambda part, slot: None)                  # the parent's workers exist
    pid = os.fork()
    if pid == 0:                                             # pragma: no cover (child)
        try:
            done = []
            workers.run(6, lambda part, slot: done.append(part))
            os._exit(0 if sorted(done) == list(range(6)) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_blas_is_held_at_one_thread_while_parts_run(two_workers):
    from framework.infra import workers
    seen = []
    with threads.blas_threads(2):
        before = threads.current_blas_threads()
        workers.run(2, lambda part, slot: seen.append(threads.current_blas_threads()))
        inside_after = threads.current_blas_threads()
    assert before == 2 and seen == [1, 1]
    assert inside_after == 1            # inside train / blas_threads: until the block ends
    threads._setting = threads._UNSET
    outside = threads.current_blas_threads()
    threads.set_num_threads(2)
    workers.run(2, lambda part, slot: seen.append(threads.current_blas_threads()))
    assert threads.current_blas_threads() == outside          # outside any block: at once


def test_a_cnn_trains_to_the_same_bits_with_one_or_two_threads(monkeypatch):
    """Conv and pooling results do not depend on the worker count, and BLAS runs
    one thread once a layer splits a batch, so the whole run is bit-identical."""
    monkeypatch.setattr(threads, "_usable_cores", lambda: 8)
    rng = np.random.default_rng(3)
    x = rng.random((96, 1, 12, 12), dtype=np.float32)
    reader = ArrayDataReader(x, rng.integers(0, 4, 96), x[:16], rng.integers(0, 4, 16))
    reader.normalize_y("multiple_classifier", num_category=4)
    specs = [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
             {"type": "pooling", "size": 2}, {"type": "conv", "filters": 6, "kernel": 3},
             {"type": "relu"}, {"type": "pooling", "size": 2, "pool_type": "mean"},
             {"type": "flatten"}, {"type": "fc", "size": 4}, {"type": "softmax"}]
    states = []
    for count in (1, 2):
        threads.set_num_threads(count)
        params = fw.HyperParameters(learning_rate=0.05, max_epoch=2, batch_size=32,
                                    net_type="multiple_classifier", optimizer_name="momentum",
                                    seed=7, dtype=np.float32)
        net = fw.NeuralNet.from_specs(params, specs, input_shape=(1, 12, 12))
        history = net.train(reader, checkpoint=0.5, need_test=False, restore_best=False,
                            verbose=False)
        states.append((net.snapshot(), [r.train_loss for r in history.records]))
    (a, loss_a), (b, loss_b) = states
    assert loss_a == loss_b
    assert all(np.array_equal(a[k], b[k]) for k in a)
