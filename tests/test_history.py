"""TrainingHistory bookkeeping, export, plotting; lazy imports of h5py/matplotlib."""
import csv
import json
import math
import subprocess
import sys

import pytest

from framework.history import Record, TrainingHistory


def _history():
    """Four records; the Keeper of a run would pick index 1 (lowest validation loss)."""
    history = TrainingHistory("run", "multiple_classifier")
    for i, (train, val) in enumerate([(1.0, 0.9), (0.8, 0.7), (0.6, 0.75), (math.nan, None)]):
        history.add(Record(epoch=i + 1.0, iteration=10 * (i + 1), learning_rate=0.1,
                           train_loss=train, train_accuracy=0.5 + i / 10,
                           val_loss=val, val_accuracy=None if val is None else 0.6))
    history.best_index, history.kept = 1, "best"
    history.stop_reason = "test"
    return history


def test_the_best_record_is_the_keepers_choice():
    history = _history()
    assert history.add(Record(5.0, 50, 0.1, 0.1, 0.9, 0.1, 0.9)) == 4   # add decides nothing
    assert history.best_index == 1
    assert history.best_epoch == 2.0 and history.best_val_loss == 0.7
    assert history.column("train_loss")[:3] == [1.0, 0.8, 0.6]
    assert history.kept_description().startswith("kept the best checkpoint by val_loss "
                                                  "(epoch 2.00, val_loss 0.7)")
    with pytest.raises(ValueError, match="column"):
        history.column("nope")


def test_history_history_is_kerass_dict_of_lists():
    history = _history()
    assert list(history.history) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                     "lr"]
    assert history.history["val_loss"][:3] == [0.9, 0.7, 0.75]
    fitting = TrainingHistory("fit", "fitting")
    fitting.add(Record(1.0, 1, 0.1, 0.5, 0.25))
    assert list(fitting.history) == ["epoch", "loss", "r2", "lr"]


def test_as_dict_is_json_and_non_finite_becomes_null():
    data = json.loads(json.dumps(_history().as_dict()))
    assert data["records"][3]["train_loss"] is None
    assert data["best_index"] == 1 and data["stop_reason"] == "test"


def test_csv_has_a_header_and_one_row_per_record(tmp_path):
    path = tmp_path / "h.csv"
    _history().to_csv(path)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", "iteration", "lr", "loss", "accuracy", "val_loss",
                       "val_accuracy"]
    assert len(rows) == 5 and rows[4][5] == ""


@pytest.mark.parametrize("x_axis", ["epoch", "iteration"])
def test_plot_writes_a_png_and_returns_the_figure(tmp_path, x_axis):
    from matplotlib.figure import Figure
    path = tmp_path / "h.png"
    figure = _history().plot(path, x_axis=x_axis)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="x_axis"):
        _history().plot(path, x_axis="time")
    with pytest.raises(ValueError, match="no records"):
        TrainingHistory().plot(path)


def test_import_framework_loads_neither_h5py_nor_matplotlib():
    code = ("import sys, framework; "
            "print(sorted(m for m in ('h5py', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
