"""Experiment 4: weight initialisation on MNIST (std 0.01, Xavier, He).

    python apps/experiments/init_mnist.py [--epochs 15] [--repeats 3]

The notes' ``weight_init_compare``: the 5-layer, 100-unit ReLU net trained
with plain SGD (lr 0.01, batch 128); only the initial weights differ. Within
a repeat the three variants see the same batches (their weights differ by
design); curves are mean +- std over repeats, on the validation split.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from apps.support import sweeps as common  # noqa: E402

NAME = "init_mnist"
QUICK = {"epochs": 6, "repeats": 2, "train_size": 1000}
PANELS = (("train_loss",), ("val_accuracy",))
INITS = {"std 0.01": {"init_method": "normal", "init_scale": 0.01},
         "Xavier": {"init_method": "xavier"},
         "He": {"init_method": "msra"}}


def body(experiment):
    """One sweep over the initialisations; the curves figure and the table."""
    args = experiment.args
    base = {"data": experiment.data_spec(), "net": common.mlp([100] * 4),
            "params": experiment.params(learning_rate=0.01, batch_size=128,
                                        optimizer_name="sgd"),
            "train": {"checkpoint": 0.25 if not args.quick else 1.0}}
    experiment.settings.update(base=base, repeats=args.repeats, seed=args.seed)
    sweep = experiment.sweep(base, variants=INITS, panels=PANELS)
    experiment.sweep_plot(sweep, "curves", panels=PANELS, log_y=("train_loss",),
                          title=f"Initialisation, 5-layer ReLU net, SGD, {args.dataset} "
                                f"({args.train_size} training samples)")
    experiment.write_table(sweep.markdown())


def make_parser():
    """The shared sweep flags with this experiment's defaults."""
    return common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                              sweep={"epochs": 15, "repeats": 3, "train_size": 10000})


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("curves",))


if __name__ == "__main__":
    sys.exit(main())
