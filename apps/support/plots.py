"""The apps' own plots, written straight to PNG.

The figures come from ``framework.plotting.new_figure``: matplotlib's object
API only (no pyplot, no window, nothing that blocks), 120 dpi, fonts of at
least 9 points at the saved size, and a PNG of themselves for notebooks. The
training-history plot is the framework's (``TrainingHistory.plot``).

File names are made by ``plot_path`` from the run's name, so two runs (a
training run and a ``--load`` run, or two data sets) never overwrite or mix
their figures.
"""
import re
from pathlib import Path

import numpy as np

from framework.plotting import FONT_SIZE, new_figure, save_figure

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def plot_file(plot_dir, run_name, kind, suffix=".png"):
    """``<plot_dir>/<run_name>_<kind>.png`` (nothing created); characters that are
    unsafe in a file name (``/``, spaces, ...) become ``_``."""
    name = "_".join(_UNSAFE.sub("_", str(part)).strip("_") for part in (run_name, kind))
    if not name.strip("_"):
        raise ValueError(f"plot_path: run_name {run_name!r} and kind {kind!r} give an "
                         "empty file name")
    return Path(plot_dir) / f"{name}{suffix}"


def plot_path(plot_dir, run_name, kind, suffix=".png"):
    """``plot_file``'s path, its folder created."""
    path = plot_file(plot_dir, run_name, kind, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def confusion_matrix(true_labels, predicted_labels, num_classes):
    """counts[i, j] = how many samples of class i were predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.ravel(true_labels), np.ravel(predicted_labels)), 1)
    return counts


def plot_confusion_matrix(counts, class_names, path, title):
    """A heat map of row-normalized counts, with the counts written in the cells."""
    n = counts.shape[0]
    figure = new_figure(max(5.0, 1.8 + 0.62 * n), max(4.2, 1.2 + 0.55 * n))
    axes = figure.add_subplot(1, 1, 1)
    totals = counts.sum(axis=1, keepdims=True)
    rates = counts / np.maximum(totals, 1)
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label("fraction of the true class", fontsize=FONT_SIZE - 1)
    colorbar.ax.tick_params(labelsize=FONT_SIZE - 1)
    cell_font = FONT_SIZE + 2 if n <= 4 else FONT_SIZE - 1
    for i in range(n):
        for j in range(n):
            if counts[i, j] or n <= 4:
                axes.text(j, i, str(counts[i, j]), ha="center", va="center",
                          fontsize=cell_font, color="white" if rates[i, j] > 0.5 else "black")
    rotate = n > 4 and max(len(str(name)) for name in class_names) > 3   # words, not digits
    axes.set_xticks(range(n), labels=class_names, rotation=45 if rotate else 0,
                    ha="right" if rotate else "center", fontsize=FONT_SIZE - 1)
    axes.set_yticks(range(n), labels=class_names, fontsize=FONT_SIZE - 1)
    axes.set_xlabel("predicted", fontsize=FONT_SIZE)
    axes.set_ylabel("true", fontsize=FONT_SIZE)
    axes.set_title(title, fontsize=FONT_SIZE + 1)
    return save_figure(figure, path)


def plot_predicted_vs_actual(actual, predicted, path, title, unit="$"):
    """Scatter of predictions against truth, with the y = x line (equal axes: a
    point's distance from the line is its error)."""
    actual, predicted = np.ravel(actual), np.ravel(predicted)
    figure = new_figure(6.4, 6.4)
    axes = figure.add_subplot(1, 1, 1)
    axes.scatter(actual, predicted, s=4, alpha=0.35, edgecolors="none", label="test sample")
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="red", linewidth=1, label="y = x (no error)")
    if low > 0 and high / low > 50:
        axes.set_xscale("log")
        axes.set_yscale("log")
    if unit == "$":
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_formatter(dollar_formatter())
            axis.set_minor_formatter(dollar_formatter(minor=True))
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel(f"actual price ({unit})" if unit == "$" else f"actual ({unit})",
                    fontsize=FONT_SIZE)
    axes.set_ylabel(f"predicted price ({unit})" if unit == "$" else f"predicted ({unit})",
                    fontsize=FONT_SIZE)
    axes.set_title(title, fontsize=FONT_SIZE + 1)
    axes.legend(loc="upper left", fontsize=FONT_SIZE, markerscale=3)
    axes.grid(True, which="both", alpha=0.25)
    return save_figure(figure, path)


def plot_residuals(actual, predicted, path, title):
    """The textbook's residual plot (``ShowResult``: predicted - actual against the
    prediction), with the zero line and a running median; beside it the relative
    errors' histogram. Prices in dollars."""
    actual = np.ravel(actual).astype(np.float64)
    predicted = np.ravel(predicted).astype(np.float64)
    residual = predicted - actual
    figure = new_figure(11, 4.8)
    left = figure.add_subplot(1, 2, 1)
    left.scatter(predicted, residual, s=4, alpha=0.3, edgecolors="none", label="test house")
    left.axhline(0.0, color="black", linewidth=1, label="no error")
    centers, medians = _running_median(predicted, residual)
    left.plot(centers, medians, color="red", linewidth=1.8, label="median residual")
    if predicted.min() > 0 and predicted.max() / predicted.min() > 5:
        left.set_xscale("log")          # prices: their errors grow with them
    limit = np.percentile(np.abs(residual), 99.5)
    left.set_ylim(-1.1 * limit, 1.1 * limit)
    left.xaxis.set_major_formatter(dollar_formatter())
    left.xaxis.set_minor_formatter(dollar_formatter(minor=True))
    left.yaxis.set_major_formatter(dollar_formatter(signed=True))
    left.set_xlabel("predicted price ($)", fontsize=FONT_SIZE)
    left.set_ylabel("residual: predicted - actual ($)", fontsize=FONT_SIZE)
    left.set_title("residual against prediction (0.5 % largest off the axis)",
                   fontsize=FONT_SIZE)
    left.grid(True, which="both", alpha=0.25)
    left.legend(loc="upper left", fontsize=FONT_SIZE - 1, markerscale=3)

    right = figure.add_subplot(1, 2, 2)
    relative = 100.0 * residual / np.where(actual > 0, actual, np.nan)
    relative = relative[np.isfinite(relative)]
    low, high = np.percentile(relative, [10, 90])
    right.hist(np.clip(relative, -100, 100), bins=np.linspace(-100, 100, 81), color="C0")
    right.axvline(0.0, color="black", linewidth=1)
    right.axvspan(low, high, color="C1", alpha=0.15,
                  label=f"middle 80 %: {low:+.0f} % to {high:+.0f} %")
    right.set_xlabel("relative error (predicted - actual) / actual (%, clipped at ±100)",
                     fontsize=FONT_SIZE)
    right.set_ylabel("test houses", fontsize=FONT_SIZE)
    right.set_title(f"median |error| {np.median(np.abs(relative)):.1f} %", fontsize=FONT_SIZE)
    right.legend(loc="upper left", fontsize=FONT_SIZE - 1)
    right.grid(True, alpha=0.25)
    figure.suptitle(title, fontsize=FONT_SIZE + 1)
    return save_figure(figure, path)


def _running_median(x, y, bins=20):
    """Median of ``y`` in ``bins`` quantile bins of ``x`` (bin centers, medians)."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    centers, medians = [], []
    for b in range(len(edges) - 1):
        inside = index == b
        if inside.any():
            centers.append(float(np.median(x[inside])))
            medians.append(float(np.median(y[inside])))
    return centers, medians


def dollar_formatter(signed=False, minor=False):
    """Tick labels such as $250k, $1.2M (minor ticks on a log axis: only 2 and 5 x)."""
    from matplotlib.ticker import FuncFormatter

    def text(value, _):
        if minor and value > 0:
            lead = value / 10 ** np.floor(np.log10(value))
            if not any(np.isclose(lead, (2, 5))):
                return ""
        sign = "+" if signed and value > 0 else ("-" if value < 0 else "")
        value = abs(value)
        if value >= 1e6:
            return f"{sign}${value / 1e6:g}M"
        if value >= 1e3:
            return f"{sign}${value / 1e3:g}k"
        return f"{sign}${value:g}"
    return FuncFormatter(text)


def plot_fitted_curve(x_train, y_train, x_test, y_test, x_curve, y_curve, path, title):
    """Training samples, test samples and the net's curve on one axis."""
    figure = new_figure(7, 5.4)
    axes = figure.add_subplot(1, 1, 1)
    axes.scatter(np.ravel(x_train), np.ravel(y_train), s=4, alpha=0.4, color="gray",
                 label="training samples")
    axes.scatter(np.ravel(x_test), np.ravel(y_test), s=8, color="green", label="test samples")
    axes.plot(np.ravel(x_curve), np.ravel(y_curve), color="red", linewidth=2,
              label="net output")
    axes.set_xlabel("x", fontsize=FONT_SIZE)
    axes.set_ylabel("y", fontsize=FONT_SIZE)
    axes.set_title(title, fontsize=FONT_SIZE + 1)
    figure.legend(loc="outside lower center", ncol=3, fontsize=FONT_SIZE, frameon=False,
                  markerscale=2)
    axes.grid(True, alpha=0.3)
    return save_figure(figure, path)


def plot_decision_boundary(probability, x, labels, path, title, class_names=("0", "1"),
                           axis_labels=("x1", "x2"), resolution=200):
    """A binary classifier's P(class 1) over the plane of its two inputs, with the data.

    ``probability(points)`` maps an (M, 2) array of raw inputs (the units of
    ``x``; the caller normalizes) to M probabilities. The filled contours
    show the probability, the black line is the decision boundary p = 0.5,
    and the samples are drawn per class on top.
    """
    x, labels = np.asarray(x, dtype=np.float64), np.ravel(labels)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: expected x of shape (N, 2), "
                         f"got {x.shape}")
    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.08 * np.maximum(high - low, 1e-9)
    g1, g2 = np.meshgrid(np.linspace(low[0] - margin[0], high[0] + margin[0], resolution),
                         np.linspace(low[1] - margin[1], high[1] + margin[1], resolution))
    p = np.asarray(probability(np.column_stack((g1.ravel(), g2.ravel())))).reshape(g1.shape)

    figure = new_figure(7, 6)
    axes = figure.add_subplot(1, 1, 1)
    filled = axes.contourf(g1, g2, p, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu",
                           alpha=0.45)
    axes.contour(g1, g2, p, levels=[0.5], colors="black", linewidths=1.5)
    colorbar = figure.colorbar(filled, ax=axes)
    colorbar.set_label(f"P({class_names[1]})", fontsize=FONT_SIZE)
    colorbar.ax.tick_params(labelsize=FONT_SIZE - 1)
    for label, (marker, color) in enumerate((("o", "tab:red"), ("^", "tab:blue"))):
        rows = labels == label
        axes.scatter(x[rows, 0], x[rows, 1], s=14, marker=marker, color=color,
                     edgecolors="black", linewidths=0.3, label=class_names[label])
    axes.plot([], [], color="black", linewidth=1.5, label="boundary p = 0.5")
    axes.set_xlabel(axis_labels[0], fontsize=FONT_SIZE)
    axes.set_ylabel(axis_labels[1], fontsize=FONT_SIZE)
    axes.set_title(title, fontsize=FONT_SIZE + 1)
    figure.legend(loc="outside lower center", ncol=3, fontsize=FONT_SIZE, frameon=False)
    return save_figure(figure, path)
