"""Experiment 7: learning-rate schedules, and what they do to a run.

    python apps/experiments/lr_schedules.py [--epochs 20] [--repeats 3]

Left: the framework's schedules (``framework.schedules``) over the run's
epochs -- constant, step, multi-step, exponential, polynomial, cosine. Then
the same 5-layer ReLU net trained on MNIST with Momentum (lr 0.05, the
setting where the notes saw Momentum "fall back" late in training) under
each schedule; same weights and batches within a repeat, mean +- std over
repeats, judged on the validation split.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from framework.infra.compare.report import draw_curves  # noqa: E402
from framework.plotting import FONT_SIZE  # noqa: E402
from framework.schedules import make_schedule  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "lr_schedules"
QUICK = {"epochs": 3, "repeats": 2, "train_size": 300}


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


def plot(experiment, sweep, named, epochs, repeats):
    """The schedules themselves, then validation loss and accuracy under each."""
    fig = experiment.figure(15, 4.8)
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
    ax.legend(fontsize=FONT_SIZE - 1)
    for p, metric in enumerate(("val_loss", "val_accuracy")):
        ax = fig.add_subplot(1, 3, p + 2)
        draw_curves(ax, sweep.results, sweep.variants, (metric,))
        ax.set_title(f"Momentum lr 0.05: {metric}")
    fig.suptitle(f"Learning-rate schedules, mean ± std over {repeats} repeats")
    return fig


def body(experiment):
    """One sweep over the schedules; the figure and the table."""
    args = experiment.args
    named = schedules(args.epochs)
    base = {"data": experiment.data_spec(), "net": common.mlp([100] * 4),
            "params": experiment.params(learning_rate=0.05, batch_size=128,
                                        init_method="msra", optimizer_name="momentum"),
            "train": {"checkpoint": 0.5 if not args.quick else 1.0}}
    experiment.settings.update(base=base, repeats=args.repeats, seed=args.seed)
    variants = {label: {"lr_schedule": config} for label, config in named.items()}
    sweep = experiment.sweep(base, variants=variants)
    experiment.draw("curves", lambda: plot(experiment, sweep, named, args.epochs, args.repeats))
    experiment.write_table(sweep.markdown())


def make_parser():
    """The shared sweep flags with this experiment's defaults."""
    return common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                              sweep={"epochs": 20, "repeats": 3, "train_size": 10000})


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK)


if __name__ == "__main__":
    sys.exit(main())
