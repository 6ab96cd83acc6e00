"""Compare training variants fairly: same initial weights and batches, repeated.

    python apps/compare.py --name opt --axis optimizer=sgd,momentum,adam \\
        --axis lr=0.01,0.1 --repeats 3 --epochs 10 --train-size 10000
    python apps/compare.py --config sweep.json --scheduler tcp://10.0.0.5:8786

Each ``--axis KEY=V1,V2,...`` adds a dimension (the variants are their
product). KEY is the name of the flag it varies, without the dashes:
optimizer, lr, batch-size, epochs, init, init-scale, l2, lr-schedule,
hidden, activation, bn, dropout, train-size (``AXES``; ``_`` for ``-`` is
fine). Values are read as that flag reads them (``lr-schedule=constant,cosine``,
``bn=off,on``); ``hidden`` takes JSON lists (``hidden=[100],[100,100]``) or
single widths. ``--config`` reads a JSON file with "base" and optional
"variants" / "axes" (in the run-spec keys of framework.infra.compare) instead
of the net, training and data flags; its data section names a registered
source ({"source": "mnist"}), never a module.

The base run is the training apps' flags (the same names and meanings):
``--hidden``, ``--activation``, ``--init``, ``--bn``, ``--dropout``,
``--epochs``, ``--batch-size``, ``--lr``, ``--optimizer``, ``--lr-schedule``,
``--l2``, ``--checkpoint``, ``--keep``, ``--dataset`` (a registered data
source). Prints a table of the final training loss and the final and best validation
metrics (mean ± std over repeats), writes ``<runs-dir>/<name>/`` (results.jsonl,
summary, tables, curves.png) and ``<plot-dir>/<name>_curves.png`` (training
loss, validation loss and accuracy per variant, labelled with the axes' flag
names), and ends with the JSON line.
Running the same command again resumes: finished runs are not run again.
The JSON line's ``metrics`` rank the variants by their mean final
validation loss. Exit status: 0 every run finished, 1 "k of N runs failed", 2
a usage error (a bad flag, axis or config, refused before anything runs), 130
Ctrl-C (one line).
"""
import json
import sys
from pathlib import Path

if not __package__:     # `python apps/compare.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from framework.infra.compare import DATA_SOURCES, ResultsFileError, make_variants  # noqa: E402

from apps.support import sweeps as common  # noqa: E402  (also registers the data sources)
from apps.support import axes as axis_keys  # noqa: E402
from apps.support import flags  # noqa: E402
from apps.support.flags import UsageError  # noqa: E402

NAME = "compare"
QUICK = {"epochs": 2, "repeats": 1, "train_size": 200, "hidden": (16,)}
DEFAULTS = flags.AppDefaults(hidden=(100, 100, 100, 100), epochs=10, batch_size=128, lr=0.01,
                             optimizer="sgd", init="msra", checkpoint=0.5)
# the flags (dests) that build the base run; a --config replaces them
BASE_FLAGS = ("hidden", "activation", "init", "bn", "dropout", "epochs", "batch_size", "lr",
              "optimizer", "lr_schedule", "l2", "checkpoint", "keep", "dataset", "data_dir",
              "download", "train_size", "clip_norm", "clip_value")
PANELS = (("train_loss",), ("val_loss",), ("val_accuracy",))
LOG_Y = ("train_loss", "val_loss")


def datasets():
    """The registered data sources, the default (mnist) first."""
    names = sorted(DATA_SOURCES.names())
    return ["mnist"] + [name for name in names if name != "mnist"]


def make_parser():
    """The sweep's flags, then the training apps' net, training, data and output flags."""
    parser = flags.new_parser(NAME, __doc__.splitlines()[0],
                              epilog="Axis keys (flag names; values as the flag reads "
                                     f"them): {axis_keys.describe()}. Every run of a "
                                     "variant's repeat k uses seed + k: the same initial "
                                     "weights and batches for every variant.")
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--config", default=None, metavar="FILE",
                       help="JSON file with base / variants / axes (instead of the net, "
                            "training and data flags)")
    sweep.add_argument("--axis", action="append", type=axis_keys.parse_axis, default=[],
                       metavar="KEY=V1,V2",
                       help="a variant axis, repeatable; KEY is a flag name: "
                            f"{', '.join(axis_keys.AXES)} (default: none, one variant)")
    common.add_sweep_flags(sweep, 3, seed_help="base seed: repeat k of every variant uses "
                                               "seed + k (initial weights and batch order)")
    sweep.add_argument("--save-weights", action="store_true",
                       help="also write each run's .h5 under --runs-dir")
    sweep.add_argument("--quick", action="store_true",
                       help=f"a small sweep in seconds: {common.describe_quick(QUICK)}; a flag "
                            "given explicitly wins")
    flags.add_net_flags(parser.add_argument_group("net"), DEFAULTS)
    flags.add_training_flags(parser.add_argument_group("training"), DEFAULTS, patience=False,
                             seed=False)      # the sweep's --seed comes with its flags
    data = parser.add_argument_group("data")
    flags.add_data_flags(data, datasets(), dataset_aliases=("--source",), metavar="SOURCE")
    common.add_train_size_flag(data, 10000)
    common.add_synthetic_flag(data)
    common.add_outputs(parser.add_argument_group("output"))
    return parser


def base_from_args(args):
    """The base run spec from the net, training and data flags (the data files are
    looked for here, before any run)."""
    common.require_data(args.dataset, args.data_dir, args.download)
    data = {"source": args.dataset, "train_size": args.train_size, "seed": 0}
    if args.dataset == "clusters":
        data.update(options={"n_train": args.train_size + args.train_size // 9,
                             "n_test": 200}, val_size=args.train_size // 9)
    options = common.source_options(args.dataset, args.data_dir, args.download)
    if options:
        data["options"] = options
    net = {"hidden": list(args.hidden), "activation": args.activation}
    if args.bn:
        net["batch_norm"] = True
    if args.dropout:
        net["dropout"] = args.dropout
    params = {"learning_rate": args.lr, "max_epoch": args.epochs,
              "batch_size": args.batch_size, "net_type": "multiple_classifier",
              "optimizer_name": args.optimizer, "init_method": args.init}
    schedule = flags.parse_schedule(args.lr_schedule, args.epochs)
    if schedule["name"] != "constant":
        params["lr_schedule"] = schedule
    if args.l2:
        params.update(regular_name="l2", regular_value=args.l2)
    params.update(flags.clipping_fields(args))
    train = {"checkpoint": args.checkpoint}
    if args.keep == "last":
        train["restore_best"] = False
    return {"data": data, "net": net, "params": params, "train": train}


def read_config(path):
    """(base, variants, axes) from a JSON config file; UsageError naming the file."""
    try:
        with open(path) as handle:
            config = json.load(handle)
    except OSError as error:
        raise UsageError(f"--config: cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"--config: {path} is not valid JSON ({error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("base"), dict):
        raise UsageError(f"--config: {path}: expected an object with a \"base\" object "
                         f"(and optional \"variants\", \"axes\")")
    unknown = set(config) - {"base", "variants", "axes"}
    if unknown:
        raise UsageError(f"--config: {path}: unknown key(s) {sorted(unknown)}; "
                         f"expected base, variants, axes")
    return config["base"], config.get("variants"), config.get("axes") or {}


def combine(first, second):
    """The product of two {label: overrides} sets (either may be empty)."""
    if not first or not second:
        return first or second
    return {f"{a}, {b}": {**ao, **bo} for a, ao in first.items() for b, bo in second.items()}


def ranking(rows):
    """The variants by mean final validation loss (lowest first; diverged last)."""
    ranked = sorted(rows, key=lambda row: (row["final_val_loss"][0] is None,
                                           row["final_val_loss"][0] or 0.0))
    return [{"variant": row["variant"], "final_val_loss": row["final_val_loss"][0],
             "final_val_accuracy": row["final_val_accuracy"][0]} for row in ranked]


def body(experiment, parser, argv):
    """One sweep: the base from --config or the flags, the variants from --axis."""
    args = experiment.args
    if args.config:
        given = sorted(common.given_flags(parser, argv, BASE_FLAGS))
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise UsageError(f"{flag}: not used with --config (the config's base sets it)")
        base, variants, config_axes = read_config(args.config)
        source = base.get("data", {}).get("source") if isinstance(base.get("data"), dict) \
            else None
        args.dataset = source if isinstance(source, str) else None
        experiment.name = args.name or common.default_name(NAME, args)
        try:
            named = make_variants(variants, config_axes) if variants or config_axes else {}
        except (ValueError, TypeError) as error:
            raise UsageError(f"--config: {error}") from None
        epochs = (base.get("params") or {}).get("max_epoch", DEFAULTS.epochs)
    else:
        base, named, config_axes, epochs = base_from_args(args), {}, {}, args.epochs
    named = combine(named, axis_keys.make_variants(args.axis, epochs) if args.axis else {})
    experiment.settings.update(base=base, axes={key: values for key, values in args.axis},
                               config_axes=config_axes, variants=named, config=args.config,
                               repeats=args.repeats, seed=args.seed)
    try:
        sweep = experiment.sweep(base, variants=named or None,
                                 save_weights=args.save_weights, panels=PANELS)
    except ResultsFileError:                    # a damaged results.jsonl: exit 1, naming it
        raise
    except (ValueError, TypeError) as error:    # a bad base or axis: nothing ran
        raise UsageError(str(error)) from None
    experiment.metrics["by_final_val_loss"] = ranking(sweep.rows)
    experiment.log("\n" + sweep.table())
    keys = ", ".join(key for key, _ in args.axis) or "variant"
    experiment.sweep_plot(sweep, "curves", panels=PANELS, log_y=LOG_Y,
                          title=f"{experiment.name}: {args.dataset or 'config'} data, "
                                f"by {keys}")


def main(argv=None):
    """Run the sweep; return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    return common.run(NAME, parser, lambda experiment: body(experiment, parser, argv), argv,
                      QUICK, plots=("curves",), tables=())


if __name__ == "__main__":
    sys.exit(main())
