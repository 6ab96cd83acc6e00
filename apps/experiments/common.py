"""What every experiment app shares: its command line, data spec and outputs.

Each app runs full size by default and tiny with ``--quick`` (the tests use
that). MNIST comes from the datareaders MNIST reader (``--data-dir``, else
``MINIFRAMEWORK_DATA``); ``--synthetic`` swaps in a seeded Gaussian-cluster
set of the same shape of problem, so the apps also run where MNIST is absent.
"""
import argparse
import os

import datareaders  # noqa: F401  (registers the data sources the specs name)
from framework.compare import compare

DEFAULT_OUT = os.path.join("runs", "experiments")


def make_parser(description, epochs, repeats=3, train_size=10000):
    """The shared options; apps add their own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and few epochs (seconds; used by the tests)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="data root holding mnist/ (default: $MINIFRAMEWORK_DATA)")
    parser.add_argument("--synthetic", action="store_true",
                        help="use a synthetic 10-class set instead of MNIST")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--train-size", type=int, default=train_size)
    parser.add_argument("--seed", type=int, default=0, help="base seed (repeat k uses seed+k)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (0 = inline; default min(2, runs))")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    return parser


def parse(parser, argv, quick):
    """Parse ``argv``; ``--quick`` replaces the sizes by ``quick`` (a dict)."""
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in quick.items():
            setattr(args, key, value)
    os.makedirs(args.out, exist_ok=True)
    return args


def data_spec(args, val_size=None, classes=10):
    """The run spec's data section for MNIST or the synthetic stand-in."""
    if args.synthetic:
        n_val = val_size or max(args.train_size // 9, 50)
        return {"source": "clusters", "options": {"n_train": args.train_size + n_val,
                                                  "n_test": 500, "features": 64,
                                                  "classes": classes, "noise": 4.0},
                "seed": 0, "train_size": args.train_size, "val_size": n_val}
    spec = {"source": "mnist", "train_size": args.train_size, "seed": 0}
    if val_size:
        spec["val_size"] = val_size
    if args.data_dir:
        spec["options"] = {"data_dir": os.path.abspath(args.data_dir)}
    return spec


def mlp(hidden, activation="relu", **options):
    return {"hidden": list(hidden), "activation": activation, **options}


def params(args, **fields):
    """HyperParameters fields for a classifier run of ``args.epochs`` epochs."""
    return {"max_epoch": args.epochs, "net_type": "multiple_classifier", **fields}


def sweep(args, name, base, **options):
    """``compare`` with the app's repeats, seed, workers, scheduler and output folder."""
    return compare(name, base, repeats=args.repeats, base_seed=args.seed, out_dir=args.out,
                   workers=args.workers, scheduler=args.scheduler, **options)


def write_text(args, filename, text):
    """Write ``text`` under ``args.out``, print it, return the path."""
    path = os.path.join(args.out, filename)
    with open(path, "w") as handle:
        handle.write(text)
    print(text)
    print(f"wrote {path}")
    return path


def save_figure(fig, args, filename):
    path = os.path.join(args.out, filename)
    fig.savefig(path)
    print(f"wrote {path}")
    return path


def fmt(mean_std, digits=4):
    """'0.9123 ± 0.0040' from a [mean, std] pair (or 'failed')."""
    mean, std = mean_std
    return "failed" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"
