"""Training-history plots: matplotlib Figures that save to PNG and show in notebooks.

matplotlib is imported inside the functions and only its object-oriented
``Figure`` is used (no pyplot): no global figure registry, no backend switch,
no window ever, so it is safe in tests, on servers and in worker threads.
The figures are ``InlineFigure``s, which give IPython a PNG of themselves
(``_repr_png_``), so a Figure returned as the last value of a notebook cell
shows inline without ``%matplotlib`` or pyplot.

Every figure is drawn for its saved size: ``DPI`` 120 and fonts of at least
``FONT_SIZE`` points, so legend text is about 15 px high in the PNG, and the
legend sits below the panels, where it cannot cover a curve.

The helpers below are what makes a figure slide-ready wherever it is drawn
(the history, the sweeps' curves, the experiments): ``metric_text`` names a
history column in words, ``draw_band`` draws a mean +- std band that stays
above zero on a log axis, ``tidy_log_axis`` gives a log axis plain tick
labels (0.2, 0.5, 1 rather than 2x10^-1) even over less than a decade, and
``show_single_points`` labels a curve of one point with its value.
"""
import functools
import io
import math

DPI = 120
FONT_SIZE = 10
MARKER_LIMIT = 30          # up to this many records, every point gets a marker
LOG_BAND_FLOOR = 0.1       # on a log axis a band's lower edge stops at this share of the mean
_X_AXES = ("epoch", "iteration")
_METRIC_TEXT = {"train_loss": "training loss", "val_loss": "validation loss",
                "train_accuracy": "training accuracy", "val_accuracy": "validation accuracy",
                "learning_rate": "learning rate", "epoch": "epoch", "iteration": "iteration"}
_LOSS_TEXT = {"fitting": "½·mean squared error",      # each net type's default loss
              "binary_classifier": "binary cross-entropy",
              "multiple_classifier": "cross-entropy"}


@functools.lru_cache(maxsize=None)
def _inline_figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from error

    class InlineFigure(Figure):
        """A pyplot-free Figure that IPython displays as the PNG it would save."""

        def _repr_png_(self):
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return InlineFigure


def new_figure(width, height, dpi=DPI):
    """An ``InlineFigure`` of ``width`` x ``height`` inches with constrained layout
    (titles, labels and outside legends are fitted in, nothing is cut off)."""
    return _inline_figure_class()(figsize=(width, height), dpi=dpi, layout="constrained")


def save_figure(figure, path):
    """Write ``figure`` as a PNG to ``path`` (if given, at the figure's dpi); return it."""
    if path is not None:
        figure.savefig(path, format="png", dpi=figure.dpi)
    return figure


def draw_message(axes, text):
    """Write ``text`` in the middle of ``axes`` and hide its ticks: what an empty
    panel shows instead of blank axes (e.g. every value was NaN)."""
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True,
              fontsize=FONT_SIZE + 1, transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def message_figure(text, path=None, title=None, dpi=DPI):
    """A figure holding only a centred message, e.g. "every run of the sweep failed",
    for a caller that has nothing to draw but must still write its PNG."""
    figure = new_figure(6, 3.5, dpi)
    draw_message(figure.add_subplot(1, 1, 1), text)
    if title:
        figure.suptitle(title, fontsize=FONT_SIZE + 2)
    return save_figure(figure, path)


def metric_text(name):
    """A history column in words: ``"val_loss"`` -> ``"validation loss"``."""
    return _METRIC_TEXT.get(name, str(name).replace("_", " "))


def loss_label(net_type, history=None):
    """The y label of a loss panel: the loss the history was trained with (else the
    default loss of ``net_type``), and the penalty its training loss includes."""
    name = getattr(history, "loss_name", None) or _LOSS_TEXT.get(
        getattr(net_type, "value", net_type))
    penalty = getattr(history, "penalty", None)
    parts = [name, f"training + {penalty} penalty" if penalty else None]
    inside = "; ".join(part for part in parts if part)
    return f"loss ({inside})" if inside else "loss"


def draw_band(axes, x, mean, std, color, log=False, alpha=0.18):
    """Fill mean - std .. mean + std; on a log axis (``log``) the lower edge is kept
    above ``LOG_BAND_FLOOR`` x mean, so a wide band cannot reach zero or below and
    stretch the axis over decades of nothing."""
    import numpy as np
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    low, high = mean - std, mean + std
    if log:
        low = np.maximum(low, LOG_BAND_FLOOR * mean)
    return axes.fill_between(x, low, high, color=color, alpha=alpha, linewidth=0)


def tidy_log_axis(axes, which="y"):
    """Plain tick labels on a log axis, with enough of them over a narrow range.

    matplotlib labels a log axis that spans less than a decade with minor ticks
    in scientific notation (``2.4x10^0``); this puts majors at 1, 2, 5 x 10^k
    (or 1..9 x 10^k over less than a decade) labelled with ``:.3g``.
    """
    import math as _math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis = axes.yaxis if which == "y" else axes.xaxis
    low, high = axes.get_ylim() if which == "y" else axes.get_xlim()
    if not (low > 0 and high > low):
        return
    decades = _math.log10(high / low)
    subs = (1.0, 2.0, 5.0) if decades > 1 else tuple(range(1, 10))
    if decades > 4:
        subs = (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def show_single_points(axes, x, curves, top=None):
    """A panel of one checkpoint: axes from 0 (x) and 0 to above the points (y, up
    to ``top`` if given), and the values written in the corner, so a one-record
    history reads as numbers on sane axes, not a lonely dot on an axis from 0.96
    to 1.04. ``curves``: [(label, [value]), ...]."""
    finite = [(label, values[0]) for label, values in curves
              if len(values) == 1 and values[0] is not None and math.isfinite(values[0])]
    if len(x) != 1 or not finite:
        return
    axes.set_xlim(0, max(x[0], 1e-9) * 1.6)
    highest = max(value for _, value in finite)
    lowest = min(value for _, value in finite)
    upper = max(highest * 1.3, 1e-9) if top is None else max(top, highest)
    axes.set_ylim(min(0.0, lowest * 1.3), upper)
    text = "\n".join(f"{label}: {value:.4g}" for label, value in finite)
    axes.text(0.03, 0.97, f"one checkpoint (epoch {x[0]:g})\n{text}", ha="left", va="top",
              transform=axes.transAxes, fontsize=FONT_SIZE - 1)


def metric_label(net_type):
    """What the history's "accuracy" is for ``net_type``: R² for a fitting net
    (``LossFunction.accuracy`` returns 1 - SS_res / SS_tot there), else accuracy."""
    value = getattr(net_type, "value", net_type)
    return "R²" if value == "fitting" else "accuracy"


def plot_history(history, path=None, x_axis="epoch", title=None, run_name=None,
                 net_type=None, metric=None, mark_best=None, dpi=DPI):
    """Two panels, loss and accuracy (R² for fitting nets), train vs validation.

    Returns the Figure and, if ``path`` is given, also saves it there as PNG.
    Arguments left as None are read from the history when it has them
    (``history.name``, ``history.net_type``, ``history.restore_best``):

    - ``title``: the whole title; by default "<run_name>: loss and <metric>";
    - ``metric``: the label of the second panel; by default from ``net_type``;
    - ``mark_best``: draw the best checkpoint (dashed line + its epoch in the
      title) only when those weights were kept; by default True, as
      ``NeuralNet.train(restore_best=True)``.

    Each point is marked when there are at most ``MARKER_LIMIT`` records, so a
    one-record history (``--epochs 1``) shows a point, not empty axes. A panel
    with no finite value (a run that diverged at once) says so in its middle.
    A history with no records raises ``ValueError``: nothing was measured.
    """
    if x_axis not in _X_AXES:
        raise ValueError(f"plot_history: x_axis: expected one of {_X_AXES}, got {x_axis!r}")
    if not len(history.records):
        raise ValueError("plot_history: the history has no records to plot (training "
                         "stopped before its first checkpoint)")
    run_name = run_name if run_name is not None else getattr(history, "name", None)
    metric = metric or metric_label(net_type if net_type is not None
                                    else getattr(history, "net_type", None))
    if mark_best is None:
        mark_best = getattr(history, "restore_best", True)
    best = history.best_index if mark_best else None

    figure = new_figure(10, 4.4, dpi)
    x = history.column(x_axis)
    net_type = net_type if net_type is not None else getattr(history, "net_type", None)
    panels = ((figure.add_subplot(1, 2, 1), "loss", loss_label(net_type, history), "loss"),
              (figure.add_subplot(1, 2, 2), "accuracy", metric, metric))
    for axes, field, label, heading in panels:
        _panel(axes, history, x, field, best)
        axes.set_xlabel(x_axis, fontsize=FONT_SIZE)
        axes.set_ylabel(label, fontsize=FONT_SIZE)
        axes.set_title(heading, fontsize=FONT_SIZE + 1)
        axes.tick_params(labelsize=FONT_SIZE - 1)
        if min(x) > 0:
            axes.set_xlim(left=0)
    _keep_r2_readable(panels[1][0], history, metric)
    handles, labels = _legend_entries(figure.axes)
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=len(handles),
                      fontsize=FONT_SIZE, frameon=False)
    figure.suptitle(title or _title(run_name, metric, history, best), fontsize=FONT_SIZE + 2)
    return save_figure(figure, path)


def _title(run_name, metric, history, best):
    text = f"{run_name}: loss and {metric}" if run_name else f"training history: loss and {metric}"
    if best is not None:
        text += f" (best checkpoint: epoch {history.records[best].epoch:g}, weights kept)"
    return text


def _keep_r2_readable(axes, history, metric):
    """An R² panel whose early values are far below zero would squeeze the part
    that matters into a line: its axis stops at -1 (and says so)."""
    if metric != "R²" or not axes.lines:
        return
    values = [v for prefix in ("train", "val")
              for v in _clean(history.column(f"{prefix}_accuracy")) if not math.isnan(v)]
    if values and min(values) < -1:
        axes.set_ylim(-1, max(1.0, max(values) + 0.05))
        axes.set_title("R² (values below -1 off the axis)", fontsize=FONT_SIZE + 1)


def _panel(axes, history, x, field, best):
    style = {"marker": "o", "markersize": 5 if len(x) == 1 else 4} \
        if len(x) <= MARKER_LIMIT else {}
    drawn = []
    for prefix, label in (("train", "train"), ("val", "validation")):
        values = _clean(history.column(f"{prefix}_{field}"))
        if any(not math.isnan(v) for v in values):
            axes.plot(x, values, label=label, linewidth=1.5, **style)
            drawn.append((label, values))
    top = 1.05 if field == "accuracy" and all(v <= 1 for _, vs in drawn for v in vs) else None
    show_single_points(axes, x, drawn, top)
    if not drawn:
        draw_message(axes, f"no finite {field} value to draw\n(the run diverged?)")
        return
    if best is not None:
        axes.axvline(x[best], color="gray", linestyle="--", linewidth=1, label="best (kept)")
    axes.grid(True, alpha=0.3)


def _legend_entries(axes_list):
    """One entry per label over all panels (the panels share train/validation/best)."""
    entries = {}
    for axes in axes_list:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def _clean(values):
    """None and non-finite values become gaps (NaN) instead of breaking the axes."""
    return [math.nan if v is None or not math.isfinite(v) else v for v in values]
