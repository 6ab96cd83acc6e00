"""The data-source registry: the only way a run spec's ``data`` becomes a reader.

A config file names its data by a registered name (``{"source": "mnist"}``),
never by a module path, so a file cannot make a worker import or run code
the program did not register. The framework itself knows no data set: the
``datareaders`` package registers its sources (``mnist``, ``fashion``,
``house``, ``curve``, ``npz``, ``clusters`` ...) when it is imported, and a
user registers one the same way::

    @register_source("my_data")
    def my_data(data, net_type, dtype):
        ...return a reader ready for net.train (split, normalized, cast)

(``datareaders.sources.reader_source`` does the split and normalization for a
function that only reads the data.)

The parent process resolves the name and ships the source itself with each
task (by reference to its module, as pickle does), so a spawned or remote
worker gets the very function the parent registered; register sources at the
top level of an importable module or script.
"""
import copy
import json

import numpy as np

from ...registry import Registry

DATA_SOURCES = Registry("data source")
_CACHE = {}
_CACHE_SIZE = 2     # readers kept per worker process (a sweep uses one or two)


def register_source(name, *aliases):
    """Decorator: register ``source(data, net_type, dtype) -> reader`` as ``name``."""
    def register(source):
        if not callable(source):
            raise TypeError(f"register_source({name!r}): expected a callable, got {source!r}")
        return DATA_SOURCES.register(source, [name, *aliases])
    return register


def get_source(name):
    """The source registered as ``name``; ValueError listing the registered ones."""
    if name not in DATA_SOURCES:
        known = DATA_SOURCES.names()
        hint = "" if known else " (none yet: `import datareaders` registers the built-in ones)"
        raise ValueError(f"data source: expected one of {known}, got {name!r}{hint}; "
                         f"a config names a registered source, never a module")
    return DATA_SOURCES.get(name)


def load_reader(source, data, net_type, dtype):
    """``source(data, net_type, dtype)``, cached per process: a worker reading the
    same data for its next run reuses the prepared reader."""
    key = json.dumps([data, str(net_type), np.dtype(dtype).name], sort_keys=True)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = source(copy.deepcopy(data), net_type, dtype)   # the spec stays as given
    return _CACHE[key]
