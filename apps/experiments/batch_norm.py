"""Experiment 5: batch norm against none across initial weight scales.

    python -m apps.experiments.batch_norm [--epochs 20] [--repeats 3]

The notes' ``batch_norm_test``: 1,000 MNIST training samples, a 5-layer
100-unit ReLU net (batch norm before each ReLU, or none), SGD lr 0.01, batch
100, initial weights N(0, std^2) for several std. For each std the two
variants start from the same weights of their shared fc layers and see the
same batches. Validation: 2,000 held-out training images.
"""
import sys

import numpy as np

from framework.compare.report import curves, draw_curves

from . import common

SCALES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.001)


def variants(scales):
    return {f"std={s:g} {label}": {"init_method": "normal", "init_scale": s,
                                   "net.batch_norm": bn}
            for s in scales for label, bn in (("BN", True), ("plain", False))}


def plot(sweep, scales, repeats):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(14, 6.4), dpi=64)
    for i, s in enumerate(scales):
        ax = fig.add_subplot(2, 4, i + 1)
        draw_curves(ax, sweep.results, [f"std={s:g} BN", f"std={s:g} plain"],
                    ("val_accuracy",), colors=["C0", "C1"])
        ax.set_title(f"init std {s:g}", fontsize=10)
        ax.set_ylim(0, 1)
    ax = fig.add_subplot(2, 4, len(scales) + 1)
    for label, color in (("BN", "C0"), ("plain", "C1")):
        finals = [_final(sweep, f"std={s:g} {label}") for s in scales]
        ax.errorbar(scales, [m for m, _ in finals], yerr=[e for _, e in finals],
                    fmt="o-", color=color, label=label, capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("init std")
    ax.set_ylabel("final val accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"Batch norm (blue) vs none (orange): validation accuracy, "
                 f"mean ± std over {repeats} repeats")
    fig.tight_layout()
    return fig


def _final(sweep, variant):
    curve = curves(sweep.results, variant, "val_accuracy")
    if curve is None:
        return np.nan, 0.0
    return curve[1][-1], curve[2][-1]


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=20, train_size=1000)
    args = common.parse(parser, argv, quick={"epochs": 2, "repeats": 2, "train_size": 200})
    scales = SCALES[::2] if args.quick else SCALES
    base = {"data": common.data_spec(args, val_size=2000 if not args.quick else 200),
            "net": common.mlp([100] * 4),
            "params": common.params(args, learning_rate=0.01, batch_size=100,
                                    optimizer_name="sgd"),
            "train": {"checkpoint": 1.0}}
    sweep = common.sweep(args, "batch_norm", base, variants=variants(scales))
    common.save_figure(plot(sweep, scales, args.repeats), args, "batch_norm.png")
    common.write_text(args, "batch_norm.md", sweep.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
