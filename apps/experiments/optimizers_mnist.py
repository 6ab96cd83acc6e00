"""Experiment 2: seven optimizers training a 5-layer, 100-unit ReLU net on MNIST.

    python -m apps.experiments.optimizers_mnist [--epochs 15] [--repeats 3]

The notes' set-up (4 hidden layers of 100 ReLU units + softmax output, He
initialisation, batch 128, each optimizer at its usual learning rate), run
through the comparison runner: within a repeat every optimizer starts from
the same weights and sees the same batches; repeats differ by seed; curves
are mean +- std over repeats. Judged on the validation split (10% of the
training subset); the test set is not used.
"""
import sys

from . import common

# optimizer -> learning rate (the notes' defaults: 0.01 for SGD-like and
# AdaGrad, 0.001 for Adam/RMSProp; AdaDelta has none)
OPTIMIZERS = {"SGD": ("sgd", 0.01), "Momentum": ("momentum", 0.01), "NAG": ("nag", 0.01),
              "AdaGrad": ("adagrad", 0.01), "AdaDelta": ("adadelta", 1.0),
              "RMSProp": ("rmsprop", 0.001), "Adam": ("adam", 0.001)}


def base_spec(args):
    return {"data": common.data_spec(args),
            "net": common.mlp([100] * 4),
            "params": common.params(args, learning_rate=0.01, batch_size=128,
                                    init_method="msra"),
            "train": {"checkpoint": 0.25 if not args.quick else 1.0}}


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=15)
    args = common.parse(parser, argv, quick={"epochs": 2, "repeats": 2, "train_size": 300})
    variants = {label: {"optimizer_name": name, "learning_rate": lr}
                for label, (name, lr) in OPTIMIZERS.items()}
    sweep = common.sweep(args, "optimizers_mnist", base_spec(args), variants=variants,
                         panels=(("train_loss",), ("val_accuracy",)))
    sweep.plot(f"{args.out}/optimizers_mnist.png", panels=(("train_loss",), ("val_accuracy",)),
               title="5-layer ReLU net, MNIST: mean ± std over "
                     f"{args.repeats} repeats", log_y=("train_loss",))
    common.write_text(args, "optimizers_mnist.md", sweep.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
