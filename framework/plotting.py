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
"""
import functools
import io
import math

DPI = 120
FONT_SIZE = 10
MARKER_LIMIT = 30          # up to this many records, every point gets a marker
_X_AXES = ("epoch", "iteration")


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
    panels = ((figure.add_subplot(1, 2, 1), "loss", "loss"),
              (figure.add_subplot(1, 2, 2), "accuracy", metric))
    for axes, field, label in panels:
        _panel(axes, history, x, field, best)
        axes.set_xlabel(x_axis, fontsize=FONT_SIZE)
        axes.set_ylabel(label, fontsize=FONT_SIZE)
        axes.set_title(label, fontsize=FONT_SIZE + 1)
        axes.tick_params(labelsize=FONT_SIZE - 1)
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


def _panel(axes, history, x, field, best):
    style = {"marker": "o", "markersize": 4} if len(x) <= MARKER_LIMIT else {}
    drawn = False
    for prefix, label in (("train", "train"), ("val", "validation")):
        values = _clean(history.column(f"{prefix}_{field}"))
        if any(not math.isnan(v) for v in values):
            axes.plot(x, values, label=label, linewidth=1.5, **style)
            drawn = True
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
