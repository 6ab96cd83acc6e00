"""BufferCache: reusable work arrays keyed by name and shape.

A training step touches the same array shapes every batch, so each layer
keeps the arrays it computes into and asks for them by name and shape; only
a new shape (the last, partial batch; a validation chunk) allocates. One
cache per layer, shared with what the layer delegates to (its activator,
its classifier), is the single mechanism behind an allocation-free step.
"""
import numpy as np


class BufferCache:
    """Arrays keyed by (name, shape, dtype); per name, the least recent shape is evicted.

    A training run sees few shapes per array (the batch, the last partial
    batch, the validation chunk), so a handful per name is enough; more would
    only pin memory for shapes that do not come back. New arrays are zeros.
    """

    def __init__(self, max_shapes=3):
        self.max_shapes = max_shapes
        self._arrays = {}       # name -> {(shape, dtype): array}, most recent last
        self._hot = {}          # name -> the array returned last (the steady-state hit)
        self.hot = self._hot    # read-only use: a caller's own fast path may look here first

    def get(self, name, shape, dtype):
        """The cached array ``name`` of ``shape`` and ``dtype`` (a new zeros one on a miss)."""
        array = self._hot.get(name)
        if array is not None and array.shape == shape and array.dtype == dtype:
            return array
        array = self._hot[name] = self._lookup(name, tuple(shape), np.dtype(dtype))
        return array

    def _lookup(self, name, shape, dtype):
        entries = self._arrays.setdefault(name, {})
        key = (shape, dtype)
        array = entries.pop(key, None)
        if array is None:
            if len(entries) >= self.max_shapes:
                del entries[next(iter(entries))]
            array = np.zeros(shape, dtype)
        entries[key] = array            # re-insert: most recently used goes last
        return array

    def clear(self):
        """Drop every cached array (the next get allocates afresh)."""
        self._arrays.clear()
        self._hot.clear()

    def __len__(self):
        return sum(len(entries) for entries in self._arrays.values())
