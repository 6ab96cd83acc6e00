"""Mini-batches and the validation split: how training data is cut up, for any holder.

``DataReader`` (datareaders/) and ``NeuralNet.fit`` on plain arrays (framework/fitting.py)
both draw their batches and their validation rows here, so the same seed gives
the same rows either way.

``iter_batches`` draws one permutation per epoch and gathers each batch into
buffers allocated once; ``validation_indices`` picks validation rows, stratified
by class when given the labels.
"""
import os

import numpy as np

from . import threads


def iter_batches(x, y, batch_size, rng, buffers):
    """Yield consecutive mini-batches of (x, y), permuted by ``rng`` if given.

    Without ``rng`` the batches are slices of x and y in their stored order.
    With it, one permutation is drawn per epoch and each batch's rows are
    gathered into ``buffers``, a (x_buffer, y_buffer) pair (the last batch is
    a view of a buffer's first rows). Gathering one batch at a time costs no
    second copy of the training set (60,000 MNIST rows are 188 MB).
    ``mode="clip"`` keeps ``np.take`` from buffering (the indices are a
    permutation, always in range).

    If the buffers hold two batches (``2 * batch_size`` rows) and a batch is
    at least ``PREFETCH_BYTES``, the next batch is gathered on a background
    thread into the other half while the caller works on the current one
    (``np.take`` releases the GIL while it copies). Same permutation, same
    batches; the batch handed out before is overwritten only once the caller
    asks for the next one, as without prefetching.

    x may have any number of dimensions (rows are ``x[i]``); batches keep
    the row shape, e.g. (b, C, H, W). x and y should be C-contiguous (as
    ``check_sets`` makes them): ``np.take`` would otherwise make a whole
    contiguous copy of its source for every batch, so a non-contiguous
    array is made contiguous once per call here instead.
    """
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"batches: x has {n} rows but y has {y.shape[0]}")
    if rng is None:
        for start in range(0, n, batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]
        return
    perm = rng.permutation(n)
    bx, by = buffers
    take = np.take

    def fill(start, half):
        rows = perm[start:start + batch_size]
        k = rows.shape[0]
        out_x, out_y = half[0][:k], half[1][:k]     # views of the buffers, even when full
        take(x, rows, axis=0, out=out_x, mode="clip")
        take(y, rows, axis=0, out=out_y, mode="clip")
        return out_x, out_y

    halves = ((bx[:batch_size], by[:batch_size]), (bx[batch_size:], by[batch_size:]))
    if bx.shape[0] < 2 * batch_size or n <= batch_size or not _prefetch_pays() \
            or batch_size * x.itemsize * (x.size // n) < PREFETCH_BYTES:
        for start in range(0, n, batch_size):
            yield fill(start, halves[0])
        return
    submit = _executor().submit
    pending = submit(fill, 0, halves[0])
    try:
        for i, start in enumerate(range(batch_size, n + batch_size, batch_size)):
            batch = pending.result()
            pending = submit(fill, start, halves[(i + 1) & 1]) if start < n else None
            yield batch
    finally:
        if pending is not None:         # closed early: let the fill end before the
            pending.result()            # buffers are handed to anyone else


PREFETCH_BYTES = 16384      # smaller batches are gathered in line (a hand-off costs ~10 us)


def _prefetch_pays():
    """A core is idle while the step runs: BLAS is known to use one thread, and the
    process may use at least two cores. With more BLAS threads the gather competes
    with them for the cores (measured: net A 0.35 -> 0.40 s with 2 threads)."""
    if threads.known_blas_threads() != 1:
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:                                  # pragma: no cover
        return (os.cpu_count() or 1) > 1


_EXECUTOR = _EXECUTOR_PID = None


def _executor():
    """One background thread for batch gathers, started on first use (again after a fork)."""
    global _EXECUTOR, _EXECUTOR_PID
    if _EXECUTOR is None or _EXECUTOR_PID != os.getpid():
        from concurrent.futures import ThreadPoolExecutor
        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-prefetch")
        _EXECUTOR_PID = os.getpid()
    return _EXECUTOR


def validation_indices(n, n_val, rng, strata=None):
    """Pick ``n_val`` of ``n`` row indices for validation; return (train_idx, val_idx).

    With ``strata`` (one class label per row) every class contributes in
    proportion to its size; the per-class quotas are rounded by the largest
    remainder method so the total is exactly ``n_val``, as in the
    unstratified case. Both index arrays are sorted, so the rows keep their
    original relative order and the result depends only on ``rng``'s state.
    """
    if not 1 <= n_val < n:
        raise ValueError(f"validation split: {n_val} validation rows out of {n} training "
                         f"rows leaves {'no validation' if n_val < 1 else 'no training'} rows")
    if strata is None:
        val = rng.choice(n, size=n_val, replace=False)
    else:
        classes, inverse, counts = np.unique(strata, return_inverse=True,
                                             return_counts=True)
        exact = counts * (n_val / n)
        quota = np.floor(exact).astype(np.int64)
        short = n_val - int(quota.sum())
        if short > 0:
            # largest fractional parts first; ties go to the lower class
            order = np.argsort(-(exact - quota), kind="stable")
            quota[order[:short]] += 1
        parts = []
        for c in range(classes.size):
            members = np.flatnonzero(inverse == c)
            parts.append(rng.choice(members, size=int(quota[c]), replace=False))
        val = np.concatenate(parts)
    val = np.sort(val)
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask), val
