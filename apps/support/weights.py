"""A saved net together with the data options it was trained with.

``--load`` must prepare the test data exactly as training did (which data
set, the price scale, the split...), so those options travel inside the
weights file (its checksummed ``metadata``, see framework/serialization/),
with the app's name and the reader's preprocessing (statistics, label encoding,
reader options; ``datareaders.preprocessing``): a saved net
can turn raw inputs into raw predictions in a new process, and a file from
another app, without data options, for other options given on the command
line, or for data that normalise differently is refused with one line.
These functions are the only place that knows the layout::

    net.metadata = {"app": "house_price",
                    "data": {"dataset": "kc-house", "split_seed": 2019, ...},
                    "preprocessing": preprocessing_metadata(reader)}

A file is data from outside: its data options size and seed the data an app
reads or generates (``arc_points: 10**9`` asked for 7.45 GiB, ``data_seed:
"abc"`` gave a traceback). So every app declares the type and range of each of
its data options (``register_data_options``), with checks that also size a
generated set against the memory available before anything is allocated, and
``load_net`` refuses a file whose option fails its check with one line naming
the file and the option.
"""
import numpy as np

from datareaders.preprocessing import (STATISTICS, check_reader_options,
                                       preprocessing_metadata)
from framework import NeuralNet
from framework.infra.validation import check_integer, check_number

from . import targets

# app name -> {data option: check(name, value)}, a check raising ValueError
# "<name>: expected ..., got ..."
DATA_OPTION_CHECKS = {}


def register_data_options(app, **checks):
    """Declare the checks of ``app``'s data options (one callable ``check(name,
    value)`` per option, e.g. ``one_of(...)``, ``seed``, ``fraction``), applied to
    every file ``load_net`` reads."""
    DATA_OPTION_CHECKS[app] = dict(checks)


def one_of(*choices):
    """A check: the value is one of ``choices`` (strings, compared exactly)."""
    def check(name, value):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return check


def seed(name, value):
    """A check: an integer >= 0 (NumPy's seeds; no bool, float or text)."""
    check_integer(name, value, minimum=0)


def fraction(name, value):
    """A check: a number strictly between 0 and 1."""
    check_number(name, value, 0, 1, above=True, below=True)


def check_data_options(path, app, options):
    """Apply ``app``'s registered checks; ValueError naming the file and the option."""
    for name, check in DATA_OPTION_CHECKS.get(app, {}).items():
        if name in options:             # a missing option is named by the caller
            try:
                check(name, options[name])
            except ValueError as error:
                raise ValueError(f"{path}: data option {error}") from None


def save_net(net, path, app, data_options, reader):
    """Save ``net`` to ``path`` with the app's name, its data options and the reader's
    preprocessing."""
    targets.make_parent(path)
    net.save(path, metadata={"app": app, "data": dict(data_options),
                             "preprocessing": preprocessing_metadata(reader)})


def load_net(path, app):
    """Load the net in ``path``; return (net, its data options, its reader preprocessing).

    Raises ValueError when the file has no data options, was saved by another app,
    or holds a data option that fails the app's check (``register_data_options``).
    """
    net = NeuralNet.load(path)
    metadata = getattr(net, "metadata", None) or {}
    options = metadata.get("data")
    if metadata.get("app") != app and metadata.get("app") is not None:
        raise ValueError(f"{path}: saved by {metadata['app']}, not by {app}")
    if not isinstance(options, dict):
        raise ValueError(f"{path}: no data options saved with this net; train and save "
                         f"it again with {app}")
    preprocessing = metadata.get("preprocessing")
    if not isinstance(preprocessing, dict):
        raise ValueError(f"{path}: no data preprocessing saved with this net; train and "
                         f"save it again with {app}")
    check_data_options(path, app, options)
    return net, options, preprocessing


def check_same_data(path, preprocessing, reader):
    """Refuse a reader of another kind or with other options, and test data that
    normalise differently from the data the net was trained on (another file,
    another split): its predictions would be on the wrong scale."""
    check_reader_options(reader, preprocessing, source=str(path))
    for name in STATISTICS:
        saved, fitted = preprocessing[name], getattr(reader, name, None)
        if saved is None and fitted is None:
            continue
        if fitted is None or np.shape(fitted) != np.shape(saved) \
                or not np.allclose(fitted, saved, rtol=1e-6, atol=0.0):
            raise ValueError(f"{path}: the data read now does not match the data this net "
                             f"was trained on ({name} differs); check --data-dir and the "
                             "data files")
