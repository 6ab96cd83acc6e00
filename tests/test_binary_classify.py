"""apps/binary_classify.py on tiny data: a small generated double arc and a tiny
breast-cancer file in the UCI layout.

The app runs as a subprocess both ways, ``python apps/binary_classify.py`` (from
another folder) and ``python -m apps.binary_classify`` (from the clone's root):
each data set trains one way, the double-arc net reloads the other way. The
other cases run in-process through ``main(argv)``, which is what both ways call.
The data sets' compare sources (datareaders/sources.py) are checked at the end.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import datareaders
from apps import binary_classify
from datareaders.breast_cancer import BreastCancerReader
from datareaders.double_arc import DoubleArcReader
from framework import NetType, NeuralNet
from framework.infra.compare.sources import get_source
from app_runs import app_env, option_entries

ROOT = Path(__file__).resolve().parent.parent
APP = "binary_classify"
PNG = b"\x89PNG\r\n\x1a\n"
ARC = ["--arc-points", 40, "--epochs", 3, "--seed", 2]      # 80 training, 20 test points


# ------------------------------------------------------------------ helpers
def start(way, args, cwd):
    """``python apps/binary_classify.py`` from ``cwd``, or ``python -m
    apps.binary_classify`` from the clone's root."""
    if way == "script":
        argv = [sys.executable, str(ROOT / "apps" / f"{APP}.py")]
    else:
        argv, cwd = [sys.executable, "-m", f"apps.{APP}"], ROOT
    return subprocess.Popen(argv + [str(a) for a in args], cwd=cwd, env=app_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process, timeout=180):
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def call(argv):
    """(exit status, stdout, stderr) of ``main(argv)`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = binary_classify.main([str(a) for a in argv])
        except SystemExit as stop:      # argparse: --help or a usage error
            status = stop.code
    return status, out.getvalue(), err.getvalue()


def last_json(text):
    lines = text.strip().splitlines()
    assert lines, "no output"
    return json.loads(lines[-1])


def assert_one_line_error(stderr, *needles):
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{APP}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def write_wdbc(path, n_malignant=20, n_benign=30, seed=0):
    """A tiny ``wdbc.data``: id, M/B, 30 features; malignant rows are shifted up."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, label in enumerate([0] * n_malignant + [1] * n_benign):
        values = rng.normal(10.0 - 4.0 * label, 1.0, 30)
        rows.append(f"{9000 + i},{'MB'[label]}," + ",".join(f"{v:.4f}" for v in values))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_wdbc(root / "breast-cancer" / "wdbc.data")
    return root


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    """The double arc trained as a script and reloaded as a module; the breast-cancer
    set trained as a module meanwhile. {case: (folder, CompletedProcess, ...)}."""
    arc, cancer = tmp_path_factory.mktemp("arc"), tmp_path_factory.mktemp("cancer")
    arc_run = start("script", [*ARC, "--save", arc / "w" / "arc.h5", "--plot-dir",
                               arc / "plots", "--verbose", 2], arc)
    cancer_run = start("module", ["--dataset", "breast-cancer", "--data-dir", data_dir,
                                  "--seed", 1, "--data-seed", 4, "--epochs", 100, "--no-save",
                                  "--plot-dir", cancer / "plots"], cancer)
    arc_trained = finish(arc_run)
    reloaded = None
    if arc_trained.returncode == 0:
        reloaded = finish(start("module", ["--load", arc / "w" / "arc.h5", "--plot-dir",
                                           arc / "plots", "--quiet"], arc))
    return {"arc": (arc, arc_trained, reloaded), "cancer": (cancer, finish(cancer_run))}


# ------------------------------------------------------------ subprocesses
def test_double_arc_trains_plots_saves_and_reloads_the_other_way(runs):
    folder, trained, reloaded = runs["arc"]
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr == ""                 # no bar, no warning off a terminal
    result = last_json(trained.stdout)
    assert result["app"] == APP and result["mode"] == "train"
    assert result["run"] == f"{APP}_double-arc_seed2"
    assert result["data"] == {"dataset": "double-arc", "data_seed": 2, "arc_points": 40,
                              "test_fraction": 0.2}
    assert result["epochs_run"] == 3 and trained.stdout.count("\nepoch ") == 3
    metrics = result["metrics"]
    assert metrics["num_test"] == 20 and np.sum(metrics["confusion"]) == 20
    assert np.trace(metrics["confusion"]) == 20 - metrics["test_errors"]
    assert metrics["test_accuracy"] == pytest.approx(1 - metrics["test_errors"] / 20)

    # the textbook's 2-3-1 sigmoid + logistic net and the double arc's defaults
    settings = result["settings"]
    layers = settings["architecture"]["layers"]
    assert [layer["class"] for layer in layers] == ["FcLayer", "ActivationLayer", "FcLayer",
                                                    "ClassificationLayer"]
    assert [layers[0]["output_size"], layers[2]["output_size"]] == [3, 1]
    assert layers[1]["activator"]["name"] == "sigmoid"
    assert layers[3]["classifier"]["name"] == "logistic"
    assert settings["architecture"]["input_shape"] == [2]
    assert (settings["optimizer"], settings["learning_rate"], settings["batch_size"],
            settings["init"], settings["seed"], settings["keep"]) == (
            "adam", 0.02, 5, "xavier", 2, "best")

    names = sorted(Path(p).name for p in result["plots"])
    assert names == [f"{APP}_double-arc_seed2_{kind}.png"
                     for kind in ("boundary", "confusion", "history")]
    assert all(Path(p).read_bytes()[:8] == PNG for p in result["plots"])

    # the data options and the normalisation travel inside the weights file
    net = NeuralNet.load(folder / "w" / "arc.h5")
    assert net.metadata["app"] == APP and net.metadata["data"] == result["data"]
    reader = DoubleArcReader(40, 10, seed=2).read_data()
    reader.normalize_x()
    np.testing.assert_allclose(net.metadata["preprocessing"]["x_min"], reader.x_min)
    np.testing.assert_allclose(net.metadata["preprocessing"]["x_range"], reader.x_range)
    assert not list((folder / "w").glob("*.json"))

    assert reloaded is not None and reloaded.returncode == 0, reloaded and reloaded.stderr
    assert reloaded.stdout.count("\n") == 1           # --quiet: only the JSON line
    again = last_json(reloaded.stdout)
    assert again["mode"] == "load" and again["train_seconds"] is None
    assert again["data"] == result["data"]             # the same arcs, regenerated
    assert again["metrics"] == result["metrics"]       # exactly the same numbers
    assert sorted(Path(p).name for p in again["plots"]) == [
        f"{APP}_double-arc_load_arc_{kind}.png" for kind in ("boundary", "confusion")]
    assert len(list((folder / "plots").glob("*.png"))) == 5   # the training run's are kept


def test_breast_cancer_reads_wdbc_and_writes_a_confusion_matrix(runs):
    folder, done = runs["cancer"]
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["dataset"] == "breast-cancer" and result["weights"] is None
    assert result["data"]["data_seed"] == 4 and result["settings"]["seed"] == 1
    assert result["run"] == f"{APP}_breast-cancer_data4_seed1"
    metrics = result["metrics"]
    assert metrics["num_test"] == 10                              # 20 % of 20 and of 30
    assert np.sum(metrics["confusion"], axis=1).tolist() == [4, 6]   # stratified
    assert metrics["test_accuracy"] == 1.0                        # two separate clouds
    assert result["epochs_run"] == 100 and result["stop_reason"] == "max_epoch reached"
    settings = result["settings"]      # the breast-cancer defaults, not the double arc's
    assert (settings["batch_size"], settings["learning_rate"], settings["keep"],
            settings["regularization"], settings["holdout"]) == (
        32, 0.003, "last", {"name": "l2", "value": 0.003}, 0)
    assert settings["architecture"]["layers"][0]["output_size"] == 8
    assert sorted(Path(p).name for p in result["plots"]) == [
        f"{APP}_breast-cancer_data4_seed1_{kind}.png" for kind in ("confusion", "history")]
    assert "test accuracy 100.00% (0 errors in 10)" in done.stdout


@pytest.mark.parametrize("way", ["script", "module"])
def test_a_failed_run_is_one_line_and_exit_1(way, tmp_path):
    done = finish(start(way, ["--dataset", "breast-cancer", "--data-dir", tmp_path / "none",
                              "--no-save", "--plot-dir", tmp_path], tmp_path))
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "breast_cancer.csv: file not found")
    assert done.stdout == ""


# ------------------------------------------------------------ in-process
@pytest.mark.parametrize("dataset, expected", [
    ("double-arc", {"--hidden": "3", "--batch-size": "5", "--lr": "0.02", "--keep": "best",
                    "--stop-loss": "0.02", "--l2": "0.0", "--epochs": "500",
                    "--holdout": "10", "--save": "weights/RUN.h5"}),
    ("breast-cancer", {"--hidden": "8", "--batch-size": "32", "--lr": "0.003",
                       "--keep": "last", "--stop-loss": "0.0", "--l2": "0.003",
                       "--epochs": "300", "--holdout": "0", "--save": "weights/RUN.h5"}),
])
def test_help_shows_every_default_of_the_chosen_data_set(dataset, expected):
    status, out, err = call(["--dataset", dataset, "--help"])
    assert status == 0, err
    options = option_entries(out)
    assert {"--dataset", "--data-seed", "--arc-points", "--test-fraction", "--stop-loss",
            "--seed", "--verbose", "--metrics-json"} <= set(options)
    for flag, text in options.items():
        if flag != "-h":
            assert "(default:" in text, (flag, text)
    for flag, value in expected.items():
        assert f"(default: {value})" in options[flag], (flag, options[flag])
    assert "(default: --seed)" in options["--data-seed"]
    assert "(default: 0.2)" in options["--test-fraction"]
    assert "(default: 200)" in options["--arc-points"]


@pytest.mark.parametrize("bad, match", [
    (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
    (["--test-fraction", "1.5"], "argument --test-fraction: expected a fraction in (0, 1)"),
    (["--test-fraction", "0"], "argument --test-fraction: expected a fraction in (0, 1)"),
    (["--arc-points", "0"], "argument --arc-points: expected a positive integer"),
    (["--data-seed", "-1"], "argument --data-seed: expected a non-negative integer"),
    (["--stop-loss", "nan"], "argument --stop-loss: expected a non-negative number"),
])
def test_a_bad_flag_is_one_line_and_exit_2(bad, match, tmp_path):
    status, out, err = call([*bad, "--no-save", "--plot-dir", tmp_path])
    assert status == 2
    assert_one_line_error(err, match)
    assert out == ""


def test_data_seed_defaults_to_seed():
    app = binary_classify.BinaryClassify()
    parse = app.make_parser([]).parse_args
    assert app.data_options(parse(["--seed", "7"]))["data_seed"] == 7
    assert app.data_options(parse(["--seed", "7", "--data-seed", "3"]))["data_seed"] == 3
    assert app.name_parts(parse(["--seed", "7", "--data-seed", "7"])) == ()
    assert app.name_parts(parse(["--seed", "7", "--data-seed", "3"])) == ("data3",)


def test_the_stop_loss_ends_training_early(tmp_path):
    status, out, err = call(["--arc-points", 40, "--epochs", 200, "--stop-loss", 0.6,
                             "--no-save", "--no-plots", "--quiet"])
    assert status == 0, err
    result = json.loads(out)
    assert result["stop_reason"].startswith("stop_loss: ")
    assert result["epochs_run"] < 200
    # without it the same run trains for every epoch
    status, out, err = call(["--arc-points", 40, "--epochs", 4, "--stop-loss", 0,
                             "--no-save", "--no-plots", "--quiet"])
    assert status == 0, err
    assert json.loads(out)["stop_reason"] == "max_epoch reached"


def test_load_refuses_a_data_flag_against_the_file(tmp_path):
    weights = tmp_path / "arc.h5"
    status, _, err = call([*ARC, "--epochs", 1, "--save", weights, "--no-plots", "--quiet"])
    assert status == 0, err
    status, out, err = call(["--load", weights, "--data-seed", 5, "--no-plots"])
    assert status == 2
    assert_one_line_error(err, f"--data-seed 5: {weights} was trained with --data-seed 2")
    status, out, err = call(["--load", weights, "--arc-points", 30, "--no-plots"])
    assert status == 2
    assert_one_line_error(err, "--arc-points 30", "--arc-points 40")
    # --seed is no data flag: the saved data seed is used, the same test set
    status, out, err = call(["--load", weights, "--seed", 9, "--no-plots", "--quiet"])
    assert status == 0, err
    assert json.loads(out)["data"]["data_seed"] == 2


def test_the_default_double_arc_run_separates_the_arcs(tmp_path, monkeypatch):
    """The issue's check: `python apps/binary_classify.py` reaches >= 99 % on the test
    arcs and draws the decision boundary (the textbook's 2-3-1 net, a few seconds)."""
    monkeypatch.chdir(tmp_path)
    status, out, err = call(["--no-save", "--quiet"])
    assert status == 0, err
    result = json.loads(out)
    assert result["metrics"]["test_accuracy"] >= 0.99
    assert result["stop_reason"].startswith("stop_loss: ")      # reached the loss 0.02
    boundary = tmp_path / "out" / f"{APP}_double-arc_seed1_boundary.png"
    assert str(Path("out") / boundary.name) in result["plots"]
    assert boundary.read_bytes()[:8] == PNG


def test_real_breast_cancer_split(tmp_path):
    data = os.environ.get("MINIFRAMEWORK_DATA")
    if not data or not (Path(data) / "breast-cancer").is_dir():
        pytest.skip("the breast-cancer data is not under $MINIFRAMEWORK_DATA")
    status, out, err = call(["--dataset", "breast-cancer", "--seed", 1, "--no-save",
                             "--no-plots", "--quiet"])
    assert status == 0, err
    metrics = json.loads(out)["metrics"]
    assert metrics["num_test"] == 113                   # 42 malignant + 71 benign
    assert np.sum(metrics["confusion"], axis=1).tolist() == [42, 71]
    assert metrics["test_accuracy"] >= 0.95


# ------------------------------------------------------- compare data sources
def test_the_double_arc_compare_source_is_the_reader():
    assert datareaders.DoubleArcReader is DoubleArcReader
    source = get_source("double-arc")
    assert source is get_source("double_arc")
    reader = source({"source": "double_arc", "options": {"n_train": 20, "n_test": 5,
                                                         "seed": 3}},
                    NetType.BINARY_CLASSIFIER, np.float32)
    direct = DoubleArcReader(20, 5, seed=3).read_data()
    assert (reader.num_train + reader.num_validation, reader.num_test) == (40, 10)
    assert reader.x_train.dtype == np.float32 and reader.y_train.shape[1] == 1
    assert sorted(np.unique(reader.y_train)) == [0.0, 1.0]
    np.testing.assert_allclose(reader.x_test * reader.x_range + reader.x_min, direct.x_test,
                               rtol=1e-6, atol=1e-6)


def test_the_breast_cancer_compare_source_reads_the_file(data_dir):
    assert datareaders.BreastCancerReader is BreastCancerReader
    reader = get_source("breast_cancer")(
        {"source": "breast-cancer", "options": {"data_dir": str(data_dir), "seed": 4},
         "per_feature": True}, NetType.BINARY_CLASSIFIER, np.float32)
    assert (reader.num_train + reader.num_validation, reader.num_test) == (40, 10)
    assert reader.num_feature == 30
    assert np.sum(reader.y_test == 0) == 4 and np.sum(reader.y_test == 1) == 6
    with pytest.raises(ValueError, match="'breast_cancer': bad options .*test_frac"):
        get_source("breast_cancer")({"source": "breast_cancer",
                                     "options": {"test_frac": 0.3}},
                                    NetType.BINARY_CLASSIFIER, np.float32)
