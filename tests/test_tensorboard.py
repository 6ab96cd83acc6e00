"""TensorBoard callback: the event files read back with TensorBoard's own reader
(scalars equal to the history, histograms of weights, gradients and activations at
the planned checkpoints, the net's summary as text), training unchanged by it, and
TensorBoard itself serving the scalars page to a headless browser.

Needs the ``tensorboard`` extra (tensorboardX writes, tensorboard reads); the
browser test needs Chromium (Debian: ``apt-get install chromium``)."""
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed "
                                           "(pip install -e '.[tensorboard]')")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="tensorboard (the reader) is not installed (pip install -e '.[tensorboard]')")

import framework as fw  # noqa: E402
from datareaders.base import ArrayDataReader  # noqa: E402
from framework.callbacks import TensorBoard  # noqa: E402
from net_state import same_arrays  # noqa: E402


def _reader(n=160, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    reader = ArrayDataReader(x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5))
    reader.normalize_y("multiple_classifier")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


def _net(schedule=None):
    params = fw.HyperParameters(learning_rate=0.1, max_epoch=4, batch_size=20,
                                net_type="multiple_classifier", optimizer_name="momentum",
                                lr_schedule=schedule, seed=2)
    return fw.NeuralNet.from_specs(params, fw.mlp_specs([8], 3, "relu", dropout=0.2,
                                                        classifier="softmax"), (6,))


def _events(folder):
    found = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.SCALARS: 0,
                                    event_accumulator.HISTOGRAMS: 0,
                                    event_accumulator.TENSORS: 0})
    found.Reload()
    return found


def test_the_event_files_hold_the_scalars_histograms_and_summary(tmp_path):
    reader, net = _reader(), _net({"name": "cosine", "total_epochs": 4})
    board = TensorBoard(tmp_path / "run", histogram_freq=2, data=reader, samples=16)
    history = net.train(reader, checkpoint=0.5, callbacks=[board], verbose=0,
                        need_test=False)
    train, validation = _events(tmp_path / "run" / "train"), _events(tmp_path / "run" /
                                                                      "validation")
    steps = [r.iteration for r in history.records]
    assert len(steps) == 8

    def scalars(events, tag, field):
        found = events.Scalars(tag)
        assert [e.step for e in found] == steps, tag
        assert [e.value for e in found] == pytest.approx(history.column(field), rel=1e-6)
        return [e.value for e in found]
    for events, loss, accuracy in ((train, "train_loss", "train_accuracy"),
                                   (validation, "val_loss", "val_accuracy")):
        scalars(events, "epoch_loss", loss)
        scalars(events, "epoch_accuracy", accuracy)
    rates = scalars(train, "epoch_learning_rate", "learning_rate")
    assert rates[0] > rates[-1]                               # the cosine schedule
    assert "epoch_learning_rate" not in validation.Tags()["scalars"]
    tags = train.Tags()["histograms"]
    expected = ([f"weights/{key}" for key in net.parameters()]
                + [f"gradients/{key}" for key in net.parameters()]
                + [f"activations/{name}" for name in net.layer_names])
    assert sorted(tags) == sorted(expected)
    for tag in expected:                                      # every 2nd checkpoint
        assert [e.step for e in train.Histograms(tag)] == steps[1::2], tag
    weights = train.Histograms("weights/fc1/W")[-1].histogram_value
    assert weights.num == net.get_layer("fc1").wb.W.size
    softmax = train.Histograms("activations/softmax1")[-1].histogram_value
    assert softmax.num == 16 * 3 and softmax.sum == pytest.approx(16, rel=1e-5)
    assert 0 <= softmax.min and softmax.max <= 1
    text = train.Tensors("net/summary/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "fc1" in text and "FcLayer" in text and "Total trainable parameters" in text
    settings = train.Tensors("net/hyper_parameters/text_summary")[0]
    assert b"optimizer_name = momentum" in settings.tensor_proto.string_val[0]


def test_without_data_only_weights_and_no_histograms_at_freq_zero(tmp_path):
    reader = _reader()
    net = _net()
    net.train(reader, epochs=2, checkpoint=1.0, verbose=0, need_test=False,
              callbacks=[TensorBoard(tmp_path / "a", histogram_freq=1)])
    tags = _events(tmp_path / "a" / "train").Tags()["histograms"]
    assert sorted(tags) == sorted(f"weights/{key}" for key in net.parameters())
    net.train(reader, epochs=1, verbose=0, need_test=False,
              callbacks=[TensorBoard(tmp_path / "b")])       # Keras's default: 0
    events = _events(tmp_path / "b" / "train")
    assert events.Tags()["histograms"] == []
    assert [e.step for e in events.Scalars("epoch_loss")][-1] == net.iteration


def test_training_is_bit_identical_with_and_without_it(tmp_path):
    reader, states = _reader(), []
    for callbacks in ([], [TensorBoard(tmp_path, histogram_freq=1, data=reader)]):
        net = _net()
        net.train(reader, checkpoint=0.5, callbacks=callbacks, verbose=0, need_test=False)
        states.append(net.state_dict())
    assert same_arrays(*states)


def test_bad_arguments_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        TensorBoard(tmp_path / "file")
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(tmp_path, histogram_freq=-1)
    with pytest.raises(ValueError, match="data"):
        TensorBoard(tmp_path, data="reader")


# ----- TensorBoard itself, seen in a browser ------------------------------------------
def _browser():
    return next((path for path in map(shutil.which, ("chromium", "chromium-browser",
                                                     "google-chrome")) if path), None)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


@pytest.mark.skipif(_browser() is None, reason="no headless browser (Debian: apt-get "
                                               "install chromium)")
def test_tensorboard_serves_the_scalars_page_to_a_headless_browser(tmp_path):
    reader, net = _reader(), _net()
    net.train(reader, checkpoint=0.5, verbose=0, need_test=False,
              callbacks=[TensorBoard(tmp_path / "logs" / "run", histogram_freq=1)])
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from tensorboard.main import run_main; run_main()",
         "--logdir", str(tmp_path / "logs"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        assert _wait_for(url + "/data/runs", 60), "tensorboard did not answer in 60 s"
        with urllib.request.urlopen(url + "/data/runs", timeout=5) as answer:
            assert sorted(json.loads(answer.read())) == ["run/train", "run/validation"]
        shot = tmp_path / "scalars.png"
        profile = tmp_path / "profile"
        profile.mkdir()
        subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        "--window-size=1400,900", "--virtual-time-budget=15000",
                        f"--screenshot={shot}", url + "/#scalars"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                       check=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    import matplotlib.image
    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (900, 1400)
    orange = np.all(np.abs(pixels - np.array([0.96, 0.49, 0.0])) < 0.06, axis=-1)
    assert orange[:60].mean() > 0.5                 # TensorBoard's header bar
    assert len(np.unique((pixels * 8).astype(int).reshape(-1, 3), axis=0)) > 20   # drawn
