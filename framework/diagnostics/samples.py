"""The fixed sample batch a diagnostic callback probes at every checkpoint.

The same rows at every checkpoint, so a change in a layer's numbers is the
net's doing, not the batch's. By default the batch has the training batch's
size: the probe's training-mode pass then reuses the work arrays the layers
already hold for the training step (a new shape would allocate and could
evict one of them).
"""
import numpy as np

from ..infra.validation import check_integer


def check_source(data, owner):
    """Refuse, when the callback is made, data that cannot give a sample batch."""
    if data is None or isinstance(data, tuple) and len(data) == 2 or _is_reader(data):
        return data
    raise ValueError(f"{owner}: data: expected a DataReader (its training set is sampled) "
                     f"or a tuple (x, y) of arrays, got {type(data).__name__}")


def sample_batch(net, data, samples, seed, owner):
    """``(x, y)`` checked for ``net``: ``samples`` rows (None: the training batch size)
    drawn without replacement with ``seed`` from a reader's training set or from
    (x, y); all rows when there are fewer."""
    x, y = (data.x_train, data.y_train) if _is_reader(data) else data
    if x is None or y is None:
        raise ValueError(f"{owner}: the data has no training set to sample (read_data first)")
    size = net.params.batch_size if samples is None else \
        check_integer(f"{owner} samples", samples, minimum=1)
    count = len(x)
    if size < count:
        rows = np.sort(np.random.default_rng(seed).choice(count, size, replace=False))
        x, y = np.asarray(x)[rows], np.asarray(y)[rows]
    x, y = net.check_batch(x, y, owner)
    return np.array(x, copy=True), np.array(y, copy=True)


def _is_reader(data):
    return hasattr(data, "x_train") and hasattr(data, "y_train")
