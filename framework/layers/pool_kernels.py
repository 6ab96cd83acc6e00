"""The passes behind PoolingLayer, each a whole-part NumPy operation on strided views.

A pooling window is ``ph`` rows of ``pw`` columns, so every reduction over
it is done in two steps, never one Python step per window offset (a layer
made with a 3000x3000 window must not cost nine million of anything):

forward   first down the window's rows: ``column_max[n, c, r, w]``, the
          maximum (mean pooling: the sum) of input column ``w`` over the
          ``ph`` rows of window row ``r`` (``ph`` passes over ``x[:, :, i::sh]``,
          whose rows are contiguous: NumPy's fast loops); then across its
          columns: ``out[n, c, r, s]``, over the ``pw`` columns of window column
          ``s`` (``pw`` passes over ``column_max[..., j::sw]``, the strided half,
          on data ``ph`` times smaller). Rows first took half the time of
          columns first on the reference net's 2x2 pooling (0.45 ms).

Max pooling's backward pass sends each window's delta to its first maximum
in row-major order. Two ways, with the same answer:

by offsets (windows of at most ``2 * (ph + pw)`` offsets, e.g. 2x2, 3x3)
    walk the ``ph*pw`` offsets in row-major order; offset k wins where its
    value equals the window's maximum and no earlier offset has won. The
    masks are bools, a quarter of the memory traffic of float arithmetic.
by rows, then columns (bigger windows)
    ``row_max[n, c, h, s]``, the maximum of input row ``h`` over the ``pw``
    columns of window column ``s`` (``pw`` passes); the winning row is the
    first of the window's rows whose ``row_max`` equals the window's maximum:
    ``ph`` passes route the delta to ``row_grad[n, c, h, s]``; then within
    each row the first column holding the row's maximum takes ``row_grad``:
    ``pw`` passes. A row that wins several overlapping windows collects all
    their deltas, and all go to the same first maximum of that row, which is
    what each window would pick.

Mean pooling spreads ``delta / (ph*pw)`` the same way round (rows, then
columns). Overlapping windows (stride smaller than the window) add their
contributions; disjoint ones assign them. Inputs in no window (gaps, the
dropped remainder) are never written, so they keep the zeros their buffer
was made with.

Each function works on one part of the batch (``part``: a slice of samples)
so the layer can run the parts on several threads; a part writes only its
own samples of every array.
"""
import numpy as np

from ..infra import threads

_copyto, _maximum, _add, _multiply = np.copyto, np.maximum, np.add, np.multiply
_equal, _greater, _logical_or = np.equal, np.greater, np.logical_or


class PoolPlan:
    """The arrays of one batch shape, the window geometry, and the parts."""

    def __init__(self, layer, x_shape, dtype, mean):
        self.layer, self.x_shape, self.dtype = layer, tuple(x_shape), np.dtype(dtype)
        self.mean = mean
        batch, (c, _, _), (_, oh, ow) = x_shape[0], layer.input_shape, layer.output_shape
        (ph, pw), (sh, sw) = layer.pool_shape, layer.stride
        self.pool_shape, self.stride, self.out_hw = (ph, pw), (sh, sw), (oh, ow)
        self.area = ph * pw
        self.rows_used = (oh - 1) * sh + ph         # input rows inside some window
        self.columns_used = (ow - 1) * sw + pw      # ... and columns
        self.rows_overlap, self.columns_overlap = sh < ph, sw < pw
        self.by_offsets = walks_offsets((ph, pw))
        self.out = layer.buffer("out", (batch, c, oh, ow), dtype)
        self.column_max = layer.buffer("column max", (batch, c, oh, self.columns_used), dtype)
        self._parts = {}
        self._backward = None

    @property
    def parts(self):
        """Slices of the batch, two per worker thread (one if there is one thread)."""
        count = threads.worker_threads()
        found = self._parts.get(count)
        if found is None:
            batch = self.x_shape[0]
            pieces = 1 if count == 1 else min(batch, 2 * count)
            bounds = [batch * k // pieces for k in range(pieces + 1)]
            found = self._parts[count] = [slice(a, b) for a, b in zip(bounds, bounds[1:])
                                          if b > a]
        return found

    def backward_arrays(self):
        """dx and the backward pass's work arrays, made once (by the calling thread,
        before the parts run: the layer's buffer cache is not thread-safe)."""
        if self._backward is None:
            oh, rows = self.out_hw[0], self.rows_used
            shapes = {"hit": (oh, bool), "taken": (oh, bool), "part": (oh, None),
                      "share": (oh, None), "row max": (rows, None), "row grad": (rows, None),
                      "row hit": (rows, bool), "row taken": (rows, bool),
                      "row part": (rows, None)}
            work = {"dx": self.layer.buffer("dx", self.x_shape, self.dtype)}
            for name in self._backward_names():
                work[name] = self._work(name, *shapes[name])
            self._backward = work
        return self._backward

    def _backward_names(self):
        """The work arrays the backward pass of this layer uses (``part``: the sum
        buffer of overlapping windows)."""
        if self.mean:
            return ["share", "row grad"]
        if self.by_offsets:
            overlap = self.rows_overlap or self.columns_overlap
            return ["hit", "taken"] + (["part"] if overlap else [])
        return (["hit", "taken", "row max", "row grad", "row hit", "row taken"]
                + (["part"] if self.rows_overlap else [])
                + (["row part"] if self.columns_overlap else []))

    def _work(self, name, rows, dtype):
        batch, c, _, ow = self.out.shape
        return self.layer.buffer(name, (batch, c, rows, ow),
                                 self.dtype if dtype is None else dtype)


def walks_offsets(pool_shape):
    """Route max pooling's gradient offset by offset (True) or rows, then columns?
    Walking the ``ph*pw`` offsets takes about 4 passes over the output each; rows then
    columns about 4 over the output and 4 over the (twice as tall) row maxima per
    row and column, so offsets win up to ``2 * (ph + pw)`` of them (2x2 backward
    1.0 ms against 1.3 ms on the reference net's first pooling)."""
    ph, pw = pool_shape
    return ph * pw <= 2 * (ph + pw)


# ----- views ------------------------------------------------------------------------
def _columns(a, j, stride, count):
    """Column ``j`` of every window across: ``a[..., j::stride]``, ``count`` of them."""
    return a[..., j:j + stride * (count - 1) + 1:stride]


def _rows(a, i, stride, count):
    """Row ``i`` of every window down: ``a[:, :, i::stride]``, ``count`` of them."""
    return a[:, :, i:i + stride * (count - 1) + 1:stride]


def _fold(ufunc, views, out):
    """``out = v0 op v1 op v2 ...`` in order, one pass per view (``views`` an iterator)."""
    first = next(views)
    second = next(views, None)
    if second is None:
        _copyto(out, first)
        return out
    ufunc(first, second, out=out)
    for view in views:
        ufunc(out, view, out=out)
    return out


# ----- forward ----------------------------------------------------------------------
def max_pool(plan, x, part):
    """``out = max over columns of (max over rows)`` for samples ``part``."""
    _reduce(_maximum, plan, x, part)


def mean_pool(plan, x, part):
    """``out = (sum over columns of (sum over rows)) / (ph*pw)`` for samples ``part``."""
    out = _reduce(_add, plan, x, part)
    _multiply(out, 1.0 / plan.area, out=out)


def _reduce(ufunc, plan, x, part):
    (ph, pw), (sh, sw), (oh, ow) = plan.pool_shape, plan.stride, plan.out_hw
    inputs, column_max = x[part, :, :, :plan.columns_used], plan.column_max[part]
    _fold(ufunc, (_rows(inputs, i, sh, oh) for i in range(ph)), column_max)
    return _fold(ufunc, (_columns(column_max, j, sw, ow) for j in range(pw)),
                 plan.out[part])


# ----- backward ---------------------------------------------------------------------
def route_max(plan, x, delta, part):
    """Each window's delta to its first maximum (row-major), for samples ``part``."""
    work = {name: array[part] for name, array in plan.backward_arrays().items()}
    if plan.by_offsets:
        _route_by_offsets(plan, x[part], delta[part], work, part)
    else:
        _route_by_rows(plan, x[part], delta[part], work, part)


def _route_by_offsets(plan, x, delta, work, part):
    (ph, pw), (sh, sw), (oh, ow) = plan.pool_shape, plan.stride, plan.out_hw
    dx = work["dx"]
    if "part" in work:                          # windows overlap: contributions add up
        dx.fill(0)
    _first_hits(
        ((_columns(_rows(x, i, sh, oh), j, sw, ow), _columns(_rows(dx, i, sh, oh), j, sw, ow))
         for i in range(ph) for j in range(pw)),
        plan.out[part], delta, work["hit"], work["taken"], work.get("part"), ph * pw)


def _route_by_rows(plan, x, delta, work, part):
    (ph, pw), (sh, sw), (oh, ow) = plan.pool_shape, plan.stride, plan.out_hw
    rows, dx = plan.rows_used, work["dx"]
    row_max, row_grad = work["row max"], work["row grad"]
    inputs, grads = x[:, :, :rows], dx[:, :, :rows]
    _fold(_maximum, (_columns(inputs, j, sw, ow) for j in range(pw)), row_max)
    if plan.rows_overlap:
        row_grad.fill(0)
    # the first row of each window whose maximum is the window's takes its delta
    _first_hits(((_rows(row_max, i, sh, oh), _rows(row_grad, i, sh, oh)) for i in range(ph)),
                plan.out[part], delta, work["hit"], work["taken"], work.get("part"), ph)
    # within each row, the first column holding the row's maximum takes the row's share
    if plan.columns_overlap:
        dx.fill(0)
    _first_hits(((_columns(inputs, j, sw, ow), _columns(grads, j, sw, ow)) for j in range(pw)),
                row_max, row_grad, work["row hit"], work["row taken"], work.get("row part"),
                pw)


def _first_hits(candidates, best, share, hit, taken, scratch, count):
    """For each ``(values, target)`` in order: where ``values == best`` and no earlier
    candidate matched, ``target`` gets ``share`` (added when ``scratch`` is given,
    because targets overlap; else assigned, zero where it lost)."""
    last = count - 1
    for k, (values, target) in enumerate(candidates):
        _equal(values, best, out=hit)
        if k:
            _greater(hit, taken, out=hit)           # hit and not taken
        if k == 0:
            _copyto(taken, hit)
        elif k < last:
            _logical_or(taken, hit, out=taken)
        if scratch is None:
            _multiply(share, hit, out=target)
        else:
            _multiply(share, hit, out=scratch)
            _add(target, scratch, out=target)


def spread_mean(plan, x, delta, part):
    """``delta / (ph*pw)`` to every input of each window, for samples ``part``."""
    (ph, pw), (sh, sw), (oh, ow) = plan.pool_shape, plan.stride, plan.out_hw
    rows, arrays = plan.rows_used, plan.backward_arrays()
    share, row_grad, grads = arrays["share"][part], arrays["row grad"][part], arrays["dx"][part]
    _multiply(delta[part], 1.0 / plan.area, out=share)
    if plan.rows_overlap:
        row_grad.fill(0)
    for i in range(ph):
        _deposit(_rows(row_grad, i, sh, oh), share, plan.rows_overlap)
    if plan.columns_overlap:
        grads.fill(0)
    for j in range(pw):
        _deposit(_columns(grads[:, :, :rows], j, sw, ow), row_grad, plan.columns_overlap)


def _deposit(target, values, overlap):
    if overlap:
        _add(target, values, out=target)
    else:
        _copyto(target, values)
