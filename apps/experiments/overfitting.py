"""Experiment 6: overfitting on 300 MNIST samples, then weight decay and dropout.

    python apps/experiments/overfitting.py [--epochs 200] [--repeats 3]

The notes' ``overfit_weight_decay`` / ``overfit_dropout``: 300 training
images, a 7-layer net (6 hidden layers of 100 ReLU units, He init), SGD lr
0.01, batch 100. Variants: none, L2 weight decay lambda = 0.1 (penalty
lambda/2 sum W^2, as in the notes), dropout 0.2 after each hidden layer. The
"held-out" curve is 2,000 other training images (the validation split); the
test set is evaluated once per run, after the last epoch, and only reported.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from framework.infra.compare.report import draw_curves, mean_std  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "overfitting"
QUICK = {"epochs": 150, "repeats": 2, "train_size": 100}
PANELS = (("train_accuracy", "val_accuracy"),)

VARIANTS = {"none": {},
            "weight decay 0.1": {"regular_name": "l2", "regular_value": 0.1},
            "dropout 0.2": {"net.dropout": 0.2}}


def plot(experiment, sweep, repeats):
    """A panel per variant: train (solid) and held-out (dashed) accuracy."""
    fig = experiment.figure(13, 4.6)
    for i, variant in enumerate(sweep.variants):
        ax = fig.add_subplot(1, len(sweep.variants), i + 1)
        draw_curves(ax, sweep.results, [variant], ("train_accuracy", "val_accuracy"),
                    colors=[f"C{i}"])
        ax.set_title(variant)
        ax.set_ylim(0, 1.02)
    fig.suptitle(f"{experiment.args.train_size} training samples, 7-layer net: train "
                 f"(solid) vs held-out (dashed) accuracy, mean ± std over {repeats} repeats")
    return fig


def gaps(sweep):
    """Per variant: final train and held-out accuracy, their gap, the one test accuracy."""
    found = {}
    for variant in sweep.variants:
        ok = [r for r in sweep.runs(variant) if r["status"] == "ok"]
        found[variant] = {
            "runs": len(ok),
            "final_train_accuracy": mean_std([r["final"]["train_accuracy"] for r in ok]),
            "final_val_accuracy": mean_std([r["final"]["val_accuracy"] for r in ok]),
            "gap": mean_std([r["final"]["train_accuracy"] - r["final"]["val_accuracy"]
                             for r in ok]),
            "test_accuracy": mean_std([r["test"]["accuracy"] for r in ok])}
    return found


def gap_table(found):
    """The gaps as a Markdown table."""
    lines = ["| variant | runs | final train acc | final held-out acc | gap | "
             "test acc (once, at the end) |", "|---|---|---|---|---|---|"]
    for variant, row in found.items():
        lines.append(f"| {variant} | {row['runs']} | {common.fmt(row['final_train_accuracy'])} "
                     f"| {common.fmt(row['final_val_accuracy'])} | {common.fmt(row['gap'])} | "
                     f"{common.fmt(row['test_accuracy'])} |")
    return "\n".join(lines) + "\n"


def body(experiment):
    """One sweep over the regularisers; the figure, the gap table and the sweep table."""
    args = experiment.args
    base = {"data": experiment.data_spec(val_size=2000 if not args.quick else 200),
            "net": common.mlp([100] * 6),
            "params": experiment.params(learning_rate=0.01, batch_size=100,
                                        init_method="msra", optimizer_name="sgd"),
            "train": {"checkpoint": 2.0, "restore_best": False},
            "evaluate_test": True}
    experiment.settings.update(base=base, repeats=args.repeats, seed=args.seed)
    sweep = experiment.sweep(base, variants=VARIANTS, panels=PANELS)
    found = gaps(sweep)
    experiment.metrics["gaps"] = found
    experiment.draw("curves", lambda: plot(experiment, sweep, args.repeats))
    experiment.write_table(gap_table(found) + "\n" + sweep.markdown())


def make_parser():
    """The shared sweep flags with this experiment's defaults."""
    return common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                              sweep={"epochs": 200, "repeats": 3, "train_size": 300})


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("curves",))


if __name__ == "__main__":
    sys.exit(main())
