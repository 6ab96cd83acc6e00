"""How many threads training uses: one number, for BLAS and for the layer workers.

NumPy's matrix products run in the BLAS library it ships with (OpenBLAS),
which starts one thread per core. For the small products of a mini-batch
step that is rarely worth it: the threads synchronize on every call, and on a
shared two-core machine a second thread that has to wait for a busy core makes
the same run 1.5-2.5x slower from one process to the next, while one thread is
steady (see docs/performance.md). So ``NeuralNet.train`` runs with **one
thread by default** and puts the previous setting back when it returns.

    import framework as fw
    fw.threads.set_num_threads(2)        # every later train() uses 2 threads
    fw.threads.set_num_threads(None)     # train() leaves BLAS alone (e.g. an outer
                                         # threadpoolctl.threadpool_limits rules)
    with fw.threads.blas_threads(2):     # a block: train() inside uses 2 threads,
        net.train(reader)                # and so does any other NumPy work

The setting is resolved in this order: ``set_num_threads`` / ``blas_threads``;
the environment variable ``MINIFRAMEWORK_NUM_THREADS`` (an integer, or
``none`` to leave BLAS alone); if ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``
or ``MKL_NUM_THREADS`` is set, BLAS is left as that variable configured it;
otherwise 1. A thread count of 0 means all cores.

What the number does
    Fully connected layers get it as BLAS threads: their products are big
    enough for OpenBLAS to share out. Conv and pooling layers get it as
    *worker threads* (``worker_threads()``): their step is mostly memory-bound
    copies and element-wise loops around small products, which BLAS threads
    cannot share, so they split each batch into parts run by that many Python
    threads (``framework.infra.workers``; NumPy releases the GIL in its copies,
    loops and BLAS calls). While the parts run, BLAS is held at one thread,
    and inside ``train`` it stays there once a layer has split a batch (a net
    with conv layers trains on workers, an MLP on BLAS threads): two kinds of
    threads never compete for the same cores. Conv and pooling results do not
    depend on the worker count (every part writes its own place; partial sums
    are added in part order), so a CNN gives the same bits with 1 or 2 threads.
    Outside ``train`` / ``limit`` (say ``net.predict``), the layers use the
    ``set_num_threads`` / ``MINIFRAMEWORK_NUM_THREADS`` setting, else
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``, else one thread.
The default, and when to change it
    One thread, for a machine shared with other work: a worker (like a BLAS
    thread) that has to wait for a busy core stalls every step at the end of
    each layer, and two threads were slower than one whenever another
    program kept a core busy. On a machine of your own, set
    ``MINIFRAMEWORK_NUM_THREADS=0`` (every core) or ``set_num_threads(2)``:
    measured numbers for both cases are in docs/performance.md.

threadpoolctl is imported on first use (not by ``import framework``), and its
library scan is done once per process; ``train`` changes the limit once per
call, never per step. Results are bit-identical for a fixed seed and thread
count; a different thread count may change the last bits of an MLP (BLAS
splits the sums differently).
"""
import contextlib
import os

_UNSET = object()
_setting = _UNSET          # set_num_threads value: an int >= 0, None, or _UNSET
_controller = None
_blas_libraries = None     # threadpoolctl's BLAS library controllers, found once


def _check(n):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"num_threads: expected a non-negative integer or None, got {n!r}")
    return n


def set_num_threads(n):
    """Use ``n`` threads (BLAS, and conv / pooling workers) in every later ``train``
    (0 = all cores, None = leave BLAS alone)."""
    global _setting
    _setting = _check(n)


def get_num_threads():
    """The thread count ``train`` will apply, or None if it leaves BLAS alone."""
    if _setting is not _UNSET:
        return _setting
    env = os.environ.get("MINIFRAMEWORK_NUM_THREADS", "").strip().lower()
    if env:
        if env == "none":
            return None
        try:
            return _check(int(env))
        except ValueError:
            raise ValueError(f"MINIFRAMEWORK_NUM_THREADS: expected an integer >= 0 or "
                             f"'none', got {env!r}") from None
    if any(os.environ.get(name) for name in
           ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return None
    return 1


def current_blas_threads():
    """What the BLAS libraries NumPy uses are set to now (the largest, if several)."""
    info = [lib["num_threads"] for lib in _get_controller().info()
            if lib.get("user_api") == "blas"]
    return max(info) if info else None


def limit(n=_UNSET):
    """A context manager applying ``n`` (default: ``get_num_threads()``) BLAS threads.

    Restores the previous count on exit. With None it does nothing.
    """
    n = get_num_threads() if n is _UNSET else _check(n)
    if n is None:
        return _applying(None, contextlib.nullcontext())
    controller = _get_controller()
    if n == 0:
        n = os.cpu_count() or 1
    return _applying(n, controller.limit(limits=n, user_api="blas"))


class _Block:
    """One enclosing ``limit()`` block: the count it applied, and whether a layer has
    since held BLAS at one thread for the rest of it (``single_blas_thread``)."""

    def __init__(self, n):
        self.n, self.blas_held = n, False


_applied = []       # the enclosing limit() blocks, innermost last


@contextlib.contextmanager
def _applying(n, context):
    with context:
        _applied.append(_Block(n))
        try:
            yield context
        finally:
            _applied.pop()


def _applied_count():
    return _applied[-1].n if _applied else None


def known_blas_threads():
    """BLAS threads in effect as far as known without asking BLAS (cheap), else None.

    Inside ``train`` / ``limit`` / ``blas_threads``: the count they applied;
    otherwise (or when they leave BLAS alone) ``OPENBLAS_NUM_THREADS`` or
    ``OMP_NUM_THREADS`` if set to an integer. Used by the batch reader to
    prefetch only while BLAS leaves the other cores free.
    """
    if _applied_count() is not None:
        return _applied_count()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return int(value.split(",")[0])
            except ValueError:
                return None
    return None


def worker_threads():
    """Threads a conv or pooling layer may split one batch over now (at least 1).

    Inside ``train`` / ``limit`` / ``blas_threads``: the count they applied;
    otherwise the setting (``set_num_threads`` / ``MINIFRAMEWORK_NUM_THREADS``),
    else ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``, else 1. 0 means every
    core this process may use; more than that is capped to it.
    """
    n = _applied_count()
    if n is None:
        n = get_num_threads()
    if n is None:
        n = known_blas_threads()
    if n is None:
        return 1
    cores = _usable_cores()
    return cores if n == 0 else max(1, min(n, cores))


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                  # pragma: no cover
        return os.cpu_count() or 1


@contextlib.contextmanager
def single_blas_thread():
    """Within the block BLAS runs one thread: used while worker threads each run
    their own BLAS calls (two layers of threads would fight for the cores).

    Inside a ``limit`` block (``train``, ``blas_threads``) BLAS then stays at one
    thread until that block ends and restores the count it found: OpenBLAS's
    threads spin for a while after each multi-threaded call, and in a conv net
    the few BLAS calls between two split layers (a small fully connected layer)
    would keep them spinning on the cores the workers need (measured: twice the
    CPU time for the same step). Outside any block the count is restored at once.
    """
    block = _applied[-1] if _applied and _applied[-1].n is not None else None
    if block is not None and block.blas_held:
        yield
        return
    changed = []
    for library in _get_blas_libraries():
        count = library.get_num_threads()
        if count is not None and count != 1:
            library.set_num_threads(1)
            changed.append((library, count))
    if block is not None:
        block.blas_held = True
        yield
        return
    try:
        yield
    finally:
        for library, count in changed:
            library.set_num_threads(count)


def _get_blas_libraries():
    global _blas_libraries
    if _blas_libraries is None:
        _blas_libraries = _get_controller().select(user_api="blas").lib_controllers
    return _blas_libraries


@contextlib.contextmanager
def blas_threads(n):
    """Within the block, ``train`` and all other NumPy BLAS work use ``n`` threads."""
    global _setting
    saved = _setting
    _setting = _check(n)
    try:
        with limit(n):
            yield
    finally:
        _setting = saved


def _get_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:                                  # pragma: no cover
            raise ImportError("setting BLAS threads needs threadpoolctl: "
                              "pip install threadpoolctl (or set_num_threads(None))") from None
        _controller = ThreadpoolController()
    return _controller
