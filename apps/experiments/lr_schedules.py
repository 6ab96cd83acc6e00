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
from framework.plotting import FONT_SIZE, metric_text  # noqa: E402
from framework.schedules import make_schedule  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "lr_schedules"
QUICK = {"epochs": 8, "repeats": 2, "train_size": 1000}


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
    """The schedules themselves over every epoch of the run, then the training loss,
    validation loss and validation accuracy under each, on the same epoch axis."""
    fig = experiment.figure(15, 4.9)
    first = fig.add_subplot(1, 4, 1)
    for i, (label, config) in enumerate(named.items()):
        schedule = make_schedule(config)
        starts = np.arange(epochs + 1)          # epoch e runs from e to e + 1
        rates = [schedule(1.0, int(min(e, epochs - 1))) for e in starts]
        first.step(starts, rates, where="post", color=f"C{i}", label=label, linewidth=1.4)
    first.set_xlim(0, epochs)
    first.set_xlabel("epoch")
    first.set_ylabel("learning rate / base rate (0.05)")
    first.set_title("the schedules", fontsize=FONT_SIZE + 1)
    first.grid(alpha=0.3)
    for p, metric in enumerate(("train_loss", "val_loss", "val_accuracy")):
        ax = fig.add_subplot(1, 4, p + 2, sharex=first)
        draw_curves(ax, sweep.results, sweep.variants, (metric,), legend=False,
                    log_y=metric.endswith("loss"))
        ax.set_title(metric_text(metric), fontsize=FONT_SIZE + 1)
    fig.legend(*first.get_legend_handles_labels(), loc="outside lower center", ncol=6,
               fontsize=FONT_SIZE, frameon=False)
    count = f"{repeats} repeat" + ("s" if repeats != 1 else "")
    fig.suptitle(f"Learning-rate schedules, Momentum at base rate 0.05, "
                 f"{experiment.args.train_size} training samples: mean over {count}"
                 + (", shaded ± 1 std" if repeats > 1 else ""), fontsize=FONT_SIZE + 1)
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
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("curves",))


if __name__ == "__main__":
    sys.exit(main())
