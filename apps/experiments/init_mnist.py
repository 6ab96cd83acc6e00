"""Experiment 4: weight initialisation on MNIST (std 0.01, Xavier, He).

    python -m apps.experiments.init_mnist [--epochs 15] [--repeats 3]

The notes' ``weight_init_compare``: the 5-layer, 100-unit ReLU net trained
with plain SGD (lr 0.01, batch 128); only the initial weights differ. Within
a repeat the three variants see the same batches (their weights differ by
design); curves are mean +- std over repeats, on the validation split.
"""
import sys

from . import common

INITS = {"std 0.01": {"init_method": "normal", "init_scale": 0.01},
         "Xavier": {"init_method": "xavier"},
         "He": {"init_method": "msra"}}


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=15)
    args = common.parse(parser, argv, quick={"epochs": 2, "repeats": 2, "train_size": 300})
    base = {"data": common.data_spec(args), "net": common.mlp([100] * 4),
            "params": common.params(args, learning_rate=0.01, batch_size=128,
                                    optimizer_name="sgd"),
            "train": {"checkpoint": 0.25 if not args.quick else 1.0}}
    panels = (("train_loss",), ("val_accuracy",))
    sweep = common.sweep(args, "init_mnist", base, variants=INITS, panels=panels)
    sweep.plot(f"{args.out}/init_mnist.png", panels=panels, log_y=("train_loss",),
               title="Initialisation, 5-layer ReLU net, SGD: mean ± std over "
                     f"{args.repeats} repeats")
    common.write_text(args, "init_mnist.md", sweep.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
