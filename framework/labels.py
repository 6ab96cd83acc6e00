"""Labels where they enter the net: checked once, in the form the loss needs.

A classifier learns from one-hot rows (softmax) or a 0/1 column (logistic). Users
hand over class numbers just as often (scikit-learn and Keras's sparse losses take
them), so ``as_targets`` turns integer labels ``(N,)`` into those forms; and it
refuses what would train silently on nonsense: one-hot rows scaled by 2, negative
or all-zero rows, binary labels 2 or -1, a class number beyond the outputs, NaN or
inf anywhere (one NaN label makes every weight NaN after a single step, and with
``y * 2`` the gradient is no longer the gradient of the loss).

``train``, ``fit``, ``train_step``, ``gradients``, ``loss`` and ``evaluate`` all go
through here, so every way in is checked the same way.
"""
import numpy as np

from .enums import NetType
from .infra.validation import all_finite


def as_targets(y, net_type, output_shape, dtype, rows, where):
    """``y`` as a ``(rows,) + output_shape`` array of ``dtype`` for ``net_type``, checked.

    Classifiers also take integer class labels of shape ``(rows,)`` (or ``(rows, 1)``
    for a softmax net): they become one-hot rows, or the 0/1 column. A fitting net
    with one output takes its targets as ``(rows,)`` too, as Keras and scikit-learn do.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise ValueError(f"{where}: expected real labels, received dtype {y.dtype}")
    net_type = NetType.parse(net_type, "net_type")
    if y.dtype.kind == "f" and not all_finite(y):
        bad = "NaN" if np.isnan(y).any() else "inf"
        raise ValueError(f"{where}: labels contain {bad} (from {_preview(y)}); every label "
                         f"must be a finite number")
    expected = (rows,) + tuple(output_shape)
    if net_type is not NetType.FITTING and _class_numbers(y, expected):
        y = _from_class_numbers(y.reshape(rows), net_type, output_shape, where)
    elif net_type is NetType.FITTING and expected == (rows, 1) and y.shape == (rows,):
        y = y.reshape(rows, 1)                          # one target per sample
    if y.shape != expected:
        hint = " (or class numbers of shape (samples,))" if net_type is not NetType.FITTING \
            else ""
        raise ValueError(f"{where}: expected labels of shape {expected}{hint} to match the "
                         f"net's output shape {tuple(output_shape)}, received {y.shape}")
    values = y.astype(dtype, copy=False)
    if not all_finite(values):
        bad = "NaN" if np.isnan(values).any() else "inf"
        raise ValueError(f"{where}: labels contain {bad} (from {_preview(y)}); every label "
                         f"must be a finite number")
    if net_type is NetType.BINARY_CLASSIFIER:
        _check_binary(values, where)
    elif net_type is NetType.MULTIPLE_CLASSIFIER:
        _check_one_hot(values, where)
    return values


def _class_numbers(y, expected):
    """True if ``y`` holds one class number per sample instead of the output's shape."""
    rows = expected[0]
    one_column = y.shape in ((rows,), (rows, 1))
    return one_column and y.shape != expected and (y.dtype.kind in "iub" or (
        y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))))


def _from_class_numbers(labels, net_type, output_shape, where):
    labels = labels.astype(np.int64) if labels.dtype.kind != "b" else labels.astype(np.int64)
    classes = 2 if net_type is NetType.BINARY_CLASSIFIER else output_shape[0]
    bad = labels[(labels < 0) | (labels >= classes)]
    if bad.size:
        raise ValueError(f"{where}: class labels {_preview(np.unique(bad))} are outside the "
                         f"net's classes 0..{classes - 1}")
    if net_type is NetType.BINARY_CLASSIFIER:
        return labels.reshape(-1, *([1] * len(output_shape)))
    if len(output_shape) != 1:
        raise ValueError(f"{where}: class numbers need a net with one output per class, "
                         f"this one outputs {tuple(output_shape)}; give one-hot labels")
    one_hot = np.zeros((labels.size, classes))
    one_hot[np.arange(labels.size), labels] = 1
    return one_hot


def _check_binary(y, where):
    bad = y[(y != 0) & (y != 1)]
    if bad.size:
        raise ValueError(f"{where}: a binary classifier's labels must be 0 or 1, received "
                         f"{_preview(np.unique(bad))}")


def _check_one_hot(y, where):
    """Every row (every position of a map) one-hot over the class axis, axis 1.

    Four reductions, no label-sized temporary (this runs on the whole training set at
    every ``train``): values in [0, 1] whose rows sum to 1 with one nonzero value per
    row are one-hot; only a set that fails is looked at value by value."""
    decisions = y.size // y.shape[1]
    if y.min() >= 0 and y.max() <= 1 and np.count_nonzero(y) == decisions \
            and np.all(y.sum(axis=1) == 1):
        return
    bad = y[(y != 0) & (y != 1)]
    if bad.size:
        raise ValueError(f"{where}: one-hot labels must be 0 or 1, received "
                         f"{_preview(np.unique(bad))}")
    sums = y.sum(axis=1)
    if not np.all(sums == 1):
        first = np.argwhere(sums != 1)[0]
        raise ValueError(f"{where}: every label row must hold exactly one 1 (one-hot), row "
                         f"{tuple(int(i) for i in first)} holds {int(sums[tuple(first)])}")


def _preview(values, limit=5):
    values = np.asarray(values).ravel()
    shown = ", ".join(repr(v.item()) for v in values[:limit])
    return f"[{shown}{', ...' if values.size > limit else ''}]"
