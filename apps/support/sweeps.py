"""What the sweep apps (``apps/compare.py`` and every ``apps/experiments/*``) share: flags,
the run, outputs.

The experiments are apps of another shape than the training apps (a sweep of
variants x repeats instead of one net), so they compose the shared
``apps.support.flags`` (same names, types and defaults, every default in
``--help``) and end the same way: one JSON line (``output.write_result``),
one-line errors and the exit statuses of ``apps.support.skeleton``:

- 0 every run finished; 1 some runs failed ("k of N runs failed", after the
  JSON line, which lists them); 2 a usage error; 130 Ctrl-C (one line saying
  how many runs are kept; the same command resumes).

Each app runs full size by default and small with ``--quick`` (the tests use
that; a flag given explicitly wins over ``--quick``): a quick run takes
seconds but is still sized to show the experiment's lesson. MNIST comes from
the datareaders MNIST reader (``--data-dir``, else ``MINIFRAMEWORK_DATA``);
its files are looked for before any run starts, so a missing folder is one
line at once, not a failure per run. ``--dataset clusters`` (or
``--synthetic``) swaps in a seeded Gaussian-cluster set of the same shape of
problem, so the apps also run where MNIST is absent.

Outputs: the sweeps' folders ``<runs-dir>/<run>[_<part>]/`` (results.jsonl,
which a re-run resumes from, tables, curves.png); the app's figures and
Markdown tables ``<plot-dir>/<run>_<kind>.png|.md``, named by the run
(``plots.plot_path``). Every one of those files is checked before any work:
a file of an earlier run with the same name is replaced only with
``--overwrite`` (the sweeps' results.jsonl are never replaced: a re-run
resumes from them).
"""
import argparse
import os
import shutil
import sys
import time

import datareaders  # noqa: F401  (registers the data sources the specs name)
from datareaders import MnistImageDataReader
from framework.infra.compare import SweepInterrupted, compare, make_variants
from framework.infra.compare.report import format_mean_std, labelled_rows
from framework.plotting import message_figure, new_figure, save_figure

from apps.support.plots import plot_file, plot_path
from apps.support import flags, output, targets
from apps.support.skeleton import (EXIT_FAILED, EXIT_INTERRUPTED, given_flags, run_guarded,
                                   warn)

DATASETS = ("mnist", "fashion", "clusters")
DOWNLOADABLE = ("mnist", "fashion", "cifar")
DATA_DIR_SOURCES = ("mnist", "fashion", "cifar", "house")


# ------------------------------------------------------------------ flags
def make_parser(name, description, sweep=None, seed=True, quick=None, epilog=None):
    """The shared flags of an experiment; ``sweep`` (a dict of the app's defaults for
    ``epochs``, ``repeats``, ``train_size``) adds the sweep and data flags, ``quick``
    (flag dest -> value) is what ``--quick`` sets. The app adds its own flags."""
    parser = flags.new_parser(name, description, epilog)
    group = parser.add_argument_group("experiment")
    if quick:
        group.add_argument("--quick", action="store_true",
                           help=f"a tiny run in seconds (the tests use it): "
                                f"{describe_quick(quick)}; a flag given explicitly wins")
    if sweep is not None:
        add_sweep_flags(group, sweep["repeats"], seed_help="base seed: repeat k of every "
                        "variant uses seed + k (initial weights and batch order)")
        group.add_argument("--epochs", type=flags.positive_int, default=sweep["epochs"],
                           help="epochs of every run")
        data = parser.add_argument_group("data")
        flags.add_data_flags(data, DATASETS)
        add_train_size_flag(data, sweep["train_size"])
        add_synthetic_flag(data)
    elif seed:
        group.add_argument("--seed", type=flags.non_negative_int, default=1,
                           help="seed of the random inputs and weights")
    add_outputs(parser.add_argument_group("output"), sweeps=sweep is not None)
    return parser


def describe_quick(quick):
    """``{"epochs": 2, "hidden": (16,)}`` -> ``"--epochs 2 --hidden 16"`` (for --help)."""
    def text(value):
        """A flag's value as typed."""
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return " ".join(f"--{key.replace('_', '-')} {text(value)}" for key, value in quick.items())


def add_sweep_flags(group, repeats, seed_help):
    """--repeats, --seed, --workers, --scheduler (how the runs of a sweep are made)."""
    group.add_argument("--repeats", type=flags.positive_int, default=repeats,
                       help="runs of every variant (seeds seed, seed + 1, ...)")
    group.add_argument("--seed", type=flags.non_negative_int, default=1, help=seed_help)
    group.add_argument("--workers", type=flags.non_negative_int, default=None,
                       help="local worker processes, 0 = run inline (default: min(2, runs))")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (default: "
                            "none, local processes)")


def add_train_size_flag(group, default):
    """--train-size: training rows of every run (validation rows come on top)."""
    group.add_argument("--train-size", type=flags.positive_int, default=default,
                       help="training samples of every run")


def add_synthetic_flag(group):
    """--synthetic, the old spelling of ``--dataset clusters``."""
    group.add_argument("--synthetic", dest="dataset", action="store_const", const="clusters",
                       default=argparse.SUPPRESS,
                       help="the same as --dataset clusters: seeded Gaussian clusters, "
                            "no download")


def add_outputs(group, sweeps=True):
    """The skeleton's output flags (their help in a sweep's words, or, for an
    experiment that trains no net, in its own), --runs-dir for the sweeps, --out
    (the old name of --plot-dir, hidden)."""
    if sweeps:
        texts = dict(
            name_help="run name: the sweep folder under --runs-dir and the start of every "
                      "file name (default: APP[_DATASET][_quick][_seedS])",
            verbose_help="0: only the JSON line; 1 and 2: a line per finished run, the "
                         "tables and the files written",
            plot_help="folder for the figures RUN_KIND.png and the Markdown tables "
                      "RUN_table.md",
            no_plots_help="draw no figure (the tables and the sweeps are still written)",
            overwrite_help="replace the figures, tables and --metrics-json of an earlier "
                           "run with the same name (the sweeps' results are kept: a re-run "
                           "resumes from them); without it such a run is refused before "
                           "any work")
    else:
        texts = dict(
            name_help="run name: the start of every file name (default: APP[_quick] or "
                      "APP[_quick]_seedS)",
            verbose_help="0: only the JSON line; 1 and 2: the table and the files written",
            plot_help="folder for the figures RUN_KIND.png and the Markdown table "
                      "RUN_table.md",
            no_plots_help="draw no figure (the table is still written)",
            overwrite_help="replace the figures, table and --metrics-json of an earlier run "
                           "with the same name; without it such a run is refused before "
                           "any work")
    flags.add_output_flags(group, **texts)
    group.add_argument("--out", dest="plot_dir", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
    if sweeps:
        group.add_argument("--runs-dir", default="runs", metavar="DIR",
                           help="where the sweeps keep results.jsonl (a re-run resumes "
                                "from it), tables and curves.png")


def parse(parser, argv, quick=None):
    """Parse ``argv``; ``--quick`` sets the ``quick`` values of the flags not given."""
    args = parser.parse_args(argv)
    if quick and args.quick:
        given = given_flags(parser, argv, quick)
        for key, value in quick.items():
            if key not in given:
                setattr(args, key, value)
    return args


# ------------------------------------------------------------------- the run
def run(name, parser, body, argv=None, quick=None, plots=(), tables=("table",),
        name_of=None):
    """Parse ``argv`` (default ``sys.argv[1:]``), check the output targets, run
    ``body(experiment)`` and print the JSON line; return the exit status.

    ``plots`` are the figure kinds the app writes (a callable of the parsed
    flags when they depend on them), ``tables`` its Markdown tables: their files
    are checked before any work, and only they may be written. ``name_of(args)``
    is the run's default name when ``default_name`` does not fit.
    """
    argv = sys.argv[1:] if argv is None else list(argv)

    def main():
        """The run itself, inside run_guarded's one-line errors."""
        args = parse(parser, argv, quick)
        experiment = Experiment(name, args)
        if name_of is not None and not args.name:
            experiment.name = name_of(args)
        experiment.plot_kinds = () if args.no_plots else tuple(
            plots(args) if callable(plots) else plots)
        experiment.table_kinds = tuple(tables)
        check_targets(experiment)
        for text in ignored_flags(parser, argv, args):
            experiment.warnings.append(text)
            warn(name, text)
        try:
            body(experiment)
        except SweepInterrupted as stop:
            print(f"{name}: {stop}", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        return experiment.finish()
    return run_guarded(name, main)


def check_targets(experiment):
    """Every output path before any work (a bad one is a usage error, exit 2): the
    folders, each figure and table of the run (not replaced without --overwrite) and
    --metrics-json."""
    args = experiment.args
    overwrite, hint = args.overwrite, ("pass --overwrite to replace it, or give the run "
                                       "another --name")
    targets.check_folder_target("--plot-dir", args.plot_dir)
    for kind in experiment.plot_kinds:
        targets.check_file_target("--plot-dir", plot_file(args.plot_dir, experiment.name, kind),
                                  overwrite, hint)
    for kind in experiment.table_kinds:
        targets.check_file_target("--plot-dir", plot_file(args.plot_dir, experiment.name, kind,
                                                          ".md"), overwrite, hint)
    if getattr(args, "runs_dir", None):
        targets.check_folder_target("--runs-dir", args.runs_dir)
    if args.metrics_json:
        targets.check_file_target("--metrics-json", args.metrics_json, overwrite,
                                  "pass --overwrite to replace it")


def ignored_flags(parser, argv, args):
    """Warnings for flags given but not used by this run."""
    dataset = getattr(args, "dataset", None)
    given = sorted(given_flags(parser, argv, ("data_dir", "download")))
    if dataset == "clusters" and given:
        flags_text = ", ".join("--" + dest.replace("_", "-") for dest in given)
        return [f"{flags_text} ignored: --dataset clusters is generated, not read"]
    if dataset not in DOWNLOADABLE and "download" in given:
        return [f"--download ignored: {dataset} is not downloadable"]
    return []


def require_data(source, data_dir=None, download=False):
    """Refuse at once (a DataFileError naming the file) when ``source`` is MNIST or
    Fashion-MNIST and its files are absent and not to be downloaded: before any
    run starts, rather than once per run."""
    if not download and source in ("mnist", "fashion"):
        MnistImageDataReader(data_dir, dataset=source).files()


def default_name(app, args):
    """APP[_DATASET][_quick][_seedS]: what names the run's sweeps and files."""
    parts = [app, getattr(args, "dataset", None), "quick" if getattr(args, "quick", False)
             else None, f"seed{args.seed}" if hasattr(args, "seed") else None]
    return "_".join(part for part in parts if part)


class Experiment:
    """One run of an experiment app: its flags, log, sweeps, files and JSON line."""

    def __init__(self, app, args):
        self.app, self.args = app, args
        self.log = output.Log(args.verbose)
        self.name = args.name or default_name(app, args)
        self.settings, self.metrics = {}, {}
        self.variants, self.sweeps, self.plots, self.tables = [], [], [], []
        self.plot_kinds, self.table_kinds, self.warnings = (), (), []
        self.runs = self.failed = 0
        self.started = time.perf_counter()
        self.started_at = time.time()           # wall clock, to compare with file times

    # ----- what a spec is made of
    def data_spec(self, val_size=None, classes=10):
        """The run spec's data section: MNIST (or Fashion-MNIST), or the clusters; the
        image files are looked for here, before any run."""
        args = self.args
        require_data(args.dataset, args.data_dir, args.download)
        if args.dataset == "clusters":
            n_val = val_size or max(args.train_size // 9, 50)
            return {"source": "clusters", "options": {"n_train": args.train_size + n_val,
                                                      "n_test": 500, "features": 64,
                                                      "classes": classes, "noise": 4.0},
                    "seed": 0, "train_size": args.train_size, "val_size": n_val}
        spec = {"source": args.dataset, "train_size": args.train_size, "seed": 0}
        if val_size:
            spec["val_size"] = val_size
        spec_options = source_options(args.dataset, args.data_dir, args.download)
        if spec_options:
            spec["options"] = spec_options
        return spec

    def params(self, **fields):
        """HyperParameters fields for a classifier run of ``--epochs`` epochs."""
        return {"max_epoch": self.args.epochs, "net_type": "multiple_classifier", **fields}

    # ----- sweeps
    def sweep(self, base, variants=None, axes=None, part=None, **options):
        """``compare`` with the app's repeats, seed, workers, scheduler and runs folder;
        the sweep is named ``<run>[_<part>]``; its rows join the JSON line."""
        args = self.args
        named = make_variants(variants, axes)
        name = f"{self.name}_{part}" if part else self.name
        sweep = compare(name, base, variants=named, repeats=args.repeats, base_seed=args.seed,
                        out_dir=args.runs_dir, workers=args.workers, scheduler=args.scheduler,
                        verbose=args.verbose >= 1, **options)
        self.sweeps.append(str(sweep.out_dir))
        self.runs += len(sweep.results)
        self.failed += sweep.failed
        for row in labelled_rows(sweep.rows):
            self.variants.append({"sweep": name, "overrides": named[row["variant"]], **row})
        return sweep

    # ----- files
    @property
    def plotting(self):
        """False with --no-plots: the app then draws nothing (drawing is the cost)."""
        return not self.args.no_plots

    def figure(self, width, height):
        """A figure at the plots' DPI, laid out to fit (``--quick`` too: a quick run's
        figure is as readable as a full one's)."""
        return new_figure(width, height)

    def plot_path(self, kind, suffix=".png"):
        """``<plot-dir>/<run>_<kind>.png``, listed in the JSON line; only the kinds
        declared to ``run`` (checked before any work) may be written."""
        declared = self.plot_kinds if suffix == ".png" else self.table_kinds
        if kind not in declared:
            raise ValueError(f"{self.app}: output {kind!r} was not declared to run() "
                             f"({declared}), so its file was not checked")
        path = plot_path(self.args.plot_dir, self.name, kind, suffix)
        (self.plots if suffix == ".png" else self.tables).append(str(path))
        return path

    def save_figure(self, figure, kind):
        """Write ``figure`` as ``<plot-dir>/<run>_<kind>.png``; return the path."""
        path = self.plot_path(kind)
        save_figure(figure, path)
        self.log(f"wrote {path}")
        return path

    def draw(self, kind, make_figure):
        """Unless --no-plots: ``make_figure()`` (or, when every run failed, a figure that
        says so) saved as ``<plot-dir>/<run>_<kind>.png``; returns the path or None."""
        if not self.plotting:
            return None
        return self.save_figure(self.all_failed_figure() or make_figure(), kind)

    def sweep_plot(self, sweep, kind, **options):
        """Unless --no-plots: the sweep's mean curves (``Sweep.plot``, which says so when
        every run failed) as ``<plot-dir>/<run>_<kind>.png``; the path or None."""
        if not self.plotting:
            return None
        path = self.plot_path(kind)
        sweep.plot(str(path), **options)
        self.log(f"wrote {path}")
        return path

    def all_failed_figure(self):
        """A figure saying that every run failed (None if any finished): what an app
        writes instead of its panels, which would have nothing to draw."""
        if not self.runs or self.failed < self.runs:
            return None
        return message_figure(f"nothing to draw: all {self.runs} runs failed\n(the errors are "
                              "in the tables and the JSON line)", title=self.name)

    def copy_plot(self, source, kind):
        """A PNG already drawn (a sweep's curves.png) as ``<plot-dir>/<run>_<kind>.png``."""
        path = self.plot_path(kind)
        shutil.copyfile(source, path)
        self.log(f"wrote {path}")
        return path

    def write_table(self, text, kind="table"):
        """Write Markdown ``text`` as ``<plot-dir>/<run>_<kind>.md`` and log it."""
        path = self.plot_path(kind, ".md")
        path.write_text(text)
        self.log(text)
        self.log(f"wrote {path}")
        return path

    # ----- the end
    def result(self):
        """The JSON line: what ran, with which settings, and each variant's summary."""
        args = self.args
        return {"app": self.app, "run": self.name, "dataset": getattr(args, "dataset", None),
                "settings": self.settings, "variants": self.variants, "metrics": self.metrics,
                "runs": self.runs, "failed_runs": self.failed, "sweeps": self.sweeps,
                "plots": self.plots, "tables": self.tables, "warnings": self.warnings,
                "total_seconds": round(time.perf_counter() - self.started, 3)}

    def finish(self):
        """Print the JSON line; exit status 1 (one line) if any run failed, else 0."""
        output.write_result(self.result(), self.args.metrics_json)
        if self.failed:
            errors = [error for row in self.variants for error in row.get("errors", ())]
            first = _shorten(errors[0]) if errors else "unknown"
            print(f"{self.app}: error: {self.failed} of {self.runs} runs failed (the first: "
                  f"{first}; all are in the tables and the JSON line)", file=sys.stderr,
                  flush=True)
            return EXIT_FAILED
        return 0


def _shorten(text, limit=300):
    """One line of at most ``limit`` characters, in the apps' words."""
    text = " ".join(str(text).split()).replace("pass download=True", "pass --download")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def source_options(source, data_dir, download):
    """The data source's options from --data-dir and --download (where they apply)."""
    options = {}
    if data_dir and source in DATA_DIR_SOURCES:
        options["data_dir"] = os.path.abspath(data_dir)   # workers may run elsewhere
    if download and source in DOWNLOADABLE:
        options["download"] = True
    return options


def mlp(hidden, activation="relu", **options):
    """The compact net section of a spec."""
    return {"hidden": list(hidden), "activation": activation, **options}


def fmt(mean_std):
    """'0.912345 ± 0.00403' from a [mean, std] pair (6 significant digits), or 'nan'
    when no run gave a finite value."""
    mean, std = mean_std
    return format_mean_std(mean, std)
