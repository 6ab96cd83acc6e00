"""Where comparison runs execute: inline, local worker processes, or Dask.

All three call the same ``runner.run_task`` on the same (spec, source)
tasks, and that function pins BLAS to one thread, so they produce the same
numbers; they differ only in where the work happens.

- ``workers=0``: inline in this process (debugging, tests).
- ``workers=None`` or ``n``: a ``ProcessPoolExecutor`` of spawned processes,
  ``min(2, runs)`` by default (two cores, one BLAS thread each). Spawned
  workers import the calling script as a module, so a script that calls
  ``compare`` keeps the call under ``if __name__ == "__main__":``.
- ``scheduler="tcp://host:port"`` (or a ``distributed.Client``): a Dask
  cluster. ``distributed`` is an optional extra (``pip install
  miniframework[cluster]``) imported only here. A worker lost mid-run costs a
  retry: the scheduler gives the run to another worker (up to
  ``distributed.scheduler.allowed-failures`` times, then the run is failed).

A run that raises comes back as a ``failed`` result and the sweep goes on.
Ctrl-C ends the sweep: pending runs are cancelled, local workers (which
ignore SIGINT, so a Ctrl-C never prints their tracebacks) are terminated,
and ``KeyboardInterrupt`` reaches the caller.
"""
import concurrent.futures as cf
import contextlib
import multiprocessing
import signal
import threading

from .runner import run_task

DEFAULT_MAX_WORKERS = 2
_DIED_HINT = ("a worker process died; if compare() is called at the top level of a script, "
              "put the call under `if __name__ == \"__main__\":`")


def execute(tasks, workers=None, scheduler=None, on_result=None):
    """Run every ``(spec, source)`` task; ``on_result(index, result)`` as each finishes."""
    on_result = on_result or (lambda index, result: None)
    if not tasks:
        return
    if scheduler is not None:
        _run_dask(tasks, scheduler, on_result)
    elif workers == 0 or (workers is None and len(tasks) == 1):
        for index, (spec, source) in enumerate(tasks):
            on_result(index, run_task(spec, source))
    else:
        _run_pool(tasks, workers or min(DEFAULT_MAX_WORKERS, len(tasks)), on_result)


def _ignore_sigint():
    """Pool worker initializer: Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigint_ignored():
    """Ignore SIGINT while worker processes are started: a child inherits the
    ignored signal from its first instruction, so a Ctrl-C while it is still
    importing cannot print its traceback (the initializer comes later)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_pool(tasks, workers, on_result):
    """Fresh (spawned) interpreters: no inherited BLAS thread pools or locks."""
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                  initializer=_ignore_sigint)
    finished = False
    try:
        with _sigint_ignored():         # the workers start, and stay, deaf to Ctrl-C
            futures = {pool.submit(run_task, spec, source): i
                       for i, (spec, source) in enumerate(tasks)}
        for future in cf.as_completed(futures):
            index = futures[future]
            on_result(index, _result_or_failure(future.result, tasks[index][0]))
        finished = True
    finally:
        if not finished:
            _terminate(pool)
        pool.shutdown(wait=finished, cancel_futures=True)


def _terminate(pool):
    """Stop a pool's workers now (Python 3.14 has ``terminate_workers``)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _run_dask(tasks, scheduler, on_result):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ImportError("scheduler= needs Dask distributed: "
                          "pip install 'miniframework[cluster]' "
                          "(or pip install 'dask[distributed]')") from None
    client = scheduler if hasattr(scheduler, "submit") else Client(scheduler)
    futures = []
    try:
        specs, sources = zip(*tasks)
        futures = client.map(run_task, specs, sources, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            i = index[future.key]
            on_result(i, _result_or_failure(future.result, specs[i]))
        futures = []
    finally:
        if futures:                         # interrupted: nothing more should run
            client.cancel(futures)
        if client is not scheduler:
            client.close()


def _result_or_failure(get, spec):
    """The future's result, or a failed result if the worker itself failed."""
    try:
        return get()
    except Exception as error:  # e.g. BrokenProcessPool, KilledWorker
        hint = f" ({_DIED_HINT})" if isinstance(error, cf.process.BrokenProcessPool) else ""
        return {"status": "failed", "error": f"worker: {type(error).__name__}: {error}{hint}",
                "key": spec.key(), "name": spec.name, "variant": spec.variant,
                "repeat": spec.repeat, "seed": spec.seed}
