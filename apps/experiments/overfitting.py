"""Experiment 6: overfitting on 300 MNIST samples, then weight decay and dropout.

    python -m apps.experiments.overfitting [--epochs 200] [--repeats 3]

The notes' ``overfit_weight_decay`` / ``overfit_dropout``: 300 training
images, a 7-layer net (6 hidden layers of 100 ReLU units, He init), SGD lr
0.01, batch 100. Variants: none, L2 weight decay lambda = 0.1 (penalty
lambda/2 sum W^2, as in the notes), dropout 0.2 after each hidden layer. The
"held-out" curve is 2,000 other training images (the validation split); the
test set is evaluated once per run, after the last epoch, and only reported.
"""
import sys

from framework.compare.report import draw_curves, mean_std

from . import common

VARIANTS = {"none": {},
            "weight decay 0.1": {"regular_name": "l2", "regular_value": 0.1},
            "dropout 0.2": {"net.dropout": 0.2}}


def plot(sweep, repeats):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 4), dpi=72)
    for i, variant in enumerate(sweep.variants):
        ax = fig.add_subplot(1, len(sweep.variants), i + 1)
        draw_curves(ax, sweep.results, [variant], ("train_accuracy", "val_accuracy"),
                    colors=[f"C{i}"])
        ax.set_title(variant)
        ax.set_ylim(0, 1.02)
    fig.suptitle(f"300 training samples, 7-layer net: train (solid) vs held-out (dashed) "
                 f"accuracy, mean ± std over {repeats} repeats")
    fig.tight_layout()
    return fig


def gap_table(sweep):
    lines = ["| variant | runs | final train acc | final held-out acc | gap | "
             "test acc (once, at the end) |", "|---|---|---|---|---|---|"]
    for variant in sweep.variants:
        ok = [r for r in sweep.runs(variant) if r["status"] == "ok"]
        train = mean_std([r["final"]["train_accuracy"] for r in ok])
        val = mean_std([r["final"]["val_accuracy"] for r in ok])
        gap = mean_std([r["final"]["train_accuracy"] - r["final"]["val_accuracy"] for r in ok])
        test = mean_std([r["test"]["accuracy"] for r in ok])
        lines.append(f"| {variant} | {len(ok)} | {common.fmt(train)} | {common.fmt(val)} | "
                     f"{common.fmt(gap)} | {common.fmt(test)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=200, train_size=300)
    args = common.parse(parser, argv, quick={"epochs": 4, "repeats": 2, "train_size": 100})
    base = {"data": common.data_spec(args, val_size=2000 if not args.quick else 200),
            "net": common.mlp([100] * 6),
            "params": common.params(args, learning_rate=0.01, batch_size=100,
                                    init_method="msra", optimizer_name="sgd"),
            "train": {"checkpoint": 2.0 if not args.quick else 1.0, "restore_best": False},
            "evaluate_test": True}
    panels = (("train_accuracy", "val_accuracy"),)
    sweep = common.sweep(args, "overfitting", base, variants=VARIANTS, panels=panels)
    common.save_figure(plot(sweep, args.repeats), args, "overfitting.png")
    common.write_text(args, "overfitting.md", gap_table(sweep) + "\n" + sweep.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
