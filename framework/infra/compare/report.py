"""Summaries of a sweep: mean +- std over repeats, tables and band plots.

A single run is an anecdote (the notes' SGD "stuck at 0.46"); the summary of
a variant is the mean and the sample standard deviation over its repeats,
with failed runs counted and listed rather than silently dropped. "Best" is
the checkpoint with the lowest validation loss (the one ``restore_best``
keeps); "val acc at best" is the accuracy at that checkpoint.

Numbers are printed with ``format_number`` (6 significant digits, ``:.6g``,
so 7.6123e-05 stays 7.6123e-05 and 17/30 is 0.566667); a value that is not
a finite number is "nan" in a table and "diverged" in a run's progress line.
In JSON a summary is labelled: ``{"mean": m, "std": s, "finite": n}``
(``labelled_rows``), never a bare pair.
"""
import math
import warnings

import numpy as np

from ...plotting import (FONT_SIZE, MARKER_LIMIT, draw_band, draw_message, message_figure,
                         metric_text, new_figure, save_figure, tidy_log_axis)

METRICS = (("final", "train_loss"), ("final", "val_loss"), ("final", "val_accuracy"),
           ("best", "val_loss"), ("best", "val_accuracy"), ("best", "epoch"))
DIGITS = 6          # significant digits of every printed number


def format_number(value, digits=DIGITS):
    """``value`` with ``digits`` significant digits (``:.6g``); None, NaN and
    infinities as "nan", "inf", "-inf"."""
    if value is None:
        return "nan"
    value = float(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


def format_mean_std(mean, std, count=2, digits=DIGITS):
    """"m ± s" (or "m" for a single value, "nan" for none)."""
    if mean is None:
        return "nan"
    text = format_number(mean, digits)
    return text + (f" ± {format_number(std, digits)}" if count > 1 and std is not None
                   else "")


def describe_result(result):
    """One finished run in words for a progress line: its final losses and accuracy,
    "diverged" for a loss that is not a finite number, or the failure."""
    if result.get("status") != "ok":
        return f"FAILED {result.get('error')}"
    final = result.get("final") or {}

    def loss(key):
        value = final.get(key)
        finite = value is not None and math.isfinite(value)
        return format_number(value) if finite else "diverged"

    parts = [f"final train loss {loss('train_loss')}", f"val loss {loss('val_loss')}"]
    if final.get("val_accuracy") is not None:
        parts.append(f"val acc {format_number(final['val_accuracy'])}")
    seconds = result.get("seconds")
    return ", ".join(parts) + ("" if seconds is None else f" ({format_number(seconds, 3)} s)")


def labelled_rows(rows):
    """The summary rows for JSON: every metric as ``{"mean", "std", "finite"}``
    (how many runs gave a finite value) instead of a bare ``[mean, std]``."""
    labelled = []
    for row in rows:
        out = {key: value for key, value in row.items() if key != "finite"}
        for section, key in METRICS:
            name = f"{section}_{key}"
            if name in row:
                mean, std = row[name]
                out[name] = {"mean": mean, "std": std,
                             "finite": row.get("finite", {}).get(name, row["ok"])}
        labelled.append(out)
    return labelled


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


_COLUMNS = (("final train loss", "final_train_loss"), ("final val loss", "final_val_loss"),
            ("final val acc", "final_val_accuracy"), ("best val loss", "best_val_loss"),
            ("val acc at best", "best_val_accuracy"), ("best epoch", "best_epoch"))


def table_rows(rows):
    """Header + cell strings, shared by the text and Markdown tables."""
    header = ["variant", "runs ok/failed"] + [title for title, _ in _COLUMNS]
    body = []
    for row in rows:
        cells = [row["variant"], f"{row['ok']}/{row['failed']}"]
        for _, key in _COLUMNS:
            mean, std = row.get(key, (None, None))
            count = row.get("finite", {}).get(key, row["ok"])
            if mean is None:    # no finite value: every run failed, or every ok run diverged
                cells.append("diverged" if row["ok"] else "failed")
            else:               # a lone value has no spread; diverged runs are counted, not hidden
                cell = format_mean_std(mean, std, count)
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
                title=None, log_y=(), labels=None):
    """Mean curves with +-std bands; one panel per tuple of history columns.

    Within a panel the first column is solid and the next ones dashed/dotted
    (e.g. ``("train_accuracy", "val_accuracy")`` shows the generalization gap).
    Panels whose first column is in ``log_y`` get a log axis (bands clipped
    above zero). ``labels`` maps a variant to its legend text. The title says
    what the lines and the bands are. Returns the Figure (``framework.plotting``'s:
    its DPI, never shown), saved to ``path``. With no ok run there is nothing to
    draw: the figure says so in words (how many runs failed) rather than
    showing empty axes.
    """
    if not any(r.get("status") == "ok" for r in results):
        return message_figure(f"nothing to draw: all {len(results)} runs failed\n"
                              "(the errors are listed in the table)", path, title)
    fig = new_figure(max(5.2 * len(panels), 8.0), 4.8)
    for p, metrics in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        draw_curves(ax, results, variants, metrics, legend=False, labels=labels,
                    log_y=metrics[0] in log_y)
    handles, texts = fig.axes[0].get_legend_handles_labels()
    if handles:
        longest = max(map(len, texts))
        ncol = 7 if longest <= 16 else (4 if longest <= 24 else 3)
        fig.legend(handles, texts, loc="outside lower center", fontsize=FONT_SIZE - 1,
                   ncol=min(len(handles), ncol), frameon=False)
    repeats = max(sum(r.get("variant") == v and r.get("status") == "ok" for r in results)
                  for v in variants)
    what = (f"lines: mean over {repeats} repeat{'s' if repeats != 1 else ''}"
            + (", shaded: ± 1 std" if repeats > 1 else ""))
    fig.suptitle(f"{title}\n{what}" if title else what, fontsize=FONT_SIZE + 1)
    return save_figure(fig, path)


def worth_a_log_axis(results, variants, metrics, ratio=3.0):
    """A log axis only for curves that span more than ``ratio`` (a factor of 3):
    over a narrower range it shows one tick and hides the differences."""
    values = []
    for variant in variants:
        for metric in metrics:
            curve = curves(results, variant, metric)
            if curve is not None:
                values += [v for v in curve[1] if math.isfinite(v) and v > 0]
    return bool(values) and max(values) / min(values) > ratio


def draw_curves(ax, results, variants, metrics, colors=None, legend=True, labels=None,
                log_y=False):
    """Draw each variant's mean curve and +-std band of each metric on ``ax``."""
    styles = ("-", "--", ":")
    colors = colors or [f"C{i % 10}" for i in range(len(variants))]
    labels = labels or {}
    log_y = log_y and worth_a_log_axis(results, variants, metrics)
    for variant, color in zip(variants, colors):
        for metric, style in zip(metrics, styles):
            curve = curves(results, variant, metric)
            if curve is None:
                continue
            x, mean, std = curve
            name = labels.get(variant, variant)
            label = name if len(metrics) == 1 else f"{name} ({metric_text(metric)})"
            ax.plot(x, mean, style, color=color, label=label, linewidth=1.4,
                    marker="o" if len(x) <= MARKER_LIMIT else None, markersize=3)
            draw_band(ax, x, mean, std, color, log=log_y)
    if not ax.lines:    # every run of these variants failed: say so, not empty axes
        names = ":\n" + "\n".join(map(str, variants)) if len(variants) <= 3 else ""
        draw_message(ax, f"no finished run{names}")
        ax.texts[-1].set_in_layout(False)   # a long name must not squeeze the panel
        return
    if log_y:
        ax.set_yscale("log")
        tidy_log_axis(ax)
    ax.set_xlim(left=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(" / ".join(metric_text(m) for m in metrics))
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=FONT_SIZE - 1)
