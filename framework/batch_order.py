"""BatchOrder: one fixed list of mini-batches per epoch, shared by several nets.

The notes' rule for comparing optimizers fairly: "pre-generate one list of
batches and give every optimizer the same one". ``BatchOrder(num_train,
batch_size, seed).epoch(i)`` is the list of row-index arrays of epoch ``i``,
a pure function of (seed, i): any number of nets, in any process, given the
same order see the same rows in the same batches, whatever their own seeds.

``train(reader, batch_order=...)`` takes a ``BatchOrder``, any object with
``.epoch(i)`` returning index arrays (``i`` is the net's absolute epoch, so
``epochs=2`` twice sees what ``epochs=4`` once sees), a flat list of index
arrays (the same order every epoch), or a list with one list of index
arrays per epoch of that call.

Whatever its form, an epoch's batches must use each training row of the reader
exactly once (a permutation cut into batches), which ``check_indices`` checks
where the order meets the reader: ``BatchOrder(10, 5)`` given a 30-row reader
trained on rows 0-9 only and called it an epoch. To train on a subset, or to
repeat rows on purpose, make a reader of exactly those rows (or drive
``net.train_step`` yourself).
"""
import numpy as np


class BatchOrder:
    """``BatchOrder(num_train, batch_size, seed)``: a seeded permutation per epoch."""

    def __init__(self, num_train, batch_size, seed=0):
        for field, value, low in (("num_train", num_train, 1), ("batch_size", batch_size, 1),
                                  ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise ValueError(f"BatchOrder {field}: expected an integer >= {low}, "
                                 f"got {value!r}")
        self.num_train, self.batch_size, self.seed = int(num_train), int(batch_size), int(seed)

    def epoch(self, i):
        """The index arrays of epoch ``i``: a permutation cut into batches (the last
        one may be shorter)."""
        perm = np.random.default_rng([self.seed, int(i)]).permutation(self.num_train)
        return [perm[start:start + self.batch_size]
                for start in range(0, self.num_train, self.batch_size)]

    def __repr__(self):
        return f"BatchOrder({self.num_train}, {self.batch_size}, seed={self.seed})"


class _FixedOrders:
    """A list given to ``train``: flat (every epoch alike) or one list per epoch."""

    def __init__(self, orders, first_epoch, epochs):
        orders = list(orders)
        if not orders:
            raise ValueError("batch_order: expected index arrays, got an empty list")
        self.flat = _is_index_array(orders[0])
        if not self.flat and len(orders) < epochs:
            raise ValueError(f"batch_order: expected one list of index arrays per epoch "
                             f"({epochs}), got {len(orders)}")
        self.orders, self.first = orders, first_epoch

    def epoch(self, i):
        return self.orders if self.flat else self.orders[i - self.first]


def epoch_orders(batch_order, first_epoch, epochs, num_train=None):
    """An object with ``.epoch(i)`` for what ``train`` was given (None stays None).

    With ``num_train`` (the reader's training rows), a ``BatchOrder`` made for
    another number of rows is refused at once (``check_order_fits``), before
    any epoch starts, rather than at its first epoch by ``check_indices``.
    """
    if num_train is not None:
        check_order_fits(batch_order, num_train)
    if batch_order is None or callable(getattr(batch_order, "epoch", None)):
        return batch_order
    if isinstance(batch_order, (list, tuple)):
        orders = _FixedOrders(batch_order, first_epoch, epochs)
        if num_train is not None:       # the lists are all there: check every epoch now
            for i in range(first_epoch, first_epoch + (1 if orders.flat else epochs)):
                check_indices(orders.epoch(i), num_train, f"batch_order epoch {i}")
        return orders
    raise ValueError(f"batch_order: expected a BatchOrder, an object with .epoch(i), or a "
                     f"list of index arrays, got {type(batch_order).__name__}")


def check_order_fits(batch_order, num_train):
    """Refuse an order that declares a number of rows (``BatchOrder.num_train``)
    other than the reader's ``num_train``: its epochs would skip rows or name rows
    that do not exist."""
    declared = getattr(batch_order, "num_train", None)
    if declared is not None and declared != num_train:
        raise ValueError(f"batch_order: {batch_order!r} is made for {declared} training "
                         f"rows, but the reader has {num_train}; make it with "
                         f"BatchOrder(reader.num_train, ...)")


def check_indices(order, num_train, where):
    """The index arrays of one epoch as a list of 1-D intp arrays within [0, num_train)
    that together use each row exactly once; errors start with ``where`` (e.g.
    "batch_order epoch 3"). The one check behind ``train(batch_order=...)`` and
    ``DataReader.batches(order=...)``."""
    checked = []
    for k, rows in enumerate(order):
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu":
            raise ValueError(f"{where} batch {k}: expected a non-empty 1-D array of row "
                             f"indices, got shape {rows.shape} dtype {rows.dtype}")
        if rows.min() < 0 or rows.max() >= num_train:
            raise ValueError(f"{where} batch {k}: row indices must lie in "
                             f"0..{num_train - 1}, got {int(rows.min())}..{int(rows.max())}")
        checked.append(rows.astype(np.intp, copy=False))
    if not checked:
        raise ValueError(f"{where}: expected at least one batch, got none")
    _check_each_row_once(checked, num_train, where)
    return checked


def _check_each_row_once(order, num_train, where):
    """One count per row (O(rows), once an epoch): every row used, none twice."""
    total = sum(rows.shape[0] for rows in order)
    counts = np.bincount(np.concatenate(order), minlength=num_train)
    unused, repeated = int(np.count_nonzero(counts == 0)), int(np.count_nonzero(counts > 1))
    if unused or repeated:
        problems = [f"{unused} never used" if unused else "",
                    f"{repeated} used more than once" if repeated else ""]
        raise ValueError(f"{where}: an epoch must use each of the reader's {num_train} "
                         f"training rows exactly once; these batches hold {total} row "
                         f"indices ({', '.join(p for p in problems if p)}); an order made "
                         f"for another number of rows?")


def _is_index_array(value):
    return isinstance(value, np.ndarray) and value.ndim == 1 or (
        isinstance(value, (list, tuple)) and len(value) > 0
        and all(isinstance(v, (int, np.integer)) for v in value))
