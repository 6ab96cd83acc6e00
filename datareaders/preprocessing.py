"""A reader's fitted preprocessing as weights-file metadata, and back.

A net only makes sense with the preprocessing it was trained with: the
min-max statistics of x and y, the label encoding (``net_type`` and the number
of classes) and the reader's own options (which data set, log prices or
dollars). ``preprocessing_metadata(reader)`` gives them as a JSON-able dict
with numpy arrays, which ``NeuralNet.save(path, metadata=...)`` stores and
checksums inside the weights file; in a new process
``restore_preprocessing(reader, net.metadata["data"])`` makes a reader's
``transform_x`` and ``de_normalize_y`` work without reading any data, and
``apply_preprocessing`` prepares freshly read sets exactly as in training
(instead of fitting new statistics with ``normalize_x`` / ``normalize_y``).
A reader whose options differ from the saved ones is refused with one line.
"""
import numpy as np

from framework.enums import NetType

# reader attributes that decide what the data means; compared on restore
READER_OPTIONS = ("dataset", "mode", "log_price", "feature_names", "class_names")
STATISTICS = ("x_min", "x_range", "y_min", "y_range")


def preprocessing_metadata(reader):
    """The reader's preprocessing (statistics, label encoding, options) as metadata."""
    options = {}
    for key in READER_OPTIONS:
        value = getattr(reader, key, None)
        if value is not None:
            options[key] = list(value) if isinstance(value, tuple) else value
    stats = {key: None if getattr(reader, key) is None else np.asarray(getattr(reader, key))
             for key in STATISTICS}
    return {"reader": type(reader).__name__, "options": options,
            "net_type": None if reader.net_type is None else reader.net_type.value,
            "num_category": None if reader.net_type is None else int(reader.num_category),
            **stats}


def check_reader_options(reader, metadata, source="the weights file"):
    """ValueError (one line) if ``reader`` is not the kind of reader, with the same
    options, that the metadata was made from."""
    _check_shape(metadata, source)
    saved = metadata["reader"]
    if saved != type(reader).__name__:
        raise ValueError(f"{source} was trained on data from a {saved}, not a "
                         f"{type(reader).__name__}")
    for key, value in metadata["options"].items():
        mine = getattr(reader, key, None)
        mine = list(mine) if isinstance(mine, tuple) else mine
        if mine != value:
            raise ValueError(f"{source} was trained with {key}={value!r}, but the reader "
                             f"has {key}={mine!r}")


def restore_preprocessing(reader, metadata, source="the weights file"):
    """Set the reader's statistics and label encoding from ``metadata``; returns ``reader``.

    No data needs to be read: ``transform_x`` and ``de_normalize_y`` work at once.
    """
    check_reader_options(reader, metadata, source)
    stats = checked_statistics(metadata, source)
    net_type = metadata["net_type"]
    reader.net_type = None if net_type is None else NetType.parse(net_type, "net_type")
    count = metadata["num_category"]
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 1):
        raise ValueError(f"{source}: num_category must be a positive int, got {count!r}")
    reader._num_category = count
    for key, value in stats.items():
        setattr(reader, key, value)
    return reader


def checked_statistics(metadata, source="the weights file", required=()):
    """{x_min, x_range, y_min, y_range} from ``metadata`` as float64 arrays (None where
    not saved), checked: finite numbers, each minimum saved with its range, of one
    shape, ranges > 0; the ``required`` ones must be there. ValueError naming
    ``source`` otherwise."""
    _check_shape(metadata, source)
    stats = {key: _statistic(metadata, key, source) for key in STATISTICS}
    for low, span in (("x_min", "x_range"), ("y_min", "y_range")):
        if (stats[low] is None) != (stats[span] is None):
            raise ValueError(f"{source}: {low} and {span} must be saved together")
        if stats[span] is not None and (stats[low].shape != stats[span].shape
                                        or np.any(stats[span] <= 0)):
            raise ValueError(f"{source}: {span} must have {low}'s shape {stats[low].shape} "
                             f"and be > 0, got shape {stats[span].shape}")
    missing = [key for key in required if stats[key] is None]
    if missing:
        raise ValueError(f"{source}: the saved preprocessing lacks {missing}")
    return stats


def apply_preprocessing(reader, metadata, source="the weights file"):
    """Prepare the reader's freshly read sets with the saved preprocessing (in place of
    ``normalize_x`` and ``normalize_y``); returns ``reader``."""
    reader._require_data()
    raws = (reader.y_train_raw, reader.y_val_raw, reader.y_test_raw)
    restore_preprocessing(reader, metadata, source)
    if reader.x_min is not None:
        for name in ("x_train", "x_val", "x_test"):
            if getattr(reader, name) is not None:
                setattr(reader, name, reader.transform_x(getattr(reader, name)))
    if reader.net_type == NetType.FITTING:
        y = [None if r is None else
             ((reader._y_forward(r.astype(np.float64)) - reader.y_min) / reader.y_range)
             .astype(reader.dtype) for r in raws]
        reader.y_train, reader.y_val, reader.y_test = y
    elif reader.net_type is not None:
        stats = reader.y_min, reader.y_range
        reader.normalize_y(reader.net_type, num_category=reader.num_category)
        reader.y_min, reader.y_range = stats
    reader._buffers = None
    return reader


def _check_shape(metadata, source):
    expected = {"reader", "options", "net_type", "num_category"} | set(STATISTICS)
    if not isinstance(metadata, dict) or not expected <= set(metadata):
        got = sorted(metadata) if isinstance(metadata, dict) else type(metadata).__name__
        raise ValueError(f"{source}: the data options lack {sorted(expected - set(got))}"
                         if isinstance(metadata, dict) else
                         f"{source}: expected data options as a dict, got {got}")
    if not isinstance(metadata["options"], dict):
        raise ValueError(f"{source}: the reader options are not a dict")


def _statistic(metadata, key, source):
    value = metadata[key]
    if value is None:
        return None
    value = np.asarray(value)
    if value.dtype.kind not in "fiu" or not np.isfinite(value).all():
        raise ValueError(f"{source}: {key} must hold finite numbers, got dtype {value.dtype}")
    return value.astype(np.float64)
