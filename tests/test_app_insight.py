"""The apps' --tensorboard DIR and --export-onnx PATH flags (apps/support/insight.py) on
a tiny MNIST-format set: the event files and the ONNX file are written, the ONNX
file (of a trained or a --load-ed net) predicts what the saved net predicts, and bad
targets are refused before any data is read."""
import contextlib
import io
import json

import numpy as np
import pytest
from reader_files import idx_bytes, write_bytes

from apps import mnist_classify
from framework import NeuralNet


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for part, n in (("train", 100), ("t10k", 30)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, label * 2:label * 2 + 3] = 250
        write_bytes(root / "mnist" / f"{part}-images-idx3-ubyte", idx_bytes(images, 2051),
                    gz=True)
        write_bytes(root / "mnist" / f"{part}-labels-idx1-ubyte", idx_bytes(labels, 2049),
                    gz=True)
    return root


def _call(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = mnist_classify.main([str(a) for a in argv])
        except SystemExit as stop:
            status = stop.code
    return status, out.getvalue(), err.getvalue()


def test_tensorboard_and_export_onnx_flags_train_then_export_and_reload(data_dir, tmp_path):
    pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    status, out, err = _call([
        "--data-dir", data_dir, "--hidden", "16", "--epochs", 2, "--no-plots",
        "--save", tmp_path / "net.h5", "--tensorboard", tmp_path / "tb" / "run1",
        "--export-onnx", tmp_path / "onnx" / "net.onnx", "--verbose", 0])
    assert status == 0, err
    result = json.loads(out)
    assert result["onnx"] == str(tmp_path / "onnx" / "net.onnx")
    assert sorted(p.name for p in (tmp_path / "tb" / "run1").iterdir()) == ["train",
                                                                            "validation"]
    assert list((tmp_path / "tb" / "run1" / "train").glob("events.out.tfevents.*"))
    net = NeuralNet.load(tmp_path / "net.h5")
    x = np.random.default_rng(1).random((9, 784)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "onnx" / "net.onnx"),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], net.predict(x), atol=1e-5)
    status, out, err = _call(["--data-dir", data_dir, "--load", tmp_path / "net.h5",
                              "--no-plots", "--export-onnx", tmp_path / "again.onnx",
                              "--verbose", 0])
    assert status == 0, err
    assert json.loads(out)["onnx"] == str(tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == \
        (tmp_path / "onnx" / "net.onnx").read_bytes()


@pytest.mark.parametrize("flag, target, message", [
    ("--tensorboard", lambda tmp: _touch(tmp / "file"), "is a file; expected a folder"),
    ("--export-onnx", lambda tmp: tmp, "is a folder; expected a file path"),
    ("--export-onnx", lambda tmp: _touch(tmp / "f") / "net.onnx", "is a file, not a folder"),
])
def test_bad_targets_are_refused_before_reading_data(flag, target, message, data_dir,
                                                     tmp_path):
    path = target(tmp_path)
    status, out, err = _call(["--data-dir", data_dir, "--no-save", "--no-plots", flag, path])
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist_classify: error: "), err
    assert flag in lines[0] and message in lines[0], lines[0]
    assert out == ""


def test_help_lists_both_flags():
    status, out, _ = _call(["--help"])
    assert status == 0
    assert "--tensorboard DIR" in out and "--export-onnx PATH" in out


def _touch(path):
    path.write_text("x")
    return path
