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


def epoch_orders(batch_order, first_epoch, epochs):
    """An object with ``.epoch(i)`` for what ``train`` was given (None stays None)."""
    if batch_order is None or callable(getattr(batch_order, "epoch", None)):
        return batch_order
    if isinstance(batch_order, (list, tuple)):
        return _FixedOrders(batch_order, first_epoch, epochs)
    raise ValueError(f"batch_order: expected a BatchOrder, an object with .epoch(i), or a "
                     f"list of index arrays, got {type(batch_order).__name__}")


def check_indices(order, num_train, where):
    """The index arrays of one epoch as a list of 1-D intp arrays within [0, num_train);
    errors start with ``where`` (e.g. "batch_order epoch 3"). The one check behind
    ``train(batch_order=...)`` and ``DataReader.batches(order=...)``."""
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
    return checked


def _is_index_array(value):
    return isinstance(value, np.ndarray) and value.ndim == 1 or (
        isinstance(value, (list, tuple)) and len(value) > 0
        and all(isinstance(v, (int, np.integer)) for v in value))
