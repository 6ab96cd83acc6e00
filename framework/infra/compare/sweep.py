"""``compare``: run variants x repeats, record each run as it ends, resume.

The order of work: build every RunSpec and resolve every data source first
(a bad key or an unregistered source stops the sweep before anything runs);
read ``results.jsonl`` and keep the runs already finished; execute the rest,
appending each result to ``results.jsonl`` the moment it arrives; then write
the summary, tables and curves.
"""
import json
import os
from dataclasses import replace

from ..validation import check_flag, check_integer
from .executors import execute
from .runner import file_sha256, net_name
from .report import describe_result, format_markdown, format_text, plot_curves, summarize
from .results import ResultsLog
from .sources import get_source
from .variants import make_specs, make_variants


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a sweep; the runs finished so far are in ``results.jsonl``."""

    def __init__(self, name, finished, total, path):
        self.name, self.finished, self.total, self.path = name, finished, total, path
        where = (f"kept in {path}; run the same sweep again to resume" if path
                 else "no out_dir, nothing kept")
        super().__init__(f"sweep {name!r} interrupted: {finished} of {total} runs finished "
                         f"({where})")


class Sweep:
    """The specs, results and per-variant summary rows of one comparison."""

    def __init__(self, name, variants, specs, results, out_dir=None):
        self.name, self.variants, self.specs, self.results = name, variants, specs, results
        self.rows = summarize(results, variants)
        self.out_dir = out_dir

    @property
    def failed(self):
        """How many runs failed."""
        return sum(r.get("status") != "ok" for r in self.results)

    def table(self):
        """The summary as a plain-text table."""
        return format_text(self.rows)

    def markdown(self):
        """The summary as a Markdown table."""
        return format_markdown(self.rows)

    def runs(self, variant):
        """The results of one variant, in repeat order."""
        return [r for r in self.results if r.get("variant") == variant]

    def plot(self, path, **options):
        """Mean curves with std bands (see ``report.plot_curves``); the Figure."""
        return plot_curves(self.results, self.variants, path, **options)


def compare(name, base, variants=None, axes=None, repeats=3, base_seed=0, out_dir=None,
            workers=None, scheduler=None, save_weights=False, verbose=True,
            panels=(("val_loss",), ("val_accuracy",)), resume=True):
    """Run ``base`` modified by each variant, ``repeats`` times; return a Sweep.

    ``variants``: {variant name: overrides}; ``axes``: {key: [values]} whose
    cartesian product makes the variants (see ``variants``). With ``out_dir``
    every finished run is appended to ``<out_dir>/<name>/results.jsonl``, and
    (``resume=True``) a run already there is not run again. Ctrl-C raises
    ``SweepInterrupted`` (a ``KeyboardInterrupt``) after stopping the workers.
    """
    _check_options(save_weights=save_weights, verbose=verbose, resume=resume)
    if workers is not None:
        check_integer("workers", workers, minimum=0)
    named = make_variants(variants, axes)
    specs = make_specs(name, base, named, repeats, base_seed)
    sources = resolve_sources(specs)
    folder = os.path.join(out_dir, _safe(name)) if out_dir else None
    if folder and save_weights:
        specs = [replace(spec, weights_path=os.path.abspath(_run_path(folder, spec, ".h5")))
                 for spec in specs]
    log = ResultsLog(folder) if folder else None
    results, again = _finished(specs, log) if log and resume else ([None] * len(specs), [])
    todo = [i for i, result in enumerate(results) if result is None]
    progress = _Progress(name, len(specs), len(specs) - len(todo), log, again) \
        if verbose else None

    def on_result(j, result):
        i = todo[j]
        if log:
            log.append(specs[i], result)
        results[i] = result             # counted as finished once it is on disk
        if progress:
            progress(result)

    try:
        execute([(specs[i], sources[specs[i].source]) for i in todo], workers=workers,
                scheduler=scheduler, on_result=on_result)
    except KeyboardInterrupt:
        done = sum(r is not None for r in results)
        raise SweepInterrupted(name, done, len(specs), log and log.path) from None
    sweep = Sweep(name, list(named), specs, results, folder)
    if folder:
        write_outputs(sweep, panels, verbose)
    return sweep


def _check_options(**flags):
    for field, value in flags.items():
        check_flag(field, value)


def resolve_sources(specs):
    """{name: source} for the specs' data, each checked; raises before anything runs."""
    sources = {}
    for spec in specs:
        if spec.source not in sources:
            sources[spec.source] = get_source(spec.source)
        check = getattr(sources[spec.source], "check", None)
        if check is not None:
            check(spec.data)
    return sources


def _finished(specs, log):
    """Each spec's result from ``log`` if it finished there, and the reasons why runs
    that the log lists must run again (with ``save_weights``, a run counts as finished
    only if its weights file is the one it wrote: a missing, damaged or foreign file
    is written again)."""
    done = log.finished()
    results, again = [], []
    for spec in specs:
        result = done.get(spec.key())
        if result is not None and spec.weights_path:
            problem = weights_problem(spec, result)
            if problem:
                again.append(f"{spec.variant} repeat {spec.repeat}: {problem}")
                result = None
        results.append(result)
    return results, again


def weights_problem(spec, result):
    """Why the weights file of a finished run cannot stand for it (None if it can): its
    bytes must have the SHA-256 the run recorded, or, for a record without one, the
    file must load as the run's net."""
    path = spec.weights_path
    if not os.path.isfile(path):
        return f"its weights file {path} is missing"
    recorded = result.get("weights_sha256")
    if recorded is not None:
        try:
            found = file_sha256(path)
        except OSError as error:
            return f"its weights file {path} cannot be read ({error.strerror})"
        return None if found == recorded else \
            f"its weights file {path} is not the one the run wrote (another SHA-256)"
    return _loading_problem(spec, path)


def _loading_problem(spec, path):
    from ...errors import WeightsFileError
    from ...net import NeuralNet
    try:
        net = NeuralNet.load(path)
    except (WeightsFileError, OSError, ValueError) as error:
        return f"its weights file does not load ({' '.join(str(error).split())})"
    if net.name != net_name(spec):
        return f"its weights file {path} holds the net {net.name!r}, not {net_name(spec)!r}"
    return None


def write_outputs(sweep, panels, verbose=False):
    """summary.json, table.txt/.md and (if any run finished) curves.png."""
    os.makedirs(sweep.out_dir, exist_ok=True)
    _write_json(os.path.join(sweep.out_dir, "summary.json"),
                {"name": sweep.name, "variants": sweep.variants, "rows": sweep.rows})
    for filename, text in (("table.txt", sweep.table()), ("table.md", sweep.markdown())):
        with open(os.path.join(sweep.out_dir, filename), "w") as handle:
            handle.write(text)
    if sweep.failed < len(sweep.results):
        sweep.plot(os.path.join(sweep.out_dir, "curves.png"), panels=panels, title=sweep.name)
    elif verbose:
        print(f"no curves.png: all {len(sweep.results)} runs failed", flush=True)


def _run_path(folder, spec, suffix):
    return os.path.join(folder, _safe(spec.variant), f"repeat_{spec.repeat}{suffix}")


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _safe(text):
    return "".join(c if c.isalnum() or c in "_-.=," else "_" for c in str(text))


class _Progress:
    """Prints one line per finished run (and, on resume, what was already done)."""

    def __init__(self, name, total, done, log, again=()):
        self.total, self.done = total, done
        if done:
            rest = f"running the other {total - done}" if done < total else "nothing to run"
            print(f"{name}: {done} of {total} runs already in {log.path}; {rest}", flush=True)
        for reason in again:
            print(f"{name}: running again {reason}", flush=True)

    def __call__(self, result):
        self.done += 1
        print(f"[{self.done}/{self.total}] {result.get('variant')} repeat "
              f"{result.get('repeat')}: {describe_result(result)}", flush=True)
