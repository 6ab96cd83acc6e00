"""Summaries of a sweep: mean +- std over repeats, tables and band plots.

A single run is an anecdote (the notes' SGD "stuck at 0.46"); the summary of
a variant is the mean and the sample standard deviation over its repeats,
with failed runs counted and listed rather than silently dropped. "Best" is
the checkpoint with the lowest validation loss (the one ``restore_best``
keeps); "val acc at best" is the accuracy at that checkpoint.
"""
import math
import warnings

import numpy as np

from ...plotting import (FONT_SIZE, MARKER_LIMIT, draw_message, message_figure, new_figure,
                        save_figure)

METRICS = (("final", "val_loss"), ("final", "val_accuracy"),
           ("best", "val_loss"), ("best", "val_accuracy"), ("best", "epoch"))


def summarize(results, variants):
    """One row per variant (in ``variants`` order) with mean/std of each metric."""
    rows = []
    for variant in variants:
        runs = [r for r in results if r.get("variant") == variant]
        ok = [r for r in runs if r.get("status") == "ok"]
        row = {"variant": variant, "ok": len(ok), "failed": len(runs) - len(ok),
               "errors": sorted({r.get("error", "") for r in runs if r not in ok})}
        for section, key in METRICS:
            values = [r[section].get(key) for r in ok]
            row[f"{section}_{key}"] = mean_std(values)
            row.setdefault("finite", {})[f"{section}_{key}"] = len(_finite(values))
        rows.append(row)
    return rows


def mean_std(values):
    """[mean, sample std] of the finite values, or [None, None] if there are none."""
    finite = _finite(values)
    if not finite:
        return [None, None]
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return [float(np.mean(finite)), std]


def _finite(values):
    return [float(v) for v in values if v is not None and math.isfinite(v)]


_COLUMNS = (("final val loss", "final_val_loss", 4), ("final val acc", "final_val_accuracy", 4),
            ("best val loss", "best_val_loss", 4), ("val acc at best", "best_val_accuracy", 4),
            ("best epoch", "best_epoch", 1))


def table_rows(rows):
    """Header + cell strings, shared by the text and Markdown tables."""
    header = ["variant", "runs ok/failed"] + [title for title, _, _ in _COLUMNS]
    body = []
    for row in rows:
        cells = [row["variant"], f"{row['ok']}/{row['failed']}"]
        for _, key, digits in _COLUMNS:
            mean, std = row[key]
            count = row.get("finite", {}).get(key, row["ok"])
            if mean is None:    # no finite value: every run failed, or every ok run diverged
                cells.append("diverged" if row["ok"] else "failed")
            else:               # a lone value has no spread; diverged runs are counted, not hidden
                cell = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if count > 1 else "")
                cells.append(cell + (f" ({count} of {row['ok']} finite)"
                                     if count < row["ok"] else ""))
        body.append(cells)
    return header, body


def format_text(rows):
    """The summary rows as an aligned plain-text table (failures listed below)."""
    header, body = table_rows(rows)
    widths = [max(len(line[c]) for line in [header] + body) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
             for line in [header] + body]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines + _error_lines(rows)) + "\n"


def format_markdown(rows):
    """The summary rows as a Markdown table (failures listed below)."""
    header, body = table_rows(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines + _error_lines(rows)) + "\n"


def _error_lines(rows):
    return [f"FAILED {row['variant']}: {_shorten(error)}"
            for row in rows for error in row["errors"]]


def _shorten(text, limit=160):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def curves(results, variant, metric):
    """(epochs, mean, std) of one history column over the variant's ok runs."""
    runs = [r for r in results if r.get("variant") == variant and r.get("status") == "ok"]
    series = [[rec.get(metric) for rec in r["history"]["records"]] for r in runs]
    if not series:
        return None
    length = max(len(s) for s in series)
    data = np.full((len(series), length), np.nan)
    for i, values in enumerate(series):
        data[i, :len(values)] = [np.nan if v is None else v for v in values]
    longest = max(runs, key=lambda r: len(r["history"]["records"]))
    epochs = np.array([rec["epoch"] for rec in longest["history"]["records"]])
    with warnings.catch_warnings():  # an all-NaN column (every run diverged) is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        return epochs, np.nanmean(data, axis=0), np.nanstd(data, axis=0)


def plot_curves(results, variants, path, panels=(("val_loss",), ("val_accuracy",)),
                title=None, log_y=()):
    """Mean curves with +-std bands; one panel per tuple of history columns.

    Within a panel the first column is solid and the next ones dashed/dotted
    (e.g. ``("train_accuracy", "val_accuracy")`` shows the generalization gap).
    Returns the Figure (``framework.plotting``'s: its DPI, never shown), saved
    to ``path``. With no ok run there is nothing to draw: the figure says so
    in words (how many runs failed) rather than showing empty axes.
    """
    if not any(r.get("status") == "ok" for r in results):
        return message_figure(f"nothing to draw: all {len(results)} runs failed\n"
                              "(the errors are listed in the table)", path, title)
    fig = new_figure(5.2 * len(panels), 4.4)
    for p, metrics in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        draw_curves(ax, results, variants, metrics)
        if metrics[0] in log_y and ax.lines:
            ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def draw_curves(ax, results, variants, metrics, colors=None, legend=True):
    """Draw each variant's mean curve and +-std band of each metric on ``ax``."""
    styles = ("-", "--", ":")
    colors = colors or [f"C{i % 10}" for i in range(len(variants))]
    for variant, color in zip(variants, colors):
        for metric, style in zip(metrics, styles):
            curve = curves(results, variant, metric)
            if curve is None:
                continue
            x, mean, std = curve
            label = variant if len(metrics) == 1 else f"{variant} ({metric})"
            ax.plot(x, mean, style, color=color, label=label, linewidth=1.4,
                    marker="o" if len(x) <= MARKER_LIMIT else None, markersize=3)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.18, linewidth=0)
    if not ax.lines:    # every run of these variants failed: say so, not empty axes
        names = ":\n" + "\n".join(map(str, variants)) if len(variants) <= 3 else ""
        draw_message(ax, f"no finished run{names}")
        ax.texts[-1].set_in_layout(False)   # a long name must not squeeze the panel
        return
    ax.set_xlabel("epoch")
    ax.set_ylabel(" / ".join(metrics))
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=FONT_SIZE - 1)
