"""The apps' own plots, written straight to PNG.

Only matplotlib's object API is used (``matplotlib.figure.Figure`` +
``savefig``): no pyplot, no window, nothing that blocks, so the apps run the
same on a desktop, a server and in tests. The training-history plot is the
framework's (``TrainingHistory.plot``).
"""
import numpy as np


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from error
    return Figure(figsize=(width, height), dpi=100)


def confusion_matrix(true_labels, predicted_labels, num_classes):
    """counts[i, j] = how many samples of class i were predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.ravel(true_labels), np.ravel(predicted_labels)), 1)
    return counts


def plot_confusion_matrix(counts, class_names, path, title):
    """A heat map of row-normalized counts, with the counts written in the cells."""
    n = counts.shape[0]
    figure = _figure(1.6 + 0.62 * n, 1.0 + 0.55 * n)
    axes = figure.add_subplot(1, 1, 1)
    totals = counts.sum(axis=1, keepdims=True)
    rates = counts / np.maximum(totals, 1)
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of true class")
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if rates[i, j] > 0.5 else "black")
    axes.set_xticks(range(n), labels=class_names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(n), labels=class_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return figure


def plot_predicted_vs_actual(actual, predicted, path, title, unit="$"):
    """Scatter of predictions against truth, with the y = x line."""
    actual, predicted = np.ravel(actual), np.ravel(predicted)
    figure = _figure(6, 6)
    axes = figure.add_subplot(1, 1, 1)
    axes.scatter(actual, predicted, s=4, alpha=0.35, edgecolors="none")
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="red", linewidth=1, label="y = x")
    if low > 0 and high / low > 50:
        axes.set_xscale("log")
        axes.set_yscale("log")
    axes.set_xlabel(f"actual ({unit})")
    axes.set_ylabel(f"predicted ({unit})")
    axes.set_title(title)
    axes.legend(loc="upper left")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return figure


def plot_fitted_curve(x_train, y_train, x_test, y_test, x_curve, y_curve, path, title):
    """Training samples, test samples and the net's curve on one axis."""
    figure = _figure(7, 5)
    axes = figure.add_subplot(1, 1, 1)
    axes.scatter(np.ravel(x_train), np.ravel(y_train), s=4, alpha=0.4, color="gray",
                 label="training samples")
    axes.scatter(np.ravel(x_test), np.ravel(y_test), s=8, color="green", label="test samples")
    axes.plot(np.ravel(x_curve), np.ravel(y_curve), color="red", linewidth=2,
              label="net output")
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title(title)
    axes.legend(loc="best")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return figure
