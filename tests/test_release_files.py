"""Files written by the previous release (format 1, before parameters had names) load
with every array where it belongs and predict exactly what the saving net predicted.

tests/data/release_{mlp,cnn}.h5 and their _probe.npz were written by release 4651d7a
with tests/data/make_release_files.py; batch norm's gamma and beta were "W" and "B"
there (``BatchNormLayer.legacy_names``)."""
import os

import h5py
import numpy as np
import pytest

import framework as fw

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
RENAMED = {"W": "gamma", "B": "beta"}


def _new_key(net, old_key):
    """The state-dict key of an array the release saved as ``layers/...`` or
    ``optimizer/...``."""
    group, layer, rest = old_key.split("/", 2)
    first, _, tail = rest.partition("/")
    if isinstance(net.get_layer(layer), fw.BatchNormLayer):
        first = RENAMED.get(first, first)
    key = f"{layer}/{first}" + (f"/{tail}" if tail else "")
    return key if group == "layers" else f"optimizer/{key}"


@pytest.mark.parametrize("name", ["release_mlp", "release_cnn"])
def test_a_release_file_loads_every_array_and_predicts_the_same(name):
    path = os.path.join(DATA, f"{name}.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 1
    probe = np.load(os.path.join(DATA, f"{name}_probe.npz"))
    net = fw.NeuralNet.load(path)
    assert np.array_equal(net.predict(probe["x"]), probe["predicted"])
    state = net.state_dict()
    saved = [key for key in probe.files if key not in ("x", "predicted")]
    assert {_new_key(net, key) for key in saved} == {k for k in state if "/" in k}
    for key in saved:
        assert np.array_equal(state[_new_key(net, key)], probe[key]), key


@pytest.mark.parametrize("name", ["release_mlp", "release_cnn"])
def test_a_release_file_trains_on_and_is_saved_in_the_current_format(name, tmp_path):
    net = fw.NeuralNet.load(os.path.join(DATA, f"{name}.h5"))
    probe = np.load(os.path.join(DATA, f"{name}_probe.npz"))
    x = probe["x"]
    y = np.eye(3, dtype=np.float32)[np.arange(len(x)) % 3]
    before = net.predict(x)
    net.train_step(x, y)
    assert not np.array_equal(net.predict(x), before)
    net.save(tmp_path / "again.h5")
    with h5py.File(tmp_path / "again.h5", "r") as f:
        assert f.attrs["format_version"] == 2
    again = fw.NeuralNet.load(tmp_path / "again.h5")
    assert np.array_equal(again.predict(x), net.predict(x))
