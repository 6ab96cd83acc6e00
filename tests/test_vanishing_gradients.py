"""Experiment 9 (apps/experiments/vanishing_gradients.py), run as a user runs it: the
quick run on synthetic clusters writes its JSON line, table and figure and shows the
lesson (the gradient reaching the first layer of the small-scale sigmoid net is more
than 100 times smaller than the last layer's; He + ReLU and batch norm keep it);
``--help`` from another folder as a script."""
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

from app_runs import app_env

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # apps/ is run from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from apps.experiments import vanishing_gradients  # noqa: E402


def test_the_quick_run_shows_the_lesson_and_writes_its_files(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = vanishing_gradients.main(["--quick", "--synthetic", "--plot-dir",
                                           str(tmp_path), "--verbose", "0"])
    assert status == 0, err.getvalue()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["runs"] == 4 and result["failed_runs"] == 0
    rows = {row["variant"]: row for row in result["variants"]}
    assert list(rows) == list(vanishing_gradients.VARIANTS)
    assert rows["sigmoid, N(0, 0.01²)"]["last_over_first_start"] > 100
    assert rows["ReLU, He"]["last_over_first_start"] < 100
    assert rows["sigmoid, N(0, 0.01²) + BN"]["last_over_first_start"] < 100
    assert all(row["readings"] == 5 for row in rows.values())    # start + 4 checkpoints
    assert [Path(p).name for p in result["plots"]] == [
        "vanishing_gradients_clusters_quick_seed1_layers.png"]
    assert Path(result["plots"][0]).stat().st_size > 20_000
    table = Path(result["tables"][0]).read_text()
    assert table.count("\n") == 2 + 4 and "ReLU, He" in table
    assert result["settings"]["depth"] == 4 and result["settings"]["optimizer"] == "momentum"


def test_help_from_another_folder_lists_the_flags(tmp_path):
    script = ROOT / "apps" / "experiments" / "vanishing_gradients.py"
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path,
                          env=app_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for flag in ("--depth", "--width", "--epochs", "--lr", "--checkpoint", "--quick",
                 "--dataset", "--train-size", "--seed", "--plot-dir"):
        assert flag in done.stdout, flag
    assert "(default: 10)" in done.stdout


def test_a_depth_below_two_is_a_usage_error(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = vanishing_gradients.main(["--quick", "--synthetic", "--depth", "1",
                                           "--plot-dir", str(tmp_path)])
    assert status == 2
    assert err.getvalue().startswith("vanishing_gradients: error: --depth")
