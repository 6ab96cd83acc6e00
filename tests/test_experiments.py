"""Every experiment app and ``apps/compare.py``, run as a user runs them.

Each app makes one quick run (``--quick``, synthetic data) as a subprocess
one way (``python apps/experiments/<app>.py`` from another folder, or
``python -m apps.experiments.<app>`` from the clone's root) and shows its
``--help`` as a subprocess the other way, so both ways are covered for every
app with one training run each; the runs go side by side (two cores). The
checks of a run read what it left: its JSON line, its files, its sweeps'
results.jsonl. Failures, Ctrl-C, resuming and bad flags run in-process
through ``main(argv)``, which is what the scripts call.
"""
import contextlib
import importlib
import io
import json
import os
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from app_runs import app_env, option_entries

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # apps/ is run from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from framework.infra.compare import ResultsLog, executors  # noqa: E402

SWEEP_FLAGS = {"--epochs", "--repeats", "--seed", "--dataset", "--data-dir", "--download",
               "--train-size", "--synthetic", "--workers", "--scheduler", "--runs-dir"}
OUTPUT_FLAGS = {"--plot-dir", "--no-plots", "--metrics-json", "--name", "--verbose",
                "--quiet", "--quick"}
# app: (module, plot kinds, sweep parts, its own flags, extra quick-run flags)
APPS = {
    "optimizer_paths": ("apps.experiments.optimizer_paths",
                        ["x2_20", "x2_10", "linear_regression", "linear_regression_zoom"], [],
                        {"--steps", "--iterations", "--noise", "--target-loss", "--data-seed",
                         "--data-seeds"}, []),
    "activation_histograms": ("apps.experiments.activation_histograms",
                              ["sigmoid", "tanh", "relu"], [], {"--samples", "--layers",
                                                                "--seed"}, []),
    "optimizers_mnist": ("apps.experiments.optimizers_mnist", ["curves"], [None], set(), []),
    "init_mnist": ("apps.experiments.init_mnist", ["curves"], [None], set(), []),
    "batch_norm": ("apps.experiments.batch_norm", ["curves", "summary"], [None], set(), []),
    "overfitting": ("apps.experiments.overfitting", ["curves"], [None], set(),
                    ["--epochs", 3]),           # a flag given explicitly wins over --quick
    "lr_schedules": ("apps.experiments.lr_schedules", ["curves"], [None], set(), []),
    "hparam_search": ("apps.experiments.hparam_search", ["trials"],
                      ["round1", "round2", "final"], {"--trials", "--trials2", "--top",
                                                       "--search-seed"}, []),
    "vanishing_exploding": ("apps.experiments.vanishing_exploding", ["curves"],
                            ["vanishing_D2", "vanishing_D5", "exploding"],
                            {"--depths", "--depth", "--lr", "--high-lr", "--clip-norm",
                             "--warmup-epochs"}, []),
    "compare": ("apps.compare", ["curves"], [None],
                {"--config", "--axis", "--hidden", "--lr", "--optimizer", "--bn", "--keep"},
                ["--axis", "optimizer=sgd,adam", "--axis", "lr-schedule=cosine,constant",
                 "--workers", 2]),      # spawned workers re-import the script they run
    "breast_cancer_cv": ("apps.experiments.breast_cancer_cv", ["scores"], [],
                         {"--repeats", "--folds", "--seed", "--search", "--data-dir"}, []),
}
NO_SWEEP = ("optimizer_paths", "activation_histograms", "breast_cancer_cv")
WAYS = ("script", "module")


def command(app, way, args, elsewhere):
    """``python apps/.../<app>.py`` from ``elsewhere``, or ``python -m <module>`` from
    the clone's root (where ``-m`` finds the package)."""
    module = APPS[app][0]
    if way == "script":
        script = ROOT.joinpath(*module.split(".")).with_suffix(".py")
        return [sys.executable, str(script), *map(str, args)], elsewhere
    return [sys.executable, "-m", module, *map(str, args)], ROOT


def quick_args(app, folder, data):
    args = ["--quick", "--metrics-json", folder / "metrics.json", "--verbose", 2,
            # one app names its plot folder the old way (--out, a hidden alias)
            "--out" if app == "optimizer_paths" else "--plot-dir", folder / "plots"]
    if app not in NO_SWEEP:
        args += ["--synthetic", "--workers", 0, "--runs-dir", folder / "runs"]
    if app == "breast_cancer_cv":
        args += ["--data-dir", data]
    return args + APPS[app][4]


def write_wdbc(path, n_malignant=20, n_benign=30, seed=0):
    """A tiny ``wdbc.data``: id, M/B, 30 features; two overlapping clouds."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, label in enumerate([0] * n_malignant + [1] * n_benign):
        values = rng.normal(10.0 - 1.5 * label, 1.0, 30)
        rows.append(f"{9000 + i},{'MB'[label]}," + ",".join(f"{v:.4f}" for v in values))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{app: (folder, quick run, --help)}: the quick run one way, --help the other way
    (alternating over the apps), at most four subprocesses at a time."""
    jobs = {}
    data = tmp_path_factory.mktemp("data")
    write_wdbc(data / "breast-cancer" / "wdbc.data")
    for i, app in enumerate(APPS):
        folder = tmp_path_factory.mktemp(app)
        run_way, help_way = WAYS[i % 2], WAYS[1 - i % 2]
        jobs[app, "run"] = command(app, run_way, quick_args(app, folder, data), folder)
        jobs[app, "help"] = command(app, help_way, ["--help"], folder)
        jobs[app, "folder"] = folder

    def execute(job):
        argv, cwd = job
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=app_env(), capture_output=True, text=True,
                              timeout=240)
        print(f"{time.perf_counter() - started:6.2f} s  {' '.join(argv[1:3])}")
        return done

    keys = [key for key in jobs if key[1] != "folder"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(keys, pool.map(execute, [jobs[key] for key in keys])))
    return {app: (jobs[app, "folder"], done[app, "run"], done[app, "help"]) for app in APPS}


def last_json(result):
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {result.stderr}"
    return json.loads(lines[-1])


def test_every_app_runs_both_ways(runs):
    ways = {app: {runs[app][1].args[1].endswith(".py"), runs[app][2].args[1].endswith(".py")}
            for app in APPS}
    assert all(used == {True, False} for used in ways.values()), ways


@pytest.mark.parametrize("app", sorted(APPS))
def test_quick_run_writes_its_json_line_and_files(app, runs):
    folder, run, _ = runs[app]
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""                     # no warning, no bar off a terminal
    result = last_json(run)
    assert result == json.loads((folder / "metrics.json").read_text())
    sweeps = APPS[app][2]
    expected_name = app + ("" if app in NO_SWEEP else "_clusters") + "_quick" + (
        "" if app in ("optimizer_paths", "breast_cancer_cv") else "_seed1")
    assert result["app"] == app and result["run"] == expected_name
    assert result["failed_runs"] == 0 and result["variants"]
    assert result["settings"]

    # plots named by the run, every one listed; a table beside them
    plots = folder / "plots"
    assert sorted(result["plots"]) == sorted(str(plots / f"{expected_name}_{kind}.png")
                                             for kind in APPS[app][1])
    assert sorted(result["plots"]) == sorted(str(p) for p in plots.glob("*.png"))
    for png in result["plots"]:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        width, height, dpi = png_size_and_dpi(png)
        assert dpi >= 100 and width >= 900 and height >= 400, (png, width, height, dpi)
    assert result["warnings"] == []
    if app != "compare":
        assert result["tables"] == [str(plots / f"{expected_name}_table.md")]
        assert "\n|---|" in Path(result["tables"][0]).read_text()     # a Markdown table

    # the sweeps: one folder each under --runs-dir, every run in results.jsonl
    names = [expected_name + (f"_{part}" if part else "") for part in sweeps]
    assert result["sweeps"] == [str(folder / "runs" / name) for name in names]
    finished = [e["result"] for name in names
                for e in ResultsLog(str(folder / "runs" / name)).entries()]
    assert len(finished) == result["runs"] and all(r["status"] == "ok" for r in finished)
    if sweeps:
        assert {row["sweep"] for row in result["variants"]} == set(names)
        for row in result["variants"]:
            assert row["ok"] >= 1 and row["failed"] == 0
            for metric in ("final_train_loss", "final_val_loss", "final_val_accuracy"):
                assert set(row[metric]) == {"mean", "std", "finite"}     # labelled
                finite = row[metric]["finite"]        # diverged runs are counted, not hidden
                assert 0 <= finite <= row["ok"] and (row[metric]["mean"] is None) == (
                    finite == 0)
        assert all(r["seed"] in (1, 2) for r in finished)   # --seed 1: repeats 1, 2
        assert f"[{result['runs']}/" in run.stdout or len(sweeps) > 1   # counted per sweep


def test_the_quick_runs_settings(runs):
    """What --quick and explicit flags gave, read from each JSON line."""
    settings = {app: last_json(runs[app][1])["settings"] for app in APPS}
    assert settings["overfitting"]["base"]["params"]["max_epoch"] == 3     # given: 3
    assert settings["overfitting"]["repeats"] == 2                          # --quick: 2
    assert settings["batch_norm"]["base"]["params"]["max_epoch"] == 12
    assert settings["optimizer_paths"]["steps"] == 10
    assert settings["activation_histograms"]["samples"] == 300
    assert settings["init_mnist"]["base"]["net"] == {"hidden": [100] * 4, "activation": "relu"}
    assert settings["compare"]["base"]["net"]["hidden"] == [16]
    compared = last_json(runs["compare"][1])
    variants = [row["variant"] for row in compared["variants"]]
    assert variants == ["optimizer=sgd, lr-schedule=cosine",
                        "optimizer=sgd, lr-schedule=constant",
                        "optimizer=adam, lr-schedule=cosine",
                        "optimizer=adam, lr-schedule=constant"]
    assert compared["variants"][2]["overrides"] == {
        "optimizer_name": "adam", "lr_schedule": {"name": "cosine", "total_epochs": 2,
                                                  "min_lr": 0.0}}
    ranked = compared["metrics"]["by_final_val_loss"]
    assert sorted(r["variant"] for r in ranked) == sorted(variants)
    losses = [r["final_val_loss"] for r in ranked]
    assert losses == sorted(losses)
    paths = last_json(runs["optimizer_paths"][1])["variants"]
    bowls = [row for row in paths if row["function"] != "linear_regression"]
    assert {row["variant"] for row in bowls} == {"SGD", "Momentum", "NAG", "AdaGrad",
                                                 "AdaDelta", "RMSProp", "Adam"}
    assert all(row["final_f"] >= 0 for row in bowls)
    assert settings["batch_norm"]["scales"] == pytest.approx(np.logspace(0, -4, 16)[::5])
    from apps.experiments.batch_norm import SCALES
    assert SCALES == pytest.approx(np.logspace(0, -4, 16))    # the book's 16 weight scales


def png_size_and_dpi(path):
    """(width, height, dots per inch) from a PNG's IHDR and pHYs chunks."""
    data = Path(path).read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    at = data.find(b"pHYs")
    per_metre = struct.unpack(">I", data[at + 4:at + 8])[0] if at > 0 else 0
    return width, height, round(per_metre * 0.0254)


def test_the_linear_regression_counts_iterations_beside_the_books(runs):
    """The textbook's second optimizer comparison: (w, b) paths on the loss contours
    and the iterations each optimizer needs, next to the book's counts."""
    result = last_json(runs["optimizer_paths"][1])
    rows = {row["variant"]: row for row in result["variants"]
            if row["function"] == "linear_regression"}
    assert set(rows) == {"SGD", "Momentum", "NAG", "AdaGrad", "AdaDelta", "RMSProp", "Adam"}
    assert {name: rows[name]["book_iterations"] for name in rows if
            rows[name]["book_iterations"]} == {"SGD": 148, "Momentum": 128, "RMSProp": 130,
                                               "Adam": 107}
    optimum = result["metrics"]["linear_regression_optimum"]
    assert optimum["w"] == pytest.approx(2.0, abs=0.1)
    assert optimum["b"] == pytest.approx(3.0, abs=0.1)
    assert rows["SGD"]["iterations_to_target"] is not None      # the target is reachable
    assert abs(rows["Adam"]["final_w"] - optimum["w"]) < 0.2
    table = Path(result["tables"][0]).read_text()
    assert "| the book |" in table and "| SGD | 0.5 |" in table


def test_vanishing_exploding_measures_the_gradients_and_tables_both_parts(runs):
    result = last_json(runs["vanishing_exploding"][1])
    assert result["settings"]["depths"] == [2, 5] and result["settings"]["depth"] == 5
    rms = result["metrics"]["grad_rms_first_layer"]
    assert set(rms) == {"plain D=5", "residual D=5", "batch norm D=5", "layer norm D=5",
                        "layer norm after D=5", "relu"}
    # the lesson at depth 5 already: the skip keeps the first layer's gradient alive
    assert rms["plain D=5"] < rms["residual D=5"] / 100
    table = Path(result["tables"][0]).read_text()
    assert "| plain | " in table and "| clip norm 1 | " in table and "| warm-up 2 epochs |" \
        in table
    exploding = [e["result"] for e in ResultsLog(result["sweeps"][-1]).entries()]
    clipped = [r for r in exploding if r["variant"].startswith("clip")]
    assert clipped and all("clipped" in rec for r in clipped for rec in r["history"]["records"])


def test_overfitting_uses_the_test_set_once_per_run(runs):
    folder, run, _ = runs["overfitting"]
    result = last_json(run)
    assert "test acc (once, at the end)" in Path(result["tables"][0]).read_text()
    finished = [e["result"] for e in ResultsLog(result["sweeps"][0]).entries()]
    assert finished and all("test" in r for r in finished)
    assert set(result["metrics"]["gaps"]) == {"none", "weight decay 0.1", "dropout 0.2"}


def test_hparam_search_touches_the_test_set_only_at_the_end(runs):
    result = last_json(runs["hparam_search"][1])
    round1, round2, final = result["sweeps"]
    for folder in (round1, round2):
        finished = [e["result"] for e in ResultsLog(folder).entries()]
        assert finished and not any("test" in r for r in finished)
    finals = [e["result"] for e in ResultsLog(final).entries()]
    assert finals and all("test" in r for r in finals)
    assert result["metrics"]["test_accuracy"][0] == finals[0]["test"]["accuracy"]


@pytest.mark.parametrize("app", sorted(APPS))
def test_help_shows_every_default(app, runs):
    """Every option's help ends with its default; flags offered only where used."""
    _, _, shown = runs[app]
    assert shown.returncode == 0, shown.stderr
    options = option_entries(shown.stdout)
    own = APPS[app][3]
    expected = own | OUTPUT_FLAGS | (set() if app in NO_SWEEP else SWEEP_FLAGS)
    assert expected <= set(options), expected - set(options)
    if app in NO_SWEEP:
        unused = SWEEP_FLAGS - {"--seed"} - own               # no --epochs: none used
        assert not unused & set(options), unused & set(options)
        for flag in ("--name", "--verbose", "--no-plots", "--plot-dir", "--overwrite"):
            for word in ("--runs-dir", "sweep", "saved net", "weights"):
                assert word not in options[flag], (flag, options[flag])
    assert "--out" not in options and "--source" not in options
    for flag, text in options.items():
        if flag != "-h":
            assert "(default:" in " ".join(text.split()), (flag, text)
    parser = importlib.import_module(APPS[app][0]).make_parser()
    for action in parser._actions:
        if action.option_strings and action.option_strings[0] == "--epochs":
            assert f"(default: {action.default})" in options["--epochs"]


# ---------------------------------------------------------------- in-process
def call(app, argv):
    """(exit status, stdout, stderr) of the app's ``main(argv)``, as the script exits."""
    main = importlib.import_module(APPS[app][0]).main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as stop:      # argparse: --help or a usage error
            status = stop.code
    return status, out.getvalue(), err.getvalue()


def test_the_same_command_resumes_and_no_plots_draws_nothing(runs, tmp_path):
    folder, run, _ = runs["init_mnist"]
    first = last_json(run)
    argv = ["--quick", "--synthetic", "--workers", 0, "--runs-dir", folder / "runs",
            "--plot-dir", tmp_path, "--no-plots"]
    status, out, err = call("init_mnist", argv)
    assert status == 0, err
    assert "6 of 6 runs already in" in out and "nothing to run" in out
    again = json.loads(out.splitlines()[-1])
    assert again["variants"] == first["variants"] and again["runs"] == 6
    assert again["plots"] == [] and not list(tmp_path.glob("*.png"))


def test_missing_data_stops_a_sweep_before_its_first_run(tmp_path, monkeypatch):
    """No MNIST in --data-dir: one line naming the file and where data is looked for,
    exit 1, and not one run started (before: all 36 runs failed, one by one)."""
    monkeypatch.setattr(executors, "run_task", None)       # a run would crash the test
    empty = tmp_path / "no_data"
    empty.mkdir()
    status, out, err = call("batch_norm", ["--quick", "--data-dir", empty, "--workers", 0,
                                           "--runs-dir", tmp_path / "runs", "--plot-dir",
                                           tmp_path / "plots", "--repeats", 1])
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"batch_norm: error: {empty / 'mnist'}")
    for needle in ("file not found", "--data-dir", "MINIFRAMEWORK_DATA", "--download"):
        assert needle in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "plots").exists()


def test_a_failed_sweep_exits_1_with_one_line(tmp_path, monkeypatch):
    from framework.infra.compare import runner

    def broken(spec, source):
        raise ValueError(f"no run today ({spec.variant})")

    monkeypatch.setattr(runner, "run_one", broken)
    status, out, err = call("batch_norm", ["--quick", "--synthetic", "--workers", 0,
                                           "--runs-dir", tmp_path / "runs", "--plot-dir",
                                           tmp_path / "plots"])
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("batch_norm: error: 8 of 8 runs failed (the first: ValueError: no "
                          "run today (std=1 BN)")
    result = json.loads(out.splitlines()[-1])
    assert result["failed_runs"] == 8 and all(row["ok"] == 0 for row in result["variants"])
    pngs = [tmp_path / "plots" / f"batch_norm_clusters_quick_seed1_{kind}.png"
            for kind in ("curves", "summary")]
    assert result["plots"] == [str(p) for p in pngs] and all(p.exists() for p in pngs)


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch):
    original, started = executors.run_task, []

    def interrupt_the_second(spec, source):
        started.append(spec.key())
        if len(started) == 2:
            raise KeyboardInterrupt
        return original(spec, source)

    monkeypatch.setattr(executors, "run_task", interrupt_the_second)
    status, out, err = call("lr_schedules", ["--quick", "--synthetic", "--workers", 0,
                                             "--runs-dir", tmp_path, "--plot-dir", tmp_path])
    assert status == 130
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("lr_schedules: sweep 'lr_schedules_clusters_quick_seed1' "
                          "interrupted: 1 of 12 runs finished")
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("app, argv, message", [
    ("init_mnist", ["--epochs", "0"], "--epochs: expected a positive integer, got '0'"),
    ("overfitting", ["--repeats", "-1"], "--repeats: expected a positive integer, got '-1'"),
    ("batch_norm", ["--repeats", "0"], "--repeats: expected a positive integer, got '0'"),
    ("optimizer_paths", ["--epochs", "3"], "unrecognized arguments: --epochs 3"),
    ("activation_histograms", ["--steps", "3"], "unrecognized arguments: --steps 3"),
    ("hparam_search", ["--dataset", "cifar"], "--dataset: invalid choice: 'cifar'"),
])
def test_a_bad_flag_is_one_line_and_exit_2(app, argv, message):
    status, out, err = call(app, argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"{app}: error: ") and message in err


def test_a_bad_target_is_refused_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "run_task", None)       # a run would crash the test
    (tmp_path / "file").write_text("")
    status, _, err = call("init_mnist", ["--quick", "--synthetic", "--runs-dir",
                                         tmp_path / "file"])
    assert status == 2 and "--runs-dir: " in err and "is a file; expected a folder" in err


def _mnist_available():
    root = os.environ.get("MINIFRAMEWORK_DATA")
    return bool(root) and (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").exists()


@pytest.mark.skipif(not _mnist_available(), reason="MNIST files not in $MINIFRAMEWORK_DATA")
def test_an_app_on_real_mnist(tmp_path):
    status, out, err = call("init_mnist", ["--quick", "--workers", 0, "--runs-dir", tmp_path,
                                           "--plot-dir", tmp_path, "--no-plots"])
    assert status == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["dataset"] == "mnist" and result["failed_runs"] == 0
    assert "FAILED" not in out


# ------------------------------------------------------ compare's axes (issue 22)
def test_compare_axis_keys_are_the_flags_names_and_help_lists_them(runs):
    from apps.support import axes
    _, _, shown = runs["compare"]
    text = " ".join(shown.stdout.split())
    for key in ("optimizer", "lr", "batch-size", "lr-schedule", "hidden", "bn", "dropout",
                "train-size", "l2"):
        assert key in option_entries(shown.stdout)["--axis"] or f"{key} (" in text, key
    assert axes.parse_axis("optimizer=sgd,adam") == ("optimizer", ["sgd", "adam"])
    assert axes.parse_axis("batch_size=32,64") == ("batch-size", [32, 64])
    assert axes.parse_axis("hidden=[100],[64,32]") == ("hidden", [[100], [64, 32]])
    assert axes.parse_axis("bn=off,on") == ("bn", [False, True])
    assert axes.parse_axis("optimizer_name=sgd") == ("optimizer", ["sgd"])   # the old key
    variants = axes.make_variants([("optimizer", ["sgd"]), ("l2", [0.0, 1e-3]),
                                   ("lr-schedule", ["cosine"])], epochs=4)
    assert variants == {
        "optimizer=sgd, l2=0, lr-schedule=cosine": {
            "optimizer_name": "sgd", "regular_name": "nothing", "regular_value": 0.0,
            "lr_schedule": {"name": "cosine", "total_epochs": 4, "min_lr": 0.0}},
        "optimizer=sgd, l2=0.001, lr-schedule=cosine": {
            "optimizer_name": "sgd", "regular_name": "l2", "regular_value": 1e-3,
            "lr_schedule": {"name": "cosine", "total_epochs": 4, "min_lr": 0.0}}}


@pytest.mark.parametrize("axis, message", [
    ("optimiser=sgd", "unknown key 'optimiser'; expected one of optimizer, lr, batch-size"),
    ("lr=-1", "lr: expected a positive number, got '-1'"),
    ("bn=maybe", "bn: expected on or off, got 'maybe'"),
    ("dropout=1.5", "dropout: expected a ratio in [0, 1), got '1.5'"),
    ("hidden=[0]", "hidden: expected positive widths"),
    ("hidden=[a]", "hidden: expected a list of positive widths"),
])
def test_a_bad_axis_is_refused_before_any_run(axis, message, monkeypatch):
    monkeypatch.setattr(executors, "run_task", None)       # a run would crash the test
    status, out, err = call("compare", ["--synthetic", "--axis", axis])
    assert status == 2 and out == ""
    assert err.startswith("compare: error: argument --axis: ") and message in err, err


def test_progress_lines_and_tables_keep_six_significant_digits():
    from framework.infra.compare.report import describe_result, format_number, table_rows
    ok = {"status": "ok", "seconds": 1.23456,
          "final": {"train_loss": 7.61234567e-05, "val_loss": 7.6123e-05,
                    "val_accuracy": 17 / 30}}
    line = describe_result(ok)
    assert line == ("final train loss 7.61235e-05, val loss 7.6123e-05, val acc 0.566667 "
                    "(1.23 s)")
    diverged = {"status": "ok", "final": {"train_loss": None, "val_loss": float("nan"),
                                          "val_accuracy": 0.1}}
    assert describe_result(diverged).startswith("final train loss diverged, val loss diverged")
    assert describe_result({"status": "failed", "error": "E: x"}) == "FAILED E: x"
    assert [format_number(v) for v in (None, float("nan"), float("inf"), 123456789.0)] == [
        "nan", "nan", "inf", "1.23457e+08"]
    row = {"variant": "v", "ok": 2, "failed": 0, "errors": [],
           "final_train_loss": [7.6123e-05, 1e-06], "final_val_loss": [None, None],
           "final_val_accuracy": [0.566667, 0.0], "best_val_loss": [0.5, 0.1],
           "best_val_accuracy": [0.5, 0.1], "best_epoch": [3.0, 0.0],
           "finite": {"final_train_loss": 2, "final_val_loss": 0, "final_val_accuracy": 2,
                      "best_val_loss": 2, "best_val_accuracy": 2, "best_epoch": 2}}
    header, (cells,) = table_rows([row])
    assert header[2] == "final train loss"
    assert cells[2:5] == ["7.6123e-05 ± 1e-06", "diverged", "0.566667 ± 0"]


# -------------------------------------------- breast-cancer cross-validation
def test_the_folds_test_every_sample_once_and_keep_the_class_mix():
    from apps.experiments.breast_cancer_cv import splits, stratified_folds
    labels = np.array([0] * 212 + [1] * 357)
    folds = stratified_folds(labels, 5, seed=3)
    tested = np.concatenate(folds)
    assert sorted(tested.tolist()) == list(range(569))            # each sample once
    for test in folds:
        assert 113 <= test.size <= 115
        assert abs(labels[test].mean() - 357 / 569) < 0.01       # stratified
    again = stratified_folds(labels, 5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))   # the same for all
    other = stratified_folds(labels, 5, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other))
    assert len(splits(labels, 5, range(1, 11))) == 50
    for _, train, test in splits(labels, 5, [1]):
        assert not set(train) & set(test) and train.size + test.size == 569


def test_the_search_ranks_the_candidates_on_other_folds(tmp_path):
    data = tmp_path / "data"
    write_wdbc(data / "breast-cancer" / "wdbc.data")
    status, out, err = call("breast_cancer_cv", ["--search", "--repeats", 1, "--folds", 2,
                                                 "--data-dir", data, "--plot-dir", tmp_path,
                                                 "--no-plots", "--verbose", 0])
    assert status == 0, err
    result = json.loads(out)
    assert result["run"] == "breast_cancer_cv_search"
    from apps.experiments.breast_cancer_cv import CANDIDATES, SELECTION_SEED
    assert set(CANDIDATES) <= set(result["metrics"])
    table = Path(result["tables"][0]).read_text()
    assert f"fold seeds {SELECTION_SEED}-{SELECTION_SEED}" in table
    means = [float(line.split("|")[2].split("±")[0]) for line in table.splitlines()
             if line.startswith("| ") and "±" in line and "mean" not in line]
    assert len(means) == len(result["metrics"])
    assert means == sorted(means, reverse=True)                   # best first
