"""One parser factory for every app: the same flag names, types and defaults.

An app states its textbook net and hyper-parameters in an ``AppDefaults``
and calls ``make_parser``; it then adds only the flags that are its own.
Every option's help ends with its default, ``(default: ...)``, so ``--help``
is the full description of a run. A bad value is refused by the flag's type
before any data is read, with one line naming the flag.
"""
import argparse
import math
from dataclasses import dataclass, field

EXIT_USAGE = 2
VERBOSE_LEVELS = (0, 1, 2)
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus")


class UsageError(ValueError):
    """A flag value (or a combination of flags) that cannot describe a run."""


@dataclass(frozen=True)
class AppDefaults:
    """An app's default net and hyper-parameters (the textbook's unless the app notes it)."""

    hidden: tuple
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    init: str
    lr_schedule: str = "constant"
    activation: str = "relu"
    checkpoint: float = 1.0
    keep: str = "best"
    patience: int = 0
    l2: float = 0.0
    dropout: float = 0.0
    stop_loss: float = 0.0          # the textbook's StopLoss (0 = off)
    stop_diff: float = 0.0          # the textbook's StopDiff (0 = off)
    holdout: int = 10               # 1/holdout of the training set validates (0 = none)
    extra: dict = field(default_factory=dict)   # the app's own flags (dest -> default)


class _HelpFormatter(argparse.HelpFormatter):
    """Append ``(default: ...)`` to every option whose help does not state it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default:" in text or action.nargs == 0 and action.dest == "help":
            return text
        if action.nargs == 0:           # store_true / store_const switches
            return f"{text} (default: off)"
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``), not the usage block."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def new_parser(prog, description, epilog=None):
    """An empty parser with the apps' help format and one-line usage errors."""
    return _Parser(prog=prog, description=description, epilog=epilog,
                   formatter_class=_HelpFormatter)


def make_parser(prog, description, defaults, datasets, epilog=None, dataset_aliases=()):
    """A parser with every shared flag of an app that trains one net; ``datasets`` are
    the --dataset choices (the default is ``defaults.extra["dataset"]``, else the
    first), ``dataset_aliases`` older names of --dataset. Apps of another shape
    (sweeps) compose the ``add_*_flags`` they need."""
    parser = new_parser(prog, description, epilog)
    add_net_flags(parser.add_argument_group("net"), defaults)
    add_training_flags(parser.add_argument_group("training"), defaults, stop=True)
    add_data_flags(parser.add_argument_group("data"), datasets, dataset_aliases,
                   default=defaults.extra.get("dataset"))
    add_weights_flags(parser.add_argument_group("weights"))
    add_output_flags(parser.add_argument_group("output"))
    add_insight_flags(parser.add_argument_group("TensorBoard and ONNX"))
    return parser


def add_net_flags(group, defaults):
    """--hidden, --activation, --init, --bn, --dropout."""
    group.add_argument("--hidden", type=hidden_sizes, metavar="N,N,...",
                       default=",".join(str(size) for size in defaults.hidden),
                       help="hidden layer widths, comma-separated; '' or none = no hidden "
                            "layer")
    group.add_argument("--activation", default=defaults.activation, choices=ACTIVATIONS,
                       help="hidden-layer activation")
    group.add_argument("--init", default=defaults.init,
                       help="weight init: zero, normal, uniform, xavier, xavier_normal, "
                            "msra (he), msra_uniform")
    group.add_argument("--bn", action="store_true",
                       help="a batch-norm layer after each hidden layer (before its "
                            "activation)")
    group.add_argument("--dropout", type=ratio, default=defaults.dropout, metavar="P",
                       help="dropout with this drop ratio after each hidden activation "
                            "(0 = none)")


def add_training_flags(group, defaults, patience=True, seed=True, stop=False):
    """--epochs, --batch-size, --lr, --optimizer, --lr-schedule, --l2, --patience,
    --checkpoint, --keep, --seed, and with ``stop`` the textbook's stop conditions
    --stop-loss and --stop-diff; a sweep's base run takes them without --patience and
    --seed (``patience=False, seed=False``: the sweep has its own seed)."""
    group.add_argument("--epochs", type=positive_int, default=defaults.epochs,
                       help="number of epochs")
    group.add_argument("--batch-size", type=positive_int, default=defaults.batch_size,
                       help="mini-batch size")
    group.add_argument("--lr", type=positive_float, default=defaults.lr,
                       help="base learning rate")
    group.add_argument("--optimizer", default=defaults.optimizer,
                       help="sgd, momentum, nag, adagrad, adadelta, rmsprop or adam")
    group.add_argument("--lr-schedule", default=defaults.lr_schedule, metavar="SPEC",
                       help="constant | cosine[:MIN_LR] (over --epochs) | step:EPOCHS[:GAMMA] "
                            "| multistep:E1,E2,...[:GAMMA] | exponential:GAMMA "
                            "| polynomial[:POWER] (over --epochs) | warmup:EPOCHS[:START],"
                            "SPEC (a linear warm-up from START x --lr, 1/3 by default, "
                            "then SPEC over the remaining epochs)")
    add_clipping_flags(group)
    group.add_argument("--l2", type=non_negative, default=defaults.l2, metavar="LAMBDA",
                       help="L2 weight penalty lambda/2*sum(W^2) (0 = none)")
    if patience:
        group.add_argument("--patience", type=non_negative_int, default=defaults.patience,
                           help="early stopping: checkpoints without a lower validation "
                                "loss before stopping (0 = off)")
    if stop:
        group.add_argument("--holdout", type=holdout_folds, default=defaults.holdout,
                           metavar="K",
                           help="1/K of the training set is held out as the validation set "
                                "the checkpoints report (stratified, the same for every "
                                "--seed); 0 = none: train on every training row, the "
                                "checkpoints report the training loss")
        group.add_argument("--stop-loss", type=non_negative, default=defaults.stop_loss,
                           metavar="LOSS",
                           help="the textbook's StopLoss: stop at the first checkpoint whose "
                                "validation loss is <= LOSS (0 = off)")
        group.add_argument("--stop-diff", type=non_negative, default=defaults.stop_diff,
                           metavar="DIFF",
                           help="the textbook's StopDiff: stop when the validation loss "
                                "changes by less than DIFF between two checkpoints (0 = off)")
    group.add_argument("--checkpoint", type=positive_float, default=defaults.checkpoint,
                       metavar="EPOCHS",
                       help="epochs between checkpoints (validation + a log line)")
    group.add_argument("--keep", choices=("best", "last"), default=defaults.keep,
                       help="weights kept after training: the checkpoint with the lowest "
                            "validation loss, or the last ones")
    if seed:
        group.add_argument("--seed", type=non_negative_int, default=1,
                           help="seed of the initial weights, the batch order and dropout")


def add_clipping_flags(group):
    """--clip-norm, --clip-value: gradient clipping (``HyperParameters`` clip_norm /
    clip_value; ``clipping_fields`` turns them into those fields)."""
    group.add_argument("--clip-norm", type=non_negative, default=0.0, metavar="C",
                       help="clip every step's gradients to a global norm of at most C "
                            "(PyTorch's clip_grad_norm_, Keras's global_clipnorm; 0 = off)")
    group.add_argument("--clip-value", type=non_negative, default=0.0, metavar="V",
                       help="clip every gradient value to [-V, V] (clip_grad_value_, "
                            "Keras's clipvalue; 0 = off)")


def clipping_fields(args):
    """The HyperParameters fields --clip-norm / --clip-value ask for ({} when off)."""
    if args.clip_norm and args.clip_value:
        raise UsageError("--clip-norm and --clip-value: give one of them (clip by the global "
                         "norm, or each value)")
    return {field: value for field, value in (("clip_norm", args.clip_norm),
                                              ("clip_value", args.clip_value)) if value}


def add_data_flags(group, datasets, dataset_aliases=(), metavar=None, default=None):
    """--dataset, --data-dir, --download; with ``metavar`` the choices are listed in
    the help rather than in the usage line (for a long list)."""
    listed = f": {', '.join(datasets)}" if metavar else ""
    group.add_argument("--dataset", *dataset_aliases, dest="dataset", choices=tuple(datasets),
                       default=default or datasets[0], metavar=metavar,
                       help="which data set" + listed)
    group.add_argument("--data-dir", default=None, metavar="DIR",
                       help="data root (default: $MINIFRAMEWORK_DATA, else "
                            "~/.cache/miniframework)")
    group.add_argument("--download", action="store_true",
                       help="download missing data files (checksummed)")


def add_weights_flags(group):
    """--save, --no-save, --load."""
    group.add_argument("--save", default=None, metavar="PATH",
                       help="where to save the trained net (HDF5, with its data options); "
                            "RUN is the run name (see --name) (default: weights/RUN.h5)")
    group.add_argument("--no-save", action="store_true", help="do not save the trained net")
    group.add_argument("--load", default=None, metavar="PATH",
                       help="evaluate a saved net on the test set instead of training")


def add_output_flags(group, name_help=None, verbose_help=None, plot_help=None,
                     no_plots_help=None, overwrite_help=None):
    """--plot-dir, --no-plots, --metrics-json, --name, --overwrite, --verbose, --quiet;
    apps of another shape (sweeps) say what their run name, files and log levels are."""
    group.add_argument("--plot-dir", default="out", metavar="DIR",
                       help=plot_help or "folder for the PNG plots, named RUN_KIND.png")
    group.add_argument("--no-plots", action="store_true",
                       help=no_plots_help or "write no PNG (faster, e.g. to score saved "
                                             "nets in a script)")
    group.add_argument("--metrics-json", default=None, metavar="PATH",
                       help="also write the JSON result object to this file")
    group.add_argument("--name", default=None, metavar="RUN",
                       help=name_help or "run name: the weights file weights/RUN.h5, the "
                            "plots RUN_KIND.png and the JSON line (default: "
                            "APP_DATASET[_ARCH][_textbook-run]_seedS when training; with "
                            "--load the file's name + _load)")
    group.add_argument("--overwrite", action="store_true",
                       help=overwrite_help or "replace the files of an earlier run with the "
                            "same name (weights, plots, --metrics-json); without it such a "
                            "run is refused before any work")
    group.add_argument("--verbose", type=int, choices=VERBOSE_LEVELS, default=1,
                       help=verbose_help or "0: only the JSON line; 1: log lines, and a "
                            "progress bar on a terminal (none if TQDM_DISABLE is set); 2: "
                            "log lines only")
    group.add_argument("--quiet", dest="verbose", action="store_const", const=0,
                       default=argparse.SUPPRESS, help="the same as --verbose 0")


def add_insight_flags(group):
    """--tensorboard, --export-onnx (``apps.support.insight`` does what they ask)."""
    group.add_argument("--tensorboard", default=None, metavar="DIR",
                       help="write TensorBoard event files to DIR: losses, metrics and the "
                            "learning rate at every checkpoint, histograms of weights, "
                            "gradients and activations (view: tensorboard --logdir DIR)")
    group.add_argument("--export-onnx", default=None, metavar="PATH",
                       help="also write the final (or --load-ed) net as an ONNX model, "
                            "for onnxruntime, Netron or another framework")


# ---------------------------------------------------------------- flag types
def _number(text, kind, check, what):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value) or not check(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text):
    """An integer > 0 (``--epochs 0`` is refused: a run that trains nothing)."""
    return _number(text, int, lambda v: v > 0, "a positive integer")


def non_negative_int(text):
    """An integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text):
    """A finite number > 0."""
    return _number(text, float, lambda v: v > 0, "a positive number")


def non_negative(text):
    """A finite number >= 0."""
    return _number(text, float, lambda v: v >= 0, "a non-negative number")


def ratio(text):
    """A finite number in [0, 1)."""
    return _number(text, float, lambda v: 0 <= v < 1, "a ratio in [0, 1)")


def holdout_folds(text):
    """0 (no validation set) or an integer K >= 2 (1/K held out)."""
    return _number(text, int, lambda v: v == 0 or v >= 2, "0 or an integer >= 2")


def hidden_sizes(text):
    """``"128,64"`` -> (128, 64); ``""`` or ``"none"`` -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}") from None
    if any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"expected positive widths, got {text!r}")
    return sizes


def parse_schedule(spec, epochs):
    """Turn a ``--lr-schedule`` spec into a config dict for ``make_schedule``."""
    name, _, rest = spec.strip().lower().partition(":")
    if name == "warmup":
        return _warmup_config(spec, rest, epochs)
    args = rest.split(":") if rest else []
    try:
        config = _schedule_config(name, args, epochs)
    except ValueError:
        config = None
    if config is None:
        raise UsageError(f"--lr-schedule: cannot read {spec!r}; expected constant, "
                         "cosine[:MIN_LR], step:EPOCHS[:GAMMA], multistep:E1,E2[:GAMMA], "
                         "exponential:GAMMA or polynomial[:POWER]")
    return config


def _warmup_config(spec, rest, epochs):
    """``warmup:EPOCHS[:START][,SPEC]``: the warm-up, then SPEC over the epochs left."""
    head, _, then = rest.partition(",")
    parts = head.split(":")
    try:
        warm = int(parts[0])
        start = float(parts[1]) if len(parts) == 2 else 1 / 3
        if warm < 1 or not 0 < start <= 1 or len(parts) > 2:
            raise ValueError
    except ValueError:
        raise UsageError(f"--lr-schedule: cannot read {spec!r}; expected "
                         f"warmup:EPOCHS[:START],SPEC with EPOCHS >= 1 and 0 < START <= 1, "
                         f"e.g. warmup:5,cosine") from None
    return {"name": "warmup", "epochs": warm, "start_factor": start,
            "then": parse_schedule(then or "constant", max(1, epochs - warm))}


def _schedule_config(name, args, epochs):
    if name in ("constant", "none") and not args:
        return {"name": "constant"}
    if name == "cosine" and len(args) <= 1:
        return {"name": "cosine", "total_epochs": epochs,
                "min_lr": float(args[0]) if args else 0.0}
    if name == "step" and 1 <= len(args) <= 2:
        return {"name": "step", "step_size": int(args[0]),
                "gamma": float(args[1]) if len(args) > 1 else 0.5}
    if name in ("multistep", "multi_step") and 1 <= len(args) <= 2:
        return {"name": "multi_step", "milestones": [int(m) for m in args[0].split(",")],
                "gamma": float(args[1]) if len(args) > 1 else 0.1}
    if name == "exponential" and len(args) == 1:
        return {"name": "exponential", "gamma": float(args[0])}
    if name == "polynomial" and len(args) <= 1:
        return {"name": "polynomial", "total_epochs": epochs,
                "power": float(args[0]) if args else 1.0}
    return None
