"""The one run every app makes: parse -> data -> train or load -> evaluate -> plots -> JSON.

An app is a subclass of ``App`` that says what is its own (its defaults and
extra flags, how to read its data, its net's layer specs, its metrics and
plots); ``run_app`` does the rest in the same order for every app:

1. parse the flags and check them: hyper-parameters and output targets are
   validated before any data is read (a bad ``--save`` costs no training);
2. with ``--load``, load the net and the data options saved with it;
3. read the data as those options say;
4. otherwise train: the memory the net would need is checked before it is
   built, then it trains (Ctrl-C: the best weights so far are saved, one line,
   exit 130) and is saved;
5. evaluate on the test set, once; write the plots (unless ``--no-plots``);
6. print the JSON result line (metrics and the run's settings).

Errors a user can cause become one line on stderr, ``<app>: error: <message>``,
never a traceback. Exit status: 0 done, 1 the run failed (missing or damaged
data or weights, a net that did not train), 2 a usage error (a bad flag),
130 interrupted.
"""
import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from framework import WeightsFileError, plot_history

from apps.support.plots import plot_path

from . import insight, output, targets, training, weights
from .flags import EXIT_USAGE, UsageError, make_parser

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
VALIDATION_FOLDS = 10       # 1/10 of the training set is the validation set
VALIDATION_SEED = 0         # the same split for every --seed


@dataclass
class Run:
    """Everything one run of an app knows, handed to the app's methods."""

    app: object
    args: object
    log: object
    options: dict
    net: object = None
    reader: object = None
    trained: object = None          # a training.TrainedNet when the app trained
    weights: object = None          # the path saved to or loaded from
    name: str = ""
    plots: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)     # app-specific fields of the JSON line
    scratch: dict = field(default_factory=dict)   # what one step leaves for a later one

    @property
    def history(self):
        """The training history, or None after --load."""
        return None if self.trained is None else self.trained.history

    def plot_path(self, kind):
        """Where the PNG of ``kind`` goes (the run's name is in the file name); the
        path is listed in the JSON line."""
        path = plot_path(self.args.plot_dir, self.name, kind)
        self.plots.append(path)
        return path


class App:
    """What one app is: override the attributes and the methods marked "the app's"."""

    name = "app"
    description = ""
    epilog = None
    datasets = ("default",)         # --dataset choices, the first is the default
    dataset_aliases = ()            # older names of --dataset
    data_flags = ("dataset",)       # flags (dests) whose values are the data options
    net_type = None                 # a framework.NetType
    DEFAULTS = None                 # a flags.AppDefaults

    # ----- the app's ---------------------------------------------------------
    def defaults(self, argv):
        """The AppDefaults for this command line (an app may pick them by --arch)."""
        return self.DEFAULTS

    def add_flags(self, group, argv):
        """Add the app's own flags to ``group`` (an argparse argument group); ``argv``
        is there for defaults that depend on other flags."""

    def read_data(self, run):
        """Return the reader for ``run.options``, read and normalized."""
        raise NotImplementedError

    def specs(self, run):
        """(layer specs, input shape) of the net to train on ``run.reader``."""
        raise NotImplementedError

    def data_options(self, args):
        """The options the data is prepared with (saved with the weights): by default
        the values of the ``data_flags``."""
        return {key: getattr(args, key) for key in self.data_flags}

    def stopper(self, args):
        """The textbook's Stopper for HyperParameters, or None."""
        return None

    def evaluate(self, run):
        """Measure ``run.net`` on the test set once; return the metrics dict."""
        raise NotImplementedError

    def plots(self, run, metrics):
        """Write the app's PNGs (paths from ``run.plot_path(kind)``)."""

    def name_parts(self, args):
        """Extra parts of the default run name (e.g. the architecture)."""
        return ()

    # ----- shared, an app may extend --------------------------------------------
    def train(self, run, params):
        """Train one net; apps that restart or guard override this."""
        return self.train_net(run, params)

    def train_net(self, run, params, callbacks=(), summary=True):
        """Check the memory, build the net from ``specs`` and train it."""
        specs, input_shape = self.specs(run)
        training.check_memory(params, specs, input_shape)
        net = training.build_net(params, specs, input_shape, run.options["dataset"])
        if summary:
            run.log(net.summary())
        return training.train(net, run.reader, run.args, callbacks)

    def make_parser(self, argv):
        """The shared flags with this app's defaults, then the app's own."""
        parser = make_parser(self.name, self.description, self.defaults(argv), self.datasets,
                             self.epilog, self.dataset_aliases)
        self.add_flags(parser.add_argument_group(self.name), argv)
        return parser


def run_app(app, argv=None):
    """Run ``app`` on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_guarded(app.name, lambda: _run(app, argv))


def run_guarded(name, body):
    """``body()``'s exit status, the errors a user can cause turned into one line
    ``<name>: error: <message>`` on stderr and an exit status (see the module
    docstring). Every app's main goes through here, sweeps included."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        return body()
    except UsageError as error:
        return _fail(name, error, EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except (ValueError, OSError, ImportError, MemoryError, WeightsFileError) as error:
        # DataFileError is a ValueError
        return _fail(name, error, EXIT_FAILED)


def _fail(name, error, status):
    message = " ".join(str(error).split()) or type(error).__name__
    message = message.replace("pass download=True", "pass --download")
    print(f"{name}: error: {message}", file=sys.stderr, flush=True)
    return status


def _run(app, argv):
    started = time.perf_counter()
    parser = app.make_parser(argv)
    args = parser.parse_args(argv)
    params = None if args.load else training.make_params(args, app.net_type,
                                                         app.stopper(args))
    _check_targets(args)
    run = Run(app, args, output.Log(args.verbose), app.data_options(args))
    if args.load:
        preprocessing = _load(run, _given(parser, argv, app.data_flags))
    run.reader = app.read_data(run)
    if args.load:
        weights.check_same_data(args.load, preprocessing, run.reader)
    else:
        _train(run, params)
        if run.trained.interrupted:
            return _interrupted(run)
    metrics = app.evaluate(run)
    insight.export_onnx(run)
    if not args.no_plots:
        app.plots(run, metrics)
        if run.history is not None and len(run.history):
            _plot_history(run)
        run.log("plots: " + ", ".join(str(p) for p in run.plots))
    output.write_result(_result(run, metrics, time.perf_counter() - started),
                        args.metrics_json)
    return 0


def _train(run, params):
    """Train on the reader's training set (1/10 held out for validation); save."""
    app, args = run.app, run.args
    run.reader.generate_validation_set(k=VALIDATION_FOLDS, seed=VALIDATION_SEED)
    run.name = args.name or "_".join(
        [app.name, run.options["dataset"], *app.name_parts(args), f"seed{args.seed}"])
    run.trained = app.train(run, params)
    run.net = run.trained.net
    run.log(training.describe_stop(run.trained, args.keep))
    run.weights = _save(run)


def _check_targets(args):
    """Every output path, before any work (a bad one is a usage error)."""
    if args.save and not args.no_save and not args.load:
        targets.check_file_target("--save", args.save)
    if not args.no_plots:
        targets.check_folder_target("--plot-dir", args.plot_dir)
    if args.metrics_json:
        targets.check_file_target("--metrics-json", args.metrics_json)
    insight.check(args)


def _given(parser, argv, keys):
    """Which of the flags (dests) ``keys`` are given in ``argv``: argparse leaves
    alone an attribute the namespace already has unless the flag is given."""
    unset = object()
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(keys, unset)))
    return {key for key in keys if getattr(args, key) is not unset}


def _load(run, given):
    """The saved net and its data options; a data flag ``given`` against them is
    refused. Returns the reader preprocessing saved with the net."""
    net, saved, preprocessing = weights.load_net(run.args.load, run.app.name)
    missing = sorted(set(run.options) - set(saved))
    if missing:
        raise ValueError(f"{run.args.load}: its saved data options lack {missing}; "
                         f"train and save it again with {run.app.name}")
    for key in sorted(given):
        if getattr(run.args, key) != saved.get(key):
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {getattr(run.args, key)}: {run.args.load} was trained "
                             f"with {flag} {saved.get(key)}")
    run.options = {key: saved[key] for key in run.options}
    run.log(f"data options saved with {run.args.load}: {run.options}")
    run.net, run.weights = net, run.args.load
    run.name = run.args.name or "_".join(
        [run.app.name, run.options["dataset"], "load", Path(run.args.load).stem])
    return preprocessing


def _save(run):
    """Save the trained net where --save says (unless --no-save); return the path or None."""
    args = run.args
    if args.no_save or not args.save:
        return None
    weights.save_net(run.net, args.save, run.app.name, run.options, run.reader)
    run.log(f"saved {args.save}")
    return args.save


def _interrupted(run):
    epoch = run.net.epoch
    saved = f"saved the weights to {run.weights}" if run.weights else "nothing saved"
    print(f"{run.app.name}: interrupted at epoch {epoch}; {saved}", file=sys.stderr,
          flush=True)
    return EXIT_INTERRUPTED


def _plot_history(run):
    """Loss and accuracy (R²) per checkpoint; the best marked only if it was kept."""
    plot_history(run.history, run.plot_path("history"), run_name=run.name,
                 net_type=run.net.params.net_type, mark_best=run.args.keep == "best")


def _result(run, metrics, total_seconds):
    """The JSON line: what ran, on what, with which settings, and what it measured."""
    args, trained = run.args, run.trained
    result = {"app": run.app.name, "run": run.name, "mode": "load" if args.load else "train",
              "dataset": run.options["dataset"], "data": run.options,
              "settings": training.settings(run.net, None if args.load else args),
              "metrics": metrics,
              "train_seconds": None if trained is None else round(trained.seconds, 3),
              "total_seconds": round(total_seconds, 3),
              "weights": None if run.weights is None else str(run.weights),
              "plots": [str(p) for p in run.plots]}
    if trained is not None:
        result.update(epochs_run=run.net.epoch, stop_reason=trained.history.stop_reason,
                      best_epoch=trained.history.best_epoch)
    result.update(run.extra)
    return result
