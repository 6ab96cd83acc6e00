"""Fair comparisons: variants x repeats, with the experimental method built in.

The notes' hardest lessons are about method: an SGD run "stuck at 0.46"
because seeds were not reset; fix the mini-batch sequence and give every
optimizer the same initial weights; repeat each method and average; judge on
validation data and touch the test set once. ``compare`` makes that the
default::

    import datareaders                      # registers the data sources
    from framework.infra.compare import compare

    if __name__ == "__main__":              # spawned workers import this file
        sweep = compare("optimizers", base, axes={"optimizer_name": ["sgd", "adam"]},
                        repeats=3, out_dir="runs")
        print(sweep.table())

Within repeat ``k`` every variant gets ``seed = base_seed + k``: the same
initial weights (where the architecture allows) and, through an explicit
``BatchOrder`` made from that seed, the same batches. Repeats differ by seed.
Tables report mean +- std over repeats of final and best *validation*
metrics; the test set is not used unless a spec asks for ``evaluate_test``.

The modules, one concept each: ``spec`` (RunSpec, the schema of a run),
``variants`` (base + overrides -> specs), ``sources`` (the data-source
registry), ``nets`` (the net of a spec), ``runner`` (one run), ``executors``
(inline, process pool, Dask), ``results`` (results.jsonl, resume),
``report`` (tables, curves), ``sweep`` (``compare`` itself).

Outputs in ``<out_dir>/<name>/``: ``results.jsonl`` (one line per finished
run, appended as it finishes), ``summary.json``, ``table.txt``, ``table.md``,
``curves.png`` and, with ``save_weights``, ``<variant>/repeat_<k>.h5``.
"""
from .report import curves, draw_curves, format_markdown, format_text, mean_std, summarize
from .results import ResultsFileError, ResultsLog
from .sources import DATA_SOURCES, get_source, register_source
from .spec import RunSpec
from .sweep import Sweep, SweepInterrupted, compare
from .variants import apply_overrides, make_specs, make_variants

__all__ = ["compare", "Sweep", "SweepInterrupted", "RunSpec", "register_source",
           "get_source", "DATA_SOURCES", "ResultsLog", "ResultsFileError", "make_variants",
           "apply_overrides", "make_specs", "summarize", "mean_std", "format_text", "format_markdown", "curves",
           "draw_curves"]
