"""Experiment 2: seven optimizers training a 5-layer, 100-unit ReLU net on MNIST.

    python apps/experiments/optimizers_mnist.py [--epochs 15] [--repeats 3]

The notes' set-up (4 hidden layers of 100 ReLU units + softmax output, He
initialisation, batch 128, each optimizer at its usual learning rate), run
through the comparison runner: within a repeat every optimizer starts from
the same weights and sees the same batches; repeats differ by seed; curves
are mean +- std over repeats. Judged on the validation split (10% of the
training subset); the test set is not used.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from apps.support import sweeps as common  # noqa: E402

NAME = "optimizers_mnist"
QUICK = {"epochs": 6, "repeats": 2, "train_size": 1000}
PANELS = (("train_loss",), ("val_accuracy",))

# optimizer -> learning rate (the notes' defaults: 0.01 for SGD-like and
# AdaGrad, 0.001 for Adam/RMSProp; AdaDelta has none)
OPTIMIZERS = {"SGD": ("sgd", 0.01), "Momentum": ("momentum", 0.01), "NAG": ("nag", 0.01),
              "AdaGrad": ("adagrad", 0.01), "AdaDelta": ("adadelta", 1.0),
              "RMSProp": ("rmsprop", 0.001), "Adam": ("adam", 0.001)}


def base_spec(experiment):
    """The shared run: net, data and training settings (the optimizer is the variant)."""
    return {"data": experiment.data_spec(),
            "net": common.mlp([100] * 4),
            "params": experiment.params(learning_rate=0.01, batch_size=128,
                                        init_method="msra"),
            "train": {"checkpoint": 0.25 if not experiment.args.quick else 1.0}}


def body(experiment):
    """One sweep over the optimizers; the curves figure and the table."""
    base = base_spec(experiment)
    experiment.settings.update(base=base, repeats=experiment.args.repeats,
                               seed=experiment.args.seed)
    variants = {label: {"optimizer_name": name, "learning_rate": lr}
                for label, (name, lr) in OPTIMIZERS.items()}
    sweep = experiment.sweep(base, variants=variants, panels=PANELS)
    args = experiment.args
    experiment.sweep_plot(sweep, "curves", panels=PANELS, log_y=("train_loss",),
                          title=f"Seven optimizers, 5-layer ReLU net, {args.dataset} "
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
