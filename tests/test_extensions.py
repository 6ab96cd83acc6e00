"""Extending the framework from one file: a layer, an optimizer, a loss, an initializer
and a callback, each defined here only (no file under framework/ changes), as
docs/architecture.md ("Adding ... in one file") shows them.

They are built from specs, trained, gradient-checked, saved and loaded in a fresh
process with identical predictions, costed by the memory estimate and run by an app.
"""
import contextlib
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import framework as fw
from datareaders import ArrayDataReader
from framework.infra.memory import estimate_training_bytes


# ----- a layer with one parameter ----------------------------------------------------
@fw.register_layer(name="prelu")
class PReLULayer(fw.Layer):
    """a = x where x > 0, else alpha * x, with one learned alpha per feature (channel).

    forward     a  = max(x, 0) + alpha * min(x, 0)
    backward    dx = delta * (1 where x > 0, else alpha);  dalpha = sum(delta * min(x, 0))
    """

    def __init__(self, input_shape=None, start=0.25, params=None):
        super().__init__(params)
        self.start = float(start)
        if input_shape is not None:
            self.build(input_shape)

    def build(self, input_shape):
        shape = super().build(input_shape)
        if not self.parameters():
            per_channel = (1, shape[0]) + (1,) * (len(shape) - 1)
            self.alpha = self.add_parameter("alpha", per_channel, init=self.start, decay=False)
            self.axes = (0,) + tuple(range(2, len(shape) + 1))
        return shape

    def forward(self, x, train):
        self.negative = np.minimum(self.checked(x), 0, out=self.work("negative", x.shape))
        out = np.maximum(x, 0, out=self.work("out", x.shape))
        out += self.alpha.value * self.negative
        return out

    def backward(self, delta):
        np.sum(delta * self.negative, axis=self.axes, keepdims=True, out=self.alpha.grad)
        slope = np.where(self.negative < 0, self.alpha.value, 1.0)
        return np.multiply(delta, slope, out=self.work("dx", delta.shape))

    def get_config(self):
        return {"input_shape": list(self.input_shape), "start": self.start}


# ----- a layer without parameters -----------------------------------------------------
@fw.register_layer(name="global_average_pooling")
class GlobalAveragePooling(fw.Layer):
    """(N, C, H, W) -> (N, C): the mean of every channel's map.

    forward     a[n, c]     = mean over h, w of x[n, c, h, w]
    backward    dx[n, c, ., .] = delta[n, c] / (H W)
    """

    def __init__(self, input_shape=None):
        super().__init__()
        if input_shape is not None:
            self.build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def forward(self, x, train):
        return np.mean(self.checked(x), axis=(2, 3), out=self.work("out", x.shape[:2]))

    def backward(self, delta):
        h, w = self.input_shape[1:]
        dx = self.work("dx", (delta.shape[0],) + self.input_shape)
        dx[...] = delta[:, :, None, None] / (h * w)
        return dx

    def get_config(self):
        return {"input_shape": list(self.input_shape)}


# ----- an optimizer: SGD with decoupled weight decay ---------------------------------
@fw.register_optimizer
class SGDW(fw.Optimizer):
    """theta <- theta - lr * (g + weight_decay * theta)  (weight decay where it applies);
    with momentum: v <- mu * v + g_w;  theta <- theta - lr * v"""

    name = "sgdw"
    defaults = {"mu": 0.0, "weight_decay": 1e-2, "nesterov": False}
    state_names = ("v",)
    num_scratch = 1

    def step(self, theta, grad, lr):
        (s,), v = self._scratch, self._state["v"]
        np.copyto(s, grad)
        if self.decay:
            s += self.weight_decay * theta
        v *= self.mu
        v += s
        if self.nesterov:
            s += self.mu * v
            theta -= lr * s
        else:
            theta -= lr * v


# ----- a loss -------------------------------------------------------------------------
@fw.register_loss
class LogCosh(fw.Loss):
    """sum(log cosh(a - y)) / m: like mse near 0, like mae far away;
    gradient tanh(a - y) / m."""

    name = "log_cosh"

    def loss(self, a, y):
        r = np.abs(np.asarray(a, np.float64) - y)
        return float(np.sum(r + np.log1p(np.exp(-2 * r)) - math.log(2))) / a.shape[0]

    def gradient(self, a, y, out):
        np.subtract(a, y, out=out)
        np.tanh(out, out=out)
        return np.multiply(out, 1.0 / a.shape[0], out=out)


# ----- an initializer ---------------------------------------------------------------------
@fw.register_initializer
def lecun_normal(shape, fans, rng):
    """N(0, sqrt(1 / fan_in)) (LeCun et al. 1998)."""
    return rng.normal(0.0, math.sqrt(1.0 / fans[0]), size=shape)


# ----- a callback -------------------------------------------------------------------------
class GradientNormLog(fw.Callback):
    """Records the norm of every parameter's gradient after each optimizer step... of the
    last step of every checkpoint interval, and stops once a checkpoint's loss is low."""

    def __init__(self, stop_below=0.0):
        self.stop_below, self.norms = stop_below, []

    def on_train_begin(self, net, history):
        self.norms = []

    def on_checkpoint(self, net, record):
        self.norms.append({key: float(np.linalg.norm(p.grad))
                           for key, p in net.parameters().items()})
        if record.train_loss < self.stop_below:
            self.stop(net, f"loss below {self.stop_below}")


SPECS = [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
         {"type": "prelu", "start": 0.1},
         {"type": "pooling", "size": 2},
         {"type": "conv", "filters": 6, "kernel": 3, "padding": 1},
         {"type": "prelu"},
         {"type": "global_average_pooling"},
         {"type": "fc", "size": 2},
         {"type": "prelu", "start": 0.5}]


def _params(**kwargs):
    base = dict(learning_rate=0.1, max_epoch=10, batch_size=8, net_type="fitting",
                optimizer_name="sgdw", optimizer_options={"mu": 0.9, "weight_decay": 1e-3},
                loss="log_cosh", init_method="lecun_normal", seed=4)
    base.update(kwargs)
    return fw.HyperParameters(**base)


def _reader(n=256, seed=0):
    """Two targets per 1x8x8 image: its mean brightness and its left-right difference."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 8, 8))
    y = np.stack([x.mean(axis=(1, 2, 3)), x[..., :4].mean(axis=(1, 2, 3))
                  - x[..., 4:].mean(axis=(1, 2, 3))], axis=1) * 4
    reader = ArrayDataReader(x, y, x[:16], y[:16])
    reader.generate_validation_set(k=4, seed=seed)
    return reader


def test_every_extension_builds_from_specs_and_trains():
    params = _params()
    net = fw.NeuralNet.from_specs(params, SPECS, (1, 8, 8), "extended")
    assert net.layer_names == ["conv1", "prelu1", "pooling1", "conv2", "prelu2",
                               "global_average_pooling1", "fc1", "prelu3"]
    assert list(net.get_layer("prelu2").parameters()) == ["alpha"]      # one parameter
    assert "prelu2/alpha" in net.parameters() and "prelu2/B" not in net.parameters()
    row = next(line for line in net.summary().splitlines() if " prelu2 " in line)
    assert row.split()[1:] == ["prelu2", "PReLULayer", "6x4x4", "6"]   # 6 alphas, no bias
    assert np.all(net.get_layer("prelu1").alpha.value == 0.1)
    w = net.parameters()["conv2/W"].value
    assert abs(w.std() / math.sqrt(1 / (4 * 9)) - 1) < 0.25               # lecun_normal
    reader = _reader()
    log = GradientNormLog()
    history = net.train(reader, checkpoint=1, verbose=0, callbacks=[log])
    assert history.records[-1].train_loss < 0.6 * history.records[0].train_loss
    assert history.records[-1].val_accuracy > 0.5                            # R² on held-out
    assert len(log.norms) == len(history) and set(log.norms[0]) == set(net.parameters())
    assert net.get_layer("prelu3").alpha.value.shape == (1, 2)
    assert not np.all(net.get_layer("prelu1").alpha.value == 0.1)        # alpha learned


def test_the_user_optimizer_decays_weights_but_not_biases_or_alphas():
    net = fw.NeuralNet.from_specs(_params(optimizer_options={"weight_decay": 0.5}), SPECS,
                                  (1, 8, 8))
    parameters = net.parameters()
    for p in parameters.values():
        p.grad[...] = 0
        p.value[...] = 1
    for p in parameters.values():
        p.update(0.1)
    assert np.all(parameters["fc1/W"].value == 1 - 0.1 * 0.5)
    assert np.all(parameters["fc1/B"].value == 1)
    assert np.all(parameters["prelu1/alpha"].value == 1)
    with pytest.raises(ValueError, match="sgdw optimizer: unknown option.*'mom'.*mu"):
        _params(optimizer_options={"mom": 0.9})
    with pytest.raises(ValueError, match="sgdw optimizer nesterov: expected True or False"):
        _params(optimizer_options={"nesterov": "yes"})


def test_every_extension_passes_check_gradients():
    params = _params(dtype=np.float64)
    net = fw.NeuralNet.from_specs(params, SPECS, (1, 8, 8))
    rng = np.random.default_rng(1)
    for layer in ("prelu1", "prelu2", "prelu3"):        # away from 0.25 and varied
        alpha = net.get_layer(layer).alpha.value
        alpha[...] = rng.uniform(0.1, 0.9, alpha.shape)
    x, y = _reader(8, seed=3).x_train[:6], _reader(8, seed=3).y_train[:6]
    errors = fw.check_gradients(net, x, y)
    assert set(errors) == set(net.parameters())
    assert max(errors.values()) < 1e-6, errors


def test_a_net_of_extensions_loads_in_a_fresh_process_with_identical_predictions(tmp_path):
    net = fw.NeuralNet.from_specs(_params(), SPECS, (1, 8, 8))
    reader = _reader()
    net.train(reader, epochs=2, checkpoint=1, verbose=0)
    path = tmp_path / "extended.h5"
    net.save(path)
    x = reader.get_test_set()[0]
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, json, numpy as np; sys.path.insert(0, sys.argv[1]); "
            "import test_extensions; from framework import NeuralNet; "
            "net = NeuralNet.load(sys.argv[2]); "
            "np.save(sys.argv[3], net.predict(np.load(sys.argv[4]))); "
            "print(json.dumps({'loss': net.params.loss, 'optimizer': net.params.optimizer_name, "
            "'init': net.params.init_method, 'classes': [type(l).__name__ for l in net.layers]}))")
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", code, here, str(path), str(tmp_path / "y.npy"),
                           str(tmp_path / "x.npy")], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info == {"loss": {"name": "log_cosh"}, "optimizer": "sgdw", "init": "lecun_normal",
                    "classes": [type(layer).__name__ for layer in net.layers]}
    assert np.array_equal(np.load(tmp_path / "y.npy"), net.predict(x))


def test_the_memory_estimate_costs_the_extensions_from_what_they_declare():
    params = _params()
    estimate = estimate_training_bytes(SPECS, (1, 8, 8), params=params)   # nothing allocated
    net = fw.NeuralNet.from_specs(params, SPECS, (1, 8, 8))
    assert estimate.total == estimate_training_bytes(net).total
    # every declared parameter is counted (the alphas and the convolution kernels included):
    # value, grad, SGDW's v and scratch, the loop's two copies, 4 bytes each
    per_value = estimate.parameters / sum(p.size for p in net.parameters().values())
    assert per_value == pytest.approx(4 * (2 + 1 + 1 + 2))


def test_a_layer_that_cannot_describe_itself_never_crashes_the_estimate():
    @fw.register_layer(name="broken_for_estimate")
    class Broken(fw.Layer):
        def parameters(self):
            raise AttributeError("'NoneType' object has no attribute 'W'")

    with pytest.warns(RuntimeWarning, match="Broken could not describe its parameters"):
        estimate = estimate_training_bytes([{"type": "fc", "size": 3},
                                            {"type": "broken_for_estimate"}], (4,),
                                           batch_size=2)
    assert estimate.total > 0


def test_an_app_trains_a_net_of_extensions(tmp_path):
    """The MNIST app, given specs with the user's layers: memory check, training,
    saving and reloading run through as with built-in layers."""
    from apps import mnist_classify
    from apps.support import skeleton
    from reader_files import idx_bytes, write_bytes

    class ExtendedMnist(mnist_classify.MnistClassify):
        def specs(self, run):
            return ([{"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
                     {"type": "prelu"}, {"type": "pooling", "size": 2},
                     {"type": "global_average_pooling"},
                     {"type": "fc", "size": run.reader.num_category}, {"type": "softmax"}],
                    run.reader.x_train.shape[1:])

    rng = np.random.default_rng(1)
    for part, n in (("train", 100), ("t10k", 30)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, label * 2:label * 2 + 4] = 250        # where the bright rows are
        write_bytes(tmp_path / "mnist" / f"{part}-images-idx3-ubyte",
                    idx_bytes(images, 2051), gz=True)
        write_bytes(tmp_path / "mnist" / f"{part}-labels-idx1-ubyte", idx_bytes(labels, 2049),
                    gz=True)
    save = tmp_path / "extended.h5"
    argv = ["--arch", "cnn", "--data-dir", str(tmp_path), "--epochs", "2", "--save", str(save),
            "--plot-dir", str(tmp_path / "plots"), "--optimizer", "sgdw"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = skeleton.run_app(ExtendedMnist(), argv)
    assert status == 0, out.getvalue()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["settings"]["optimizer"] == "sgdw"
    loaded = fw.NeuralNet.load(save)
    assert [type(layer).__name__ for layer in loaded.layers][1] == "PReLULayer"


def test_loading_without_the_defining_module_says_to_import_it(tmp_path):
    """A file names classes, it never imports code: the message says what to do."""
    path = tmp_path / "extended.h5"
    fw.NeuralNet.from_specs(_params(), SPECS, (1, 8, 8)).save(path)
    code = "import framework as fw, sys; fw.NeuralNet.load(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "unknown layer type 'PReLULayer'" in last and "import the module that defines" in last
    assert "Traceback" not in last
