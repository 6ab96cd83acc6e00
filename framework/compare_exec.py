"""Where comparison runs execute: inline, local worker processes, or Dask.

All three call the same ``compare_run.run_safe`` on the same specs, and that
function pins BLAS to one thread, so they produce the same numbers; they
differ only in where the work happens.

- ``workers=0``: inline in this process (debugging, tests).
- ``workers=None`` or ``n``: a ``ProcessPoolExecutor`` with ``min(2, runs)``
  processes by default -- two cores, one BLAS thread each.
- ``scheduler="tcp://host:port"``: an existing Dask distributed cluster.
  ``distributed`` is an optional extra (``pip install miniframework[cluster]``)
  and is imported only here. Weight files are written by the worker, so with a
  remote cluster the output folder must be on a shared file system.

A run that raises comes back as a ``failed`` result; a worker that dies is
reported the same way, and the rest of the sweep carries on.
"""
import concurrent.futures as cf
import multiprocessing

from .compare_run import run_safe

DEFAULT_MAX_WORKERS = 2


def execute(specs, workers=None, scheduler=None, on_result=None):
    """Run every spec; return results in spec order.

    ``on_result(result)`` is called as each run finishes (progress output).
    """
    on_result = on_result or (lambda result: None)
    if scheduler is not None:
        return _run_dask(specs, scheduler, on_result)
    if workers == 0 or len(specs) <= 1 and workers is None:
        return _run_inline(specs, on_result)
    return _run_pool(specs, workers or min(DEFAULT_MAX_WORKERS, len(specs)), on_result)


def _run_inline(specs, on_result):
    results = []
    for spec in specs:
        results.append(run_safe(spec))
        on_result(results[-1])
    return results


def _run_pool(specs, workers, on_result):
    """Fresh (spawned) interpreters: no inherited BLAS thread pools or locks."""
    results = [None] * len(specs)
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_safe, spec): i for i, spec in enumerate(specs)}
        for future in cf.as_completed(futures):
            index = futures[future]
            results[index] = _result_or_failure(future.result, specs[index])
            on_result(results[index])
    return results


def _run_dask(specs, scheduler, on_result):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ImportError("scheduler= needs Dask distributed: "
                          "pip install 'miniframework[cluster]' "
                          "(or pip install 'dask[distributed]')") from None
    results = [None] * len(specs)
    client = scheduler if hasattr(scheduler, "map") else Client(scheduler)
    try:
        futures = client.map(run_safe, specs, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = _result_or_failure(future.result, specs[i])
            on_result(results[i])
    finally:
        if client is not scheduler:
            client.close()
    return results


def _result_or_failure(get, spec):
    """The future's result, or a failed result if the worker itself failed."""
    try:
        return get()
    except Exception as error:  # e.g. BrokenProcessPool, KilledWorker
        return {"status": "failed", "error": f"worker: {type(error).__name__}: {error}",
                "name": spec.get("name"), "variant": spec.get("variant"),
                "repeat": spec.get("repeat"), "seed": spec.get("seed")}
