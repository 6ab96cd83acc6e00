"""The one run every app makes: parse -> check -> data -> train or load -> evaluate -> plots -> JSON.

An app is a subclass of ``App`` that says what is its own (its defaults and
extra flags, how to read its data, its net's layer specs, its metrics and
plots); ``run_app`` does the rest in the same order for every app:

1. parse the flags and check them: a contradiction (``--no-save --save x``)
   is refused, a flag that this run does not use (``--epochs`` with
   ``--load``, ``--channels`` with ``--arch mlp``) is named in a warning on
   stderr and in the JSON line's ``warnings``;
2. with ``--load``, load the net and the data options saved with it;
3. name the run, then check every output target before any data is read:
   the weights file, each plot file and ``--metrics-json`` (a bad path, an
   unwritable folder, or a file of an earlier run that ``--overwrite`` does
   not allow to replace, costs no training);
4. read the data as the options say;
5. otherwise train: the memory the net would need is checked before it is
   built, then it trains on the training set less the 1/--holdout validation
   rows (Ctrl-C: the best weights so far are saved, one line, exit 130) and is
   saved;
6. evaluate on the test set, once; write the plots (unless ``--no-plots``);
7. print the JSON result line (metrics and the run's settings).

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

from datareaders.errors import DataFileError
from framework import WeightsFileError, plot_history

from . import insight, output, targets, training, weights
from .flags import EXIT_USAGE, UsageError, make_parser
from .plots import plot_file, plot_path

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
VALIDATION_FOLDS = 10       # by default 1/10 of the training set is the validation set
VALIDATION_SEED = 0         # the same split for every --seed
TEXTBOOK_PART = "textbook-run"      # the run-name part of --textbook runs
# argument groups whose flags only matter when a net is trained (ignored with --load)
TRAINING_GROUPS = ("net", "training")
DATA_HINT = ("data is looked for in --data-dir DIR, else in $MINIFRAMEWORK_DATA ({env}), "
             "else in ~/.cache/miniframework; put the files there, or point "
             "MINIFRAMEWORK_DATA or --data-dir at the folder that holds them")


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
    save_path: object = None        # where the trained net goes (None: not saved)
    name: str = ""
    plot_kinds: tuple = ()          # the PNGs this run writes, checked before any work
    plots: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)     # app-specific fields of the JSON line
    scratch: dict = field(default_factory=dict)   # what one step leaves for a later one

    @property
    def history(self):
        """The training history, or None after --load."""
        return None if self.trained is None else self.trained.history

    @property
    def loading(self):
        """True for a --load run (nothing is trained)."""
        return bool(self.args.load)

    def plot_path(self, kind):
        """Where the PNG of ``kind`` goes (the run's name is in the file name); the
        path is listed in the JSON line. Only kinds declared by ``App.plot_kinds``
        (checked before any work) may be written."""
        if kind not in self.plot_kinds:
            raise ValueError(f"{self.app.name}: plot {kind!r} was not declared by "
                             f"plot_kinds {self.plot_kinds}, so its file was not checked")
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
    training_flags = ()             # the app's own flags (dests) used only when training
    net_type = None                 # a framework.NetType
    DEFAULTS = None                 # a flags.AppDefaults
    TEXTBOOK = None                 # the textbook's own run (--textbook), or None

    # ----- the app's ---------------------------------------------------------
    def own_defaults(self, argv):
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

    def check_flags(self, args, given):
        """Refuse (UsageError) a combination of this app's flags that cannot describe
        a run; return [(flags, why they are ignored), ...] for the flags ``given``
        on the command line that this run does not use."""
        return []

    def evaluate(self, run):
        """Measure ``run.net`` on the test set once; return the metrics dict."""
        raise NotImplementedError

    def plot_kinds(self, run):
        """The kinds of PNG ``plots`` writes for ``run`` (``run.options`` are set)."""
        return ()

    def plots(self, run, metrics):
        """Write the app's PNGs (paths from ``run.plot_path(kind)``)."""

    def name_parts(self, args):
        """Extra parts of the default run name (e.g. the architecture)."""
        return ()

    # ----- shared, an app may extend --------------------------------------------
    def defaults(self, argv):
        """The textbook's settings with --textbook, else ``own_defaults(argv)``."""
        if self.TEXTBOOK is not None and textbook_asked(argv):
            return self.TEXTBOOK
        return self.own_defaults(argv)

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
        """The shared flags with this app's defaults, then the app's own (``add_flags``
        takes their defaults from ``self.defaults(argv).extra``)."""
        defaults = self.defaults(argv)
        parser = make_parser(self.name, self.description, defaults, self.datasets,
                             self.epilog, self.dataset_aliases)
        group = parser.add_argument_group(self.name)
        if self.TEXTBOOK is not None:
            group.add_argument("--textbook", action="store_true",
                               help="the textbook's own run: its net, optimizer, learning "
                                    "rate, batch size, epochs and stop condition become the "
                                    "defaults (see them with --textbook --help); a flag "
                                    "given explicitly still wins")
        self.add_flags(group, argv)
        return parser


def textbook_asked(argv):
    """True if ``argv`` holds --textbook (read before the parser is built)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--textbook", action="store_true")
    return pre.parse_known_args(argv)[0].textbook


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
    if _data_missing(error, message):
        message += " (" + DATA_HINT.format(env=describe_data_env()) + ")"
    print(f"{name}: error: {message}", file=sys.stderr, flush=True)
    return status


def _data_missing(error, message):
    """Whether a data file is absent or could not be fetched (and the message does
    not say yet where data is looked for)."""
    return isinstance(error, DataFileError) and "MINIFRAMEWORK_DATA" not in message \
        and ("file not found" in message or "download failed" in message)


def describe_data_env():
    """What $MINIFRAMEWORK_DATA is set to here, for hints."""
    value = os.environ.get("MINIFRAMEWORK_DATA")
    return f"now {value}" if value else "not set here"


def warn(name, text):
    """One warning line on stderr: ``<app>: warning: <text>``."""
    print(f"{name}: warning: {text}", file=sys.stderr, flush=True)


def _run(app, argv):
    started = time.perf_counter()
    parser = app.make_parser(argv)
    args = parser.parse_args(argv)
    given = given_flags(parser, argv, [a.dest for a in parser._actions])
    ignored = _check_flags(app, parser, args, given)
    params = None if args.load else training.make_params(args, app.net_type)
    run = Run(app, args, output.Log(args.verbose), app.data_options(args))
    if args.load:
        preprocessing = _load(run, given)
    run.name = args.name or _default_name(run)
    run.plot_kinds = _plot_kinds(run)
    run.save_path = _save_path(run)
    _check_targets(run)
    for flags_text, why in ignored:
        run.warnings.append(f"{flags_text} ignored: {why}")
        warn(app.name, run.warnings[-1])
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


# ------------------------------------------------------------------ flags
def given_flags(parser, argv, keys):
    """Which of the flags (dests) ``keys`` are given in ``argv``: argparse leaves
    alone an attribute the namespace already has unless the flag is given."""
    unset = object()
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(keys, unset)))
    return {key for key in keys if getattr(args, key) is not unset}


def flag_names(parser, dests):
    """The flags (``--batch-size``) of the dests, in the parser's order."""
    names = []
    for action in parser._actions:
        if action.dest in dests and action.option_strings:
            flag = action.option_strings[-1] if action.dest == "verbose" \
                else action.option_strings[0]
            if flag not in names:
                names.append(flag)
    return names


def _check_flags(app, parser, args, given):
    """Refuse contradictions; return [(flags, why), ...] for flags given but unused."""
    if args.no_save and "save" in given:
        raise UsageError("--save and --no-save contradict each other; give one of them")
    ignored = []
    if args.load:
        unused = {a.dest for g in parser._action_groups if g.title in TRAINING_GROUPS
                  for a in g._group_actions} | set(app.training_flags) | {"save", "no_save"}
        unused &= given
        if unused:
            ignored.append((", ".join(flag_names(parser, unused)),
                            f"--load evaluates the saved net; its architecture, training "
                            f"and data options come from {args.load}, and nothing is trained "
                            "or saved"))
    if args.no_plots and "plot_dir" in given:
        ignored.append(("--plot-dir", "--no-plots writes no plot"))
    for dests, why in app.check_flags(args, given):
        dests = [dest for dest in dests if dest in given]
        if dests and not (args.load and set(dests) <= set(app.training_flags)):
            ignored.append((", ".join(flag_names(parser, dests)), why))
    return ignored


# ---------------------------------------------------------------- targets
def _default_name(run):
    """APP_DATASET[_PARTS][_textbook-run]_seedS; with --load FILE_load when the file
    has such a name (the app's own default), else APP_DATASET_load_FILE."""
    app, args = run.app, run.args
    if args.load:
        stem = Path(args.load).stem
        if stem.startswith(f"{app.name}_{run.options['dataset']}_"):
            return f"{stem}_load"
        return "_".join([app.name, run.options["dataset"], "load", stem])
    parts = [app.name, run.options["dataset"], *app.name_parts(args)]
    if getattr(args, "textbook", False):
        parts.append(TEXTBOOK_PART)
    return "_".join(parts + [f"seed{args.seed}"])


def _plot_kinds(run):
    """The run's PNG kinds: the app's, and the history when it trains."""
    if run.args.no_plots:
        return ()
    kinds = tuple(run.app.plot_kinds(run))
    return kinds if run.loading else kinds + ("history",)


def _save_path(run):
    """Where the trained net is saved: --save, else weights/<run>.h5; None if not saved."""
    args = run.args
    if args.load or args.no_save:
        return None
    return Path(args.save) if args.save else Path("weights") / f"{_safe(run.name)}.h5"


def _safe(name):
    return plot_file(".", name, "x").name[:-len("_x.png")]


def _check_targets(run):
    """Every output file, before any data is read (a bad one is a usage error)."""
    args = run.args
    overwrite = args.overwrite
    if run.save_path is not None:
        targets.check_file_target("--save", run.save_path, overwrite,
                                  hint="pass --overwrite to replace it, or --save another "
                                       "path, or --name another run, or --no-save")
    if not args.no_plots:
        targets.check_folder_target("--plot-dir", args.plot_dir)
        for kind in run.plot_kinds:
            targets.check_file_target("--plot-dir", plot_file(args.plot_dir, run.name, kind),
                                      overwrite, hint="pass --overwrite to replace it, or "
                                      "--name another run, or another --plot-dir")
    if args.metrics_json:
        targets.check_file_target("--metrics-json", args.metrics_json, overwrite,
                                  hint="pass --overwrite to replace it")
    insight.check(args)


# ------------------------------------------------------------ train, load, save
def _train(run, params):
    """Train on the reader's training set (1/--holdout held out for validation); save."""
    if run.args.holdout:
        run.reader.generate_validation_set(k=run.args.holdout, seed=VALIDATION_SEED)
    run.trained = run.app.train(run, params)
    run.net = run.trained.net
    run.log(training.describe_stop(run.trained, run.args.keep))
    run.weights = _save(run)


def _load(run, given):
    """The saved net and its data options; a data flag ``given`` against them is
    refused. Returns the reader preprocessing saved with the net."""
    app, args = run.app, run.args
    net, saved, preprocessing = weights.load_net(args.load, app.name)
    missing = sorted(set(run.options) - set(saved))
    if missing:
        raise ValueError(f"{args.load}: its saved data options lack {missing}; "
                         f"train and save it again with {app.name}")
    for key in sorted(given & set(app.data_flags)):
        if getattr(args, key) != saved.get(key):
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {getattr(args, key)}: {args.load} was trained "
                             f"with {flag} {saved.get(key)}")
    run.options = {key: saved[key] for key in run.options}
    run.log(f"data options saved with {args.load}: {run.options}")
    run.net, run.weights = net, args.load
    return preprocessing


def _save(run):
    """Save the trained net to ``run.save_path`` (unless --no-save); return it or None."""
    if run.save_path is None:
        return None
    weights.save_net(run.net, run.save_path, run.app.name, run.options, run.reader)
    run.log(f"saved {run.save_path}")
    return run.save_path


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
              "plots": [str(p) for p in run.plots], "warnings": run.warnings}
    if trained is not None:
        result.update(epochs_run=run.net.epoch, stop_reason=trained.history.stop_reason,
                      best_epoch=trained.history.best_epoch)
    result.update(run.extra)
    return result
