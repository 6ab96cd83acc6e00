"""The comparison runner: fairness, resume and robustness, asserted from what ran.

Every run reports a hash of its initial weights (taken from the built net)
and of its first batches; a spy on the reader records the batches training
actually drew; executions are counted where they happen. So these tests
check the method rather than trust the seeding code.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import datareaders  # noqa: F401  (registers the built-in data sources)
from datareaders.base import ArrayDataReader
from framework.infra.compare import (DATA_SOURCES, ResultsLog, RunSpec, SweepInterrupted,
                               apply_overrides, compare, format_markdown, make_variants,
                               mean_std, register_source)
from framework.infra.compare import executors

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # apps/ is run from the checkout, not installed
    sys.path.insert(0, str(ROOT))

DATA = {"source": "clusters", "options": {"n_train": 330, "n_test": 60, "features": 12,
                                          "classes": 3, "noise": 2.5},
        "seed": 0, "train_size": 300, "val_size": 30}
BASE = {"data": DATA,
        "net": {"hidden": [16, 16], "activation": "relu"},
        "params": {"learning_rate": 0.05, "max_epoch": 3, "batch_size": 32,
                   "net_type": "multiple_classifier", "init_method": "msra"},
        "train": {"checkpoint": 1.0}}
OPTIMIZERS = {"optimizer_name": ["sgd", "momentum", "adam"]}


def numbers(results):
    """Everything a run computed, without its wall-clock time."""
    return [json.dumps({k: v for k, v in r.items() if k not in ("seconds", "weights_path")},
                       sort_keys=True) for r in results]


class Counter:
    """Wraps ``executors.run_task``: counts executions per run key, and raises
    KeyboardInterrupt instead of starting run number ``interrupt_at`` (1-based)."""

    def __init__(self, run_task, interrupt_at=None):
        self.run_task, self.interrupt_at, self.keys = run_task, interrupt_at, []

    def __call__(self, spec, source):
        if self.interrupt_at is not None and len(self.keys) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        self.keys.append(spec.key())
        return self.run_task(spec, source)


@pytest.fixture
def counter(monkeypatch):
    """Install a Counter (inline runs only: it lives in this process)."""
    original = executors.run_task

    def install(interrupt_at=None):
        spy = Counter(original, interrupt_at)
        monkeypatch.setattr(executors, "run_task", spy)
        return spy
    return install


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5, out_dir=str(out),
                   workers=0, verbose=False)


def by_repeat(sweep, repeat):
    return [r for r in sweep.results if r["repeat"] == repeat]


# ------------------------------------------------------------------ fairness
def test_variants_share_initial_weights_and_batch_order(sweep):
    for repeat in (0, 1):
        runs = by_repeat(sweep, repeat)
        assert [r["variant"] for r in runs] == ["sgd", "momentum", "adam"]
        assert all(r["status"] == "ok" and r["seed"] == 5 + repeat for r in runs)
        assert len({r["init_fingerprint"]["all"] for r in runs}) == 1
        assert len(runs[0]["batch_fingerprint"]) == 3
        assert len({tuple(r["batch_fingerprint"]) for r in runs}) == 1
        # same start, same data: only the optimizer made the histories differ
        assert len({json.dumps(r["history"]["records"]) for r in runs}) == 3


def test_two_variants_train_on_identical_batches(monkeypatch):
    """A spy on the reader: the batches the training loop actually received."""
    seen = []
    original = ArrayDataReader.batches

    def spy(self, *args, **kwargs):
        epoch = []
        seen.append(epoch)
        for x, y in original(self, *args, **kwargs):
            epoch.append(hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest())
            yield x, y

    monkeypatch.setattr(ArrayDataReader, "batches", spy)
    result = compare("spy", BASE, axes={"optimizer_name": ["sgd", "adam"]}, repeats=1,
                     workers=0, verbose=False)
    assert [r["status"] for r in result.results] == ["ok", "ok"]
    assert len(seen) == 6 and all(len(epoch) == 10 for epoch in seen)   # 300 rows / 32
    assert seen[:3] == seen[3:]                 # sgd's 3 epochs == adam's 3 epochs
    assert seen[0] != seen[1]                   # a new permutation every epoch


def test_repeats_differ_by_seed(sweep):
    first, second = by_repeat(sweep, 0)[0], by_repeat(sweep, 1)[0]
    assert first["init_fingerprint"]["all"] != second["init_fingerprint"]["all"]
    assert set(first["batch_fingerprint"]).isdisjoint(second["batch_fingerprint"])
    assert first["final"]["val_loss"] != second["final"]["val_loss"]


def test_batch_norm_variant_shares_the_fc_weights():
    """Where the architecture allows: the fc layers match with or without BN."""
    sweep = compare("bn", BASE, axes={"net.batch_norm": [False, True]}, repeats=1,
                    workers=0, verbose=False)
    fc = [[h for name, h in r["init_fingerprint"]["layers"].items() if name.startswith("fc")]
          for r in sweep.results]
    assert len(fc[0]) == 3 and fc[0] == fc[1]
    assert sweep.results[0]["batch_fingerprint"] == sweep.results[1]["batch_fingerprint"]


# ------------------------------------------------------------ results.jsonl
def test_each_run_is_appended_as_it_finishes(tmp_path, monkeypatch):
    """When run k is reported, results.jsonl already holds runs 1..k."""
    lines = []
    log_path = tmp_path / "live" / "results.jsonl"
    original = executors.run_task

    def watch(spec, source):
        lines.append(len(log_path.read_text().splitlines()) if log_path.exists() else 0)
        return original(spec, source)

    monkeypatch.setattr(executors, "run_task", watch)
    done = compare("live", BASE, axes=OPTIMIZERS, repeats=1, out_dir=str(tmp_path),
                   workers=0, verbose=False)
    assert lines == [0, 1, 2]
    entries = ResultsLog(done.out_dir).entries()
    assert [e["key"] for e in entries] == [s.key() for s in done.specs]
    assert [e["result"]["variant"] for e in entries] == ["sgd", "momentum", "adam"]
    assert RunSpec.from_dict(entries[0]["spec"]) == done.specs[0]


def test_interrupted_sweep_resumes_and_runs_each_run_once(sweep, tmp_path, counter):
    first = counter(interrupt_at=3)
    with pytest.raises(SweepInterrupted, match=r"2 of 6 runs finished .*results\.jsonl"):
        compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5, out_dir=str(tmp_path),
                workers=0, verbose=False)
    assert len(first.keys) == 2
    assert len((tmp_path / "opt" / "results.jsonl").read_text().splitlines()) == 2
    second = counter()
    resumed = compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5,
                      out_dir=str(tmp_path), workers=0, verbose=False)
    executed = first.keys + second.keys
    assert sorted(executed) == sorted(s.key() for s in resumed.specs)   # each exactly once
    assert resumed.table() == sweep.table()
    assert numbers(resumed.results) == numbers(sweep.results)
    third = counter()
    compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5, out_dir=str(tmp_path),
            workers=0, verbose=False)
    assert third.keys == []                                           # all done: nothing runs


def test_a_run_cut_short_by_ctrl_c_is_not_recorded(tmp_path, monkeypatch):
    """A real SIGINT in the middle of an inline run: training stops after the step,
    and the sweep ends without writing the cut-short run as a finished one."""
    original, batches = ArrayDataReader.batches, []

    def press_ctrl_c(self, *args, **kwargs):
        for x, y in original(self, *args, **kwargs):
            batches.append(x.shape[0])
            if len(batches) == 45:              # epoch 2 of the second run
                os.kill(os.getpid(), signal.SIGINT)
            yield x, y

    monkeypatch.setattr(ArrayDataReader, "batches", press_ctrl_c)
    with pytest.raises(SweepInterrupted, match="1 of 3 runs finished"):
        compare("cut", BASE, axes=OPTIMIZERS, repeats=1, out_dir=str(tmp_path), workers=0,
                verbose=False)
    assert len(batches) == 45                   # stopped after the current step
    entries = ResultsLog(str(tmp_path / "cut")).entries()
    assert [e["result"]["variant"] for e in entries] == ["sgd"]


def test_changed_spec_is_a_new_run_and_failed_runs_are_retried(tmp_path, counter):
    bad = {"broken": {"data.train_size": 5000}, "good": {}}       # fails as it runs
    first = counter()
    compare("r", BASE, variants=bad, repeats=1, out_dir=str(tmp_path), workers=0,
            verbose=False)
    again = counter()
    longer = {**BASE, "params": {**BASE["params"], "max_epoch": 4}}
    compare("r", longer, variants={"good": {}}, repeats=1, out_dir=str(tmp_path), workers=0,
            verbose=False)
    compare("r", BASE, variants=bad, repeats=1, out_dir=str(tmp_path), workers=0,
            verbose=False)
    assert len(first.keys) == 2 and len(again.keys) == 2
    assert again.keys[0] not in first.keys      # 4 epochs is another run
    assert again.keys[1] == first.keys[0]       # the failed run, tried again


OK = {"status": "ok", "history": {"records": []},
      "final": dict.fromkeys(("epoch", "train_loss", "train_accuracy", "val_loss",
                              "val_accuracy")),
      "best": dict.fromkeys(("epoch", "val_loss", "val_accuracy"))}


def test_a_torn_last_line_is_dropped(tmp_path):
    log = ResultsLog(str(tmp_path))
    spec = RunSpec.from_dict({**BASE, "name": "t", "variant": "v", "repeat": 0, "seed": 0})
    log.append(spec, OK)
    with open(log.path, "a") as handle:
        handle.write('{"key": "cut short by a cra')
    assert list(ResultsLog(str(tmp_path)).finished()) == [spec.key()]
    log.append(spec, {"status": "failed"})
    assert [e["result"]["status"] for e in log.entries()] == ["ok", "failed"]
    assert log.finished() == {}


def test_outputs_are_written(sweep):
    files = set(os.listdir(sweep.out_dir))
    assert files == {"results.jsonl", "summary.json", "table.txt", "table.md", "curves.png"}
    with open(os.path.join(sweep.out_dir, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["variants"] == ["sgd", "momentum", "adam"]
    assert summary["rows"][0]["ok"] == 2


def test_runspec_key_ignores_only_where_weights_go():
    spec = RunSpec.from_dict({**BASE, "name": "k", "variant": "v", "repeat": 0, "seed": 0})
    moved = RunSpec.from_dict({**spec.to_dict(), "weights_path": "/elsewhere/w.h5"})
    other = RunSpec.from_dict({**spec.to_dict(), "seed": 1})
    assert moved.key() == spec.key() != other.key()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epochz'\]"):
        RunSpec.from_dict({**spec.to_dict(), "epochz": 3})
    with pytest.raises(ValueError, match=r"'train': unknown option\(s\) \['verbose'\]"):
        RunSpec.from_dict({**spec.to_dict(), "train": {"verbose": 2}})


# ------------------------------------- specs validated as a whole, before any run
def _refused(tmp_path, counter, message, base=BASE, **options):
    """``compare`` refuses with ``message`` before running or writing anything."""
    spy = counter()
    with pytest.raises(ValueError, match=message):
        compare("bad", base, out_dir=str(tmp_path / "out"),
                **{"repeats": 1, "workers": 0, "verbose": False, **options})
    assert spy.keys == [] and not (tmp_path / "out").exists()


def test_an_axis_over_seed_is_refused_not_ignored(tmp_path, counter):
    """An axis over seed used to give identical runs: the sweep overrides the seed with
    base_seed + repeat. Any way of setting it is refused, naming what to use instead."""
    seeds = r"'seed' cannot be set in params or varied.*use repeats and base_seed"
    _refused(tmp_path, counter, seeds, axes={"seed": [1, 2]})
    _refused(tmp_path, counter, seeds, axes={"params.seed": [1, 2]})
    _refused(tmp_path, counter, seeds, variants={"a": {"params": {"seed": 3}}})
    _refused(tmp_path, counter, seeds, base={**BASE, "params": {**BASE["params"], "seed": 4}})
    _refused(tmp_path, counter, r"base: 'seed' is set by the sweep", base={**BASE, "seed": 4})
    for key in ("name", "variant", "repeat", "weights_path"):
        _refused(tmp_path, counter, rf"override '{key}': set by the sweep",
                 variants={"a": {key: "x"}})
    # what does vary the data: a data seed, as an axis
    named = make_variants(None, {"data.seed": [1, 2]})
    assert [apply_overrides(BASE, o)["data"]["seed"] for o in named.values()] == [1, 2]


def test_a_variant_label_made_twice_is_refused(tmp_path, counter):
    """The explicit variant "sgd" was silently replaced by the axis value "sgd"."""
    twice = r"variant label 'sgd' is made twice"
    _refused(tmp_path, counter, twice, variants={"sgd": {"learning_rate": 0.5}},
             axes={"optimizer_name": ["sgd", "adam"]})
    _refused(tmp_path, counter, twice, axes={"optimizer_name": ["sgd", "sgd"]})
    _refused(tmp_path, counter, r"label '1' is made twice", axes={"max_epoch": [1, "1"]})
    _refused(tmp_path, counter, r"axis 'optimizer_name': expected a list of values",
             axes={"optimizer_name": "sgd"})        # a string would be 3 variants s, g, d
    _refused(tmp_path, counter, r"axis 'optimizer_name': expected at least one value",
             axes={"optimizer_name": []})           # used to fall back to the base alone
    _refused(tmp_path, counter, r"variant 'a': expected a dict of overrides",
             variants={"a": ["learning_rate", 0.1]})


@pytest.mark.parametrize("repeats", [-1, 0, 2.5, "2", True, np.float64(2.0), None])
def test_repeats_must_be_a_positive_integer(tmp_path, counter, repeats):
    _refused(tmp_path, counter, r"repeats: expected a positive integer, got", repeats=repeats)


def test_numpy_integers_are_accepted_as_counts(tmp_path):
    sweep = compare("np", {**BASE, "params": {**BASE["params"], "max_epoch": np.int64(1)}},
                    repeats=np.int32(1), base_seed=np.int64(2), workers=0, verbose=False,
                    out_dir=str(tmp_path))
    assert sweep.failed == 0 and sweep.results[0]["seed"] == 2


@pytest.mark.parametrize("net, message", [
    ({"hidden": "16"}, r"net.hidden: expected a list of layer widths .*got '16'"),
    ({"hidden": 16}, r"net.hidden: expected a list"),
    ({"hidden": [16, "8"]}, r"net.hidden\[1\]: expected a positive integer, got '8'"),
    ({"hidden": [16.0]}, r"net.hidden\[0\]: expected a positive integer, got 16.0"),
    ({"hidden": [0]}, r"net.hidden\[0\]: expected a positive integer, got 0"),
    ({"hidden": [True]}, r"net.hidden\[0\]: expected a positive integer, got True"),
    ({"batch_norm": "false"}, r"net.batch_norm: expected True or False, got 'false'"),
    ({"batch_norm": 1}, r"net.batch_norm: expected True or False, got 1"),
    ({"dropout": "0.5"}, r"net.dropout: expected a number in \[0.0, 1.0\), got '0.5'"),
    ({"dropout": 1.0}, r"net.dropout: expected a number in \[0.0, 1.0\), got 1.0"),
    ({"activation": "nope"}, r"net.activation: expected one of \[.*'relu'.*\], got 'nope'"),
    ({"hiden": [4]}, r"net: unknown key\(s\) \['hiden'\]"),
])
def test_a_bad_compact_net_is_refused_before_any_run(tmp_path, counter, net, message):
    """``{"hidden": "16"}`` used to build layers of 1 and 6 units."""
    _refused(tmp_path, counter, message, base={**BASE, "net": net})


@pytest.mark.parametrize("change, message", [
    ({"train": {"restore_best": "no"}}, r"train.restore_best: expected True or False"),
    ({"train": {"checkpoint": "1"}}, r"train.checkpoint: expected a positive number"),
    ({"evaluate_test": "yes"}, r"'evaluate_test': expected True or False, got 'yes'"),
    ({"blas_threads": 0}, r"'blas_threads': expected a positive integer, got 0"),
    ({"params": {**BASE["params"], "learning_rate": "0.1"}}, r"'params': learning_rate"),
    ({"params": {"learning_rate": 0.1}}, r"'params': .*max_epoch"),
    ({"layers": [{"type": "fc", "size": 3}, {"type": "nope"}]},
     r"unknown layer type 'nope'"),
    ({"layers": "fc"}, r"layers: expected a non-empty list of layer specs"),
    ({"data": {**DATA, "seed": -1}}, r"data.seed: expected an integer >= 0, got -1"),
    ({"data": {**DATA, "train_size": 2.5}},
     r"data.train_size: expected a positive integer, got 2.5"),
    ({"data": {**DATA, "per_feature": "no"}},
     r"data.per_feature: expected True or False, got 'no'"),
    ({"data": {**DATA, "options": {**DATA["options"], "noise": "2.5"}}},
     r"data source 'clusters': GaussianClustersReader: noise: expected a finite number"),
    ({"data": {**DATA, "options": {**DATA["options"], "n_train": 10 ** 12}}},
     r"data source 'clusters': GaussianClustersReader\(n_train=1000000000000.* needs about"),
])
def test_every_section_of_a_spec_is_checked_before_any_run(tmp_path, counter, change,
                                                           message):
    base = {**BASE, **change}
    if "layers" in change:
        base["net"] = {}
    _refused(tmp_path, counter, message, base=base, axes=OPTIMIZERS)


@pytest.mark.parametrize("option, value", [("save_weights", "no"), ("verbose", 0),
                                           ("resume", "false"), ("workers", -1),
                                           ("base_seed", 1.5)])
def test_the_sweeps_own_options_are_strict(tmp_path, counter, option, value):
    _refused(tmp_path, counter, rf"{option}: expected", **{option: value})


def test_a_record_without_metrics_is_not_a_finished_run(tmp_path, counter):
    done = compare("m", BASE, repeats=1, out_dir=str(tmp_path), workers=0, verbose=False)
    spec = done.specs[0]
    ResultsLog(done.out_dir).append(spec, {"status": "ok"})     # no metrics: not finished
    spy = counter()
    again = compare("m", BASE, repeats=1, out_dir=str(tmp_path), workers=0, verbose=False)
    assert spy.keys == [spec.key()]
    assert numbers(again.results) == numbers(done.results)


def test_a_junk_weights_file_is_not_a_finished_run(tmp_path, counter, capsys):
    """Junk, a cut file, a valid file of another net, a file that vanished: each run is
    done again (the run records its file's SHA-256; a record without one must load as
    the run's net)."""
    from framework.net import NeuralNet
    done = compare("w", BASE, repeats=1, out_dir=str(tmp_path), workers=0, verbose=False,
                   save_weights=True)
    path = done.results[0]["weights_path"]
    other = compare("o", {**BASE, "net": {"hidden": [3]}}, repeats=1, out_dir=str(tmp_path),
                    workers=0, verbose=False, save_weights=True).results[0]["weights_path"]
    spy = counter()
    for junk in (b"junk", open(path, "rb").read()[:2000], open(other, "rb").read(), None):
        if junk is None:
            os.remove(path)
        else:
            with open(path, "wb") as handle:
                handle.write(junk)
        compare("w", BASE, repeats=1, out_dir=str(tmp_path), workers=0, verbose=True,
                save_weights=True)
        NeuralNet.load(path)                                    # written again, whole
    assert len(spy.keys) == 4
    out = capsys.readouterr().out
    assert out.count("w: running again base repeat 0: its weights file") == 4
    assert out.count("is not the one the run wrote (another SHA-256)") == 3
    assert "is missing" in out
    compare("w", BASE, repeats=1, out_dir=str(tmp_path), workers=0, verbose=False,
            save_weights=True)
    assert len(spy.keys) == 4                                   # a good file: finished


def test_a_record_without_a_weights_digest_needs_a_file_that_loads(tmp_path):
    """Records written before the digest: the file must load as the run's net."""
    from framework.infra.compare.sweep import weights_problem
    done = compare("w", BASE, repeats=1, out_dir=str(tmp_path), workers=0, verbose=False,
                   save_weights=True)
    spec, result = done.specs[0], dict(done.results[0])
    del result["weights_sha256"]
    assert weights_problem(spec, result) is None
    other = compare("w", BASE, variants={"other": {}}, repeats=1, out_dir=str(tmp_path),
                    workers=0, verbose=False, save_weights=True).results[0]["weights_path"]
    with open(spec.weights_path, "wb") as handle:
        handle.write(open(other, "rb").read())
    assert "holds the net 'other_r0', not 'base_r0'" in weights_problem(spec, result)
    with open(spec.weights_path, "wb") as handle:
        handle.write(b"junk")
    assert weights_problem(spec, result).startswith("its weights file does not load (")


@pytest.mark.parametrize("line, problem", [
    (b"42", "expected a record (a JSON object), got 42"),
    (b"[1,2,3]", "expected a record (a JSON object), got [1,2,3]"),
    (b"\xff\xfe{}", "not UTF-8 text (byte 0xff at column 1)"),
    (b'{"key": "k", "spec": {}, "result": "ok"}',
     'a record needs \'result\' as a JSON object, got "ok"'),
])
def test_command_names_the_line_of_a_malformed_results_file(tmp_path, capsys, counter, line,
                                                            problem):
    """These lines gave a traceback, or an error naming no file with exit status 2."""
    assert run_command(tmp_path, "--name", "r") == 0
    log = tmp_path / "runs" / "r" / "results.jsonl"
    with open(log, "ab") as handle:
        handle.write(line + b"\n")
    capsys.readouterr()
    spy = counter()
    assert run_command(tmp_path, "--name", "r") == 1
    err = capsys.readouterr().err
    assert err == (f"compare: error: {log} line 2: {problem}; fix or delete that line (the "
                   f"other runs are kept), or move the file away to start over\n")
    assert spy.keys == []


# ------------------------------------------------------------- data sources
def test_built_in_sources_are_registered_by_datareaders():
    assert {"mnist", "fashion", "cifar", "house", "curve", "npz", "arrays",
            "clusters"} <= set(DATA_SOURCES.names())
    code = ("import framework, framework.infra.compare, sys; "
            "print(sorted(m for m in sys.modules if m.startswith('datareaders')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("data, message", [
    ({"source": "no_such_set"}, r"expected one of \[.*'clusters'.*\], got 'no_such_set'"),
    ({"source": "os:system", "options": {"command": "touch pwned"}},
     r"got 'os:system'.*never a module"),
    ({"reader": "factory", "factory": "os:system"}, r"'source' naming a registered"),
    ({**DATA, "options": {"n_trian": 10}}, r"'clusters': bad options .*n_trian"),
    ({**DATA, "train_sise": 10}, r"unknown key\(s\) \['train_sise'\]"),
])
def test_a_bad_data_source_is_refused_before_anything_runs(data, message, tmp_path, counter):
    spy = counter()
    with pytest.raises(ValueError, match=message):
        compare("bad", {**BASE, "data": data}, axes=OPTIMIZERS, repeats=2,
                out_dir=str(tmp_path), workers=0, verbose=False)
    assert spy.keys == [] and list(tmp_path.iterdir()) == []


def test_the_arrays_and_curve_sources():
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(40, 2)).tolist(), rng.normal(size=(10, 2)).tolist()
    arrays = {"source": "arrays", "options": {"x_train": x, "y_train": [i % 2 for i in
              range(40)], "x_test": xt, "y_test": [i % 2 for i in range(10)]}, "val_size": 8}
    net = {"net": {"hidden": [4]}, "params": {**BASE["params"], "batch_size": 8}}
    result = compare("a", {**net, "data": arrays}, repeats=1, workers=0, verbose=False)
    assert result.results[0]["status"] == "ok", result.results[0].get("error")
    curve = {"source": "curve", "options": {"n_train": 60, "n_test": 20}}
    fit = {"params": {**net["params"], "net_type": "fitting", "init_method": "xavier"}}
    result = compare("c", {**net, **fit, "data": curve}, repeats=1, workers=0, verbose=False)
    assert result.results[0]["status"] == "ok", result.results[0].get("error")
    assert result.results[0]["final"]["val_accuracy"] is not None


# ---------------------------------------------------------------- failures
def test_a_failing_variant_does_not_stop_the_sweep(tmp_path):
    variants = {"good": {}, "bad": {"data.train_size": 5000},     # fails as it runs
                "also good": {"optimizer_name": "adam"}}
    sweep = compare("fail", BASE, variants=variants, repeats=2, out_dir=str(tmp_path),
                    workers=0, verbose=False)
    status = {(r["variant"], r["repeat"]): r["status"] for r in sweep.results}
    assert status == {(v, k): ("failed" if v == "bad" else "ok")
                      for v in variants for k in (0, 1)}
    bad = [r for r in sweep.results if r["variant"] == "bad"][0]
    assert "5000 train + 30 validation rows exceed the 330 available" in bad["error"]
    table = sweep.table()
    assert "0/2" in table and "FAILED bad" in table
    assert sweep.failed == 2 and (tmp_path / "fail" / "curves.png").exists()


def test_a_sweep_where_every_run_failed_draws_no_plot(tmp_path, capsys):
    sweep = compare("dead", BASE, variants={"bad": {"data.train_size": 5000}}, repeats=2,
                    out_dir=str(tmp_path), workers=0, verbose=True)
    assert sweep.failed == 2
    assert "no curves.png: all 2 runs failed" in capsys.readouterr().out
    assert not (tmp_path / "dead" / "curves.png").exists()
    assert (tmp_path / "dead" / "table.md").exists()
    figure = sweep.plot(str(tmp_path / "asked.png"))     # asked for anyway: words, no axes
    assert (tmp_path / "asked.png").read_bytes()[:4] == b"\x89PNG"
    assert [text.get_text() for text in figure.axes[0].texts] == [
        "nothing to draw: all 2 runs failed\n(the errors are listed in the table)"]
    assert figure.axes[0].get_xticks().size == 0 and not figure.axes[0].lines
    from framework.plotting import DPI
    assert figure.dpi == DPI


def test_a_panel_whose_variants_all_failed_says_so(tmp_path):
    """One variant failed, one finished: the failed one's own panel holds a message."""
    from framework.infra.compare import draw_curves
    from framework.plotting import new_figure
    sweep = compare("half", BASE, variants={"bad": {"data.train_size": 5000}, "good": {}},
                    repeats=1, workers=0, verbose=False)
    figure = new_figure(6, 3)
    bad, good = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    draw_curves(bad, sweep.results, ["bad"], ("val_loss",))
    draw_curves(good, sweep.results, ["good"], ("val_loss",))
    assert [t.get_text() for t in bad.texts] == ["no finished run:\nbad"] and not bad.lines
    assert len(good.lines) == 1 and not good.texts
    assert list(good.lines[0].get_xdata()) == [1.0, 2.0, 3.0]


# -------------------------------------------------------------- the command
# (tests/test_experiments.py runs it as a subprocess both ways, with --help)
def run_command(tmp_path, *extra):
    """``apps/compare.py``'s main in-process: (exit status, stdout, stderr). A test may
    run the same command twice: ``--overwrite`` lets the second redraw the figure."""
    from apps import compare as command
    return command.main(["--dataset", "clusters", "--train-size", "90", "--hidden", "4",
                         "--epochs", "1", "--repeats", "1", "--workers", "0",
                         "--runs-dir", str(tmp_path / "runs"), "--plot-dir",
                         str(tmp_path / "plots"), "--overwrite", *extra])


def test_command_refuses_a_config_naming_an_unregistered_source(tmp_path, capsys, counter):
    from apps import compare as command
    spy = counter()
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({"base": {**BASE, "data": {"source": "mypkg.data:make"}},
                                  "axes": OPTIMIZERS}))
    argv = ["--config", str(config), "--name", "cfg", "--runs-dir", str(tmp_path / "runs"),
            "--plot-dir", str(tmp_path / "plots"), "--workers", "0"]
    assert command.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("compare: error: ")
    assert re.search(r"expected one of \[.*'mnist'.*\], got 'mypkg.data:make'", err)
    assert spy.keys == [] and not (tmp_path / "runs").exists()
    assert command.main([*argv, "--epochs", "3"]) == 2     # a base flag beside --config
    assert "compare: error: --epochs: not used with --config" in capsys.readouterr().err


def test_command_runs_a_config_and_writes_the_json_line(tmp_path, capsys):
    from apps import compare as command
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({"base": BASE, "variants": {"plain": {},
                                                             "adam": {"optimizer_name": "adam"}}}))
    assert command.main(["--config", str(config), "--repeats", "1", "--workers", "0",
                         "--runs-dir", str(tmp_path / "runs"), "--no-plots", "--quiet",
                         "--metrics-json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1                  # --quiet: only the JSON line
    result = json.loads(out)
    assert result == json.loads((tmp_path / "m.json").read_text())
    assert result["run"] == "compare_clusters_seed1" and result["dataset"] == "clusters"
    assert [v["variant"] for v in result["variants"]] == ["plain", "adam"]
    assert result["variants"][1]["overrides"] == {"optimizer_name": "adam"}
    assert result["settings"]["base"] == BASE and result["plots"] == []
    assert (result["runs"], result["failed_runs"]) == (2, 0)
    runs = ResultsLog(str(tmp_path / "runs" / "compare_clusters_seed1")).entries()
    assert [e["result"]["seed"] for e in runs] == [1, 1]        # the apps' default --seed


def test_command_flags_make_the_base_run(tmp_path, capsys):
    """The training apps' flags, each where it belongs in the spec."""
    from apps import compare as command
    args = command.make_parser().parse_args(
        ["--dataset", "clusters", "--hidden", "8,4", "--bn", "--dropout", "0.2", "--l2",
         "1e-3", "--lr-schedule", "cosine", "--keep", "last", "--epochs", "4"])
    base = command.base_from_args(args)
    assert base["net"] == {"hidden": [8, 4], "activation": "relu", "batch_norm": True,
                           "dropout": 0.2}
    assert base["params"]["regular_name"] == "l2" and base["params"]["regular_value"] == 1e-3
    assert base["params"]["lr_schedule"] == {"name": "cosine", "total_epochs": 4,
                                             "min_lr": 0.0}
    assert base["train"] == {"checkpoint": 0.5, "restore_best": False}
    for bad in (["--epochs", "0"], ["--repeats", "0"], ["--axis", "novalue"]):
        with pytest.raises(SystemExit) as stop:
            command.main(bad)
        assert stop.value.code == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


def test_command_exits_non_zero_when_runs_fail(tmp_path, capsys):
    assert run_command(tmp_path, "--axis", "data.train_size=5000", "--name", "dead") == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith(
        "compare: error: 1 of 1 runs failed (the first: ValueError: ")
    assert "exceed the 100 available" in captured.err
    assert "all are in the tables and the JSON line" in captured.err
    result = json.loads(captured.out.splitlines()[-1])
    assert result["failed_runs"] == 1 and "exceed" in result["variants"][0]["errors"][0]
    assert not (tmp_path / "runs" / "dead" / "curves.png").exists()
    assert result["plots"] == [str(tmp_path / "plots" / "dead_curves.png")]  # says why


def test_command_ctrl_c_prints_one_line_and_exits_130(tmp_path, capsys, counter):
    counter(interrupt_at=2)
    assert run_command(tmp_path, "--axis", "optimizer_name=sgd,adam", "--name", "int") == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("compare: sweep 'int' interrupted: 1 of 2 runs finished")
    assert "run the same sweep again" in err


def test_ctrl_c_on_a_pool_sweep_in_a_terminal(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C does) while worker processes
    train: one line on stderr, no traceback from any process, status 130."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    argv = [sys.executable, "-m", "apps.compare", "--dataset", "clusters", "--train-size",
            "900", "--hidden", "32", "--epochs", "40", "--repeats", "4", "--workers", "2",
            "--axis", "optimizer_name=sgd,adam", "--runs-dir", str(tmp_path), "--no-plots"]
    process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    watchdog = threading.Timer(90, os.killpg, (process.pid, signal.SIGKILL))
    watchdog.start()                            # a hang fails the test, not the suite
    try:
        first = process.stdout.readline()       # the first run has finished
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert first.startswith("[1/8]"), first + out
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    assert re.search(r"^compare: sweep .* interrupted: [1-7] of 8 runs finished", err)


# ------------------------------------------------------------ executors
@register_source("clusters_dying_once")
def clusters_dying_once(data, net_type, dtype):
    """The clusters source, but the first worker to read it dies (marker file)."""
    options = dict(data["options"])
    marker = options.pop("marker")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)             # the worker process is gone, mid-sweep
    clusters = DATA_SOURCES.get("clusters")
    return clusters({**data, "source": "clusters", "options": options}, net_type, dtype)


def test_dask_worker_lost_mid_sweep_costs_only_a_retry(tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the 'cluster' extra")
    axes = {"optimizer_name": ["sgd", "adam"]}
    local = compare("dask", BASE, axes=axes, repeats=2, workers=0, verbose=False)
    marker = tmp_path / "died"
    dying = {**DATA, "source": "clusters_dying_once",
             "options": {**DATA["options"], "marker": str(marker)}}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  processes=True, dashboard_address=None) as cluster:
        remote = compare("dask", {**BASE, "data": dying}, axes=axes, repeats=2,
                         scheduler=cluster.scheduler_address, out_dir=str(tmp_path),
                         verbose=False)
    assert marker.exists()                      # a worker did die
    assert [r["status"] for r in remote.results] == ["ok"] * 4
    strip = ("key",)                # the specs differ: they name another source
    assert [{k: v for k, v in json.loads(n).items() if k not in strip}
            for n in numbers(remote.results)] == \
        [{k: v for k, v in json.loads(n).items() if k not in strip}
         for n in numbers(local.results)]
    assert len(ResultsLog(remote.out_dir).entries()) == 4


# ----------------------------------------------------------------- misc
def test_the_docs_snippet_runs_as_a_script_and_its_pool_gives_the_inline_numbers(tmp_path):
    """The runner section's snippet, shrunk, as a file: spawned local workers
    (the default), and exactly the numbers of the same sweep run inline."""
    text = (ROOT / "docs" / "experiments.md").read_text()
    section = text.split("## The comparison runner", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    small = {'{"source": "mnist", "train_size": 10000, "seed": 0}':
             json.dumps({**DATA, "train_size": 90, "val_size": 30}),
             "[100, 100, 100, 100]": "[8]", '"max_epoch": 15': '"max_epoch": 2',
             "repeats=3": "repeats=1"}
    for old, new in small.items():
        assert old in snippet, f"the docs' snippet changed: update this test ({old})"
        snippet = snippet.replace(old, new)
    assert 'if __name__ == "__main__":' in snippet and "workers=" not in snippet
    (tmp_path / "sweep.py").write_text(snippet)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "sweep.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"adam\s+1/0", done.stdout), done.stdout
    pooled = ResultsLog(str(tmp_path / "runs" / "optimizers")).entries()
    namespace = {}
    exec(snippet.split("if __name__")[0], namespace)         # the snippet's base
    inline = compare("optimizers", namespace["base"], axes=OPTIMIZERS, repeats=1, workers=0,
                     verbose=False)
    assert sorted(numbers([e["result"] for e in pooled])) == sorted(numbers(inline.results))


def test_saved_weights_reload(tmp_path):
    from framework.net import NeuralNet
    sweep = compare("w", BASE, repeats=1, out_dir=str(tmp_path), workers=0,
                    save_weights=True, verbose=False)
    path = sweep.results[0]["weights_path"]
    assert path.endswith(os.path.join("w", "base", "repeat_0.h5"))
    net = NeuralNet.load(path)
    assert net.params.seed == 0


def test_variants_from_axes_and_overrides():
    named = make_variants({"plain": {}}, {"optimizer_name": ["sgd", "adam"],
                                          "net.batch_norm": [False, True]})
    assert list(named) == ["plain", "optimizer_name=sgd,batch_norm=False",
                           "optimizer_name=sgd,batch_norm=True",
                           "optimizer_name=adam,batch_norm=False",
                           "optimizer_name=adam,batch_norm=True"]
    spec = apply_overrides(BASE, named["optimizer_name=adam,batch_norm=True"])
    assert spec["params"]["optimizer_name"] == "adam" and spec["net"]["batch_norm"] is True
    assert BASE["params"].get("optimizer_name") is None      # the base is not modified
    assert apply_overrides(BASE, {"data": {"seed": 3}})["data"]["train_size"] == 300
    deep = apply_overrides(BASE, {"data.options.noise": 0.5})
    assert deep["data"]["options"]["noise"] == 0.5 and DATA["options"]["noise"] == 2.5


def test_mean_std_and_table_format():
    assert mean_std([1.0, 3.0, None]) == [2.0, pytest.approx(2 ** 0.5)]
    assert mean_std([None]) == [None, None]
    row = {"variant": "v", "ok": 0, "failed": 1, "errors": ["ValueError: x"],
           **{k: [None, None] for k in ("final_val_loss", "final_val_accuracy",
                                        "best_val_loss", "best_val_accuracy", "best_epoch")}}
    text = format_markdown([row])
    assert "| v | 0/1 | failed |" in text and "FAILED v: ValueError: x" in text

