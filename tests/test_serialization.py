"""HDF5 save/load: fresh-process round trip, strict loading, unsafe files, atomic writes."""
import json
import os
import sys

import h5py
import numpy as np
import pytest

import framework as fw
from framework.infra.serialization import writer
from framework.errors import WeightsFileError
from fresh_process import load_and_predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params(**kw):
    base = dict(learning_rate=0.01, max_epoch=2, batch_size=16, net_type="multiple_classifier",
                optimizer_name="adam", seed=5)
    base.update(kw)
    return fw.HyperParameters(**base)


@pytest.fixture
def trained(build_net, spiral_reader, tmp_path):
    """A small trained net with batch norm and dropout, saved to net.h5."""
    reader = spiral_reader(n_train=200, n_test=50)
    net = build_net([2, 16, 8, 3], _params(), batch_norm=True, dropout=0.2, name="spiral")
    net.train(reader, checkpoint=1, need_test=False, verbose=False)
    path = tmp_path / "net.h5"
    net.save(path)
    return net, reader, path


def _expect_error(path, *words, load=fw.NeuralNet.load):
    with pytest.raises(WeightsFileError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


def test_load_in_a_fresh_process_gives_bit_identical_predictions(trained, tmp_path):
    net, reader, path = trained
    x = reader.get_test_set()[0]
    predicted, info = load_and_predict(path, x, tmp_path)
    assert np.array_equal(predicted, net.inference(x))
    assert (info["epoch"], info["iteration"]) == (net.epoch, net.iteration)
    assert info["names"] == net.layer_names


def test_file_layout_follows_the_contract(trained):
    net, _, path = trained
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 2
        assert json.loads(f.attrs["layer_names"]) == net.layer_names
        assert json.loads(f.attrs["hyper_parameters"]) == net.params.to_dict()
        bn = f["layers/bn1"]
        assert bn.attrs["class"] == b"BatchNormLayer" and bn.attrs["index"] == 1
        assert bn.attrs.get_id("class").dtype.kind == "S"     # fixed-length, not in the heap
        assert set(bn) == {"gamma", "beta", "running_mean", "running_var"}
        assert f["layers/fc1/W"].shape == (2, 16)
        assert f["optimizer/fc1/W/m"].shape == (2, 16) and f["optimizer/fc1/W/t"][()] > 0
        assert json.loads(f["optimizer"].attrs["rng_state"]).keys() == {"init", "shuffle",
                                                                          "noise"}


def test_load_weights_into_an_identical_net(trained, build_net):
    net, reader, path = trained
    other = build_net([2, 16, 8, 3], _params(seed=99), batch_norm=True, dropout=0.2)
    x = reader.get_test_set()[0]
    assert not np.array_equal(other.inference(x), net.inference(x))
    other.load_weights(path)
    assert np.array_equal(other.inference(x), net.inference(x))


def test_save_without_optimizer(trained, tmp_path):
    net, reader, _ = trained
    path = tmp_path / "weights_only.h5"
    net.save(path, include_optimizer=False)
    with h5py.File(path, "r") as f:
        assert "optimizer" not in f
    x = reader.get_test_set()[0]
    assert np.array_equal(fw.NeuralNet.load(path).inference(x), net.inference(x))


def test_missing_empty_non_hdf5_and_truncated_files(trained, tmp_path):
    _, _, path = trained
    _expect_error(tmp_path / "absent.h5", "not found")
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    _expect_error(empty, "empty")
    text = tmp_path / "text.h5"
    text.write_text("W = [[1, 2], [3, 4]]\n")
    _expect_error(text, "not an HDF5 file")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[:len(data) // 2])
    _expect_error(truncated, "truncated")


def _edit(path, action):
    with h5py.File(path, "r+") as f:
        action(f)


def test_missing_and_extra_layers(trained, tmp_path, build_net):
    net, _, path = trained
    _edit(path, lambda f: f["layers"].pop("fc2"))
    _expect_error(path, "missing layer", "'fc2'")
    net.save(path)
    _edit(path, lambda f: f["layers"].create_group("intruder"))
    _expect_error(path, "extra", "intruder")
    smaller = build_net([2, 16, 3], _params(), batch_norm=True, dropout=0.2)
    net.save(path)
    _expect_error(path, "extra layer", "fc3", load=smaller.load_weights)


def test_shape_mismatch_names_layer_parameter_and_both_shapes(trained, build_net):
    _, _, path = trained
    wider = build_net([2, 17, 8, 3], _params(), batch_norm=True, dropout=0.2)
    message = _expect_error(path, "layer 'fc1'", "'W'", "(2, 16)", "(2, 17)",
                            load=wider.load_weights)
    assert "shape" in message


def test_wrong_dtype_and_non_finite_values(trained, tmp_path):
    net, _, path = trained

    def int_weights(f):
        del f["layers/fc1/B"]
        f["layers/fc1"].create_dataset("B", data=np.zeros((1, 16), np.int64))
    _edit(path, int_weights)
    _expect_error(path, "'fc1'", "'B'", "dtype int64")
    net.save(path)
    _edit(path, lambda f: f["layers/fc1/W"].__setitem__((0, 0), np.nan))
    _expect_error(path, "NaN")


def test_newer_format_version_is_refused(trained):
    _, _, path = trained
    _edit(path, lambda f: f.attrs.__setitem__("format_version", 3))
    _expect_error(path, "format_version 3", "newer")


def test_links_and_external_storage_are_refused(trained, tmp_path):
    net, _, path = trained
    other = tmp_path / "other.h5"
    net.save(other)

    def external_link(f):
        del f["layers/fc1/W"]
        f["layers/fc1/W"] = h5py.ExternalLink(str(other), "/layers/fc1/W")
    _edit(path, external_link)
    _expect_error(path, "external link", "/layers/fc1/W")

    net.save(path)

    def soft_link(f):
        del f["layers/fc1/B"]
        f["layers/fc1/B"] = h5py.SoftLink("/layers/fc2/B")
    _edit(path, soft_link)
    _expect_error(path, "soft link", "/layers/fc1/B")

    net.save(path)
    raw = tmp_path / "weights.raw"
    raw.write_bytes(np.zeros((2, 16), np.float32).tobytes())

    def external_storage(f):
        del f["layers/fc1/W"]
        f["layers/fc1"].create_dataset("W", shape=(2, 16), dtype=np.float32,
                                       external=[(str(raw), 0, 2 * 16 * 4)])
    _edit(path, external_storage)
    _expect_error(path, "external storage", "/layers/fc1/W")


def test_interrupted_save_keeps_the_old_file_and_leaves_no_temp(trained, monkeypatch):
    net, reader, path = trained
    before = path.read_bytes()
    x = reader.get_test_set()[0]
    expected = net.inference(x)

    def crash(handle, net, state, record):
        handle.create_group("optimizer").create_dataset("half", data=np.zeros(3))
        raise RuntimeError("disk full (simulated)")
    monkeypatch.setattr(writer, "_write_optimizer", crash)
    net.layers[0].wb.W[...] += 1.0
    with pytest.raises(RuntimeError, match="simulated"):
        net.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["net.h5"]
    assert np.array_equal(fw.NeuralNet.load(path).inference(x), expected)


def test_missing_h5py_gives_an_actionable_error(trained, monkeypatch):
    net, _, path = trained
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        net.save(path)


def test_a_file_written_before_the_shape_contract_still_loads():
    """tests/data/format1_mlp.h5 was saved by the last release before layers had
    shapes (no input_shape attribute; batch norm and dropout configs said "size"):
    it loads, predicts exactly what that release predicted, and can train on."""
    data = os.path.join(ROOT, "tests", "data")
    net = fw.NeuralNet.load(os.path.join(data, "format1_mlp.h5"))
    probe = np.load(os.path.join(data, "format1_mlp_probe.npz"))
    assert net.input_shape == (4,) and net.layer_shapes[-1] == (3,)
    assert net.get_layer("drop1").get_config() == {"input_shape": [6], "ratio": 0.2}
    assert np.array_equal(net.inference(probe["x"]), probe["y"])


DRAWS = []


@fw.register_initializer
def counted_normal_for_load_test(shape, fans, rng):
    DRAWS.append(shape)
    return rng.normal(0.0, 0.1, size=shape)


def test_load_draws_no_starting_weights_it_would_overwrite_and_continues_identically(tmp_path):
    """A file with its random state: the loaded net skips the starting draws (the file
    replaces every value) and still trains on exactly as the saved net does."""
    params = fw.HyperParameters(0.05, 2, 8, net_type="multiple_classifier", seed=4,
                                init_method="counted_normal_for_load_test",
                                optimizer_name="adam")
    specs = [{"type": "fc", "size": 6}, {"type": "relu"}, {"type": "dropout", "ratio": 0.3},
             {"type": "fc", "size": 3}, {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(params, specs, (5,))
    assert len(DRAWS) == 2
    net.save(tmp_path / "n.h5")
    loaded = fw.NeuralNet.load(tmp_path / "n.h5")
    assert len(DRAWS) == 2                                  # nothing drawn on load
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    for _ in range(3):                                      # dropout draws from the streams
        assert net.train_step(x, y) == loaded.train_step(x, y)
    for key, value in net.state_dict().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(loaded.state_dict()[key], value, err_msg=key)
    weights_only = tmp_path / "w.h5"
    net.save(weights_only, include_optimizer=False)         # no random state in the file:
    fw.NeuralNet.load(weights_only)                         # the draws happen as before
    assert len(DRAWS) == 4
