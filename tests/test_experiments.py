"""Every experiment app runs in quick mode and writes its figure and table.

The apps run in-process through ``main(argv)`` with ``--workers 0``. The
training apps use ``--synthetic`` data so the suite needs no download; one
test also runs an app on the real MNIST files when they are present.
"""
import importlib
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # apps/ is run from the checkout, not installed
    sys.path.insert(0, str(ROOT))

APPS = {
    "optimizer_paths": ["optimizer_paths_x2_20.png", "optimizer_paths_x2_10.png",
                        "optimizer_paths.md"],
    "activation_histograms": ["activation_histograms_sigmoid.png",
                              "activation_histograms_tanh.png",
                              "activation_histograms_relu.png", "activation_histograms.md"],
    "optimizers_mnist": ["optimizers_mnist.png", "optimizers_mnist.md",
                         "optimizers_mnist/table.md"],
    "init_mnist": ["init_mnist.png", "init_mnist.md"],
    "batch_norm": ["batch_norm.png", "batch_norm.md"],
    "overfitting": ["overfitting.png", "overfitting.md"],
    "lr_schedules": ["lr_schedules.png", "lr_schedules.md"],
    "hparam_search": ["hparam_search.png", "hparam_search.md", "hparam_final/table.md"],
}


def run_app(name, out, *extra):
    module = importlib.import_module(f"apps.experiments.{name}")
    return module.main(["--quick", "--out", str(out), "--workers", "0", *extra])


def results(folder):
    """The result dicts of a sweep folder's results.jsonl, in file order."""
    with open(folder / "results.jsonl") as handle:
        return [json.loads(line)["result"] for line in handle]


def overfitting_uses_the_test_set_once_per_run(out):
    assert "test acc (once, at the end)" in (out / "overfitting.md").read_text()
    runs = results(out / "overfitting")
    assert runs and all("test" in r for r in runs)


def hparam_search_touches_the_test_set_only_at_the_end(out):
    for round_name in ("hparam_round1", "hparam_round2"):
        runs = results(out / round_name)
        assert runs and not any("test" in r for r in runs)
    finals = results(out / "hparam_final")
    assert finals and all("test" in r for r in finals)


CHECKS = {"overfitting": overfitting_uses_the_test_set_once_per_run,
          "hparam_search": hparam_search_touches_the_test_set_only_at_the_end}


@pytest.mark.parametrize("name", sorted(APPS))
def test_app_runs_in_quick_mode(name, tmp_path, capsys):
    assert run_app(name, tmp_path, "--synthetic") == 0
    for filename in APPS[name]:
        path = tmp_path / filename
        assert path.exists(), f"{name} did not write {filename}"
        assert path.stat().st_size > 0
    assert "FAILED" not in capsys.readouterr().out
    if name in CHECKS:
        CHECKS[name](tmp_path)


def _mnist_available():
    root = os.environ.get("MINIFRAMEWORK_DATA")
    return bool(root) and (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").exists()


@pytest.mark.skipif(not _mnist_available(), reason="MNIST files not in $MINIFRAMEWORK_DATA")
def test_an_app_on_real_mnist(tmp_path, capsys):
    assert run_app("init_mnist", tmp_path) == 0
    assert (tmp_path / "init_mnist.png").exists()
    assert "FAILED" not in capsys.readouterr().out


def test_compare_command(tmp_path, capsys):
    from apps import compare as command
    status = command.main(["--source", "clusters", "--train-size", "180", "--hidden", "8",
                           "--epochs", "2", "--repeats", "2", "--workers", "0",
                           "--axis", "optimizer_name=sgd,adam", "--axis",
                           'lr_schedule={"name": "cosine", "total_epochs": 2},"constant"',
                           "--name", "cli", "--out", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "optimizer_name=adam,lr_schedule=cosine" in out and "2/0" in out
    assert (tmp_path / "cli" / "table.md").exists()
    assert len(results(tmp_path / "cli")) == 8
