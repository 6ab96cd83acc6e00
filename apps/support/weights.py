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
"""
import numpy as np

from datareaders.preprocessing import (STATISTICS, check_reader_options,
                                       preprocessing_metadata)
from framework import NeuralNet

from . import targets


def save_net(net, path, app, data_options, reader):
    """Save ``net`` to ``path`` with the app's name, its data options and the reader's
    preprocessing."""
    targets.make_parent(path)
    net.save(path, metadata={"app": app, "data": dict(data_options),
                             "preprocessing": preprocessing_metadata(reader)})


def load_net(path, app):
    """Load the net in ``path``; return (net, its data options, its reader preprocessing).

    Raises ValueError when the file has no data options or was saved by another app.
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
