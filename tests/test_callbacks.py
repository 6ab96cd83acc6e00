"""Callbacks: the hooks and their dispatch, early stopping (with L2), the textbook's
stop rules, ModelCheckpoint, CSVLogger, TerminateOnNaN, ProgressBar and Ctrl-C."""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from framework.callbacks import CallbackList
from framework.callbacks.progress import bar_allowed
from net_state import same_arrays, same_snapshot, weights_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params(**kw):
    base = dict(learning_rate=0.01, max_epoch=4, batch_size=16,
                net_type="multiple_classifier", optimizer_name="adam", seed=7)
    base.update(kw)
    return fw.HyperParameters(**base)


def _noise_reader(n=120, seed=0):
    """Fitting targets that are pure noise: validation loss soon rises."""
    rng = np.random.default_rng(seed)
    reader = ArrayDataReader(rng.normal(size=(n, 3)), rng.normal(size=(n, 1)))
    reader.normalize_x()
    reader.normalize_y("fitting")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


class Snapshots(fw.Callback):
    """Keeps the full snapshot (weights, buffers, optimizer state) at every checkpoint."""

    def __init__(self):
        self.snapshots = []

    def on_checkpoint(self, net, record):
        self.snapshots.append(net.snapshot())


class Recorder(fw.Callback):
    """Logs every hook call."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, net, history):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, net, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, net, iteration, loss):
        self.calls.append(("batch", iteration))

    def on_checkpoint(self, net, record):
        self.calls.append(("checkpoint", record.iteration))

    def on_epoch_end(self, net, epoch):
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, net, history):
        self.calls.append(("train_end", len(history)))


# ----- hooks ---------------------------------------------------------------
def test_every_hook_is_called_in_order(build_net, spiral_reader):
    reader = spiral_reader(n_train=64, validation=False)        # 4 batches of 16
    recorder = Recorder()
    build_net([2, 8, 3], _params(max_epoch=2)).train(reader, checkpoint=0.5, verbose=0,
                                                      callbacks=[recorder])
    per_epoch = lambda e, first: [("epoch_begin", e), ("batch", first), ("batch", first + 1),
                                  ("checkpoint", first + 1), ("batch", first + 2),
                                  ("batch", first + 3), ("checkpoint", first + 3),
                                  ("epoch_end", e)]
    assert recorder.calls == ([("train_begin",)] + per_epoch(0, 1) + per_epoch(1, 5)
                              + [("train_end", 4)])


def test_only_overridden_hooks_are_called():
    class OnlyCheckpoints(fw.Callback):
        def on_checkpoint(self, net, record):
            pass

    hooks = CallbackList([OnlyCheckpoints(), Recorder()])
    assert len(hooks.hooks["on_checkpoint"]) == 2
    assert len(hooks.hooks["on_batch_end"]) == 1 and len(hooks.batch_hooks()) == 1
    with pytest.raises(ValueError, match="Callback instances, got"):
        CallbackList([lambda net, record: None])
    lines_only = fw.ProgressBar(bar=False)              # what verbose=2 (or no tty) runs
    hooks = CallbackList([OnlyCheckpoints(), lines_only, fw.EarlyStopping()])
    lines_only.on_train_begin(None, None)
    assert hooks.batch_hooks() == []                    # the step loop calls nothing


def test_stop_training_flag_stops_after_the_current_step(build_net, spiral_reader):
    class StopAt(fw.Callback):
        def on_batch_end(self, net, iteration, loss):
            if iteration == 7:
                self.stop(net, "enough")

    net = build_net([2, 8, 3], _params(max_epoch=10))
    history = net.train(spiral_reader(n_train=64, validation=False), checkpoint=1,
                        verbose=0, callbacks=[StopAt()])
    assert net.iteration == 7 and history.stop_reason == "enough"
    assert [r.iteration for r in history.records] == [4, 7]     # the partial interval too
    recorder = Recorder()                  # a stop at an epoch's last step: the epoch ended
    build_net([2, 8, 3], _params(max_epoch=10)).train(
        spiral_reader(n_train=64, validation=False), checkpoint=1, verbose=0,
        callbacks=[fw.StopLoss(100.0), recorder])
    assert [c for c in recorder.calls if c[0] != "batch"] == [
        ("train_begin",), ("epoch_begin", 0), ("checkpoint", 4), ("epoch_end", 0),
        ("train_end", 1)]
    assert net.stop_training is False                          # reset for the next call


# ----- early stopping --------------------------------------------------------
@pytest.mark.parametrize("regular", [("nothing", 0.0), ("l2", 0.05)])
def test_early_stopping_stops_at_the_right_checkpoint_and_restores_the_best(build_net,
                                                                            regular):
    params = _params(net_type="fitting", max_epoch=300, batch_size=8,
                     regular_name=regular[0], regular_value=regular[1])
    net = build_net([3, 64, 64, 1], params, activation="relu")
    seen = Snapshots()
    history = net.train(_noise_reader(), checkpoint=1, verbose=0,
                        callbacks=[seen, fw.EarlyStopping(patience=4)])
    losses = [r.val_loss for r in history.records]
    best = int(np.argmin(losses))
    assert history.stop_reason.startswith("early_stop") and len(history) < 300
    assert len(history) == best + 1 + 4                       # stopped at the 4th bad one
    assert all(loss >= losses[best] for loss in losses[best + 1:])
    assert same_snapshot(net.snapshot(), seen.snapshots[best])   # weights + optimizer
    if regular[0] == "l2":     # the penalty was applied: train loss = data loss + penalty
        assert history.records[0].train_loss > 0


def test_early_stopping_min_delta_and_monitor(build_net):
    params = _params(net_type="fitting", max_epoch=300, batch_size=8)
    strict = build_net([3, 64, 1], params, activation="relu").train(
        _noise_reader(), checkpoint=1, verbose=0,
        callbacks=[fw.EarlyStopping(patience=3, min_delta=10.0)])
    assert len(strict) == 4                                   # nothing improves by 10
    with pytest.raises(ValueError, match="monitor: expected one of"):
        fw.EarlyStopping(monitor="val_los")
    with pytest.raises(ValueError, match="patience: expected a finite number >= 0"):
        fw.EarlyStopping(patience=-1)


def test_textbook_early_stop_setting_is_an_early_stopping(build_net):
    params = _params(net_type="fitting", max_epoch=300, batch_size=8,
                     regular_name="early_stop", regular_value=4)
    textbook = build_net([3, 64, 1], params, activation="relu").train(
        _noise_reader(), checkpoint=1, verbose=0)
    plain = build_net([3, 64, 1], _params(net_type="fitting", max_epoch=300, batch_size=8),
                      activation="relu").train(_noise_reader(), checkpoint=1, verbose=0,
                                               callbacks=[fw.EarlyStopping(patience=4)])
    assert [r.val_loss for r in textbook.records] == [r.val_loss for r in plain.records]
    assert textbook.stop_reason == plain.stop_reason.replace("epochs", "checkpoints")


# ----- the textbook's stop rules ----------------------------------------------
def test_stop_loss_and_stop_diff_callbacks_match_the_stopper(build_net, spiral_reader):
    for stopper, callback in ((("stop_loss", 0.5), fw.StopLoss(0.5)),
                              (("stop_diff", 2e-3), fw.StopDiff(2e-3))):
        by_params = build_net([2, 16, 3], _params(max_epoch=200, stopper=stopper)).train(
            spiral_reader(), checkpoint=1, verbose=0)
        by_callback = build_net([2, 16, 3], _params(max_epoch=200)).train(
            spiral_reader(), checkpoint=1, verbose=0, callbacks=[callback])
        assert by_params.stop_reason.startswith(stopper[0]) and len(by_params) < 200
        assert [r.val_loss for r in by_params.records] == \
            [r.val_loss for r in by_callback.records]
    losses = [r.val_loss for r in by_params.records]
    assert abs(losses[-1] - losses[-2]) < 2e-3
    assert all(abs(a - b) >= 2e-3 for a, b in zip(losses[:-2], losses[1:-1]))


# ----- files ---------------------------------------------------------------
def test_model_checkpoint_leaves_a_loadable_best_file_while_training_runs(build_net,
                                                                          tmp_path):
    path = tmp_path / "sub" / "best.h5"
    x_probe = np.random.default_rng(5).normal(size=(7, 3)).astype(np.float32)

    class Inspect(fw.Callback):
        """Runs after ModelCheckpoint: the file must hold the best checkpoint so far."""

        def __init__(self):
            self.best, self.checked = np.inf, 0

        def on_checkpoint(self, net, record):
            if record.val_loss < self.best:
                self.best, self.expected = record.val_loss, net.inference(x_probe)
            loaded = fw.NeuralNet.load(path)
            assert np.array_equal(loaded.inference(x_probe), self.expected)
            self.checked += 1

    inspect = Inspect()
    params = _params(net_type="fitting", max_epoch=12, batch_size=8)
    net = build_net([3, 32, 1], params, activation="relu")
    history = net.train(_noise_reader(), checkpoint=1, verbose=0, restore_best=False,
                        callbacks=[fw.ModelCheckpoint(path), inspect])
    assert inspect.checked == len(history) == 12
    assert history.best_index < len(history) - 1          # the last one was not the best
    assert not np.array_equal(net.inference(x_probe), inspect.expected)


def test_csv_logger_writes_one_row_per_checkpoint(build_net, spiral_reader, tmp_path):
    path = tmp_path / "log.csv"
    history = build_net([2, 8, 3], _params(max_epoch=3)).train(
        spiral_reader(), checkpoint=0.5, verbose=0, callbacks=[fw.CSVLogger(path)])
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(history) == 6
    for row, record in zip(rows, history.records):
        assert float(row["val_loss"]) == record.val_loss
        assert int(row["iteration"]) == record.iteration


# ----- TerminateOnNaN --------------------------------------------------------
def test_terminate_on_nan_catches_an_overflowed_running_variance(build_net, spiral_reader,
                                                                 tmp_path):
    """lr 1e5 makes batch norm's running variance overflow to inf while the clipped
    softmax loss stays finite: the array check at the checkpoint must stop the run
    before ModelCheckpoint (which saves every checkpoint here) writes it."""
    path = tmp_path / "every.h5"
    params = _params(learning_rate=1e5, optimizer_name="sgd", max_epoch=20, seed=3)
    net = build_net([2, 16, 16, 3], params, activation="relu", batch_norm=True)
    history = net.train(spiral_reader(n_train=300), checkpoint=0.1, verbose=0,
                        need_test=False,
                        callbacks=[fw.ModelCheckpoint(path, save_best_only=False)])
    assert len(history) >= 2 and path.is_file()     # saved before the overflow
    assert history.stop_reason.startswith("diverged: layer 'bn")
    assert "'running_var'" in history.stop_reason
    assert all(np.isfinite(r.train_loss) for r in history.records)   # the loss never told
    for snapshot in (net.snapshot(), fw.NeuralNet.load(path).snapshot()):
        assert all(np.isfinite(a).all() for a in snapshot.values())


def test_terminate_on_nan_stops_at_a_non_finite_loss(build_net):
    params = _params(net_type="fitting", optimizer_name="sgd", learning_rate=1e6,
                     max_epoch=50, batch_size=8)
    net = build_net([3, 32, 1], params, activation="relu")
    start = net.snapshot()
    history = net.train(_noise_reader(), checkpoint=1, verbose=0, restore_best=False)
    assert history.stop_reason.startswith("diverged: train loss")
    assert history.records[-1].epoch < 1.0
    assert same_snapshot(net.snapshot(), start)            # rolled back, even restore_best=False


# ----- progress -----------------------------------------------------------
class _FakeTty:
    def isatty(self):
        return True


def test_bar_only_on_a_terminal_and_never_with_tqdm_disable(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert bar_allowed(_FakeTty()) is True
    assert bar_allowed(open(os.devnull, "w")) is False
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert bar_allowed(_FakeTty()) is False
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert bar_allowed(_FakeTty()) is True


def test_on_a_terminal_the_bar_draws_on_stderr_and_lines_stay_whole(build_net, spiral_reader,
                                                                   monkeypatch, capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    build_net([2, 8, 3], _params(max_epoch=3)).train(spiral_reader(), checkpoint=1,
                                                      need_test=False, verbose=1)
    out = capsys.readouterr().out
    assert "\r" in terminal.getvalue() and "batch" in terminal.getvalue()   # the bar
    assert "\r" not in out
    assert [line[:13] for line in out.splitlines()] == ["epoch    1.00", "epoch    2.00",
                                                         "epoch    3.00", "training stop"]
    assert out.splitlines()[-1].startswith("training stopped: max_epoch reached; kept ")


@pytest.mark.parametrize("verbose,lines", [(0, 0), (1, 3), (2, 3)])
def test_verbose_levels_print_whole_lines_and_no_bar_off_a_terminal(build_net, spiral_reader,
                                                                     capfd, verbose, lines):
    build_net([2, 8, 3], _params(max_epoch=3)).train(spiral_reader(), checkpoint=1,
                                                      need_test=False, verbose=verbose)
    out, err = capfd.readouterr()
    assert "\r" not in out + err and err == ""
    assert len([line for line in out.splitlines() if line.startswith("epoch ")]) == lines
    with pytest.raises(ValueError, match="verbose: expected 0"):
        build_net([2, 8, 3], _params()).train(spiral_reader(), verbose=3)


# ----- interruption ----------------------------------------------------------
def test_keyboard_interrupt_from_a_callback_returns_the_best_state(build_net):
    class CtrlC(fw.Callback):
        def on_batch_end(self, net, iteration, loss):
            if iteration == 95:           # mid-epoch 8 (12 steps per epoch)
                raise KeyboardInterrupt

    params = _params(net_type="fitting", max_epoch=100, batch_size=8)
    net = build_net([3, 64, 64, 1], params, activation="relu")
    seen = Snapshots()
    history = net.train(_noise_reader(), checkpoint=1, verbose=0, callbacks=[seen, CtrlC()])
    assert history.stop_reason == "interrupted"
    assert net.iteration == 95 and history.records[-1].iteration == 95
    assert same_snapshot(net.snapshot(), seen.snapshots[history.best_index])


_SIGINT_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import framework as fw
    from datareaders.base import ArrayDataReader
    rng = np.random.default_rng(0)
    reader = ArrayDataReader(rng.normal(size=(400, 3)), rng.normal(size=(400, 1)))
    reader.normalize_x(); reader.normalize_y("fitting"); reader.generate_validation_set(k=4)
    params = fw.HyperParameters(0.01, 100000, 8, optimizer_name="adam", seed=2)
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([64], 1, "relu"), (3,))

    class Keep(fw.Callback):
        def __init__(self):
            self.best, self.snapshot = float("inf"), None
        def on_checkpoint(self, net, record):
            if record.val_loss < self.best:
                self.best, self.snapshot = record.val_loss, net.snapshot()
            if len(self.records_seen) == 3:
                print("ready", flush=True)
            self.records_seen.append(1)
    keep = Keep(); keep.records_seen = []
    history = net.train(reader, checkpoint=0.5, verbose=0, callbacks=[keep])
    state = net.snapshot()
    same = all(np.array_equal(state[k], keep.snapshot[k]) for k in state)
    print(json.dumps({"reason": history.stop_reason, "best_restored": same,
                      "records": len(history)}))
""")


def test_sigint_in_a_subprocess_stops_after_the_step_with_the_best_weights():
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", _SIGINT_SCRIPT], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"reason": "interrupted", "best_restored": True,
                      "records": result["records"]} and result["records"] >= 4


def test_the_weights_saved_after_ctrl_c_are_the_best_ones(build_net, tmp_path):
    """What an app does on Ctrl-C (tests/test_apps.py checks the exit status 130):
    train returns the history, the net holds the best checkpoint's weights, and
    saving them then gives a file with exactly those arrays."""
    class CtrlC(fw.Callback):
        def on_batch_end(self, net, iteration, loss):
            if iteration == 40:
                raise KeyboardInterrupt

    path = tmp_path / "net.h5"
    seen = Snapshots()
    net = build_net([3, 32, 1], _params(net_type="fitting", max_epoch=50, batch_size=8),
                    activation="relu")
    history = net.train(_noise_reader(), checkpoint=1.0, need_test=False, verbose=0,
                        callbacks=[seen, CtrlC()])
    net.save(path)
    assert history.stop_reason == "interrupted" and history.best_index < len(history) - 1
    assert same_arrays(weights_only(fw.NeuralNet.load(path).snapshot()),
                       weights_only(seen.snapshots[history.best_index]))


def test_training_in_a_worker_thread_leaves_sigint_alone(build_net, spiral_reader):
    """signal.signal works only in the main thread: a thread (a Dask worker) trains
    without installing the Ctrl-C handler, and the main thread's handler is untouched."""
    import threading
    before = signal.getsignal(signal.SIGINT)
    results = []
    net = build_net([2, 8, 3], _params(max_epoch=2))
    worker = threading.Thread(target=lambda: results.append(
        net.train(spiral_reader(), checkpoint=1, verbose=0)))
    worker.start()
    worker.join(60)
    assert len(results) == 1 and results[0].stop_reason == "max_epoch reached"
    assert signal.getsignal(signal.SIGINT) is before


def test_one_callback_given_on_its_own_counts_as_a_list(build_net):
    """``callbacks=EarlyStopping(...)`` (no list) works as ``[EarlyStopping(...)]``."""
    params = _params(net_type="fitting", max_epoch=30, batch_size=8)
    alone, listed = (build_net([3, 8, 1], params, activation="relu") for _ in range(2))
    first = alone.train(_noise_reader(), checkpoint=1.0, need_test=False, verbose=0,
                        callbacks=fw.EarlyStopping(patience=2))
    second = listed.train(_noise_reader(), checkpoint=1.0, need_test=False, verbose=0,
                          callbacks=[fw.EarlyStopping(patience=2)])
    assert first.stop_reason == second.stop_reason and first.stop_reason.startswith("early")
    assert len(first) == len(second)
