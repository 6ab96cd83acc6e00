"""End-to-end tests of the apps on tiny generated files in the real formats.

The files are written in the real formats (gzipped idx for MNIST and
Fashion-MNIST, CIFAR-10 binary records, the Kaggle house CSV with its 21
columns and quoting, the textbook's curve npz), so the apps go through the
same readers as on the real data. The byte-level writers are the reader
tests' (``reader_files.py``).

Every app runs as a subprocess both ways, ``python apps/<app>.py`` (from
another folder) and ``python -m apps.<app>`` (from the clone's root): one
case per app trains one way and reloads the other, the subprocesses started
side by side. The other cases and the error paths run in-process through
``main(argv)``, which is what the scripts call (a subprocess costs seconds of
start-up and matplotlib import; the whole file must stay well under 90 s).
"""
import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from app_runs import app_env, option_entries
from reader_files import cifar_bytes, house_rows, idx_bytes, write_bytes, write_house_csv

from apps import cifar_classify, curve_fitting, house_price, mnist_classify
from framework import HyperParameters, NeuralNet, mlp_specs

ROOT = Path(__file__).resolve().parent.parent
APP_OBJECTS = {"mnist_classify": mnist_classify.MnistClassify(),
               "cifar_classify": cifar_classify.CifarClassify(),
               "house_price": house_price.HousePrice(),
               "curve_fitting": curve_fitting.CurveFitting()}
MAINS = {"mnist_classify": mnist_classify.main, "cifar_classify": cifar_classify.main,
         "house_price": house_price.main, "curve_fitting": curve_fitting.main}


# ------------------------------------------------------------- tiny data files
# The byte layouts come from the reader tests' helpers; the images here carry a
# class-dependent block so that two epochs learn something.
def _class_images(rng, labels, shape):
    """Noise plus a bright block whose position depends on the class."""
    images = rng.integers(0, 60, size=(len(labels),) + shape).astype(np.uint8)
    flat = images.reshape(len(labels), -1)
    width = flat.shape[1] // 10
    for i, label in enumerate(np.asarray(labels, dtype=np.int64)):
        flat[i, label * width:(label + 1) * width] = 250
    return images


def write_idx_set(folder, n_train=120, n_test=40, seed=0):
    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_bytes(folder / f"{part}-images-idx3-ubyte",
                    idx_bytes(_class_images(rng, labels, (28, 28)), 2051), gz=True)
        write_bytes(folder / f"{part}-labels-idx1-ubyte", idx_bytes(labels, 2049), gz=True)


def write_cifar_set(root, per_batch=20, n_test=30, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)

    def records(n):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        return cifar_bytes(_class_images(rng, labels, (3, 32, 32)), labels)

    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(records(per_batch))
    (folder / "test_batch.bin").write_bytes(records(n_test))
    (folder / "batches.meta.txt").write_text(
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n")


def write_curve_npz(root, n_train=200, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "aiedu"
    folder.mkdir(parents=True, exist_ok=True)

    def f(x):
        return 0.4 * x ** 2 + 0.3 * x * np.sin(15 * x) + 0.01 * np.cos(50 * x) - 0.3

    x = rng.uniform(0, 1, (n_train, 1))
    np.savez(folder / "ch09_2.train.npz", data=x, label=f(x) + rng.uniform(-0.05, 0.05, x.shape))
    x = np.linspace(0, 1, n_test).reshape(-1, 1)
    np.savez(folder / "ch09_2.test.npz", data=x, label=f(x))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_idx_set(root / "mnist", seed=1)
    write_idx_set(root / "fashion-mnist", seed=2)
    write_cifar_set(root)
    write_house_csv(root / "house" / "kc_house_data.csv", house_rows(150, seed=0))
    write_curve_npz(root)
    return root


# ------------------------------------------------------------- subprocesses
def command(app, way, args):
    """(argv, cwd): ``python apps/<app>.py`` from ``cwd``, or ``python -m apps.<app>``
    from the clone's root (where ``-m`` finds the package)."""
    if way == "script":
        return [sys.executable, str(ROOT / "apps" / f"{app}.py"), *map(str, args)], None
    return [sys.executable, "-m", f"apps.{app}", *map(str, args)], ROOT


def start(app, way, args, cwd, **popen):
    argv, fixed_cwd = command(app, way, args)
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(argv, cwd=fixed_cwd or cwd, env=app_env(), text=True, **popen)


def run_all(jobs, timeout=240, meanwhile=None):
    """Run ``jobs`` {key: (app, way, args, cwd)} side by side, calling ``meanwhile()``
    (if given) while they run; return {key: CompletedProcess}."""
    running = {key: (start(*job), job) for key, job in jobs.items()}
    if meanwhile is not None:
        meanwhile()
    done = {}
    for key, (process, job) in running.items():
        out, err = process.communicate(timeout=timeout)
        done[key] = subprocess.CompletedProcess(job, process.returncode, out, err)
    return done


def last_json(result):
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {result.stderr}"
    return json.loads(lines[-1])


def assert_one_line_error(stderr, app, *needles):
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{app}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


# ------------------------------------------------- every app, both ways
# Each case: app, how it trains (a subprocess either way, or in-process), small-net
# flags, metric names. One case of every app trains as a subprocess one way and
# reloads the other way; the other cases run in-process (the subprocesses' start-up
# and matplotlib import are most of the time).
CASES = {
    "mnist": ("mnist_classify", "script", ["--dataset", "mnist", "--hidden", "32,16"],
              ["test_accuracy", "test_loss"]),
    "fashion": ("mnist_classify", "in-process",
                ["--dataset", "fashion", "--hidden", "16", "--bn", "--dropout", "0.2",
                 "--optimizer", "adam", "--lr", "0.01"], ["test_accuracy"]),
    "cifar": ("cifar_classify", "module", ["--hidden", "32", "--l2", "1e-4",
                                           "--lr-schedule", "step:1:0.5"],
              ["test_accuracy", "test_loss"]),
    "mnist_cnn": ("mnist_classify", "in-process", ["--arch", "cnn", "--channels", "4,6",
                                               "--hidden", "16", "--batch-size", "32"],
                  ["test_accuracy", "test_loss"]),
    "fashion_cnn": ("mnist_classify", "in-process",
                    ["--arch", "cnn", "--dataset", "fashion", "--channels", "4", "--hidden",
                     "", "--bn"], ["test_accuracy"]),
    "cifar_cnn": ("cifar_classify", "in-process", ["--arch", "cnn", "--channels", "4,4",
                                               "--hidden", "8", "--batch-size", "16"],
                  ["test_accuracy", "test_loss"]),
    "house": ("house_price", "module", ["--hidden", "8,4", "--batch-size", "8"],
              ["r2", "mse_per_10000", "rmse", "mae"]),
    "curve": ("curve_fitting", "script", ["--checkpoint", "1", "--restarts", "2"],
              ["test_loss", "r2"]),
}
WAYS = ("script", "module")
PLOT_KINDS = {"mnist_classify": ("confusion",), "cifar_classify": ("confusion",),
              "house_price": ("predicted_vs_actual", "residuals"),
              "curve_fitting": ("result",)}
# one case per app reloads as a subprocess the other way; the others in-process
RELOADED_AS_SUBPROCESS = {"mnist": "module", "cifar": "script", "house": "script",
                          "curve": "module"}


def in_process(app, argv):
    """(exit status, stdout, stderr) of ``main(argv)``, as the script would exit."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = MAINS[app]([str(a) for a in argv])
        except SystemExit as stop:      # argparse: --help or a usage error
            status = stop.code
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    """Every case trained and reloaded, one case per app as subprocesses (the reload
    the other way), the rest in-process meanwhile. {case: (folder, trained, reloaded)}."""
    folders = {case: tmp_path_factory.mktemp(case) for case in CASES}

    def train_args(case):
        return ["--data-dir", data_dir, "--epochs", 2, "--plot-dir", folders[case] / "plots",
                "--save", folders[case] / "w" / "net.h5", "--metrics-json",
                folders[case] / "metrics.json", "--seed", 3, "--verbose", 2, *CASES[case][2]]

    here = {}

    def train_here():
        here.update({case: in_process(app, train_args(case))
                     for case, (app, way, _, _) in CASES.items() if way not in WAYS})

    trained = run_all({case: (app, way, train_args(case), folders[case])
                       for case, (app, way, _, _) in CASES.items() if way in WAYS},
                      meanwhile=train_here)
    trained.update(here)
    def reload_here():
        here.update({case: in_process(CASES[case][0], reload_args(data_dir, folders[case]))
                     for case in CASES if case not in RELOADED_AS_SUBPROCESS
                     and trained[case].returncode == 0})

    here = {}
    reloaded = run_all({   # --no-plots: no matplotlib import (the in-process reloads plot)
        case: (CASES[case][0], way, reload_args(data_dir, folders[case]) + ["--no-plots"],
               folders[case])
        for case, way in RELOADED_AS_SUBPROCESS.items() if trained[case].returncode == 0},
        meanwhile=reload_here)
    reloaded.update(here)
    return {case: (folders[case], trained[case], reloaded.get(case)) for case in CASES}


def reload_args(data_dir, folder):
    return ["--data-dir", data_dir, "--load", folder / "w" / "net.h5",
            "--plot-dir", folder / "plots", "--quiet"]


def test_every_app_runs_as_a_subprocess_both_ways():
    for app in APP_OBJECTS:
        used = {way for case, (name, way, _, _) in CASES.items() if name == app}
        used |= {way for case, way in RELOADED_AS_SUBPROCESS.items() if CASES[case][0] == app}
        assert set(WAYS) <= used, app


@pytest.mark.parametrize("case", sorted(CASES))
def test_app_trains_saves_plots_and_reloads_identically(case, runs):
    app, _, flags, metric_names = CASES[case]
    folder, trained, reloaded = runs[case]
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr == ""                 # no bar, no warning off a terminal
    result = last_json(trained)
    assert result["app"] == app and result["mode"] == "train"
    assert result["weights"] == str(folder / "w" / "net.h5")
    assert (folder / "w" / "net.h5").is_file()
    assert not list((folder / "w").glob("*.json"))      # data options inside the file
    assert result["train_seconds"] > 0 and result["total_seconds"] >= result["train_seconds"]
    assert result["epochs_run"] == 2
    for name in metric_names:
        assert np.isfinite(result["metrics"][name])
    assert json.loads((folder / "metrics.json").read_text()) == result
    assert trained.stdout.count("\nepoch ") >= 2     # a line per checkpoint (--verbose 2)

    # the run's settings, read back from the net: the flags given, else the app's defaults
    settings, defaults = result["settings"], APP_OBJECTS[app].defaults(flags)
    assert settings["epochs"] == 2
    kept_seed = (min(result["restarts"], key=lambda r: r["val_loss"])["seed"]
                 if case == "curve" else 3)     # curve: the restart with the lowest val loss
    assert settings["seed"] == kept_seed
    assert settings["optimizer"] == flag_value(flags, "--optimizer", defaults.optimizer)
    assert settings["learning_rate"] == pytest.approx(
        float(flag_value(flags, "--lr", defaults.lr)))
    assert settings["batch_size"] == int(flag_value(flags, "--batch-size", defaults.batch_size))
    schedule = flag_value(flags, "--lr-schedule", defaults.lr_schedule)
    assert settings["lr_schedule"]["name"] == schedule.split(":")[0]
    assert settings["keep"] == defaults.keep
    classes = [layer["class"] for layer in settings["architecture"]["layers"]]
    assert ("ConvLayer" in classes) == ("--arch" in flags)
    assert ("BatchNormLayer" in classes) == ("--bn" in flags)
    assert result["dataset"] == result["data"]["dataset"]

    # plots: named by the run, the reload's beside the training run's
    run_name = result["run"]
    assert run_name.startswith(f"{app}_{result['dataset']}")
    assert sorted(result["plots"]) == sorted(str(p) for p in (folder / "plots").glob(
        f"{run_name}_*.png"))
    kinds = PLOT_KINDS[app]
    assert sorted(result["plots"]) == sorted(str(folder / "plots" / f"{run_name}_{kind}.png")
                                             for kind in kinds + ("history",))
    for png in result["plots"]:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert reloaded is not None and reloaded.returncode == 0, reloaded and reloaded.stderr
    assert reloaded.stdout.count("\n") == 1            # --quiet: only the JSON line
    assert reloaded.stderr == ("" if case not in RELOADED_AS_SUBPROCESS else
                               f"{app}: warning: --plot-dir ignored: --no-plots writes no "
                               "plot\n")
    again = last_json(reloaded)
    assert again["mode"] == "load" and again["train_seconds"] is None
    assert again["metrics"] == result["metrics"]        # exactly equal numbers
    assert again["data"] == result["data"]
    assert again["settings"]["architecture"] == settings["architecture"]
    assert again["run"] == f"{app}_{result['dataset']}_load_net"  # named after the file
    assert again["warnings"] == ([] if case not in RELOADED_AS_SUBPROCESS else   # a warning
                                 ["--plot-dir ignored: --no-plots writes no plot"])
    assert len(again["plots"]) == (0 if case in RELOADED_AS_SUBPROCESS else len(kinds))
    assert all(Path(p).is_file() for p in result["plots"] + again["plots"])
    assert len(list((folder / "plots").glob("*.png"))) == len(kinds) + 1 + len(again["plots"])


def flag_value(flags, flag, default):
    """The value given for ``flag`` in ``flags``, else ``default``."""
    return flags[flags.index(flag) + 1] if flag in flags else default


@pytest.mark.parametrize("app", sorted(APP_OBJECTS))
def test_help_shows_every_default(app):
    """Every option's help ends with its default."""
    status, out, err = call(app, ["--help"])
    assert status == 0, err
    options = option_entries(out)
    assert {"--epochs", "--batch-size", "--lr", "--optimizer", "--lr-schedule", "--seed",
            "--hidden", "--dataset", "--data-dir", "--save", "--load", "--plot-dir",
            "--metrics-json", "--verbose", "--quiet"} <= set(options)
    for flag, text in options.items():
        if flag != "-h":
            assert "(default:" in " ".join(text.split()), (flag, text)
    epochs = " ".join(options["--epochs"].split())
    assert f"(default: {APP_OBJECTS[app].defaults([]).epochs})" in epochs


def test_redirected_log_has_whole_epoch_lines(data_dir, tmp_path):
    """``python apps/house_price.py --epochs 8 > log 2>&1``: 8 epoch lines, no '\\r'."""
    log = tmp_path / "log"
    with open(log, "w") as handle:
        process = start("house_price", "script",
                        ["--data-dir", data_dir, "--epochs", 8, "--no-save",
                         "--plot-dir", tmp_path], tmp_path,
                        stdout=handle, stderr=subprocess.STDOUT)
        assert process.wait(timeout=120) == 0, log.read_text()
    text = log.read_bytes().decode()
    assert "\r" not in text
    epoch_lines = [line for line in text.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 8, text
    assert [float(line.split()[1]) for line in epoch_lines] == [float(e) for e in range(1, 9)]
    assert json.loads(text.splitlines()[-1])["epochs_run"] == 8


def test_ctrl_c_saves_the_best_weights_and_exits_130(data_dir, tmp_path):
    weights = tmp_path / "interrupted.h5"
    process = start("house_price", "script",
                    ["--data-dir", data_dir, "--epochs", 100000, "--save", weights,
                     "--plot-dir", tmp_path, "--verbose", 2], tmp_path)
    try:
        for line in process.stdout:
            if line.startswith("epoch"):        # training has started
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("house_price: interrupted at epoch "), err
    assert lines[0].endswith(f"saved the weights to {weights}")
    net = NeuralNet.load(weights)
    assert net.metadata["app"] == "house_price" and 1 <= net.epoch < 100000
    assert "training stopped: interrupted" in out


@pytest.mark.parametrize("way", WAYS)
def test_failed_run_is_one_line_and_exit_1(way, tmp_path):
    done = run_all({way: ("curve_fitting", way, ["--data-dir", tmp_path / "nothing-here",
                                                  "--no-save", "--plot-dir", tmp_path],
                          tmp_path)})[way]
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "curve_fitting", "nothing-here")
    assert done.stdout == ""


# ------------------------------------------------------------ in-process
def call(app, argv):
    """(exit status, stdout, stderr) of ``main(argv)`` in this process."""
    done = in_process(app, argv)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("app", sorted(APP_OBJECTS))
@pytest.mark.parametrize("bad", [["--epochs", "zero"], ["--epochs", "0"], ["--no-such-flag"],
                                 ["--lr", "-1"], ["--optimizer", "adamx"],
                                 ["--lr-schedule", "cosine:x"], ["--hidden", "12,a"],
                                 ["--dropout", "1.5"], ["--verbose", "3"],
                                 ["--init", "bogus"]])
def test_bad_flag_is_one_line_and_exit_2(app, bad, data_dir, tmp_path):
    status, out, err = call(app, ["--data-dir", data_dir, "--no-save", "--plot-dir",
                                  tmp_path, *bad])
    assert status == 2
    assert_one_line_error(err, app, bad[0])
    assert out == ""                    # refused before any data was read


def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("flag, target, message", [
    ("--save", lambda tmp: tmp, "is a folder"),
    ("--save", lambda tmp: _touch(tmp / "file") / "net.h5", "is a file, not a folder"),
    ("--save", _fifo, "not a regular file"),
    ("--metrics-json", lambda tmp: tmp, "is a folder"),
    ("--metrics-json", lambda tmp: _touch(tmp / "f") / "sub" / "m.json", "is a file"),
    ("--plot-dir", lambda tmp: _touch(tmp / "plots.png"), "is a file; expected a folder"),
    ("--plot-dir", lambda tmp: _touch(tmp / "f") / "plots", "is a file, not a folder"),
])
def test_bad_target_is_refused_before_reading_data(flag, target, message, data_dir,
                                                   tmp_path):
    path = target(tmp_path)
    argv = ["--data-dir", data_dir, "--epochs", 1, "--plot-dir", tmp_path / "plots",
            "--save", tmp_path / "w.h5", flag, path]
    status, out, err = call("house_price", argv)
    assert status == 2
    assert_one_line_error(err, "house_price", flag, str(path), message)
    assert out == ""                    # no data read, no training
    assert not (tmp_path / "w.h5").exists()


def _touch(path):
    path.write_text("x")
    return path


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_unwritable_folder_is_refused(data_dir, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    status, out, err = call("house_price", ["--data-dir", data_dir, "--save",
                                            folder / "net.h5"])
    assert status == 2
    assert_one_line_error(err, "house_price", "--save", "not writable")


def test_a_net_too_large_for_the_machine_is_refused_before_allocating(data_dir, tmp_path):
    tracemalloc.start()
    try:
        status, out, err = call("mnist_classify", ["--data-dir", data_dir, "--hidden",
                                                   "100000,100000", "--plot-dir", tmp_path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 2
    assert_one_line_error(err, "mnist_classify", "needs about", "GB", "--hidden")
    assert peak < 200e6                 # the data, not the 40 GB weight matrix
    assert "epoch" not in out


def test_default_paths_are_relative_to_the_working_folder(data_dir, tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = call("curve_fitting", ["--data-dir", data_dir, "--epochs", 1,
                                              "--restarts", 1, "--quiet"])
    assert status == 0, err
    assert (tmp_path / "weights" / "curve_fitting_textbook_seed1.h5").is_file()
    assert (tmp_path / "out" / "curve_fitting_textbook_seed1_result.png").is_file()
    assert json.loads(out)["weights"] == str(Path("weights") / "curve_fitting_textbook_seed1.h5")


def test_no_save_writes_no_weights(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = call("house_price", ["--data-dir", data_dir, "--epochs", 1,
                                            "--no-save", "--quiet"])
    assert status == 0, err
    assert json.loads(out)["weights"] is None
    assert not list(tmp_path.rglob("*.h5"))


def test_damaged_weights_file_is_one_line(data_dir, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    status, _, err = call("house_price", ["--data-dir", data_dir, "--load", bad])
    assert status == 1
    assert_one_line_error(err, "house_price", "bad.h5")


def test_loading_another_apps_weights_is_one_line(runs, data_dir, tmp_path):
    weights = runs["curve"][0] / "w" / "net.h5"
    status, _, err = call("mnist_classify", ["--data-dir", data_dir, "--load", weights,
                                             "--plot-dir", tmp_path])
    assert status == 1
    assert_one_line_error(err, "mnist_classify", "saved by curve_fitting")


def test_a_file_without_data_options_is_refused(data_dir, tmp_path):
    params = HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=8)
    net = NeuralNet.from_specs(params, mlp_specs((4,), 1, "sigmoid"), 1, "bare")
    net.save(tmp_path / "bare.h5")
    status, _, err = call("curve_fitting", ["--data-dir", data_dir, "--load",
                                            tmp_path / "bare.h5"])
    assert status == 1
    assert_one_line_error(err, "curve_fitting", "no data options")


def test_a_data_flag_against_the_file_is_refused(runs, data_dir, tmp_path):
    """The fashion net reloads on Fashion-MNIST by itself (the reload above); asking
    for MNIST is refused, not silently obeyed or overridden."""
    weights = runs["fashion"][0] / "w" / "net.h5"
    status, out, err = call("mnist_classify", ["--data-dir", data_dir, "--load", weights,
                                               "--dataset", "mnist", "--plot-dir", tmp_path])
    assert status == 2
    assert_one_line_error(err, "mnist_classify", "--dataset mnist", "--dataset fashion")
    assert not list(tmp_path.glob("*.png"))


def test_load_refuses_data_that_normalise_differently(runs, tmp_path):
    """A house net scored on another CSV would predict on the wrong price scale."""
    weights = runs["house"][0] / "w" / "net.h5"
    other = tmp_path / "other"
    write_house_csv(other / "house" / "kc_house_data.csv", house_rows(150, seed=5))
    status, _, err = call("house_price", ["--data-dir", other, "--load", weights,
                                          "--plot-dir", tmp_path])
    assert status == 1
    assert_one_line_error(err, "house_price", "does not match the data this net was trained on")


def test_house_collapse_guard_restarts_then_gives_up(data_dir, tmp_path):
    """Zero init leaves every ReLU dead for good: the output is a constant, so
    the app restarts from new seeds and then fails (exit 1) with a message
    instead of reporting R² 0 as a result."""
    status, out, err = call("house_price", ["--data-dir", data_dir, "--init", "zero",
                                            "--epochs", 3, "--no-save", "--plot-dir",
                                            tmp_path])
    assert status == 1
    assert err.strip() == ("house_price: error: the net collapsed to a constant output from "
                           "5 starting points; try a smaller --lr or another --init")
    assert out.count("restarting from seed") == 5


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a shell's would."""

    def isatty(self):
        return True


@pytest.mark.parametrize("verbose, tqdm_disable, log, bar", [
    ("0", None, False, False), ("1", None, True, True), ("1", "1", True, False),
    ("2", None, True, False)])
def test_verbose_levels_on_a_terminal(verbose, tqdm_disable, log, bar, data_dir, tmp_path,
                                      monkeypatch):
    """0: the JSON line only; 1: log lines and a bar (none if TQDM_DISABLE is set);
    2: log lines only. Off a terminal 1 is 2 (test_redirected_log_has_whole_epoch_lines);
    --quiet is 0 (the reloads above)."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    if tqdm_disable:
        monkeypatch.setenv("TQDM_DISABLE", tqdm_disable)
    terminal, out = _Terminal(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    with contextlib.redirect_stdout(out):
        status = MAINS["house_price"](["--data-dir", str(data_dir), "--epochs", "3",
                                       "--no-save", "--plot-dir", str(tmp_path),
                                       "--verbose", verbose])
    assert status == 0, terminal.getvalue()
    assert ("\r" in terminal.getvalue()) == bar
    lines = out.getvalue().splitlines()
    json.loads(lines[-1])
    assert (len(lines) > 1) == log
    # the checkpoint lines are whole lines on stdout, with or without the bar
    assert "\r" not in out.getvalue()
    assert sum(line.startswith("epoch") for line in lines) == (3 if log else 0)


def test_a_saved_house_net_prices_raw_features_in_a_new_process(runs, data_dir, tmp_path):
    """The file alone turns raw features into dollars: the same test metrics as the run."""
    from datareaders.house import HousePriceReader
    reader = HousePriceReader(data_dir, seed=2019, log_price=True)
    reader.read_data()                  # raw features: not normalized
    np.save(tmp_path / "x.npy", reader.x_test)
    weights = runs["house"][0] / "w" / "net.h5"
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); "
            "from apps.house_price import predict_prices; "
            "np.save(sys.argv[4], predict_prices(sys.argv[2], np.load(sys.argv[3])))")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT), str(weights),
                           str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          cwd=tmp_path, env=app_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    dollars = np.load(tmp_path / "y.npy")
    measured = house_price.dollar_metrics(reader.y_test_raw, dollars)
    reported = last_json(runs["house"][1])["metrics"]
    for name in ("r2", "rmse", "mae"):
        assert measured[name] == pytest.approx(reported[name], rel=1e-5)
    assert dollars.min() > 1000        # dollars, not a scaled log price


def test_patience_stops_early_and_combines_with_l2(data_dir, tmp_path):
    status, out, err = call("house_price", ["--data-dir", data_dir, "--epochs", 400,
                                            "--patience", 2, "--l2", "1e-3", "--lr", "0.05",
                                            "--lr-schedule", "constant", "--no-save",
                                            "--plot-dir", tmp_path, "--quiet"])
    assert status == 0, err
    result = json.loads(out)
    assert result["stop_reason"].startswith("early_stop"), result["stop_reason"]
    assert result["epochs_run"] < 400
    assert result["settings"]["regularization"] == {"name": "l2", "value": 1e-3}
    assert result["settings"]["patience"] == 2


# ------------------------------------------------------------- issue 22's rows
def test_a_second_run_never_replaces_the_first_runs_files(data_dir, tmp_path, monkeypatch):
    """The run's files are named after it; the same run again is refused before any
    data is read unless --overwrite; another seed is another name beside it."""
    monkeypatch.chdir(tmp_path)
    argv = ["--data-dir", data_dir, "--epochs", 1, "--hidden", "8", "--quiet"]
    status, out, err = call("house_price", argv)
    assert status == 0, err
    first = json.loads(out)
    weights = tmp_path / "weights" / "house_price_kc-house_seed1.h5"
    assert first["weights"] == str(Path("weights") / weights.name) and weights.is_file()
    kept = weights.read_bytes()
    plots = {p: (tmp_path / p).read_bytes() for p in first["plots"]}

    status, out, err = call("house_price", argv + ["--epochs", 2])      # the same name
    assert status == 2 and out == ""                                      # no data read
    assert_one_line_error(err, "house_price", "--save", str(Path("weights") / weights.name),
                          "already exists", "--overwrite")
    assert weights.read_bytes() == kept
    assert {p: (tmp_path / p).read_bytes() for p in plots} == plots

    (tmp_path / "weights" / weights.name).rename(tmp_path / "moved.h5")   # a plot is enough
    status, out, err = call("house_price", argv + ["--epochs", 2])
    assert status == 2
    assert_one_line_error(err, "house_price", "--plot-dir",
                          "house_price_kc-house_seed1_predicted_vs_actual.png",
                          "already exists")

    status, out, err = call("house_price", argv + ["--seed", 2])          # another name
    assert status == 0, err
    assert json.loads(out)["run"] == "house_price_kc-house_seed2"
    status, out, err = call("house_price", argv + ["--epochs", 2, "--overwrite"])
    assert status == 0, err
    assert json.loads(out)["epochs_run"] == 2 and weights.read_bytes() != kept


def test_metrics_json_is_not_replaced_without_overwrite(data_dir, tmp_path):
    target = tmp_path / "m.json"
    target.write_text("{}")
    argv = ["--data-dir", data_dir, "--epochs", 1, "--no-save", "--no-plots",
            "--metrics-json", target]
    status, out, err = call("house_price", argv)
    assert status == 2 and out == "" and target.read_text() == "{}"
    assert_one_line_error(err, "house_price", "--metrics-json", "already exists")
    status, out, err = call("house_price", argv + ["--overwrite", "--quiet"])
    assert status == 0 and json.loads(target.read_text()) == json.loads(out)


@pytest.mark.parametrize("flag, path", [("--save", "/proc/m.h5"),
                                        ("--metrics-json", "/proc/m.json"),
                                        ("--plot-dir", "/proc/plots")])
def test_a_target_nothing_can_be_written_to_is_refused_before_training(flag, path, data_dir,
                                                                       tmp_path):
    """/proc passes a permission check (root may write anywhere), but no file can be
    made there: the probe finds it before any data is read."""
    argv = ["--data-dir", data_dir, "--epochs", 1, "--plot-dir", tmp_path,
            "--save", tmp_path / "w.h5", flag, path]
    status, out, err = call("house_price", argv)
    assert status == 2 and out == ""
    assert_one_line_error(err, "house_price", flag, "cannot write")
    assert not (tmp_path / "w.h5").exists()


def test_contradicting_flags_are_refused_and_unused_ones_named(runs, data_dir, tmp_path):
    status, out, err = call("curve_fitting", ["--data-dir", data_dir, "--no-save", "--save",
                                              tmp_path / "x.h5"])
    assert status == 2 and out == ""
    assert_one_line_error(err, "curve_fitting", "--save and --no-save contradict")

    weights = runs["house"][0] / "w" / "net.h5"
    status, out, err = call("house_price", ["--data-dir", data_dir, "--load", weights,
                                            "--epochs", 3, "--hidden", "5", "--lr", "0.1",
                                            "--plot-dir", tmp_path, "--quiet"])
    assert status == 0, err
    (line,) = err.splitlines()
    assert line.startswith("house_price: warning: --hidden, --epochs, --lr ignored: --load "
                           "evaluates the saved net")
    result = json.loads(out)
    assert result["warnings"] == [line.split("warning: ", 1)[1]]
    assert result["settings"]["architecture"] == last_json(runs["house"][1])["settings"][
        "architecture"]                                 # the file's net, not --hidden 5


@pytest.mark.parametrize("app, argv, unused", [
    ("mnist_classify", ["--channels", "4", "--kernel", "3"], "--channels, --kernel"),
    ("mnist_classify", ["--arch", "cnn", "--channels", "4", "--hidden", "", "--activation",
                        "tanh"], "--activation"),
    ("house_price", ["--dataset", "textbook", "--split-seed", "5"], "--split-seed"),
    ("curve_fitting", ["--data-seed", "3"], "--data-seed"),
    ("curve_fitting", ["--dataset", "generated", "--download"], "--download"),
])
def test_a_flag_the_run_does_not_use_is_named_in_a_warning(app, argv, unused, data_dir,
                                                           tmp_path):
    status, out, err = call(app, ["--data-dir", data_dir, "--epochs", 1, "--no-save",
                                  "--no-plots", "--quiet", *argv])
    if app == "house_price" and status == 1:        # the tiny data set has no npz files
        assert "ch14.house.train.npz" in err
        assert err.splitlines()[0].startswith(f"{app}: warning: {unused} ignored")
        return
    assert status == 0, err
    assert err.splitlines()[0].startswith(f"{app}: warning: {unused} ignored: ")
    assert json.loads(out)["warnings"][0].startswith(f"{unused} ignored: ")


@pytest.mark.parametrize("flag, value, reason", [("--stop-loss", 10.0, "stop_loss: "),
                                                 ("--stop-diff", 10.0, "stop_diff: ")])
def test_the_textbooks_stop_conditions_are_flags_of_every_training_app(flag, value, reason,
                                                                       data_dir, tmp_path):
    """StopLoss stops at the first checkpoint under the value, StopDiff at the second
    (the first whose loss changed by less than the value)."""
    for app in sorted(MAINS):
        extra = ["--hidden", "8"] if app != "curve_fitting" else ["--restarts", 1]
        status, out, err = call(app, ["--data-dir", data_dir, "--epochs", 6, "--checkpoint",
                                      1, "--no-save", "--no-plots", "--quiet", flag, value,
                                      *extra])
        assert status == 0, (app, err)
        result = json.loads(out)
        assert result["stop_reason"].startswith(reason), (app, result["stop_reason"])
        assert result["epochs_run"] == (1 if flag == "--stop-loss" else 2), app
        assert result["settings"][flag[2:].replace("-", "_")] == value


@pytest.mark.parametrize("app, expected", [
    ("mnist_classify", {"--lr": "0.1", "--optimizer": "sgd", "--stop-loss": "0.12",
                        "--checkpoint": "0.05", "--lr-schedule": "constant", "--keep": "last",
                        "--batch-size": "64", "--hidden": "128,64,32,16"}),
    ("house_price", {"--lr": "0.1", "--optimizer": "sgd", "--stop-diff": "1e-07",
                     "--batch-size": "16", "--epochs": "1000", "--dataset": "textbook",
                     "--price-scale": "linear", "--checkpoint": "10.0"}),
    ("curve_fitting", {"--lr": "0.5", "--stop-loss": "0.001", "--x-range": "0,1",
                       "--restarts": "1", "--epochs": "10000"}),
])
def test_textbook_puts_the_textbooks_run_in_one_flag(app, expected):
    status, out, err = call(app, ["--textbook", "--help"])
    assert status == 0, err
    options = option_entries(out)
    for flag, value in expected.items():
        assert f"(default: {value})" in options[flag], (flag, options[flag])
    status, out, err = call(app, ["--help"])            # without it: the app's own defaults
    assert "(default: 0.0)" in option_entries(out)["--stop-loss"]


def test_textbook_runs_are_named_so_and_refuse_what_the_book_did_not_run(data_dir, tmp_path):
    status, out, err = call("mnist_classify", ["--data-dir", data_dir, "--textbook",
                                               "--epochs", 1, "--no-save", "--no-plots",
                                               "--quiet"])
    assert status == 0, err
    result = json.loads(out)
    assert result["run"] == "mnist_classify_mnist_mlp_textbook-run_seed1"
    assert (result["settings"]["optimizer"], result["settings"]["learning_rate"],
            result["settings"]["checkpoint"], result["settings"]["stop_loss"]) == (
        "sgd", 0.1, 0.05, 0.12)
    status, out, err = call("mnist_classify", ["--data-dir", data_dir, "--textbook", "--arch",
                                               "cnn", "--no-save", "--plot-dir", tmp_path])
    assert status == 2 and out == ""
    assert_one_line_error(err, "mnist_classify", "--textbook is the textbook's MLP")


def test_the_house_app_draws_the_textbooks_residual_plot(runs):
    folder, trained, _ = runs["house"]
    result = last_json(trained)
    residuals = [p for p in result["plots"] if p.endswith("_residuals.png")]
    assert len(residuals) == 1 and Path(residuals[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_residual_figure_shows_residuals_in_dollars(tmp_path):
    from apps.support.plots import plot_residuals
    rng = np.random.default_rng(0)
    actual = rng.lognormal(13, 0.5, 400)
    figure = plot_residuals(actual, actual * rng.normal(1, 0.1, 400), tmp_path / "r.png",
                            "run\nresiduals")
    left, right = figure.axes[:2]
    assert left.get_ylabel() == "residual: predicted - actual ($)"
    assert left.get_xlabel() == "predicted price ($)"
    assert {line.get_label() for line in left.get_lines()} >= {"no error", "median residual"}
    assert right.get_xlabel().startswith("relative error")
    assert figure.dpi >= 100 and (tmp_path / "r.png").is_file()


def test_missing_data_says_where_data_is_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIFRAMEWORK_DATA", str(tmp_path / "env-data"))
    status, out, err = call("mnist_classify", ["--no-save", "--plot-dir", tmp_path])
    assert status == 1 and out == ""
    assert_one_line_error(err, "mnist_classify", "file not found", "--data-dir",
                          "MINIFRAMEWORK_DATA", str(tmp_path / "env-data"), "--download")


def test_curve_fitting_names_the_files_its_data_dir_lacks(tmp_path):
    status, out, err = call("curve_fitting", ["--data-dir", tmp_path / "X", "--no-save",
                                              "--plot-dir", tmp_path])
    assert status == 1 and out == ""
    assert_one_line_error(err, "curve_fitting", "ch09_2.train.npz", "ch09_2.test.npz",
                          str(tmp_path / "X" / "aiedu"), "--data-dir", "--dataset generated")


def test_a_plot_that_was_not_checked_up_front_cannot_be_written(tmp_path):
    from apps.support import output, skeleton
    args = argparse.Namespace(plot_dir=str(tmp_path))
    run = skeleton.Run(house_price.HousePrice(), args, output.Log(0), {}, name="r",
                       plot_kinds=("residuals",))
    assert run.plot_path("residuals") == tmp_path / "r_residuals.png"
    with pytest.raises(ValueError, match="not declared"):
        run.plot_path("surprise")


def test_log_lines_keep_six_significant_digits(data_dir, tmp_path):
    status, out, err = call("curve_fitting", ["--data-dir", data_dir, "--epochs", 2,
                                              "--restarts", 1, "--no-save", "--no-plots"])
    assert status == 0, err
    line = next(line for line in out.splitlines() if line.startswith("test loss "))
    loss = json.loads(out.splitlines()[-1])["metrics"]["test_loss"]
    assert line.startswith(f"test loss {loss:.6g},")
