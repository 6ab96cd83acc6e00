"""Worker threads that share one batch's work: ``run(count, function)``.

A convolution or pooling step is mostly memory-bound NumPy work (copies,
element-wise loops) around small matrix products, and BLAS threads cannot
split a copy. But NumPy releases the GIL inside its copies, ufunc loops and
BLAS calls, so plain Python threads that each take a part of the batch run
those on several cores at once. ``run(count, function)`` calls
``function(part, slot)`` for ``part`` in ``range(count)``, spread over
``threads.worker_threads()`` threads (the caller's and ``n - 1`` workers
started once); ``slot`` (0 .. n-1) says which thread runs it, so each thread
can keep its own scratch arrays.

Parts are claimed one at a time from a shared counter, so a thread slowed by
another program on its core simply takes fewer parts. Which thread runs a
part never changes what the part computes: callers write each part's results
to its own place (per-part partial sums are added up afterwards in part
order), so results are the same bits for any thread count.

While parts run on more than one thread, BLAS is held at one thread
(``threads.single_blas_thread``): each part's products are small, and BLAS
threads on top of the workers would fight them for the cores.

Safe to use as a library: a call from inside a part, or while another
thread's call holds the workers, runs its parts in line on the calling
thread; an exception in any part is raised in the caller after every part
in flight has ended; Ctrl-C waits for the parts in flight before it
propagates (no worker keeps writing into a layer's arrays after ``run``
returns); after ``os.fork`` the child starts its own workers.
"""
import itertools
import os
import threading

from . import threads

_pool = None       # the process's _Pool, made on first use (again after a fork)


def slots(count):
    """How many threads (slots 0 .. n-1) ``run(count, ...)`` would use now: callers
    make each slot's scratch arrays before the parts run, never inside them."""
    return max(1, min(threads.worker_threads(), count))


def run(count, function):
    """``function(part, slot)`` for every part in ``range(count)``, on the worker threads."""
    size = slots(count)
    if size <= 1:
        for part in range(count):
            function(part, 0)
        return
    pool = _get_pool(size)
    if not pool.claim():            # nested, or another thread is using the workers
        for part in range(count):
            function(part, 0)
        return
    try:
        with threads.single_blas_thread():
            pool.run(count, function, size)
    finally:
        pool.release()


def _get_pool(size):
    global _pool
    if _pool is None or _pool.pid != os.getpid():
        _pool = _Pool()
    _pool.grow(size - 1)
    return _pool


class _Pool:
    """Daemon worker threads, each waiting on its own ``go`` lock for the next task."""

    def __init__(self):
        self.pid = os.getpid()
        self.workers = []
        self._busy = threading.Lock()
        self._task = None

    def grow(self, count):
        """Start workers until there are ``count`` (they live until the process ends)."""
        while len(self.workers) < count:
            worker = _Worker(self, len(self.workers) + 1)
            self.workers.append(worker)

    def claim(self):
        """Take the pool for one ``run`` (False if a run is already going on)."""
        return self._busy.acquire(blocking=False)

    def release(self):
        """Give the pool back after ``run``."""
        self._busy.release()

    def run(self, count, function, size):
        """Parts of ``range(count)`` on the caller (slot 0) and ``size - 1`` workers;
        returns when all have ended, raising the first error any of them met."""
        errors = []
        self._task = (function, itertools.count(), count, errors)
        started = self.workers[:size - 1]
        for worker in started:
            worker.go.release()
        try:
            self.drain(0)
        finally:
            _wait_all(started)
            self._task = None
        if errors:
            raise errors[0]

    def drain(self, slot):
        """Claim parts from the shared counter and run them until none is left."""
        function, claims, count, errors = self._task
        for part in claims:
            if part >= count or errors:
                return
            try:
                function(part, slot)
            except BaseException as error:      # raised in the caller, after the others
                errors.append(error)
                return


class _Worker:
    def __init__(self, pool, slot):
        self.go = threading.Lock()
        self.done = threading.Lock()
        self.go.acquire()
        self.done.acquire()
        thread = threading.Thread(target=self._loop, args=(pool, slot), daemon=True,
                                  name=f"miniframework-worker-{slot}")
        thread.start()

    def _loop(self, pool, slot):
        while True:
            self.go.acquire()
            try:
                pool.drain(slot)
            finally:
                self.done.release()


def _wait_all(workers):
    """Wait until every started worker has finished its parts, even through Ctrl-C
    (the interrupt is raised once they have)."""
    interrupted = None
    for worker in workers:
        while True:
            try:
                worker.done.acquire()
                break
            except KeyboardInterrupt as error:
                interrupted = error
    if interrupted is not None:
        raise interrupted
