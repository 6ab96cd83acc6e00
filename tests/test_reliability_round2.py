"""Nothing lost, nothing silent, round two (issue 19): the training loop's end under
interrupts and callback errors, what save refuses load refuses (and the reverse),
sizes checked against the memory before anything is allocated, and the checks a
learner's tools make (check_gradients, save paths, params)."""
import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest

import framework as fw
from datareaders import ArrayDataReader
from framework.errors import WeightsFileError
from framework.infra import machine
from net_state import same_arrays
from test_weights_file_validation import edit, refused

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reader(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ [[1.0], [-1.0], [0.5]] + rng.normal(size=(n, 1))
    reader = ArrayDataReader(x, y, x[:30], y[:30])
    reader.normalize_y("fitting")
    reader.generate_validation_set(k=4)
    return reader


def _net(**kwargs):
    params = fw.HyperParameters(0.01, 40, 8, optimizer_name="adam", seed=2, **kwargs)
    return fw.NeuralNet.from_specs(params, fw.mlp_specs([32], 1, "relu"), (3,))


class Snapshots(fw.Callback):
    def on_train_begin(self, net, history):
        self.snapshots = []

    def on_checkpoint(self, net, record):
        self.snapshots.append(net.snapshot())


# ----- the end of a run ---------------------------------------------------------------------
def test_an_exception_from_on_batch_end_ends_on_the_best_weights_and_is_raised_once():
    class Broken(fw.Callback):
        def on_batch_end(self, net, iteration, loss):
            if iteration == 70:
                raise RuntimeError("the callback broke")

    net, seen = _net(), Snapshots()
    with pytest.raises(RuntimeError, match="the callback broke") as info:
        net.train(_reader(), checkpoint=1, verbose=0, callbacks=[seen, Broken()])
    history = info.value.history
    assert history.kept == "best" and history.stop_reason.startswith("error: RuntimeError")
    assert same_arrays(net.snapshot(), seen.snapshots[history.best_index])


def test_ctrl_c_from_on_train_end_keeps_the_finished_runs_history():
    class Late(fw.Callback):
        def on_train_end(self, net, history):
            raise KeyboardInterrupt

    net, seen = _net(), Snapshots()
    history = net.train(_reader(), epochs=5, checkpoint=1, verbose=0, callbacks=[seen, Late()])
    assert history.stop_reason == "interrupted" and len(history) == 5
    assert same_arrays(net.snapshot(), seen.snapshots[history.best_index])


_PRESS_DURING = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np
    import framework as fw
    import framework.keeper, framework.infra.threads as threads
    from datareaders import ArrayDataReader
    phase = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)); y = x @ [[1.0], [-1.0], [0.5]]
    reader = ArrayDataReader(x, y); reader.normalize_y("fitting"); reader.generate_validation_set(k=4)
    params = fw.HyperParameters(0.01, 40, 8, optimizer_name="adam", seed=2)
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([32], 1, "relu"), (3,))
    press = lambda: os.kill(os.getpid(), signal.SIGINT)

    class Seen(fw.Callback):
        def on_train_begin(self, net, history): self.snapshots = []
        def on_checkpoint(self, net, record):
            self.snapshots.append(net.snapshot())
            if len(self.snapshots) == 6: press()          # the first Ctrl-C
    finish = framework.keeper.Keeper.finish
    def finish_pressed(self, consistent):                 # the second, while restoring
        press()
        return finish(self, consistent)
    limit = threads.limit
    import contextlib
    @contextlib.contextmanager
    def limit_pressed(*args):                            # ... or while the limit is lifted
        with limit(*args):
            yield
        press()
    if phase == "restore": framework.keeper.Keeper.finish = finish_pressed
    else: threads.limit = limit_pressed
    seen = Seen()
    history = net.train(reader, checkpoint=1, verbose=0, callbacks=[seen])
    best = seen.snapshots[history.best_index]
    same = all(np.array_equal(best[k], v) for k, v in net.snapshot().items())
    print(json.dumps({"reason": history.stop_reason, "kept": history.kept, "best": same}))
""")


@pytest.mark.parametrize("phase", ["restore", "thread cleanup"])
def test_a_second_ctrl_c_while_the_run_ends_is_counted_not_raised(phase):
    done = subprocess.run([sys.executable, "-c", _PRESS_DURING, phase.split()[0]],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"reason": "interrupted", "kept": "best", "best": True}


def test_the_double_ctrl_c_loop_script_runs():
    """bench/double_ctrl_c.py presses Ctrl-C twice at random moments; two rounds here
    (the closing note shows it run 25 times)."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "double_ctrl_c.py"),
                           "--rounds", "2"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 lost" in done.stdout.splitlines()[-1]


# ----- what save refuses, load refuses ----------------------------------------------------
def test_a_name_a_file_cannot_hold_is_refused():
    params = fw.HyperParameters(0.1, 1, 4)
    for bad in ("net\x00", "a\nb", "tab\there"):
        with pytest.raises(ValueError, match="printable"):
            fw.NeuralNet(params, bad)


def _saved(tmp_path, metadata=None):
    net = _net()
    path = tmp_path / "net.h5"
    net.save(path, metadata=metadata or {"x": 1.0})
    return net, path


def _set_metadata_json(text):
    def action(f):
        f["metadata"].attrs["json"] = np.bytes_(text.encode())
    return action


@pytest.mark.parametrize("document,words", [
    ('{"x": NaN}', "not a finite number"),
    ('{"x": Infinity}', "not a finite number"),
    ('{"x": ' + "[" * 50 + "1" + "]" * 50 + "}", "nested deeper than 16"),
])
def test_metadata_save_would_refuse_is_refused_on_load(tmp_path, document, words):
    _, path = _saved(tmp_path)
    edit(path, _set_metadata_json(document))
    refused(path, words)


def test_zero_dimensional_metadata_arrays_keep_their_shape_and_save_again(tmp_path):
    _, path = _saved(tmp_path, {"scale": np.array(2.5), "offset": np.float32(1.5),
                                "table": np.arange(3)})
    loaded = fw.NeuralNet.load(path)
    assert loaded.metadata["scale"].shape == () and loaded.metadata["scale"] == 2.5
    assert loaded.metadata["table"].shape == (3,)
    loaded.save(tmp_path / "again.h5")
    assert fw.NeuralNet.load(tmp_path / "again.h5").metadata["scale"].shape == ()


def test_a_value_beyond_the_nets_dtype_is_refused(tmp_path):
    _, path = _saved(tmp_path)

    def huge(f):
        w = f["layers/fc1/W"][()].astype(np.float64)
        w[0, 0] = 1e39
        del f["layers/fc1/W"]
        f["layers/fc1"].create_dataset("W", data=w, chunks=w.shape, fletcher32=True)
    edit(path, huge)
    refused(path, "'fc1'", "'W'", "1e+39", "float32")


def test_save_refuses_a_folder_path(tmp_path):
    net = _net()
    for bad in (str(tmp_path) + os.sep, "sub/", os.path.join(str(tmp_path), "..")):
        with pytest.raises(WeightsFileError, match="names a folder, not a file"):
            net.save(bad)
    with pytest.raises(WeightsFileError, match="is a directory, not a regular file"):
        net.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


# ----- memory from tiny files and specs ------------------------------------------------------
def _time_and_trace(action):
    tracemalloc.start()
    start = time.process_time()
    try:
        action()
    finally:
        seconds = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak


def test_a_tiny_file_declaring_a_huge_padding_is_refused_on_load(tmp_path):
    """The issue's small file: a 1x1 convolution with padding 25,000 (the padded image of
    one sample alone is 10 GB), flatten, fc; the stride keeps every stored shape."""
    params = fw.HyperParameters(0.1, 1, 4, net_type="multiple_classifier")
    specs = [{"type": "conv", "filters": 1, "kernel": 1, "stride": 14},
             {"type": "flatten"}, {"type": "fc", "size": 10}, {"type": "softmax"}]
    path = tmp_path / "bomb.h5"
    fw.NeuralNet.from_specs(params, specs, (1, 28, 28)).save(path)

    def pad(f):
        config = json.loads(f["layers/conv1"].attrs["config"])
        config.update(padding=[25000, 25000], stride=[25014, 25014])
        f["layers/conv1"].attrs["config"] = np.bytes_(json.dumps(config).encode())
    edit(path, pad)
    assert os.path.getsize(path) < 70_000
    seconds, peak = _time_and_trace(lambda: refused(path, "one inference pass needs about",
                                                    "GB"))
    assert seconds < 1 and peak < 50_000_000, (seconds, peak)


@pytest.mark.parametrize("specs,shape,words", [
    ([{"type": "conv", "filters": 10 ** 5, "kernel": 5, "padding": 2}, {"type": "flatten"},
      {"type": "fc", "size": 10}, {"type": "softmax"}], (1, 28, 28), "layer spec 2 ('fc')"),
    ([{"type": "fc", "size": 10 ** 6}, {"type": "relu"}, {"type": "fc", "size": 10},
      {"type": "softmax"}], (784,), "layer spec 0 ('fc')"),
])
def test_from_specs_refuses_what_cannot_fit_naming_the_layer(monkeypatch, specs, shape, words):
    monkeypatch.setattr(machine, "available_bytes", lambda: 2_500_000_000)
    params = fw.HyperParameters(0.1, 1, 64, net_type="multiple_classifier")

    def build():
        with pytest.raises(ValueError, match="refused before allocating") as info:
            fw.NeuralNet.from_specs(params, specs, shape)
        assert words in str(info.value) and "2.5 GB available" in str(info.value)
    seconds, peak = _time_and_trace(build)
    assert seconds < 1 and peak < 50_000_000, (seconds, peak)


def test_the_address_space_limit_is_the_memory_available():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
            "from framework.infra import machine; print(machine.available_bytes())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < 3 << 30


def test_training_that_cannot_fit_is_refused_before_the_first_step(monkeypatch):
    net = _net()
    monkeypatch.setattr(machine, "available_bytes", lambda: 1000)
    from framework import training
    monkeypatch.setattr(training, "training_growth_bytes", lambda net: 10 ** 9)
    with pytest.raises(ValueError, match="training net 'net' with batch 8 needs"):
        net.train(_reader(), verbose=0)
    assert net.iteration == 0


# ----- a learner's tools ---------------------------------------------------------------------
def test_check_gradients_of_a_gradient_zero_by_construction():
    """An FC bias right before batch norm has gradient 0; its numeric gradient is rounding
    noise, which must not read as an error."""
    params = fw.HyperParameters(0.1, 1, 8, net_type="multiple_classifier", dtype=np.float64,
                                seed=1)
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([6, 5], 3, "tanh", batch_norm=True,
                                                       classifier="softmax"), (4,))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    errors = fw.check_gradients(net, x, y)
    assert max(errors.values()) < 1e-6, errors
    for bad in (float("nan"), 1e-30, 0, "1e-6", True):
        with pytest.raises(ValueError, match="check_gradients eps: expected a number in"):
            fw.check_gradients(net, x, y, eps=bad)


def test_a_wrong_gradient_is_still_caught():
    params = fw.HyperParameters(0.1, 1, 8, net_type="multiple_classifier", dtype=np.float64,
                                seed=1)
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([6], 3, "tanh", classifier="softmax"),
                                  (4,))
    layer = net.get_layer("fc1")
    honest = layer.backward
    layer.backward = lambda delta: (honest(delta), layer.wb.dB.__imul__(1.01))[0]
    rng = np.random.default_rng(0)
    errors = fw.check_gradients(net, rng.normal(size=(8, 4)), rng.integers(0, 3, 8))
    assert errors["fc1/B"] > 1e-4 and errors["fc1/W"] < 1e-6


def test_hyper_parameters_refuse_a_dtype_of_none():
    with pytest.raises(ValueError, match="dtype: expected float32 or float64, got None"):
        fw.HyperParameters(0.1, 1, 4, dtype=None)
