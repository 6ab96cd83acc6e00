"""What every app shares: flags, hyper-parameters, the training run and the result line.

An app describes itself with an ``AppDefaults`` (its textbook net and
hyper-parameters), builds its parser with ``make_parser``, and hands its
``main(argv)`` to ``run_app``, which turns the errors a user can cause (a bad
flag value, a missing or damaged data or weights file) into one line on
stderr, ``<app>: error: <message>``, and exit status 2, never a traceback.

The last line an app prints is one JSON object (``result_line``): the
metrics, the seconds spent and the weights path, the same object that
``--metrics-json`` writes, so scripts can read either.
"""
import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass
class AppDefaults:
    """An app's default net and hyper-parameters (the textbook's unless noted)."""

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
    save: str = None
    extra: dict = field(default_factory=dict)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the uninformative None and False of optional flags."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``), not the usage block."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def make_parser(prog, description, defaults, epilog=None):
    """A parser with every flag the apps share; an app adds its own flags after."""
    parser = _Parser(prog=prog, description=description, epilog=epilog,
                     formatter_class=_HelpFormatter)
    net = parser.add_argument_group("net")
    net.add_argument("--hidden", type=hidden_sizes,
                     default=",".join(str(size) for size in defaults.hidden),
                     metavar="N,N,...",
                     help="hidden layer widths, comma-separated (e.g. 256,128)")
    net.add_argument("--activation", default=defaults.activation,
                     choices=("relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus"),
                     help="hidden-layer activation")
    net.add_argument("--init", default=defaults.init,
                     help="weight init: zero, normal, uniform, xavier, xavier_normal, "
                          "msra (he), msra_uniform")
    net.add_argument("--bn", action="store_true",
                     help="insert a batch-norm layer after each hidden FC layer "
                          "(before its activation)")
    net.add_argument("--dropout", type=ratio, default=defaults.dropout, metavar="P",
                     help="insert dropout with this drop ratio after each hidden "
                          "activation (0 = none)")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=positive_int, default=defaults.epochs,
                       help="maximum number of epochs")
    train.add_argument("--batch-size", type=positive_int, default=defaults.batch_size,
                       help="mini-batch size")
    train.add_argument("--lr", type=float, default=defaults.lr, help="base learning rate")
    train.add_argument("--optimizer", default=defaults.optimizer,
                       help="sgd, momentum, nag, adagrad, adadelta, rmsprop or adam")
    train.add_argument("--lr-schedule", default=defaults.lr_schedule, metavar="SPEC",
                       help="constant | cosine[:MIN_LR] (over --epochs) | step:EPOCHS[:GAMMA] "
                            "| multistep:E1,E2,...[:GAMMA] | exponential:GAMMA "
                            "| polynomial[:POWER] (over --epochs)")
    train.add_argument("--l2", type=non_negative, default=defaults.l2, metavar="LAMBDA",
                       help="L2 weight penalty lambda/2*sum(W^2) (0 = none)")
    train.add_argument("--patience", type=non_negative_int, default=defaults.patience,
                       help="early stopping: checkpoints without a lower validation "
                            "loss before stopping (0 = off)")
    train.add_argument("--checkpoint", type=positive_float, default=defaults.checkpoint,
                       metavar="EPOCHS", help="epochs between checkpoints (validation + "
                                              "a progress line)")
    train.add_argument("--keep", choices=("best", "last"), default=defaults.keep,
                       help="weights kept after training: the checkpoint with the lowest "
                            "validation loss, or the last ones")
    train.add_argument("--seed", type=non_negative_int, default=1,
                       help="seed of initial weights, batch order and dropout noise")
    files = parser.add_argument_group("files")
    files.add_argument("--data-dir", default=None, metavar="DIR",
                       help="data root (default: $MINIFRAMEWORK_DATA, else "
                            "~/.cache/miniframework)")
    files.add_argument("--download", action="store_true",
                       help="download missing data files (checksummed)")
    files.add_argument("--save", default=defaults.save, metavar="PATH",
                       help="where to save the trained net (HDF5)")
    files.add_argument("--no-save", action="store_true", help="do not save the trained net")
    files.add_argument("--load", default=None, metavar="PATH",
                       help="evaluate a saved net on the test set instead of training")
    files.add_argument("--plot-dir", default="out", metavar="DIR",
                       help="folder for the PNG plots")
    files.add_argument("--metrics-json", default=None, metavar="PATH",
                       help="also write the final JSON result object to this file")
    files.add_argument("--quiet", action="store_true",
                       help="print only the final JSON line (no progress bar or log)")
    return parser


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
    return _number(text, int, lambda v: v > 0, "a positive integer")


def non_negative_int(text):
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text):
    return _number(text, float, lambda v: v > 0, "a positive number")


def non_negative(text):
    return _number(text, float, lambda v: v >= 0, "a non-negative number")


def ratio(text):
    return _number(text, float, lambda v: 0 <= v < 1, "a ratio in [0, 1)")


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
    args = rest.split(":") if rest else []
    try:
        if name in ("constant", "none") and not args:
            return {"name": "constant"}
        if name == "cosine" and len(args) <= 1:
            return {"name": "cosine", "total_epochs": epochs,
                    "min_lr": float(args[0]) if args else 0.0}
        if name == "step" and 1 <= len(args) <= 2:
            return {"name": "step", "step_size": int(args[0]),
                    "gamma": float(args[1]) if len(args) > 1 else 0.5}
        if name in ("multistep", "multi_step") and 1 <= len(args) <= 2:
            return {"name": "multi_step",
                    "milestones": [int(m) for m in args[0].split(",")],
                    "gamma": float(args[1]) if len(args) > 1 else 0.1}
        if name == "exponential" and len(args) == 1:
            return {"name": "exponential", "gamma": float(args[0])}
        if name == "polynomial" and len(args) <= 1:
            return {"name": "polynomial", "total_epochs": epochs,
                    "power": float(args[0]) if args else 1.0}
    except ValueError:
        pass
    raise ValueError(f"--lr-schedule: cannot read {spec!r}; expected constant, "
                     "cosine[:MIN_LR], step:EPOCHS[:GAMMA], multistep:E1,E2[:GAMMA], "
                     "exponential:GAMMA or polynomial[:POWER]")


# ------------------------------------------------------ hyper-parameters, net
def make_params(args, net_type, stopper=None):
    """HyperParameters from the parsed flags (it validates every value)."""
    from framework import HyperParameters
    # Early stopping (--patience) is done by the training callback, not by
    # RegularMethod.EARLY_STOP, so that it combines with --l2.
    regular = ("l2", args.l2) if args.l2 > 0 else ("nothing", 0.0)
    return HyperParameters(
        learning_rate=args.lr, max_epoch=args.epochs, batch_size=args.batch_size,
        net_type=net_type, init_method=args.init, optimizer_name=args.optimizer,
        stopper=stopper, regular_name=regular[0], regular_value=regular[1],
        lr_schedule=parse_schedule(args.lr_schedule, args.epochs), seed=args.seed)


def build_mlp(params, name, num_input, hidden, num_output, activation="relu",
              batch_norm=False, dropout=0.0, classifier=None):
    """The textbook's stack: (FC [+BN] + activation [+dropout]) per hidden layer,
    then an output FC and, for classifiers, a softmax/logistic layer."""
    from framework import NeuralNet, mlp_specs
    specs = mlp_specs(hidden, num_output, activation, batch_norm, dropout, classifier)
    return NeuralNet.from_specs(params, specs, num_input, name)


# ------------------------------------------------------------------ training
INTERRUPTED = "interrupted"
_interrupted = []       # set by train(): run_app then ends with status 130


def _stop_if_callback(stop_if):
    """``stop_if(net, record) -> reason or None`` as a framework Callback."""
    from framework.callbacks import Callback

    class StopIf(Callback):
        """Stops when the app's own rule gives a reason."""

        def on_checkpoint(self, net, record):
            reason = stop_if(net, record)
            if reason is not None:
                self.stop(net, reason)

    return StopIf()


def train(net, reader, args, log, stop_if=None, callbacks=()):
    """Train with the library's callbacks; return (history, seconds).

    ``--patience`` is an ``EarlyStopping``; the bar and the checkpoint lines are
    the loop's own (``verbose``: 0 with --quiet, else 1: a bar only on a
    terminal). ``stop_if(net, record)`` may return a reason to stop at a
    checkpoint. After a Ctrl-C the net holds the kept weights and the app goes
    on to save them; ``run_app`` then exits 130. The test set is not touched
    here: the app measures it once, afterwards.
    """
    from framework.callbacks import EarlyStopping
    chosen = list(callbacks)
    if args.patience:
        chosen.append(EarlyStopping(patience=args.patience, restore_best=args.keep == "best"))
    if stop_if is not None:
        chosen.append(_stop_if_callback(stop_if))
    start = time.perf_counter()
    history = net.train(reader, checkpoint=args.checkpoint, need_test=False,
                        restore_best=args.keep == "best",
                        verbose=0 if args.quiet else getattr(args, "verbose", 1),
                        callbacks=chosen)
    seconds = time.perf_counter() - start
    if history.stop_reason == INTERRUPTED:
        _interrupted.append(history)
    log(f"training stopped: {history.stop_reason}; {seconds:.1f} s; "
        + (f"kept the best checkpoint (epoch {history.best_epoch:.2f})"
           if args.keep == "best" and history.best_epoch is not None
           else "kept the last weights"))
    return history, seconds


# ------------------------------------------------------------ files, output
def save_trained(net, args, data_options, app, log):
    """Save the trained net where --save says (unless --no-save); return the path or None."""
    path = None if args.no_save or not args.save else Path(args.save)
    if path is not None:
        save_net(net, path, data_options, app)
        log(f"saved {path}")
    return path


def meta_path(weights):
    """The JSON sidecar next to a weights file: how the app prepared its data."""
    weights = Path(weights)
    return weights.with_name(weights.name + ".json")


def save_net(net, path, data_options, app):
    """Save the net and a sidecar with the data options needed to evaluate it again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    net.save(path)
    meta = {"app": app, "data": data_options}
    tmp = meta_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp, meta_path(path))


def load_net(path, app, log):
    """Load a saved net; return (net, data options from its sidecar or None)."""
    from framework import NeuralNet
    net = NeuralNet.load(path)
    meta, options = meta_path(path), None
    if meta.is_file():
        try:
            info = json.loads(meta.read_text())
            options = info["data"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{meta}: not a valid sidecar file ({error})") from None
        if info.get("app") not in (None, app):
            raise ValueError(f"{path}: saved by {info.get('app')}, not {app}")
        log(f"data options from {meta}: {json.dumps(options)}")
    return net, options


def load_if_asked(args, app, log, options):
    """With --load: the saved net, its sidecar's data options merged into ``options``
    (so the test data is prepared as in training); otherwise None."""
    if not args.load:
        return None
    net, saved = load_net(args.load, app, log)
    options.update(saved or {})
    return net


def plot_file(args, name):
    folder = Path(args.plot_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def plot_history(history, args, name, plots):
    """Write the training-history PNG (if the app trained) and add it to ``plots``."""
    if history is not None and len(history):
        plots.append(plot_file(args, name))
        history.plot(plots[-1])


def result_line(args, app, metrics, train_seconds, total_seconds, weights, plots,
                extra=None):
    """Print the final JSON object (the last line) and write it to --metrics-json."""
    result = {"app": app, "mode": "load" if args.load else "train", "metrics": metrics,
              "train_seconds": None if train_seconds is None else round(train_seconds, 3),
              "total_seconds": round(total_seconds, 3),
              "weights": None if weights is None else str(weights),
              "plots": [str(p) for p in plots]}
    result.update(extra or {})
    text = json.dumps(result)
    if args.metrics_json:
        target = Path(args.metrics_json)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")
    print(text, flush=True)
    return result


def make_log(args):
    def log(message):
        if not args.quiet:
            print(message, flush=True)
    return log


def run_app(name, main, argv=None):
    """Run ``main(argv)``; expected errors become one stderr line and exit status 2."""
    from datareaders import DataFileError
    from framework import WeightsFileError
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        status = main(sys.argv[1:] if argv is None else argv)
    except (ValueError, OSError, DataFileError, WeightsFileError, ImportError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        message = message.replace("pass download=True", "pass --download")
        print(f"{name}: error: {message}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    if _interrupted:        # Ctrl-C during training: the app saved what it had
        _interrupted.clear()
        print(f"{name}: interrupted; training stopped after its current step", file=sys.stderr,
              flush=True)
        return EXIT_INTERRUPTED
    return status or 0


def add_repo_to_path():
    """Let ``python apps/x.py`` import the project from a plain checkout too."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.append(root)
