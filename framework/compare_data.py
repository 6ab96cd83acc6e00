"""Data sources for comparison runs, named in a JSON-able dict.

A run spec says which data to use, e.g. ``{"reader": "mnist", "train_size":
10000, "seed": 0}`` or, for tests, ``{"reader": "toy", "n_train": 600}``; the
worker that runs it builds the reader itself, so no data ever travels with a
task. The split is fixed by ``seed`` (the data seed), never by the run's seed:
repeats differ in initial weights and batch order, not in which samples they
see. Normalization is fitted on the training rows only, so no statistic of
the test set leaks into a run that is supposed to touch it once at the end.

``{"reader": "factory", "factory": "package.module:function", ...}`` calls a
user function (importable on every worker) that returns a read DataReader.
"""
import hashlib
import importlib
import json

import numpy as np

_CACHE = {}
_CACHE_SIZE = 2


def load_reader(data, net_type, dtype):
    """A prepared reader for ``data``; cached per process (workers reuse it)."""
    key = json.dumps([data, str(net_type), np.dtype(dtype).name], sort_keys=True)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _prepare(_raw_reader(data), data, net_type, dtype)
    return _CACHE[key]


def _raw_reader(data):
    kind = data.get("reader")
    if kind == "toy":
        return toy_reader(**{k: v for k, v in data.items()
                             if k in ("n_train", "n_test", "features", "classes",
                                      "noise", "seed")})
    if kind in ("mnist", "fashion"):
        from datareaders.mnist import MnistImageDataReader
        reader = MnistImageDataReader(data_dir=data.get("data_dir"), dataset=kind,
                                      progress=False)
        reader.read_data()
        return reader
    if kind == "factory":
        module, _, func = str(data.get("factory", "")).partition(":")
        return getattr(importlib.import_module(module), func)(**data.get("options", {}))
    raise ValueError(f"data reader: expected 'toy', 'mnist', 'fashion' or 'factory', got {kind!r}")


def toy_reader(n_train=600, n_test=200, features=20, classes=3, noise=1.0, seed=0):
    """Gaussian clusters: a small classification set that trains in milliseconds."""
    from datareaders.base import ArrayDataReader
    rng = np.random.default_rng([seed, 7])
    centers = rng.normal(0.0, 1.5, size=(classes, features))

    def draw(n):
        labels = rng.integers(0, classes, size=n)
        return centers[labels] + rng.normal(0.0, noise, size=(n, features)), labels

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return ArrayDataReader(x_train, y_train, x_test, y_test)


def _prepare(raw, data, net_type, dtype):
    """Subset, split off validation, normalize on train rows, cast."""
    from datareaders.base import ArrayDataReader
    seed = int(data.get("seed", 0))
    x_all = raw.x_train.reshape(raw.x_train.shape[0], -1)
    y_all = raw.y_train_raw
    order = np.random.default_rng([seed, 1]).permutation(x_all.shape[0])
    train_size = int(data.get("train_size") or x_all.shape[0])
    val_size = int(data.get("val_size") or 0)
    train_rows = np.sort(order[:train_size])
    x_test, y_test = raw.x_test.reshape(raw.x_test.shape[0], -1), raw.y_test_raw
    if data.get("test_size"):
        keep = np.random.default_rng([seed, 2]).permutation(x_test.shape[0])
        keep = np.sort(keep[:int(data["test_size"])])
        x_test, y_test = x_test[keep], y_test[keep]
    reader = ArrayDataReader(x_all[train_rows], y_all[train_rows], x_test, y_test)
    if val_size:
        val_rows = np.sort(order[train_size:train_size + val_size])
        if len(val_rows) < val_size:
            raise ValueError(f"data: {train_size} train + {val_size} validation rows "
                             f"exceed the {x_all.shape[0]} available")
        _set_validation(reader, x_all[val_rows], y_all[val_rows])
    else:
        reader.generate_validation_set(k=int(data.get("val_k", 10)), seed=seed)
    reader.normalize_x(fit_on="train", per_feature=bool(data.get("per_feature", False)))
    reader.normalize_y(net_type, fit_on="train")
    return reader.astype(dtype)


def _set_validation(reader, x_val, y_val):
    """Validation rows held out of the training pool (before any normalization)."""
    reader.x_val = np.asarray(x_val, dtype=reader.dtype)
    reader.y_val_raw = np.asarray(y_val).reshape(len(y_val), -1)
    reader.y_val = reader.y_val_raw.copy()


class RecordingReader:
    """A reader proxy that hashes the first mini-batches training draws.

    The runner wraps every run's reader in one, so the result carries proof
    of the batch order the run actually saw, not the order it should have
    seen. Everything else is delegated to the wrapped reader.
    """

    def __init__(self, reader, num_batches=3):
        self._reader = reader
        self._num_batches = num_batches
        self.batch_digests = []

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def batches(self, batch_size, rng=None):
        for x, y in self._reader.batches(batch_size, rng):
            if len(self.batch_digests) < self._num_batches:
                digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
                digest.update(np.ascontiguousarray(y).tobytes())
                self.batch_digests.append(digest.hexdigest()[:16])
            yield x, y
