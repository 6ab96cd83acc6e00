"""End-to-end tests of the apps, each run as a subprocess on tiny generated files.

The files are written in the real formats (gzipped idx for MNIST and
Fashion-MNIST, CIFAR-10 binary records, the Kaggle house CSV with its 21
columns and quoting, the textbook's curve npz), so the apps go through the
same readers as on the real data, in a second or two each. The byte-level
writers are the reader tests' (``reader_files.py``).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reader_files import cifar_bytes, house_rows, idx_bytes, write_bytes, write_house_csv

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"


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


# ----------------------------------------------------------------- running
def run_app(script, *args, cwd=None, timeout=60):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("MINIFRAMEWORK_DATA", None)
    return subprocess.run([sys.executable, str(APPS / script), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def last_json(result):
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {result.stderr}"
    return json.loads(lines[-1])


def assert_one_line_error(result, app):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{app}: error: ")


# Each case: script, small-net training flags, metric names, PNG name prefixes.
CASES = {
    "mnist": ("mnist_classify.py", ["--dataset", "mnist", "--hidden", "32,16"],
              ["test_accuracy", "test_loss"], ["mnist_classify_mnist_"]),
    "fashion": ("mnist_classify.py", ["--dataset", "fashion", "--hidden", "16", "--bn",
                                      "--dropout", "0.2", "--optimizer", "adam", "--lr", "0.01"],
                ["test_accuracy"], ["mnist_classify_fashion_"]),
    "cifar": ("cifar_classify.py", ["--hidden", "32", "--l2", "1e-4",
                                    "--lr-schedule", "step:1:0.5"],
              ["test_accuracy", "test_loss"], ["cifar_classify_cifar10_"]),
    "mnist_cnn": ("mnist_classify.py", ["--arch", "cnn", "--channels", "4,6", "--hidden",
                                        "16", "--batch-size", "32"],
                  ["test_accuracy", "test_loss"], ["mnist_classify_mnist_"]),
    "fashion_cnn": ("mnist_classify.py", ["--arch", "cnn", "--dataset", "fashion",
                                          "--channels", "4", "--hidden", "", "--bn"],
                    ["test_accuracy"], ["mnist_classify_fashion_"]),
    "cifar_cnn": ("cifar_classify.py", ["--arch", "cnn", "--channels", "4,4", "--hidden",
                                        "8", "--batch-size", "16"],
                  ["test_accuracy", "test_loss"], ["cifar_classify_cifar10_"]),
    "house": ("house_price.py", ["--hidden", "8,4", "--batch-size", "8"],
              ["r2", "mse_per_10000", "rmse", "mae"], ["house_price_"]),
    "curve": ("curve_fitting.py", ["--checkpoint", "1"], ["test_loss", "r2"],
              ["curve_fitting_"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_app_trains_saves_plots_and_reloads_identically(case, data_dir, tmp_path):
    script, flags, metric_names, prefixes = CASES[case]
    app = script[:-3]
    weights, plots = tmp_path / "w" / "net.h5", tmp_path / "plots"
    metrics_file = tmp_path / "metrics.json"
    trained = run_app(script, "--data-dir", data_dir, "--epochs", 2, "--plot-dir", plots,
                      "--save", weights, "--metrics-json", metrics_file, "--seed", 3, *flags,
                      cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "Traceback" not in trained.stderr
    result = last_json(trained)
    assert result["app"] == app and result["mode"] == "train"
    assert result["weights"] == str(weights) and weights.is_file()
    assert result["train_seconds"] > 0 and result["total_seconds"] >= result["train_seconds"]
    assert result["epochs_run"] == 2
    for name in metric_names:
        assert np.isfinite(result["metrics"][name])
    assert json.loads(metrics_file.read_text()) == result
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert any(n.endswith("history.png") for n in pngs), pngs
    assert len(pngs) == 2 and all(any(n.startswith(p) for p in prefixes) for n in pngs)
    for png in plots.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "epoch" in trained.stdout      # a line per checkpoint

    reloaded = run_app(script, "--data-dir", data_dir, "--load", weights,
                       "--plot-dir", tmp_path / "plots2", "--quiet", cwd=tmp_path)
    assert reloaded.returncode == 0, reloaded.stderr
    assert reloaded.stdout.count("\n") == 1            # --quiet: only the JSON line
    again = last_json(reloaded)
    assert again["mode"] == "load" and again["train_seconds"] is None
    assert again["metrics"] == result["metrics"]        # exactly equal numbers
    if "--arch" in flags:
        assert result["arch"] == again["arch"] == "cnn"


def test_default_paths_are_relative_to_the_working_folder(data_dir, tmp_path):
    result = run_app("curve_fitting.py", "--data-dir", data_dir, "--epochs", 1, "--quiet",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "weights" / "curve.h5").is_file()
    assert (tmp_path / "out" / "curve_fitting_result.png").is_file()
    assert last_json(result)["weights"] == str(Path("weights") / "curve.h5")


def test_no_save_writes_no_weights(data_dir, tmp_path):
    result = run_app("house_price.py", "--data-dir", data_dir, "--epochs", 1, "--no-save",
                     "--plot-dir", tmp_path, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert last_json(result)["weights"] is None
    assert not list(tmp_path.rglob("*.h5"))


SCRIPTS = ["mnist_classify.py", "cifar_classify.py", "house_price.py", "curve_fitting.py"]
COMMON_FLAGS = ["--epochs", "--batch-size", "--lr", "--optimizer", "--init", "--bn",
                "--dropout", "--l2", "--lr-schedule", "--seed", "--data-dir", "--download",
                "--save", "--load", "--plot-dir", "--metrics-json", "--quiet", "--hidden"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_documents_every_flag(script):
    result = run_app(script, "--help")
    assert result.returncode == 0
    for flag in COMMON_FLAGS + (["--dataset"] if script == "mnist_classify.py" else []):
        assert flag in result.stdout, flag


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("bad", [["--epochs", "zero"], ["--no-such-flag"], ["--lr", "-1"],
                                 ["--optimizer", "adamw"], ["--lr-schedule", "cosine:x"],
                                 ["--hidden", "12,a"], ["--dropout", "1.5"]])
def test_bad_flag_is_one_line_and_non_zero(script, bad, data_dir, tmp_path):
    result = run_app(script, "--data-dir", data_dir, "--no-save", "--plot-dir", tmp_path,
                     *bad, cwd=tmp_path)
    assert_one_line_error(result, script[:-3])


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_data_is_one_line_and_non_zero(script, tmp_path):
    result = run_app(script, "--data-dir", tmp_path / "nothing-here", "--no-save",
                     "--plot-dir", tmp_path, cwd=tmp_path)
    assert_one_line_error(result, script[:-3])
    assert "nothing-here" in result.stderr


def test_damaged_weights_file_is_one_line(data_dir, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    result = run_app("house_price.py", "--data-dir", data_dir, "--load", bad, cwd=tmp_path)
    assert_one_line_error(result, "house_price")
    assert "bad.h5" in result.stderr


def test_loading_another_apps_weights_is_one_line(data_dir, tmp_path):
    weights = tmp_path / "curve.h5"
    trained = run_app("curve_fitting.py", "--data-dir", data_dir, "--epochs", 1, "--quiet",
                      "--save", weights, "--plot-dir", tmp_path, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = run_app("mnist_classify.py", "--data-dir", data_dir, "--load", weights,
                     "--plot-dir", tmp_path, cwd=tmp_path)
    assert_one_line_error(result, "mnist_classify")


def test_load_uses_the_dataset_the_net_was_trained_on(data_dir, tmp_path):
    weights = tmp_path / "fashion.h5"
    trained = run_app("mnist_classify.py", "--data-dir", data_dir, "--dataset", "fashion",
                      "--hidden", "16", "--epochs", 1, "--quiet", "--save", weights,
                      "--plot-dir", tmp_path, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    loaded = run_app("mnist_classify.py", "--data-dir", data_dir, "--load", weights,
                     "--plot-dir", tmp_path, "--quiet", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert last_json(loaded)["dataset"] == "fashion"
    assert last_json(loaded)["metrics"] == last_json(trained)["metrics"]


def test_house_collapse_guard_restarts_then_gives_up(data_dir, tmp_path):
    """Zero init leaves every ReLU dead for good: the output is a constant, so
    the app restarts from new seeds and then exits with a message instead of
    reporting R² 0 as a result."""
    result = run_app("house_price.py", "--data-dir", data_dir, "--init", "zero",
                     "--epochs", 3, "--no-save", "--plot-dir", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "house_price: error: the net collapsed to a constant output from 5 starting "
        "points; try a smaller --lr or another --init")
    assert result.stdout.count("restarting from seed") == 5
