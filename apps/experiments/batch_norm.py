"""Experiment 5: batch norm against none across initial weight scales.

    python apps/experiments/batch_norm.py [--epochs 20] [--repeats 3]

The notes' ``batch_norm_test``: 1,000 MNIST training samples, a 5-layer
100-unit ReLU net (batch norm before each ReLU, or none), SGD lr 0.01, batch
100, initial weights N(0, std^2) for several std. For each std the two
variants start from the same weights of their shared fc layers and see the
same batches. Validation: 2,000 held-out training images.
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
QUICK = {"epochs": 2, "repeats": 2, "train_size": 200}
SCALES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.001)


def variants(scales):
    """Two variants per initial std: with and without batch norm."""
    return {f"std={s:g} {label}": {"init_method": "normal", "init_scale": s,
                                   "net.batch_norm": bn}
            for s in scales for label, bn in (("BN", True), ("plain", False))}


def plot(experiment, sweep, scales, repeats):
    """A panel per std (BN vs plain curves), then final accuracy against std."""
    columns = 4
    rows = -(-(len(scales) + 1) // columns)
    fig = experiment.figure(14, 3.5 * rows + 0.5)
    for i, s in enumerate(scales):
        ax = fig.add_subplot(rows, columns, i + 1)
        draw_curves(ax, sweep.results, [f"std={s:g} BN", f"std={s:g} plain"],
                    ("val_accuracy",), colors=["C0", "C1"])
        ax.set_title(f"init std {s:g}", fontsize=FONT_SIZE)
        ax.set_ylim(0, 1)
    ax = fig.add_subplot(rows, columns, len(scales) + 1)
    for label, color in (("BN", "C0"), ("plain", "C1")):
        finals = [_final(sweep, f"std={s:g} {label}") for s in scales]
        ax.errorbar(scales, [m for m, _ in finals], yerr=[e for _, e in finals],
                    fmt="o-", color=color, label=label, capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("init std")
    ax.set_ylabel("final val accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1)
    fig.suptitle(f"Batch norm (blue) vs none (orange): validation accuracy, "
                 f"mean ± std over {repeats} repeats")
    return fig


def _final(sweep, variant):
    """(mean, std) of the variant's last validation accuracy; NaN if no run finished."""
    curve = curves(sweep.results, variant, "val_accuracy")
    if curve is None:
        return np.nan, 0.0
    return curve[1][-1], curve[2][-1]


def body(experiment):
    """One sweep over std x {BN, plain}; the figure and the table."""
    args = experiment.args
    scales = SCALES[::2] if args.quick else SCALES
    base = {"data": experiment.data_spec(val_size=2000 if not args.quick else 200),
            "net": common.mlp([100] * 4),
            "params": experiment.params(learning_rate=0.01, batch_size=100,
                                        optimizer_name="sgd"),
            "train": {"checkpoint": 1.0}}
    experiment.settings.update(base=base, repeats=args.repeats, seed=args.seed,
                               scales=list(scales))
    sweep = experiment.sweep(base, variants=variants(scales))
    experiment.draw("curves", lambda: plot(experiment, sweep, scales, args.repeats))
    experiment.write_table(sweep.markdown())


def make_parser():
    """The shared sweep flags with this experiment's defaults."""
    return common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                              sweep={"epochs": 20, "repeats": 3, "train_size": 1000})


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK)


if __name__ == "__main__":
    sys.exit(main())
