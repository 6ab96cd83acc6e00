"""Layer: the interface every layer implements, plus its buffer cache.

A layer computes ``forward(x, train)`` and ``backward(delta)`` and never
updates itself: its trainable arrays live in ``WeightsBias`` objects listed
by ``weights()``, which the net updates. Persistent non-trainable arrays
(batch-norm running statistics) are ``buffers()``: saved, never optimized.

Arrays returned by ``forward`` / ``backward`` belong to the layer and are
overwritten by its next call with the same batch size; callers that keep one
must copy it. That is what lets a training step allocate nothing: each layer
keeps one output and one gradient array per recent batch size.
"""
import numpy as np


class BufferCache:
    """Arrays keyed by (name, batch rows), least recently used evicted.

    A training run sees few batch sizes (the batch, the last partial batch, the
    validation set), so a handful of entries per name is enough; more would
    only pin memory for sizes that do not come back.
    """

    def __init__(self, max_entries=3):
        self.max_entries = max_entries
        self._arrays = {}
        self._hot = {}     # name -> the array returned last (the training step's fast path)

    def get(self, name, rows, columns, dtype):
        """The array for ``name`` with shape ``(rows, columns)``; new ones are zeros."""
        array = self._hot.get(name)
        if array is not None and array.shape[0] == rows and array.shape[1] == columns \
                and array.dtype == dtype:
            return array
        array = self._hot[name] = self._get(name, rows, columns, dtype)
        return array

    def _get(self, name, rows, columns, dtype):
        entries = self._arrays.setdefault(name, {})
        array = entries.pop(rows, None)
        if array is None or array.shape[1] != columns or array.dtype != dtype:
            if len(entries) >= self.max_entries:
                del entries[next(iter(entries))]
            array = np.zeros((rows, columns), dtype)
        entries[rows] = array          # re-insert: most recently used goes last
        return array

    def clear(self):
        self._arrays.clear()
        self._hot.clear()


class Layer:
    """Base layer: no parameters, no buffers, needs no initialization."""

    input_size = None      # None: takes any width
    output_size = None     # None: same width as its input
    need_input_grad = True  # the net sets False on the first layer to skip dx

    def __init__(self):
        self._cache = BufferCache()

    def attach(self, params):
        """Called by ``NeuralNet.add_layer`` with the net's HyperParameters, before
        ``initialize``: a layer built without them may adopt the net's."""

    def initialize(self, streams):
        """Create weights from ``streams.init``; keep ``streams.noise`` if needed."""

    def forward(self, x, train):
        raise NotImplementedError

    def backward(self, delta):
        raise NotImplementedError

    def weights(self):
        """The ``WeightsBias`` objects the net must update (``[]`` if none)."""
        return []

    def buffers(self):
        """Persistent arrays that are saved but never optimized (live references)."""
        return {}

    def set_buffers(self, buffers):
        """Copy saved buffers into this layer's own arrays (names and shapes must match)."""
        own = self.buffers()
        if set(buffers) != set(own):
            raise ValueError(f"{type(self).__name__} buffers: expected {sorted(own)}, "
                             f"got {sorted(buffers)}")
        for name, target in own.items():
            value = np.asarray(buffers[name])
            if value.shape != target.shape:
                raise ValueError(f"{type(self).__name__} buffer {name!r}: expected shape "
                                 f"{target.shape}, got {value.shape}")
            np.copyto(target, value, casting="same_kind")

    def get_config(self):
        """JSON-able constructor keyword arguments (without ``params``)."""
        return {}

    def _buffer(self, name, rows, columns, dtype):
        return self._cache.get(name, rows, columns, dtype)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def check_positive_int(owner, field, value):
    """Constructor validation: a ValueError that quotes the value received."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner} {field}: expected a positive integer, got {value!r}")
    return int(value)


def check_input(owner, x, width):
    """Cheap per-call check: 2-D input of the expected width."""
    if x.ndim != 2 or (width is not None and x.shape[1] != width):
        raise ValueError(f"{owner}: expected input of shape (batch, {width}), got {x.shape}")
