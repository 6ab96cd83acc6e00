"""Arrays in, numbers out: ``net.fit(x, y, ...)`` and ``net.evaluate(x, y)``.

What a Keras or scikit-learn user reaches for first. ``fit`` wraps the arrays in
``ArrayData`` (the few things ``train`` asks of a reader), splits off validation
rows if asked -- seeded, stratified by class for classifiers, exactly the rows
``DataReader.generate_validation_set`` would pick for the same seed and size --
and runs the same ``train``: the same numbers as the reader path. Classifiers
take class numbers ``(N,)`` as well as one-hot rows (``framework.labels``).
"""
from fractions import Fraction

import numpy as np

from .enums import NetType
from .infra.batches import iter_batches, validation_indices
from .labels import as_targets
from .losses import loss_for
from .metrics import make_metric, metric_for


class ArrayData:
    """Training (and validation) arrays with the reader interface ``train`` uses:
    ``x_train``, ``y_train``, ``num_train``, ``astype``, ``batches``,
    ``get_validation_set``, ``get_test_set`` (there is no test set here)."""

    def __init__(self, x_train, y_train, x_val=None, y_val=None):
        self.x_train, self.y_train = np.ascontiguousarray(x_train), np.ascontiguousarray(y_train)
        self.x_val, self.y_val = x_val, y_val
        self.x_test = self.y_test = None
        self._buffers = None

    @property
    def num_train(self):
        """Rows of the training set."""
        return self.x_train.shape[0]

    def astype(self, dtype):
        """Convert every set to ``dtype`` (no-op if it already is)."""
        for name in ("x_train", "y_train", "x_val", "y_val"):
            value = getattr(self, name)
            if value is not None and value.dtype != dtype:
                setattr(self, name, np.ascontiguousarray(value, dtype=dtype))
                self._buffers = None

    def get_validation_set(self):
        """(x_val, y_val), or None without validation rows."""
        return None if self.x_val is None else (self.x_val, self.y_val)

    def get_test_set(self):
        """No test set: (None, None)."""
        return None, None

    def batches(self, batch_size, rng=None, order=None):
        """One epoch's (x, y) batches: permuted by ``rng`` (in stored order without it),
        or exactly the row-index arrays of ``order``; gathered into reused buffers."""
        if order is not None:
            return self._ordered(order)
        rows = min(int(batch_size), self.num_train)
        return iter_batches(self.x_train, self.y_train, int(batch_size), rng,
                            None if rng is None else self._gather_buffers(2 * rows))

    def _ordered(self, order):
        x_buffer, y_buffer = self._gather_buffers(max(rows.shape[0] for rows in order))
        for rows in order:
            k = rows.shape[0]
            np.take(self.x_train, rows, axis=0, out=x_buffer[:k])
            np.take(self.y_train, rows, axis=0, out=y_buffer[:k])
            yield x_buffer[:k], y_buffer[:k]

    def _gather_buffers(self, rows):
        if self._buffers is None or self._buffers[0].shape[0] < rows:
            self._buffers = (np.empty((rows,) + self.x_train.shape[1:], self.x_train.dtype),
                             np.empty((rows,) + self.y_train.shape[1:], self.y_train.dtype))
        return self._buffers


def fit(net, x, y, epochs=None, batch_size=None, validation_split=0.0, validation_data=None,
        shuffle=True, callbacks=None, verbose=1, checkpoint=1.0, split_seed=0,
        restore_best=None, monitor=None, batch_order=None):
    """Train ``net`` on arrays; return the TrainingHistory (see ``NeuralNet.fit``)."""
    x = net.check_input(x, "fit x")
    y = _targets(net, y, x.shape[0], "fit y")
    data = _split(net, x, y, validation_split, validation_data, split_seed)
    if batch_size is not None and batch_size != net.params.batch_size:
        from dataclasses import replace
        net.params = replace(net.params, batch_size=batch_size)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"fit shuffle: expected True or False, got {shuffle!r}")
    if not shuffle and batch_order is None:
        size = net.params.batch_size
        batch_order = [np.arange(start, min(start + size, data.num_train))
                       for start in range(0, data.num_train, size)]
    history = net.train(data, epochs=epochs, checkpoint=checkpoint, need_test=False,
                        callbacks=callbacks, verbose=verbose, batch_order=batch_order,
                        restore_best=restore_best, monitor=monitor)
    history.validation_rows = getattr(data, "validation_rows", None)
    return history


def _targets(net, y, rows, where):
    params = net.params
    return as_targets(y, params.net_type, net.output_shape, params.dtype, rows, where)


def _split(net, x, y, validation_split, validation_data, seed):
    """ArrayData for ``fit``: the given validation data, or a seeded (stratified) split."""
    if validation_data is not None:
        if validation_split:
            raise ValueError("fit: give validation_split or validation_data, not both")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(f"fit validation_data: expected (x_val, y_val), got "
                             f"{type(validation_data).__name__}")
        x_val = net.check_input(validation_data[0], "fit validation_data x")
        y_val = _targets(net, validation_data[1], x_val.shape[0], "fit validation_data y")
        return ArrayData(x, y, x_val, y_val)
    if isinstance(validation_split, (bool, np.bool_)) or not isinstance(
            validation_split, (int, float, np.number)) or not 0 <= validation_split < 1:
        raise ValueError(f"fit validation_split: expected a fraction in [0, 1), got "
                         f"{validation_split!r}")
    if not validation_split:
        return ArrayData(x, y)
    n = x.shape[0]
    fraction = Fraction(float(validation_split)).limit_denominator(10 ** 6)
    n_val = n * fraction.numerator // fraction.denominator
    strata = None if net.params.net_type is NetType.FITTING else class_numbers(y)
    train, val = validation_indices(n, n_val, np.random.default_rng(seed), strata)
    data = ArrayData(x[train], y[train], x[val], y[val])
    data.validation_rows = val
    return data


def class_numbers(y):
    """One class number per sample of one-hot rows (or a 0/1 column)."""
    return np.argmax(y, axis=1) if y.shape[1] > 1 else (y[:, 0] > 0.5).astype(np.int64)


def evaluate(net, x, y, metrics=None):
    """``{"loss": data loss, <metric>: value, ...}`` of inference-mode outputs on (x, y):
    the net type's metric (accuracy, or r2), then every name in ``metrics``."""
    x = net.check_input(x, "evaluate x")
    y = _targets(net, y, x.shape[0], "evaluate y")
    a = net._predict(x)
    default = metric_for(net.params.net_type)
    found = {"loss": loss_for(net.params).loss(a, y), default.name: default.of(a, y)}
    for spec in metrics or ():
        metric = make_metric(spec)
        found[metric.name] = metric.of(a, y)
    return found
