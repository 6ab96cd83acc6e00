"""The LayerMonitor's figure: every layer (rows, input at the top) at every reading
(columns), in four heat maps side by side:

    dL/d(input) RMS       log colour scale: gradients that vanish toward the input
                          darken the top rows (the first layer computes none: grey)
    update / weight       log scale, per parameter: one optimizer step's RMS over the
                          values' RMS (~1e-3 is the usual healthy order)
    output std            log scale: activations that collapse (dark) or spread
    share of zeros        dead ReLUs (bright)

Grey cells have no value: the first layer computes no dL/dx, a zero bias has
no update-to-weight ratio, an update lost to float rounding is 0 (no log).
matplotlib is imported here only (see ``framework.plotting``).
"""
import math

import numpy as np

from ..plotting import FONT_SIZE, new_figure, save_figure

PANELS = (  # (monitor field, title, log scale, colour map, rows are parameters)
    ("input_grad_rms", "gradient RMS  dL/d(input)", True, "viridis", False),
    ("update_ratio", "update / weight (RMS)", True, "magma", True),
    ("output_std", "output std", True, "cividis", False),
    ("zero_fraction", "share of zeros in output", False, "inferno", False),
)

LOG_FIELDS = frozenset(field for field, _, log, _, _ in PANELS if log)


def plot_layer_monitor(monitor, path=None, title=None, limits=None):
    """The four panels of ``monitor`` as one figure (a PNG at ``path`` if given)."""
    if not monitor.reading_epochs:
        raise ValueError("LayerMonitor: nothing to plot yet (it reads when training runs)")
    rows = max(len(monitor.layer_names), len(monitor.parameter_names))
    figure = new_figure(16, 1.6 + 0.22 * rows)
    axes = figure.subplots(1, len(PANELS))
    draw_panels(axes, monitor, limits)
    figure.suptitle(title or f"Layers over training ({len(monitor.reading_epochs)} readings on "
                             f"{_sample_text(monitor)}; grey: no value)",
                    fontsize=FONT_SIZE + 2)
    return save_figure(figure, path)


def draw_panels(axes, monitor, limits=None, fields=None):
    """Draw the heat maps of ``monitor`` into ``axes``, one Axes per panel: all four,
    or the ``fields`` named. ``limits``: {field: (low, high)} to share colour scales
    between the figures of several nets."""
    chosen = [panel for panel in PANELS if fields is None or panel[0] in fields]
    for ax, (field, title, log, cmap, by_parameter) in zip(axes, chosen):
        names = monitor.parameter_names if by_parameter else monitor.layer_names
        values = monitor.array(field)
        low, high = (limits or {}).get(field) or value_range(values, log)
        heat_map(ax, values, monitor.reading_epochs, names, low, high, log, cmap)
        ax.set_title(title, fontsize=FONT_SIZE)
        ax.set_xlabel("epoch", fontsize=FONT_SIZE)


def value_range(values, log):
    """(low, high) of the finite values (positive ones on a log scale)."""
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        return (1e-12, 1.0) if log else (0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low * 10 if log else low + 1.0
    return low, high


def heat_map(ax, values, epochs, names, low, high, log, cmap):
    """One panel: rows ``names`` (first at the top), columns at ``epochs``."""
    from matplotlib.colors import LogNorm, Normalize
    norm = LogNorm(low, high) if log else Normalize(low, high)
    shown = np.where(np.isfinite(values) & ((values > 0) if log else True), values, np.nan)
    mesh = ax.pcolormesh(_edges(epochs), np.arange(len(names) + 1), np.ma.masked_invalid(shown),
                         norm=norm, cmap=cmap, shading="flat")
    ax.set_facecolor("0.85")            # a missing value (the first layer's dL/dx) is grey
    ax.set_ylim(len(names), 0)          # the input side at the top, as the net is listed
    ax.set_yticks(np.arange(len(names)) + 0.5)
    ax.set_yticklabels(names, fontsize=max(6, FONT_SIZE - 3))
    ax.tick_params(axis="x", labelsize=FONT_SIZE - 2)
    colorbar = ax.figure.colorbar(mesh, ax=ax, fraction=0.08, pad=0.02)
    colorbar.ax.tick_params(labelsize=FONT_SIZE - 3)
    return mesh


def _edges(epochs):
    """Cell edges around each reading's epoch (half-way to its neighbours)."""
    x = np.asarray(epochs, dtype=np.float64)
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    middle = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (middle[0] - x[0])], middle,
                           [x[-1] + (x[-1] - middle[-1])]])


def _sample_text(monitor):
    sample = monitor.sample
    rows = "?" if sample is None else len(sample[0])
    cost = f", {monitor.seconds:.2f} s" if math.isfinite(monitor.seconds) else ""
    return f"a fixed sample of {rows} rows{cost}"
