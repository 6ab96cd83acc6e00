"""Training-history plots written straight to PNG.

matplotlib is imported inside the function and only its object-oriented
``Figure`` is used (no pyplot): no global figure registry, no backend switch,
no window ever, so it is safe in tests, on servers and in worker threads.
"""
import math

_X_AXES = ("epoch", "iteration")


def plot_history(history, path, x_axis="epoch", title=None):
    """Write a two-panel PNG (loss; accuracy), train vs validation, best marked.

    Returns the ``matplotlib.figure.Figure`` so callers can adjust and re-save.
    """
    if x_axis not in _X_AXES:
        raise ValueError(f"x_axis: expected one of {_X_AXES}, got {x_axis!r}")
    if not history.records:
        raise ValueError("plot_history: the history has no records to plot")
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from error
    figure = Figure(figsize=(10, 4), dpi=100)
    x = history.column(x_axis)
    for axes, field, label in ((figure.add_subplot(1, 2, 1), "loss", "loss"),
                               (figure.add_subplot(1, 2, 2), "accuracy", "accuracy")):
        _panel(axes, history, x, field)
        axes.set_xlabel(x_axis)
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return figure


def _panel(axes, history, x, field):
    train = _clean(history.column(f"train_{field}"))
    axes.plot(x, train, label="train")
    val = history.column(f"val_{field}")
    if any(v is not None for v in val):
        axes.plot(x, _clean(val), label="validation")
    if history.best_index is not None:
        axes.axvline(x[history.best_index], color="gray", linestyle="--", linewidth=1,
                     label="best")
    axes.legend(loc="best")


def _clean(values):
    """None and non-finite values become gaps (NaN) instead of breaking the axes."""
    return [math.nan if v is None or not math.isfinite(v) else v for v in values]
