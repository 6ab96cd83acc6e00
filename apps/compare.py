"""Compare training variants fairly: same initial weights and batches, repeated.

    python apps/compare.py --name opt --axis optimizer_name=sgd,momentum,adam \\
        --axis learning_rate=0.01,0.1 --repeats 3 --epochs 10 --train-size 10000
    python apps/compare.py --config sweep.json --scheduler tcp://10.0.0.5:8786

Each ``--axis KEY=V1,V2,...`` adds a dimension (the variants are their
product). KEY is a HyperParameters field (optimizer_name, learning_rate,
init_method, init_scale, regular_name, regular_value, lr_schedule, batch_size,
...) or a dotted path (net.batch_norm, net.dropout, net.activation,
data.train_size); values are JSON where they parse (0.1, true, {"name":
"cosine", "total_epochs": 10}) and strings otherwise. ``--config`` reads a
JSON file with "base" and optional "variants" / "axes" instead.

Prints a table of final and best validation metrics (mean ± std over
repeats) and writes runs/<name>/ (per-run JSON, summary, table, curves.png).
"""
import argparse
import json
import sys

from framework.compare import compare


def parse_axis(text):
    """'key=v1,v2' -> (key, [v1, v2]); a JSON object value may contain commas."""
    key, sep, values = text.partition("=")
    if not sep or not key or not values:
        raise argparse.ArgumentTypeError(f"--axis: expected KEY=V1,V2,..., got {text!r}")
    try:
        parsed = json.loads(f"[{values}]")
    except json.JSONDecodeError:
        parsed = [_value(v) for v in values.split(",")]
    return key.strip(), parsed


def _value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def make_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="compare", help="sweep name (output sub-folder)")
    p.add_argument("--config", help="JSON file with base / variants / axes")
    p.add_argument("--axis", action="append", type=parse_axis, default=[],
                   metavar="KEY=V1,V2", help="a variant axis (repeatable)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="base seed; repeat k uses seed + k")
    p.add_argument("--reader", default="mnist", choices=("mnist", "fashion", "toy"))
    p.add_argument("--data-dir", default=None, help="data root (default $MINIFRAMEWORK_DATA)")
    p.add_argument("--train-size", type=int, default=10000)
    p.add_argument("--hidden", default="100,100,100,100", help="hidden layer sizes")
    p.add_argument("--activation", default="relu")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--init", default="msra")
    p.add_argument("--checkpoint", type=float, default=0.5, help="epochs between records")
    p.add_argument("--out", default="runs")
    p.add_argument("--save-weights", action="store_true", help="also write each run's .h5")
    p.add_argument("--workers", type=int, default=None,
                   help="local processes (0 = inline; default min(2, runs))")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address")
    return p


def base_from_args(args):
    data = {"reader": args.reader, "train_size": args.train_size, "seed": 0}
    if args.reader == "toy":
        data.update(n_train=args.train_size + args.train_size // 9, n_test=200,
                    val_size=args.train_size // 9)
    if args.data_dir:
        data["data_dir"] = args.data_dir
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    return {"data": data, "net": {"hidden": hidden, "activation": args.activation},
            "params": {"learning_rate": args.lr, "max_epoch": args.epochs,
                       "batch_size": args.batch_size, "net_type": "multiple_classifier",
                       "optimizer_name": args.optimizer, "init_method": args.init},
            "train": {"checkpoint": args.checkpoint}}


def main(argv=None):
    args = make_parser().parse_args(argv)
    if args.config:
        with open(args.config) as handle:
            config = json.load(handle)
        base, variants, axes = config["base"], config.get("variants"), config.get("axes", {})
    else:
        base, variants, axes = base_from_args(args), None, {}
    axes = {**axes, **dict(args.axis)}
    sweep = compare(args.name, base, variants=variants, axes=axes or None,
                    repeats=args.repeats, base_seed=args.seed, out_dir=args.out,
                    workers=args.workers, scheduler=args.scheduler,
                    save_weights=args.save_weights)
    print()
    print(sweep.table())
    print(f"results in {sweep.out_dir}")
    return 0 if all(r["status"] == "ok" for r in sweep.results) else 1


if __name__ == "__main__":
    sys.exit(main())
