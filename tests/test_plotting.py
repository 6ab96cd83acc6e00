"""The plots, checked on the returned Figure objects (titles, labels, lines, markers,
legend placement, dpi), not on pixels; and the PNG files they write."""
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from framework.history import Record, TrainingHistory
from framework.plotting import (DPI, FONT_SIZE, MARKER_LIMIT, message_figure, metric_label,
                                plot_history)

from apps.support.plots import (confusion_matrix, plot_confusion_matrix,
                                plot_decision_boundary, plot_path)

PNG = b"\x89PNG\r\n\x1a\n"


def _history(n=6, val=True, best_at=3):
    """n records; the validation loss is lowest at epoch ``best_at``."""
    history = TrainingHistory()
    for i in range(1, n + 1):
        val_loss = abs(i - best_at) * 0.1 + 0.2 if val else None
        history.add(Record(epoch=float(i), iteration=10 * i, learning_rate=0.1,
                           train_loss=1.0 / i, train_accuracy=1 - 1 / (i + 1),
                           val_loss=val_loss, val_accuracy=0.7 if val else None))
    history.best_index = (best_at - 1) if val else n - 1   # what the run's Keeper picks
    return history


def _png_size(path):
    width, height = struct.unpack(">II", Path(path).read_bytes()[16:24])
    return width, height


def _labels(axes):
    return [line.get_label() for line in axes.get_lines()]


def test_title_names_the_run_and_metric_and_r2_is_labelled_r2():
    figure = plot_history(_history(), run_name="house_price", net_type="fitting")
    title = figure._suptitle.get_text()
    assert title.startswith("house_price: loss and R²")
    assert [a.get_ylabel() for a in figure.axes] == ["loss (½·mean squared error)", "R²"]
    figure = plot_history(_history(), run_name="mnist", net_type="multiple_classifier")
    assert figure._suptitle.get_text().startswith("mnist: loss and accuracy")
    assert figure.axes[1].get_ylabel() == "accuracy"
    assert figure.axes[0].get_ylabel() == "loss (cross-entropy)"       # the loss, named
    assert metric_label("fitting") == "R²" and metric_label(None) == "accuracy"
    figure = plot_history(_history(), title="my own title", metric="F1")
    assert figure._suptitle.get_text() == "my own title" and figure.axes[1].get_ylabel() == "F1"


def test_best_marker_only_where_the_best_weights_are_kept():
    kept = plot_history(_history(best_at=3), mark_best=True)
    for axes in kept.axes:
        best = [line for line in axes.get_lines() if line.get_label().startswith("best")]
        assert len(best) == 1 and list(best[0].get_xdata()) == [3.0, 3.0]
    assert "epoch 3" in kept._suptitle.get_text()
    last = plot_history(_history(best_at=3), mark_best=False)
    for axes in last.axes:
        assert _labels(axes) == ["train", "validation"]
    assert "best" not in last._suptitle.get_text()


def test_settings_are_read_from_the_history_when_it_has_them():
    history = _history()
    history.name, history.net_type, history.restore_best = "run7", "fitting", False
    figure = plot_history(history)
    assert figure._suptitle.get_text() == "run7: loss and R²"
    assert all("best (kept)" not in _labels(axes) for axes in figure.axes)


def test_few_records_get_markers_and_many_do_not():
    few = plot_history(_history(n=MARKER_LIMIT))
    assert all(line.get_marker() == "o" for line in few.axes[0].get_lines()
               if line.get_label() in ("train", "validation"))
    many = plot_history(_history(n=MARKER_LIMIT + 1))
    assert all(line.get_marker() in ("None", None, "")
               for line in many.axes[0].get_lines())


def test_a_single_record_draws_a_visible_point(tmp_path):
    figure = plot_history(_history(n=1, val=False, best_at=1), tmp_path / "one.png")
    train = [line for line in figure.axes[0].get_lines() if line.get_label() == "train"]
    assert len(train) == 1 and list(train[0].get_xdata()) == [1.0]
    assert train[0].get_marker() == "o" and train[0].get_markersize() >= 4
    low, high = figure.axes[0].get_xlim()
    assert low < 1.0 < high                       # the point is inside the axes
    assert (tmp_path / "one.png").read_bytes()[:8] == PNG


def test_an_empty_history_is_a_clear_error_and_nan_panels_say_so():
    with pytest.raises(ValueError, match="no records"):
        plot_history(TrainingHistory())
    history = TrainingHistory()
    history.add(Record(1.0, 10, 0.1, math.nan, 0.5))
    figure = plot_history(history)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert any("no finite loss" in t for t in texts)
    assert not figure.axes[0].get_lines()          # nothing drawn, but it says why
    assert figure.axes[1].get_lines()              # the accuracy is still there
    with pytest.raises(ValueError, match="x_axis"):
        plot_history(_history(), x_axis="time")


def test_dpi_size_and_legend_are_readable_and_outside_the_panels(tmp_path):
    path = tmp_path / "h.png"
    figure = plot_history(_history(), path)
    assert figure.dpi == DPI >= 100
    width, height = figure.get_size_inches()
    assert _png_size(path) == (round(width * DPI), round(height * DPI))
    assert not any(axes.get_legend() for axes in figure.axes)   # no legend on the data
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["train", "validation", "best (kept)"]
    assert all(t.get_fontsize() >= 9 for t in legend.get_texts())
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert all(box.y1 <= axes.get_window_extent(renderer).y0 for axes in figure.axes)


def test_without_a_path_nothing_is_written_and_the_figure_shows_in_a_notebook(tmp_path,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    figure = plot_history(_history())
    assert not list(tmp_path.iterdir())
    assert figure._repr_png_()[:8] == PNG           # what IPython displays inline


def test_history_plot_draws_through_plot_history(tmp_path):
    figure = _history().plot(tmp_path / "h.png")
    assert figure is not None and (tmp_path / "h.png").read_bytes()[:8] == PNG


def test_message_figure_writes_a_centred_text(tmp_path):
    figure = message_figure("every run failed", tmp_path / "m.png", title="sweep")
    (axes,) = figure.axes
    (text,) = axes.texts
    assert text.get_text() == "every run failed" and text.get_position() == (0.5, 0.5)
    assert text.get_ha() == "center" and text.get_fontsize() >= FONT_SIZE
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG


# ----------------------------------------------------------------- app plots
def test_plot_path_carries_the_run_name(tmp_path):
    path = plot_path(tmp_path / "plots", "binary_classify_double-arc_seed3", "history")
    assert path == tmp_path / "plots" / "binary_classify_double-arc_seed3_history.png"
    assert path.parent.is_dir()
    assert plot_path(tmp_path, "a run/with spaces", "confusion").name == \
        "a_run_with_spaces_confusion.png"
    assert plot_path(tmp_path, "run1", "history") != plot_path(tmp_path, "run2", "history")
    with pytest.raises(ValueError, match="empty file name"):
        plot_path(tmp_path, "//", "")


def test_decision_boundary_has_contours_both_classes_title_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (80, 2))
    labels = (x[:, 1] > x[:, 0]).astype(int)

    def probability(points):
        return 1 / (1 + np.exp(-10 * (points[:, 1] - points[:, 0])))

    path = tmp_path / "b.png"
    figure = plot_decision_boundary(probability, x, labels, path, "diagonal: 100%",
                                    ("below", "above"), ("u", "v"), resolution=50)
    axes = figure.axes[0]
    assert axes.get_title() == "diagonal: 100%"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("u", "v")
    assert len(axes.collections) >= 2                  # filled contours, the 0.5 line, points
    scatter = [c for c in axes.collections if c.get_label() in ("below", "above")]
    assert sorted(c.get_label() for c in scatter) == ["above", "below"]
    assert sum(len(c.get_offsets()) for c in scatter) == 80
    (legend,) = figure.legends
    assert all(t.get_fontsize() >= 9 for t in legend.get_texts())
    assert figure.dpi == DPI and path.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plot_decision_boundary(probability, x[:, :1], labels, path, "t")


def test_confusion_matrix_counts_and_cells(tmp_path):
    counts = confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 2)
    assert counts.tolist() == [[1, 1], [1, 2]]
    figure = plot_confusion_matrix(counts, ["malignant", "benign"], tmp_path / "c.png",
                                   "test accuracy 60%")
    axes = figure.axes[0]
    assert sorted(t.get_text() for t in axes.texts) == ["1", "1", "1", "2"]
    assert all(t.get_fontsize() >= 9 for t in axes.texts)
    assert [t.get_text() for t in axes.get_xticklabels()] == ["malignant", "benign"]
    assert axes.get_title() == "test accuracy 60%" and figure.dpi == DPI


# ------------------------------------------------ slide-ready figures (issue 22)
def test_a_single_record_is_a_number_on_sane_axes():
    """--epochs 1: not a lonely dot on an axis from 0.96 to 1.04, but axes from 0 and
    the values written in the panel."""
    history = TrainingHistory(name="one", net_type="multiple_classifier")
    history.add(Record(1.0, 10, 0.1, 0.31, 0.91, 0.29, 0.92))
    figure = plot_history(history)
    loss, accuracy = figure.axes
    assert loss.get_xlim()[0] == 0 and loss.get_xlim()[1] > 1.2
    assert loss.get_ylim()[0] == 0 and loss.get_ylim()[1] > 0.31
    assert accuracy.get_ylim() == (0.0, 1.05)
    texts = " ".join(t.get_text() for t in loss.texts)
    assert "train: 0.31" in texts and "validation: 0.29" in texts


def test_a_band_on_a_log_axis_stays_above_zero():
    from framework.plotting import LOG_BAND_FLOOR, draw_band, new_figure
    figure = new_figure(4, 3)
    axes = figure.add_subplot(1, 1, 1)
    mean, std = np.array([1.0, 0.1, 0.01]), np.array([2.0, 0.5, 0.001])
    band = draw_band(axes, [1, 2, 3], mean, std, "C0", log=True)
    lower = band.get_paths()[0].vertices[:, 1]
    assert lower.min() >= LOG_BAND_FLOOR * mean.min() > 0
    unclipped = draw_band(axes, [1, 2, 3], mean, std, "C1", log=False)
    assert unclipped.get_paths()[0].vertices[:, 1].min() < 0       # linear: as it is


def test_a_log_axis_has_plain_tick_labels_over_a_narrow_range(tmp_path):
    from framework.plotting import new_figure, save_figure, tidy_log_axis
    figure = new_figure(4, 3)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([1, 2, 3], [2.2, 2.6, 3.1])
    axes.set_yscale("log")
    tidy_log_axis(axes)
    save_figure(figure, tmp_path / "t.png")                   # draws: the labels are set
    labels = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    assert labels and all("10^" not in text and "times" not in text for text in labels)
    assert all(float(text) > 0 for text in labels)


def test_sweep_curves_say_what_lines_and_bands_are(tmp_path):
    from framework.infra.compare.report import plot_curves
    results = []
    for repeat, scale in enumerate((1.0, 1.2)):
        for variant, base in (("optimizer=sgd", 2.0), ("optimizer=adam", 0.5)):
            records = [{"epoch": e, "train_loss": base * scale / e, "val_loss": base * scale / e,
                        "val_accuracy": 1 - 0.5 / e} for e in (1, 2, 3)]
            results.append({"variant": variant, "status": "ok", "repeat": repeat,
                            "history": {"records": records}})
    figure = plot_curves(results, ["optimizer=sgd", "optimizer=adam"], tmp_path / "c.png",
                         panels=(("train_loss",), ("val_accuracy",)), title="opt",
                         log_y=("train_loss",))
    title = figure._suptitle.get_text()
    assert title.startswith("opt\n") and "mean over 2 repeats, shaded: ± 1 std" in title
    assert [a.get_ylabel() for a in figure.axes] == ["training loss", "validation accuracy"]
    assert figure.axes[0].get_yscale() == "log" and figure.axes[1].get_yscale() == "linear"
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["optimizer=sgd", "optimizer=adam"]
    assert not any(axes.get_legend() for axes in figure.axes)


def test_optimizer_paths_keep_the_geometry_and_label_the_axes():
    import argparse
    from apps.experiments import optimizer_paths as paths
    experiment = argparse.Namespace(figure=lambda w, h: __import__(
        "framework.plotting", fromlist=["new_figure"]).new_figure(w, h))
    bowls = [paths.path(name, lr, 20.0, 5) for _, name, lr in paths.OPTIMIZERS]
    figure = paths.plot_bowl(experiment, bowls, 20.0, "bowl")
    for axes in figure.axes[:7]:
        assert axes.get_aspect() == 1.0
        assert (axes.get_xlabel(), axes.get_ylabel()) == ("x", "y")
    args = argparse.Namespace(data_seed=0, noise=0.1, data_seeds=2, iterations=40,
                              target_loss=0.005)
    study = paths.linear_study(args)
    figure = paths.plot_linear(experiment, study, args, zoom=False)
    for axes in figure.axes[:7]:
        assert axes.get_aspect() == 1.0
        assert (axes.get_xlabel(), axes.get_ylabel()) == ("w", "b")
    assert "(book 148)" in figure.axes[0].get_title()


@pytest.mark.parametrize("fields,label", [
    ({"net_type": "fitting", "loss": "huber", "regular_name": "l2", "regular_value": 1e-3},
     "loss (Huber; training + L2 penalty)"),
    ({"net_type": "fitting", "loss": "mae"}, "loss (mean absolute error)"),
    ({"net_type": "multiple_classifier"}, "loss (cross-entropy)"),
    ({"net_type": "multiple_classifier", "regular_name": "l1", "regular_value": 1e-4},
     "loss (cross-entropy; training + L1 penalty)"),
    # the textbook's early stopping carries its patience in regular_value: no penalty
    ({"net_type": "multiple_classifier", "regular_name": "early_stop", "regular_value": 3},
     "loss (cross-entropy)"),
])
def test_the_loss_panel_names_the_loss_trained_and_its_penalty(fields, label):
    import framework as fw
    from datareaders.base import ArrayDataReader
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    classes = fields["net_type"] != "fitting"
    y = rng.integers(0, 2, 40) if classes else x.sum(axis=1, keepdims=True)
    reader = ArrayDataReader(x, y)
    reader.normalize_y(fields["net_type"])
    params = fw.HyperParameters(learning_rate=0.01, max_epoch=1, batch_size=10, **fields)
    output = [{"type": "fc", "size": 2}, {"type": "softmax"}] if classes else [
        {"type": "fc", "size": 1}]
    net = fw.NeuralNet.from_specs(params, [{"type": "fc", "size": 4}] + output, (3,))
    history = net.train(reader, checkpoint=1, need_test=False, verbose=0)
    figure = plot_history(history)
    assert figure.axes[0].get_ylabel() == label
