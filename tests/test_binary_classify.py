"""apps/binary_classify.py run as a subprocess on tiny data: a small double arc and a
tiny breast-cancer file in the UCI layout; train, save, reload, plots, errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "apps" / "binary_classify.py"
APP = "binary_classify"
PNG = b"\x89PNG\r\n\x1a\n"


def run_app(*args, cwd, timeout=120):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg", TQDM_DISABLE="1")
    env.pop("MINIFRAMEWORK_DATA", None)
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)


def last_json(result):
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {result.stderr}"
    return json.loads(lines[-1])


def assert_one_line_error(result, match):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{APP}: error: ") and match in lines[0], lines[0]


def write_wdbc(path, n_malignant=20, n_benign=30, seed=0):
    """A tiny ``wdbc.data``: id, M/B, 30 features; malignant rows are shifted up."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, label in enumerate([0] * n_malignant + [1] * n_benign):
        values = rng.normal(10.0 - 4.0 * label, 1.0, 30)
        rows.append(f"{9000 + i},{'MB'[label]}," + ",".join(f"{v:.4f}" for v in values))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


def test_double_arc_trains_plots_saves_and_reloads(tmp_path):
    weights, plots = tmp_path / "w" / "arc.h5", tmp_path / "plots"
    trained = run_app("--arc-points", 40, "--epochs", 3, "--seed", 2, "--save", weights,
                      "--plot-dir", plots, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = last_json(trained)
    assert result["app"] == APP and result["mode"] == "train"
    assert result["dataset"] == "double-arc" and result["data_seed"] == 2
    assert result["hidden"] == [3] and result["activation"] == "sigmoid"
    assert result["epochs_run"] == 3 and result["metrics"]["num_test"] == 20
    assert 0.0 <= result["metrics"]["test_accuracy"] <= 1.0
    assert np.sum(result["metrics"]["confusion"]) == 20
    names = sorted(p.name for p in plots.glob("*.png"))
    assert names == [f"{APP}_double-arc_seed2_{kind}.png"
                     for kind in ("boundary", "confusion", "history")]
    assert all((plots / n).read_bytes()[:8] == PNG for n in names)
    assert weights.is_file()

    reloaded = run_app("--load", weights, "--plot-dir", plots, "--quiet", cwd=tmp_path)
    assert reloaded.returncode == 0, reloaded.stderr
    assert reloaded.stdout.count("\n") == 1               # --quiet: only the JSON line
    again = last_json(reloaded)
    assert again["mode"] == "load" and again["data_seed"] == 2
    assert again["metrics"] == result["metrics"]        # the same arcs, the same net
    loaded = sorted(p.name for p in plots.glob(f"{APP}_double-arc_loaded_arc_*.png"))
    assert loaded == [f"{APP}_double-arc_loaded_arc_{k}.png" for k in ("boundary", "confusion")]
    assert len(list(plots.glob("*.png"))) == 5          # the training run's plots are kept


def test_breast_cancer_reads_wdbc_and_writes_a_confusion_matrix(tmp_path):
    write_wdbc(tmp_path / "data" / "breast-cancer" / "wdbc.data")
    plots = tmp_path / "plots"
    result = run_app("--dataset", "breast-cancer", "--data-dir", tmp_path / "data",
                     "--seed", 4, "--epochs", 20, "--lr", 0.01, "--no-save",
                     "--plot-dir", plots, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = last_json(result)
    assert out["dataset"] == "breast-cancer" and out["weights"] is None
    assert out["metrics"]["num_test"] == 10                  # 20 % of 20 and of 30
    assert np.sum(out["metrics"]["confusion"], axis=1).tolist() == [4, 6]
    assert out["metrics"]["test_accuracy"] == 1.0            # two well-separated clouds
    assert sorted(p.name for p in plots.glob("*.png")) == [
        f"{APP}_breast-cancer_seed4_confusion.png", f"{APP}_breast-cancer_seed4_history.png"]
    assert "test accuracy 100.00%" in result.stdout


def test_help_shows_the_chosen_data_sets_defaults(tmp_path):
    arc = run_app("--help", cwd=tmp_path)
    assert arc.returncode == 0 and "--dataset" in arc.stdout and "--arc-points" in arc.stdout
    assert "(default: sigmoid)" in arc.stdout and "(default: 3)" in arc.stdout
    assert "(default: 0.003)" not in arc.stdout
    cancer = run_app("--dataset", "breast-cancer", "--help", cwd=tmp_path)
    assert cancer.returncode == 0 and "(default: 0.2)" in cancer.stdout   # --test-fraction
    assert "(default: 0.003)" in cancer.stdout and "(default: 8)" in cancer.stdout


@pytest.mark.parametrize("flags, match", [
    (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
    (["--test-fraction", "1.5"], "argument --test-fraction: expected a ratio"),
    (["--arc-points", "0"], "argument --arc-points: expected a positive integer"),
    (["--load", "missing.h5"], "missing.h5"),
    (["--dataset", "breast-cancer", "--data-dir", "nowhere"], "breast_cancer.csv: file not "
                                                             "found"),
])
def test_bad_flags_give_a_one_line_error(tmp_path, flags, match):
    assert_one_line_error(run_app(*flags, cwd=tmp_path), match)
