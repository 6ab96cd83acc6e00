"""A saved net together with the data options it was trained with.

``--load`` must prepare the test data exactly as training did (which data
set, the price scale, the split...), so those options travel inside the
weights file (its checksummed ``metadata``, see framework/serialization.py),
with the app's name and the reader's normalisation statistics: a saved net
can turn raw inputs into raw predictions in a new process, and a file from
another app, without data options, for other options given on the command
line, or for data that normalise differently is refused with one line.
These functions are the only place that knows the layout::

    net.metadata = {"app": "house_price",
                    "data": {"dataset": "kc-house", "split_seed": 2019, ...},
                    "normalization": {"x_min": array, "x_range": array, ...}}
"""
import numpy as np

from framework import NeuralNet

from . import targets

STATISTICS = ("x_min", "x_range", "y_min", "y_range")


def save_net(net, path, app, data_options, reader):
    """Save ``net`` to ``path`` with the app's name, its data options and the reader's
    normalisation statistics."""
    stats = {name: np.asarray(getattr(reader, name)) for name in STATISTICS
             if getattr(reader, name, None) is not None}
    targets.make_parent(path)
    net.save(path, metadata={"app": app, "data": dict(data_options), "normalization": stats})


def load_net(path, app):
    """Load the net in ``path``; return (net, its data options, its normalisation stats).

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
    return net, options, metadata.get("normalization") or {}


def check_same_data(path, statistics, reader):
    """Refuse test data that normalise differently from the data the net was trained on
    (another file, another split): its predictions would be on the wrong scale."""
    for name, saved in statistics.items():
        fitted = getattr(reader, name, None)
        if fitted is None or np.shape(fitted) != np.shape(saved) \
                or not np.allclose(fitted, saved, rtol=1e-6, atol=0.0):
            raise ValueError(f"{path}: the data read now does not match the data this net "
                             f"was trained on ({name} differs); check --data-dir and the "
                             "data files")
