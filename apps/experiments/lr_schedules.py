"""Experiment 7: learning-rate schedules, and what they do to a run.

    python -m apps.experiments.lr_schedules [--epochs 20] [--repeats 3]

Left: the framework's schedules (``framework.schedules``) over the run's
epochs -- constant, step, multi-step, exponential, polynomial, cosine. Then
the same 5-layer ReLU net trained on MNIST with Momentum (lr 0.05, the
setting where the notes saw Momentum "fall back" late in training) under
each schedule; same weights and batches within a repeat, mean +- std over
repeats, judged on the validation split.
"""
import sys

import numpy as np

from framework.compare.report import draw_curves
from framework.schedules import make_schedule

from . import common


def schedules(epochs):
    """The compared schedules, scaled to ``epochs``."""
    quarter = max(1, epochs // 4)
    return {"constant": {"name": "constant"},
            "step": {"name": "step", "step_size": quarter, "gamma": 0.5},
            "multi-step": {"name": "multi_step", "gamma": 0.3,
                           "milestones": sorted({max(1, int(epochs * f)) for f in (0.5, 0.75)})},
            "exponential": {"name": "exponential", "gamma": round(0.05 ** (1 / epochs), 4)},
            "polynomial": {"name": "polynomial", "total_epochs": epochs, "power": 2.0},
            "cosine": {"name": "cosine", "total_epochs": epochs}}


def plot(sweep, named, epochs, repeats):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(15, 4.2), dpi=64)
    ax = fig.add_subplot(1, 3, 1)
    for i, (label, config) in enumerate(named.items()):
        schedule = make_schedule(config)
        xs = np.arange(epochs)
        ax.step(xs, [schedule(1.0, int(e)) for e in xs], where="post", color=f"C{i}",
                label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("lr / base lr")
    ax.set_title("the schedules")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    for p, metric in enumerate(("val_loss", "val_accuracy")):
        ax = fig.add_subplot(1, 3, p + 2)
        draw_curves(ax, sweep.results, sweep.variants, (metric,))
        ax.set_title(f"Momentum lr 0.05: {metric}")
    fig.suptitle(f"Learning-rate schedules, mean ± std over {repeats} repeats")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=20)
    args = common.parse(parser, argv, quick={"epochs": 3, "repeats": 2, "train_size": 300})
    named = schedules(args.epochs)
    base = {"data": common.data_spec(args), "net": common.mlp([100] * 4),
            "params": common.params(args, learning_rate=0.05, batch_size=128,
                                    init_method="msra", optimizer_name="momentum"),
            "train": {"checkpoint": 0.5 if not args.quick else 1.0}}
    variants = {label: {"lr_schedule": config} for label, config in named.items()}
    sweep = common.sweep(args, "lr_schedules", base, variants=variants)
    common.save_figure(plot(sweep, named, args.epochs, args.repeats), args, "lr_schedules.png")
    common.write_text(args, "lr_schedules.md", sweep.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
