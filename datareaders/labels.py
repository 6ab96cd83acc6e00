"""Label helpers shared by the readers: checking, one-hot, stratified split.

Kept apart from ``base.py`` so the reader class reads as the textbook's
sequence of steps while the fiddly index arithmetic lives here.
"""
import numpy as np

from framework.infra import batches


def as_class_labels(y, name):
    """Return ``y`` (N, 1) or (N,) or one-hot (N, C) as an int64 vector.

    Float labels are accepted when they are whole numbers (``2.0``), because
    arrays built by hand or read from CSV are often float. Anything else is a
    ``ValueError`` naming the array, so a regression target passed to a
    classifier by mistake is caught rather than silently truncated.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        row_sums = y.sum(axis=1)
        if not (np.all((y == 0) | (y == 1)) and np.all(row_sums == 1)):
            raise ValueError(f"{name}: a 2-D label array with {y.shape[1]} columns "
                             "must be one-hot (one 1 per row, zeros elsewhere)")
        return np.argmax(y, axis=1).astype(np.int64)
    flat = y.reshape(-1)
    if flat.dtype.kind in "iub":
        return flat.astype(np.int64)
    if flat.dtype.kind == "f":
        bad = flat[~np.isfinite(flat) | (flat != np.round(flat))]
        if bad.size:
            raise ValueError(f"{name}: class labels must be whole numbers, "
                             f"got {_preview(np.unique(bad))}")
        return flat.astype(np.int64)
    raise ValueError(f"{name}: cannot use dtype {y.dtype} as class labels")


def check_several_classes(labels, name, describe=str):
    """Refuse training labels of a single class: a classifier has nothing to tell
    apart, and it reaches 100 % by always answering that class (``describe(label)``
    names the class in the message)."""
    if labels is None or labels.size == 0:
        return
    first = labels[0]
    if np.all(labels == first):
        raise ValueError(f"{name}: all {labels.size} labels are class {describe(int(first))}; "
                         f"a classifier needs samples of at least two classes")


def check_label_range(labels, num_category, name):
    """Raise ``ValueError`` listing labels outside ``0..num_category-1``."""
    bad = labels[(labels < 0) | (labels >= num_category)]
    if bad.size:
        raise ValueError(f"{name}: labels {_preview(np.unique(bad))} are outside the "
                         f"expected classes 0..{num_category - 1}")


def one_hot(labels, num_category, dtype):
    """(N,) int labels -> (N, num_category) one-hot rows in ``dtype``."""
    out = np.zeros((labels.shape[0], num_category), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def validation_indices(n, k, rng, strata=None):
    """Pick ``n // k`` row indices for validation; return (train_idx, val_idx) (see
    ``framework.infra.batches.validation_indices``, shared with ``NeuralNet.fit``)."""
    if n // k < 1:
        raise ValueError(f"generate_validation_set: k={k} leaves no validation rows "
                         f"out of {n} training rows")
    return batches.validation_indices(n, n // k, rng, strata)


def _preview(values, limit=10):
    shown = ", ".join(str(v) for v in values[:limit])
    more = f" (and {values.size - limit} more)" if values.size > limit else ""
    return f"[{shown}]{more}"
