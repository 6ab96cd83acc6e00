"""Symmetric validation of the weights file: what ``load`` refuses, ``save`` refuses first;
sizes checked before allocation; counters and the random-state record checked; OS errors
named; metadata (the data options) saved, checksummed and validated."""
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc

import h5py
import numpy as np
import pytest

import framework as fw
import framework.infra.serialization as serialization
from framework.errors import WeightsFileError
from framework.infra.serialization.digests import array_digest, attrs_digest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from test_save_faults import _without_dac_override, make_net, same, snapshot  # noqa: E402


def bn_net(seed=3):
    """A small net with every kind of checked value: BN statistics, Adam m, v and t."""
    return make_net(hidden=(5, 4), inputs=6, seed=seed, batch_norm=True)


@pytest.fixture
def saved(tmp_path):
    net = bn_net()
    path = tmp_path / "net.h5"
    net.save(path)
    return net, path


def reseal(f):
    """Recompute every digest after an edit, so the check under test (not the checksum)
    is what must refuse the file: as if it had been written that way."""
    for group in [f["layers"][n] for n in f["layers"]] + [f[k] for k in ("optimizer",
                                                                         "metadata") if k in f]:
        digests = json.loads(group.attrs["sha256"])
        group.attrs["sha256"] = json.dumps({k: array_digest(group[k][()])
                                            for k in digests}, sort_keys=True)
    f.attrs[serialization.DIGEST_ATTR] = attrs_digest(f)


def edit(path, action, sealed=True):
    with h5py.File(path, "r+") as f:
        action(f)
        if sealed:
            reseal(f)


def refused(path, *words, load=fw.NeuralNet.load):
    with pytest.raises(WeightsFileError) as info:
        load(path)
    message = str(info.value)
    assert info.value.path == str(path) and str(path) in message
    for word in words:
        assert word in message, message
    return message


def replace_dataset(f, where, value):
    group, key = where.rsplit("/", 1)
    del f[where]
    f[group].create_dataset(key, data=value, chunks=value.shape or None,
                            fletcher32=bool(np.ndim(value)))


# ----- symmetric value rules ---------------------------------------------------
def _set_w(net, value):
    net.get_layer("fc1").wb.W[0, 0] = value


def _set_state(net, layer, key, value):
    parameter, state = key.split("/")
    optimizer = net.parameters()[f"{layer}/{parameter}"].optimizer
    if state == "t":
        optimizer.t = value
    else:
        optimizer.state_arrays()[state].flat[0] = value


def _set_var(net, value):
    net.get_layer("bn1").running_var[0, 0] = value


# (what is broken, break it in the net, break it in a saved file, words both errors share)
CASES = [
    ("NaN weight", lambda n: _set_w(n, np.nan),
     lambda f: f["layers/fc1/W"].__setitem__((0, 0), np.nan), ("'fc1'", "'W'", "NaN or inf")),
    ("inf Adam m", lambda n: _set_state(n, "fc2", "W/m", np.inf),
     lambda f: f["optimizer/fc2/W/m"].__setitem__((0, 0), np.inf),
     ("'fc2'", "W/m", "NaN or inf")),
    ("negative Adam v", lambda n: _set_state(n, "fc1", "B/v", -0.5),
     lambda f: f["optimizer/fc1/B/v"].__setitem__((0, 0), -0.5),
     ("'fc1'", "B/v", "negative", ">= 0")),
    ("negative running variance", lambda n: _set_var(n, -1e-3),
     lambda f: f["layers/bn1/running_var"].__setitem__((0, 0), -1e-3),
     ("'bn1'", "running_var", "negative")),
    ("NaN running mean", lambda n: n.get_layer("bn2").running_mean.__setitem__((0, 1), np.nan),
     lambda f: f["layers/bn2/running_mean"].__setitem__((0, 1), np.nan),
     ("'bn2'", "running_mean", "NaN")),
    ("negative Adam step count", lambda n: _set_state(n, "fc3", "W/t", -4),
     lambda f: replace_dataset(f, "optimizer/fc3/W/t", np.int64(-4)),
     ("'fc3'", "W/t", "negative")),
    ("negative epoch", lambda n: setattr(n, "epoch", -1),
     lambda f: f.attrs.__setitem__("epoch", -1), ("epoch", "-1")),
    ("negative iteration", lambda n: setattr(n, "iteration", -7),
     lambda f: f.attrs.__setitem__("iteration", -7), ("iteration", "-7")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_save_refuses_what_load_refuses_and_writes_nothing(saved, case):
    _, break_net, break_file, words = case
    net, path = saved
    before = path.read_bytes()
    broken = bn_net(seed=8)
    break_net(broken)
    with pytest.raises(WeightsFileError) as info:
        broken.save(path)
    message = str(info.value)
    assert info.value.path == str(path) and "nothing was written" in message
    for word in words:
        assert word in message, message
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["net.h5"]
    # the same value written into a file (digests recomputed) is refused by load
    edit(path, break_file)
    refused(path, *words)


def test_hyper_parameters_or_configs_that_would_not_load_back_are_refused_by_save(saved):
    """A diverged schedule or a forced NaN learning rate must not produce a file that
    ``load`` then refuses (HyperParameters are frozen; ``object.__setattr__`` forces it)."""
    net, path = saved
    before = path.read_bytes()
    broken = bn_net(seed=8)
    object.__setattr__(broken.params, "learning_rate", float("nan"))
    with pytest.raises(WeightsFileError, match="the hyper-parameters would not load back "
                       r"\(.*learning_rate.*nan.*nothing was written"):
        broken.save(path)
    other = bn_net(seed=8)
    other.get_layer("bn1").momentum = float("inf")
    with pytest.raises(WeightsFileError, match="layer 'bn1' config is not JSON with finite "
                       "numbers.*nothing was written"):
        other.save(path)
    assert path.read_bytes() == before


def test_a_file_that_saves_always_loads_with_the_edge_values(tmp_path):
    """Zero variances and second moments, step count 0 and huge finite values are legal."""
    net = bn_net()
    net.get_layer("bn1").running_var[...] = 0
    _set_state(net, "fc1", "W/v", 0.0)
    _set_state(net, "fc1", "W/t", 0)
    _set_w(net, np.finfo(np.float32).max)
    net.epoch = net.iteration = 0
    net.save(tmp_path / "edge.h5")
    assert same(snapshot(fw.NeuralNet.load(tmp_path / "edge.h5")), snapshot(net))


# ----- sizes before allocation ---------------------------------------------------
def _huge_config(f):
    config = json.loads(f["layers/fc1"].attrs["config"])
    config.update(input_size=100000, output_size=100000)
    f["layers/fc1"].attrs["config"] = json.dumps(config)
    f.attrs["input_shape"] = json.dumps([100000])


def _strip_digests(f):
    """What a format-1 file written before checksums looks like."""
    f.attrs["format_version"] = 1
    del f.attrs[serialization.DIGEST_ATTR]
    for group in [f["layers"][n] for n in f["layers"]] + [f["optimizer"]]:
        del group.attrs["sha256"]


def _cpu_seconds(action):
    """(CPU seconds of ``action()``, its result), the garbage collector kept out: after a
    thousand tests a full collection of their leftovers can cost 0.4 s by itself."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        result = action()
        return time.process_time() - start, result
    finally:
        gc.enable()


@pytest.mark.parametrize("checksums", [True, False], ids=["resealed", "no checksums"])
def test_a_config_declaring_a_huge_layer_is_refused_fast_without_allocating(tmp_path,
                                                                             checksums):
    """A 57 KB file whose config declares a 100000x100000 layer (37 GB of W alone)."""
    path = tmp_path / "bomb.h5"
    make_net(hidden=(4,), inputs=3).save(path)
    edit(path, _huge_config if checksums else lambda f: (_huge_config(f), _strip_digests(f)),
         sealed=checksums)
    assert os.path.getsize(path) < 70_000
    seconds, message = _cpu_seconds(lambda: refused(
        path, "cannot be rebuilt", "'W' of shape (100000, 100000)", "10,000,000,000 values",
        "refused before allocating"))
    assert "'fc1'" in message or "layer spec 0" in message, message
    assert seconds < 0.1, seconds
    tracemalloc.start()          # apart from the timing: tracing slows every allocation
    try:
        refused(path, "10,000,000,000 values")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak


def test_a_dataset_declaring_more_than_the_file_stores_is_refused_before_reading(saved):
    _, path = saved

    def bomb(f):
        del f["layers/fc1/W"]
        f["layers/fc1"].create_dataset("W", shape=(100000, 100000), dtype=np.float32,
                                       chunks=(1000, 1000), fletcher32=True)
    edit(path, bomb, sealed=False)
    assert os.path.getsize(path) < 200_000
    seconds, _ = _cpu_seconds(lambda: refused(
        path, "/layers/fc1/W", "(100000, 100000)", "40,000,000,000 bytes",
        "stores only 0 bytes", "before allocating"))
    tracemalloc.start()
    try:
        refused(path, "stores only 0 bytes")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 0.1 and peak < 5_000_000, (seconds, peak)


def test_a_string_dataset_is_refused(saved):
    _, path = saved
    edit(path, lambda f: f["layers/fc1"].create_dataset("note", data="hello"), sealed=False)
    refused(path, "/layers/fc1/note", "expected numbers")


# ----- counters and the random-state record ---------------------------------------
def _rng(f, change):
    state = json.loads(f["optimizer"].attrs["rng_state"])
    change(state)
    f["optimizer"].attrs["rng_state"] = json.dumps(state)


RNG_CASES = [
    ("state too large", lambda s: s["init"]["state"].__setitem__("state", 2 ** 200),
     "rng_state['init'] is malformed"),
    ("state not a number", lambda s: s["noise"]["state"].__setitem__("inc", "abc"),
     "rng_state['noise'] is malformed"),
    ("state missing", lambda s: s["shuffle"].pop("state"), "rng_state['shuffle'] is malformed"),
    ("other bit generator", lambda s: s["init"].__setitem__("bit_generator", "MT19937"),
     "expected a PCG64 state"),
    ("not an object", lambda s: s.__setitem__("noise", [1, 2]), "expected a PCG64 state"),
    ("a stream missing", lambda s: s.pop("shuffle"), "expected an object with the streams"),
]


@pytest.mark.parametrize("case", RNG_CASES, ids=[c[0] for c in RNG_CASES])
def test_a_malformed_random_state_is_a_weights_file_error(saved, case):
    _, change, words = case
    _, path = saved
    edit(path, lambda f: _rng(f, change))
    refused(path, words)


@pytest.mark.parametrize("value, words", [(np.uint64(2 ** 64 - 1), "beyond the largest count"),
                                          ("3", "expected an integer"),
                                          (2.0, "expected an integer")])
def test_counters_out_of_range_or_not_integers_are_refused(saved, value, words):
    _, path = saved
    edit(path, lambda f: f.attrs.__setitem__("epoch", value))
    refused(path, "'epoch'", words)


def test_an_adam_step_count_beyond_int64_is_refused(saved):
    _, path = saved
    edit(path, lambda f: replace_dataset(f, "optimizer/fc1/W/t", np.uint64(2 ** 64 - 1)))
    refused(path, "'fc1'", "W/t", "exceeds")


# ----- OS errors -----------------------------------------------------------------
UNREADABLE_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from framework import NeuralNet, WeightsFileError
try:
    NeuralNet.load(sys.argv[2])
    print("LOADED")
except WeightsFileError as error:
    print("ERROR", error.path == sys.argv[2], str(error))
"""


def test_an_unreadable_file_is_a_weights_file_error_naming_it(saved):
    _, path = saved
    os.chmod(path, 0o000)
    try:
        kwargs = {"preexec_fn": _without_dac_override} if os.geteuid() == 0 else {}
        try:
            done = subprocess.run([sys.executable, "-c", UNREADABLE_CHILD, ROOT, str(path)],
                                  capture_output=True, text=True, timeout=120,
                                  env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), **kwargs)
        except (OSError, subprocess.SubprocessError) as error:
            pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({error})")
    finally:
        os.chmod(path, 0o644)
    assert done.stdout.startswith("ERROR True"), done.stdout + done.stderr
    assert str(path) in done.stdout and "Permission denied (EACCES)" in done.stdout


def test_a_folder_a_fifo_and_a_symlink_loop_are_weights_file_errors(tmp_path):
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    refused(folder, "a directory, not a regular file")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.h5"
        os.mkfifo(fifo)
        refused(fifo, "a FIFO, not a regular file")       # refused without opening it
    loop = tmp_path / "loop.h5"
    loop.symlink_to(loop)
    refused(loop, "cannot read", "ELOOP")


def test_load_weights_maps_os_errors_too(tmp_path):
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    refused(folder, "a directory", load=bn_net().load_weights)


# ----- metadata: the data options inside the file ---------------------------------
def _metadata():
    return {"app": "house_price", "data": {"dataset": "house", "log_price": False,
                                           "label_encoding": "one_hot", "seed": 7,
                                           "price_scale": 1e6, "classes": ["a", "b"]},
            "normalization": {"x_min": np.array([0.5, -2.0, 1e-300]),
                              "x_range": np.array([1.0, 3.0, 2.0], np.float32),
                              "class_ids": np.arange(4, dtype=np.int64),
                              "nothing": None, "scalar": np.float64(0.25)}}


def _equal(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k])
                                                                    for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b))
    return type(a) is type(b) and a == b


def test_metadata_round_trips_exactly_and_is_checksummed(tmp_path):
    net = bn_net()
    path = tmp_path / "net.h5"
    net.save(path, metadata=_metadata())
    expected = _metadata()
    expected["normalization"]["scalar"] = 0.25          # numpy scalars become Python numbers
    loaded = fw.NeuralNet.load(path)
    assert _equal(loaded.metadata, expected)
    assert _equal(serialization.read_metadata(path), expected)
    assert _equal(bn_net(seed=9).load_weights(path), expected)
    with h5py.File(path, "r") as f:
        assert f["metadata/a0"].fletcher32
    loaded.save(path)                                  # net.metadata travels on
    assert _equal(fw.NeuralNet.load(path).metadata, expected)
    bn_net().save(path)                                # a net without metadata: {}
    assert fw.NeuralNet.load(path).metadata == {}


def test_changed_metadata_is_refused(tmp_path):
    net = bn_net()
    path = tmp_path / "net.h5"

    def changed_json(f):
        document = json.loads(f["metadata"].attrs["json"])
        document["data"]["dataset"] = "mnist"
        f["metadata"].attrs["json"] = json.dumps(document)
    for action, words in ((changed_json, "attribute checksum mismatch"),
                          (lambda f: f["metadata/a0"].__setitem__(0, 0.75),
                           "metadata parameter 'a0'"),
                          (lambda f: f.__delitem__("metadata/a1"), "metadata")):
        net.save(path, metadata=_metadata())
        edit(path, action, sealed=False)
        refused(path, words)


@pytest.mark.parametrize("action, words", [
    (lambda f: f["metadata"].attrs.__setitem__("json", json.dumps([1, 2])),
     "expected a JSON object"),
    (lambda f: f["metadata"].attrs.__setitem__("json", json.dumps(
        {"x": {"__ndarray__": "a9"}})), "names no array"),
    (lambda f: f["metadata"].attrs.__setitem__("json", json.dumps(
        {"x": {"__ndarray__": "a0"}, "y": {"__ndarray__": "a0"}})), "referenced twice"),
    (lambda f: f["metadata"].attrs.__setitem__("json", json.dumps({"x": 1})),
     "not referenced"),
    (lambda f: f["metadata/a0"].__setitem__(1, np.inf), "NaN or inf"),
])
def test_malformed_metadata_is_refused_even_with_valid_checksums(tmp_path, action, words):
    path = tmp_path / "net.h5"
    bn_net().save(path, metadata={"x": np.zeros(3), "y": np.ones(2)})
    edit(path, action)
    refused(path, words)


@pytest.mark.parametrize("metadata, words", [
    ({"x": np.array([1.0, np.nan])}, "metadata['x']: the array contains NaN"),
    ({"x": {"y": float("inf")}}, "metadata['x']['y']: inf is not a finite number"),
    ({"x": {1, 2}}, "a set is not JSON-able"),
    ({3: "three"}, "keys must be strings"),
    ({"__ndarray__": "a0"}, "reserved"),
    ({"x": np.array(["a", "b"])}, "expected numbers"),
    (["not", "a", "dict"], "expected a dict"),
])
def test_metadata_that_would_not_load_is_refused_by_save(saved, metadata, words):
    net, path = saved
    before = path.read_bytes()
    with pytest.raises(WeightsFileError, match="nothing was written") as info:
        net.save(path, metadata=metadata)
    assert words in str(info.value), str(info.value)
    assert path.read_bytes() == before
