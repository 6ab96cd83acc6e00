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
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    "optimizer_paths": ("apps.experiments.optimizer_paths", ["x2_20", "x2_10"], [],
                        {"--steps"}, []),
    "activation_histograms": ("apps.experiments.activation_histograms",
                              ["sigmoid", "tanh", "relu"], [], {"--samples", "--layers",
                                                                "--seed"}, []),
    "optimizers_mnist": ("apps.experiments.optimizers_mnist", ["curves"], [None], set(), []),
    "init_mnist": ("apps.experiments.init_mnist", ["curves"], [None], set(), []),
    "batch_norm": ("apps.experiments.batch_norm", ["curves"], [None], set(), []),
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
                ["--axis", "optimizer_name=sgd,adam", "--axis",
                 'lr_schedule={"name": "cosine", "total_epochs": 2},"constant"',
                 "--workers", 2]),      # spawned workers re-import the script they run
}
NO_SWEEP = ("optimizer_paths", "activation_histograms")
WAYS = ("script", "module")


def command(app, way, args, elsewhere):
    """``python apps/.../<app>.py`` from ``elsewhere``, or ``python -m <module>`` from
    the clone's root (where ``-m`` finds the package)."""
    module = APPS[app][0]
    if way == "script":
        script = ROOT.joinpath(*module.split(".")).with_suffix(".py")
        return [sys.executable, str(script), *map(str, args)], elsewhere
    return [sys.executable, "-m", module, *map(str, args)], ROOT


def quick_args(app, folder):
    args = ["--quick", "--metrics-json", folder / "metrics.json", "--verbose", 2,
            # one app names its plot folder the old way (--out, a hidden alias)
            "--out" if app == "optimizer_paths" else "--plot-dir", folder / "plots"]
    if app not in NO_SWEEP:
        args += ["--synthetic", "--workers", 0, "--runs-dir", folder / "runs"]
    return args + APPS[app][4]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{app: (folder, quick run, --help)}: the quick run one way, --help the other way
    (alternating over the apps), at most four subprocesses at a time."""
    jobs = {}
    for i, app in enumerate(APPS):
        folder = tmp_path_factory.mktemp(app)
        run_way, help_way = WAYS[i % 2], WAYS[1 - i % 2]
        jobs[app, "run"] = command(app, run_way, quick_args(app, folder), folder)
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
        "" if app == "optimizer_paths" else "_seed1")
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
            assert row["ok"] >= 1 and row["failed"] == 0 and len(row["final_val_loss"]) == 2
        assert all(r["seed"] in (1, 2) for r in finished)   # --seed 1: repeats 1, 2
        assert f"[{result['runs']}/" in run.stdout or len(sweeps) > 1   # counted per sweep


def test_the_quick_runs_settings(runs):
    """What --quick and explicit flags gave, read from each JSON line."""
    settings = {app: last_json(runs[app][1])["settings"] for app in APPS}
    assert settings["overfitting"]["base"]["params"]["max_epoch"] == 3     # given: 3
    assert settings["overfitting"]["repeats"] == 2                          # --quick: 2
    assert settings["batch_norm"]["base"]["params"]["max_epoch"] == 2
    assert settings["optimizer_paths"]["steps"] == 10
    assert settings["activation_histograms"]["layers"] == 2
    assert settings["init_mnist"]["base"]["net"] == {"hidden": [100] * 4, "activation": "relu"}
    assert settings["compare"]["base"]["net"]["hidden"] == [16]
    variants = [row["variant"] for row in last_json(runs["compare"][1])["variants"]]
    assert variants == ["optimizer_name=sgd,lr_schedule=cosine",
                        "optimizer_name=sgd,lr_schedule=constant",
                        "optimizer_name=adam,lr_schedule=cosine",
                        "optimizer_name=adam,lr_schedule=constant"]
    paths = last_json(runs["optimizer_paths"][1])["variants"]
    assert {row["variant"] for row in paths} == {"SGD", "Momentum", "NAG", "AdaGrad",
                                                 "AdaDelta", "RMSProp", "Adam"}
    assert all(row["final_f"] >= 0 for row in paths)


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
        assert not (SWEEP_FLAGS - {"--seed"}) & set(options)     # no --epochs: none used
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


def test_a_failed_sweep_exits_1_with_one_line(tmp_path):
    empty = tmp_path / "no_data"
    empty.mkdir()
    status, out, err = call("batch_norm", ["--quick", "--data-dir", empty, "--workers", 0,
                                           "--runs-dir", tmp_path / "runs", "--plot-dir",
                                           tmp_path / "plots", "--repeats", 1])
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("batch_norm: error: 6 of 6 runs failed (the first: DataFileError: ")
    result = json.loads(out.splitlines()[-1])
    assert result["failed_runs"] == 6 and all(row["ok"] == 0 for row in result["variants"])
    png = tmp_path / "plots" / "batch_norm_mnist_quick_seed1_curves.png"
    assert result["plots"] == [str(png)] and png.exists()       # panels that say why


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
