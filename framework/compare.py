"""Fair comparisons: variants x repeats, with the experimental method built in.

The notes' hardest lessons are about method: an SGD run "stuck at 0.46"
because seeds were not reset; fix the mini-batch sequence and give every
optimizer the same initial weights; repeat each method and average; judge on
validation data and touch the test set once. ``compare`` makes that the
default::

    sweep = compare("optimizers", base, axes={"optimizer_name": ["sgd", "adam"]},
                    repeats=3, out_dir="runs")
    print(sweep.table())

Within repeat ``k`` every variant gets ``seed = base_seed + k``. Because the
net's init and shuffle streams derive from the seed alone (``RandomStreams``),
every variant starts from identical initial weights (where the architecture
allows) and sees the identical batch sequence; each result carries hashes of
both, so this is checked, not assumed. Repeats differ by seed. Tables report
mean +- std over repeats of final and best *validation* metrics; the test set
is not used unless a spec asks for ``evaluate_test``.

Outputs: ``<out_dir>/<name>/<variant>/repeat_<k>.json`` (+ ``.h5`` weights if
``save_weights``), ``summary.json``, ``table.txt``, ``table.md``, ``curves.png``.
"""
import copy
import itertools
import json
import os
from dataclasses import fields

from .compare_exec import execute
from .compare_report import format_markdown, format_text, plot_curves, summarize
from .hyper_parameters import HyperParameters

_PARAM_FIELDS = {f.name for f in fields(HyperParameters)}
_SECTIONS = ("data", "net", "params", "train")


class Sweep:
    """The specs, results and per-variant summary rows of one comparison."""

    def __init__(self, name, variants, specs, results, out_dir=None):
        self.name, self.variants, self.specs, self.results = name, variants, specs, results
        self.rows = summarize(results, variants)
        self.out_dir = out_dir

    def table(self):
        return format_text(self.rows)

    def markdown(self):
        return format_markdown(self.rows)

    def runs(self, variant):
        return [r for r in self.results if r.get("variant") == variant]

    def plot(self, path, **options):
        return plot_curves(self.results, self.variants, path, **options)


def compare(name, base, variants=None, axes=None, repeats=3, base_seed=0, out_dir=None,
            workers=None, scheduler=None, save_weights=False, verbose=True,
            panels=(("val_loss",), ("val_accuracy",))):
    """Run ``base`` modified by each variant, ``repeats`` times; return a Sweep.

    ``variants``: {variant name: overrides}; ``axes``: {key: [values]} whose
    cartesian product makes the variants (both may be given). An override key
    is a HyperParameters field (``"optimizer_name"``), a dotted path
    (``"net.batch_norm"``, ``"data.train_size"``) or a section name.
    """
    named = make_variants(variants, axes)
    specs = make_specs(name, base, named, repeats, base_seed)
    folder = os.path.join(out_dir, _safe(name)) if out_dir else None
    if folder and save_weights:
        for spec in specs:
            spec["weights_path"] = os.path.abspath(_run_path(folder, spec, ".h5"))
    progress = _Progress(len(specs)) if verbose else None
    results = execute(specs, workers=workers, scheduler=scheduler, on_result=progress)
    sweep = Sweep(name, list(named), specs, results, folder)
    if folder:
        write_outputs(sweep, panels)
    return sweep


def make_variants(variants=None, axes=None):
    """{name: overrides}: explicit variants, then the product of ``axes``."""
    named = dict(variants or {})
    if axes:
        keys = list(axes)
        choices = [_labelled(axes[key]) for key in keys]
        for combo in itertools.product(*choices):
            label = combo[0][0] if len(keys) == 1 else ",".join(
                f"{key.split('.')[-1]}={text}" for key, (text, _) in zip(keys, combo))
            named[label] = {key: value for key, (_, value) in zip(keys, combo)}
    return named or {"base": {}}


def _labelled(values):
    if isinstance(values, dict):
        return list(values.items())
    return [(_label(v), v) for v in values]


def _label(value):
    if isinstance(value, dict):
        return str(value.get("name", json.dumps(value, sort_keys=True)))
    return str(value)


def make_specs(name, base, named, repeats, base_seed=0):
    """One spec per (repeat, variant); the seed depends on the repeat only."""
    specs = []
    for repeat in range(int(repeats)):
        for variant, overrides in named.items():
            spec = apply_overrides(base, overrides)
            spec.update(name=name, variant=variant, repeat=repeat,
                        seed=int(base_seed) + repeat)
            specs.append(spec)
    return specs


def apply_overrides(base, overrides):
    """A deep copy of ``base`` with ``overrides`` applied (see ``compare``)."""
    spec = copy.deepcopy(base)
    for section in _SECTIONS:
        spec.setdefault(section, {})
    for key, value in overrides.items():
        if key in _PARAM_FIELDS:
            spec["params"][key] = copy.deepcopy(value)
        elif "." in key:
            head, _, tail = key.partition(".")
            spec.setdefault(head, {})[tail] = copy.deepcopy(value)
        elif key in _SECTIONS and isinstance(value, dict):
            spec[key].update(copy.deepcopy(value))
        else:
            spec[key] = copy.deepcopy(value)
    return spec


def write_outputs(sweep, panels):
    """Per-run JSON, summary.json, table.txt/.md and curves.png in ``sweep.out_dir``."""
    os.makedirs(sweep.out_dir, exist_ok=True)
    for spec, result in zip(sweep.specs, sweep.results):
        _write_json(_run_path(sweep.out_dir, spec, ".json"), {"spec": spec, "result": result})
    _write_json(os.path.join(sweep.out_dir, "summary.json"),
                {"name": sweep.name, "variants": sweep.variants, "rows": sweep.rows})
    for filename, text in (("table.txt", sweep.table()), ("table.md", sweep.markdown())):
        with open(os.path.join(sweep.out_dir, filename), "w") as handle:
            handle.write(text)
    sweep.plot(os.path.join(sweep.out_dir, "curves.png"), panels=panels, title=sweep.name)


def _run_path(folder, spec, suffix):
    return os.path.join(folder, _safe(spec["variant"]), f"repeat_{spec['repeat']}{suffix}")


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=_plain)
    os.replace(tmp, path)


def _plain(value):
    """numpy scalars and other stragglers as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _safe(text):
    return "".join(c if c.isalnum() or c in "_-.=," else "_" for c in str(text))


class _Progress:
    """Prints one line per finished run."""

    def __init__(self, total):
        self.total, self.done = total, 0

    def __call__(self, result):
        self.done += 1
        if result.get("status") == "ok":
            final = result["final"]
            acc = final.get("val_accuracy")
            detail = (f"final val loss {final.get('val_loss')!s:.8} acc {acc!s:.6}"
                      f"  ({result.get('seconds')} s)")
        else:
            detail = f"FAILED {result.get('error')}"
        print(f"[{self.done}/{self.total}] {result.get('variant')} repeat "
              f"{result.get('repeat')}: {detail}", flush=True)
