"""Experiment 5: batch norm against none across 16 initial weight scales.

    python apps/experiments/batch_norm.py [--epochs 20] [--repeats 3]

The notes' ``batch_norm_test`` (the book's figure: 16 panels, one per initial
weight std from 1 down to 1e-4 on a log scale): 1,000 MNIST training samples,
a net of 5 hidden layers of 100 ReLU units (batch norm before each ReLU, or
none), SGD lr 0.01, batch 100, initial weights N(0, std^2). For each std the
two variants start from the same weights of their shared fc layers and see
the same batches. The book plots the training accuracy (BN solid, none
dashed); the validation accuracy is on 2,000 held-out training images.
``--quick`` keeps 4 of the 16 scales (1, 0.046, 0.0022, 1e-4) on a smaller
set: still enough epochs for batch norm to pull away where the plain net
cannot start.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from framework.infra.compare.report import curves, draw_curves  # noqa: E402
from framework.plotting import FONT_SIZE  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "batch_norm"
QUICK = {"epochs": 12, "repeats": 1, "train_size": 1000}
SCALES = tuple(float(s) for s in np.logspace(0, -4, 16))   # the book's 16 weight scales
QUICK_SCALES = SCALES[::5]                                  # 1, 0.046, 0.0022, 1e-4
HIDDEN = [100] * 5
PANELS = ("train_accuracy", "val_accuracy")


def variants(scales):
    """Two variants per initial std: with and without batch norm."""
    return {f"std={s:.3g} {label}": {"init_method": "normal", "init_scale": s,
                                     "net.batch_norm": bn}
            for s in scales for label, bn in (("BN", True), ("plain", False))}


def _repeats_text(repeats):
    return f"{repeats} repeat" + ("s" if repeats != 1 else "")


def plot_curves(experiment, sweep, scales, repeats):
    """A panel per std: training accuracy (solid) and validation accuracy (dashed),
    batch norm blue, none orange, as the book's figure."""
    columns = 4
    rows = -(-len(scales) // columns)
    fig = experiment.figure(13, 2.6 * rows + 1.2)
    for i, s in enumerate(scales):
        ax = fig.add_subplot(rows, columns, i + 1)
        draw_curves(ax, sweep.results, [f"std={s:.3g} BN", f"std={s:.3g} plain"], PANELS,
                    colors=["C0", "C1"], legend=False,
                    labels={f"std={s:.3g} BN": "batch norm", f"std={s:.3g} plain": "none"})
        ax.set_title(f"initial weight std {s:.3g}", fontsize=FONT_SIZE)
        ax.set_ylim(0, 1.02)
        notes = [f"{text}: {count} of {runs} runs diverged"
                 for label, text in (("BN", "batch norm"), ("plain", "none"))
                 for count, runs in [_diverged(sweep, f"std={s:.3g} {label}")] if count]
        if notes:
            ax.text(0.5, 0.6, "\n".join(notes) + "\n(the loss stopped being a finite number)",
                    ha="center", va="center", transform=ax.transAxes,
                    fontsize=FONT_SIZE - 1, color="C3")
        ax.tick_params(labelsize=FONT_SIZE - 2)
        ax.set_ylabel("accuracy" if i % columns == 0 else "")
        if i < len(scales) - columns:
            ax.set_xlabel("")
    handles, texts = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside lower center", ncol=4, fontsize=FONT_SIZE - 1,
               frameon=False)
    fig.suptitle(f"Batch norm (blue) against none (orange), {experiment.args.train_size} "
                 f"training samples: training accuracy (solid) and validation accuracy "
                 f"(dashed)\nmean over {_repeats_text(repeats)}"
                 + (", shaded ± 1 std" if repeats > 1 else ""), fontsize=FONT_SIZE + 1)
    return fig


def plot_summary(experiment, sweep, scales, repeats):
    """Final training and validation accuracy against the initial std, both variants."""
    fig = experiment.figure(10, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    for label, text, color in (("BN", "batch norm", "C0"), ("plain", "none", "C1")):
        kept = [s for s in scales if not _diverged(sweep, f"std={s:.3g} {label}")[0]]
        for metric, style, what in (("train_accuracy", "o-", "training"),
                                    ("val_accuracy", "s--", "validation")):
            finals = [_final(sweep, f"std={s:.3g} {label}", metric) for s in kept]
            ax.errorbar(kept, [m for m, _ in finals], yerr=[e for _, e in finals],
                        fmt=style, color=color, label=f"{text}, {what}", capsize=3,
                        markersize=4)
        lost = [s for s in scales if s not in kept]
        if lost:
            ax.plot(lost, [0.03] * len(lost), "x", color=color, markersize=9,
                    markeredgewidth=2, label=f"{text}: a run diverged")
    ax.axhline(0.1, color="gray", linewidth=0.8, linestyle=":", label="chance (10 classes)")
    ax.set_xscale("log")
    ax.set_xlabel("initial weight std (log scale)")
    ax.set_ylabel(f"accuracy after {experiment.args.epochs} epochs")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right center",
               fontsize=FONT_SIZE - 1, frameon=False)
    ax.set_title(f"Where batch norm matters: final accuracy against the initial weight std\n"
                 f"mean over {_repeats_text(repeats)}"
                 + (" (bars: ± 1 std)" if repeats > 1 else ""), fontsize=FONT_SIZE + 1)
    return fig


def _diverged(sweep, variant):
    """(runs whose loss stopped being finite, finished runs) of a variant."""
    row = next(r for r in sweep.rows if r["variant"] == variant)
    return row["ok"] - row.get("finite", {}).get("final_train_loss", row["ok"]), row["ok"]


def _final(sweep, variant, metric):
    """(mean, std) of the variant's last value of ``metric``; NaN if no run finished."""
    curve = curves(sweep.results, variant, metric)
    if curve is None:
        return np.nan, 0.0
    return curve[1][-1], curve[2][-1]


def body(experiment):
    """One sweep over std x {BN, plain}; the figures and the table."""
    args = experiment.args
    scales = QUICK_SCALES if args.quick else SCALES
    base = {"data": experiment.data_spec(val_size=2000 if not args.quick else 300),
            "net": common.mlp(HIDDEN),
            "params": experiment.params(learning_rate=0.01, batch_size=100,
                                        optimizer_name="sgd"),
            "train": {"checkpoint": 1.0, "restore_best": False}}
    experiment.settings.update(base=base, repeats=args.repeats, seed=args.seed,
                               scales=list(scales))
    sweep = experiment.sweep(base, variants=variants(scales))
    experiment.draw("curves", lambda: plot_curves(experiment, sweep, scales, args.repeats))
    experiment.draw("summary", lambda: plot_summary(experiment, sweep, scales, args.repeats))
    experiment.write_table(sweep.markdown())


def make_parser():
    """The shared sweep flags with this experiment's defaults."""
    return common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                              sweep={"epochs": 20, "repeats": 3, "train_size": 1000})


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("curves", "summary"))


if __name__ == "__main__":
    sys.exit(main())
