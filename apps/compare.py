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
JSON file with "base" and optional "variants" / "axes" instead; its data
section names a registered source ({"source": "mnist"}), never a module.

Prints a table of final and best validation metrics (mean ± std over
repeats) and writes runs/<name>/ (results.jsonl, summary, table, curves.png).
Running the same command again resumes: finished runs are not run again.
Ctrl-C stops with one line and exit status 130; failed runs give status 1.
"""
import argparse
import json
import sys

import datareaders  # noqa: F401  (registers the data sources)
from framework.compare import DATA_SOURCES, SweepInterrupted, compare

_DATA_DIR_SOURCES = ("mnist", "fashion", "cifar", "house")


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
    p.add_argument("--source", default="mnist", choices=DATA_SOURCES.names(),
                   help="registered data source (default %(default)s)")
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
    data = {"source": args.source, "train_size": args.train_size, "seed": 0}
    if args.source == "clusters":
        data.update(options={"n_train": args.train_size + args.train_size // 9,
                             "n_test": 200}, val_size=args.train_size // 9)
    if args.data_dir and args.source in _DATA_DIR_SOURCES:
        data["options"] = {"data_dir": args.data_dir}
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    return {"data": data, "net": {"hidden": hidden, "activation": args.activation},
            "params": {"learning_rate": args.lr, "max_epoch": args.epochs,
                       "batch_size": args.batch_size, "net_type": "multiple_classifier",
                       "optimizer_name": args.optimizer, "init_method": args.init},
            "train": {"checkpoint": args.checkpoint}}


def read_config(path):
    """(base, variants, axes) from a JSON config file; ValueError naming the file."""
    with open(path) as handle:
        try:
            config = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("base"), dict):
        raise ValueError(f"{path}: expected an object with a \"base\" object "
                         f"(and optional \"variants\", \"axes\")")
    unknown = set(config) - {"base", "variants", "axes"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; "
                         f"expected base, variants, axes")
    return config["base"], config.get("variants"), config.get("axes") or {}


def main(argv=None):
    args = make_parser().parse_args(argv)
    if args.config:
        try:
            base, variants, axes = read_config(args.config)
        except (OSError, ValueError) as error:
            print(f"compare: error: {error}", file=sys.stderr)
            return 2
    else:
        base, variants, axes = base_from_args(args), None, {}
    axes = {**axes, **dict(args.axis)}
    try:
        sweep = compare(args.name, base, variants=variants, axes=axes or None,
                        repeats=args.repeats, base_seed=args.seed, out_dir=args.out,
                        workers=args.workers, scheduler=args.scheduler,
                        save_weights=args.save_weights)
    except SweepInterrupted as stop:
        print(stop, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ValueError as error:     # a bad config: nothing was run
        print(f"compare: error: {error}", file=sys.stderr)
        return 2
    print()
    print(sweep.table())
    print(f"results in {sweep.out_dir}")
    return _status(sweep)


def _status(sweep):
    """0 if every run finished; else 1 with one line saying how many failed."""
    total = len(sweep.results)
    if not sweep.failed:
        return 0
    if sweep.failed == total:
        print(f"all {total} runs failed; no curves drawn (the errors are listed above)",
              file=sys.stderr)
    else:
        print(f"{sweep.failed} of {total} runs failed (listed above)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
