"""Metrics: numbers that say how good the outputs are, accumulated over whole intervals.

A metric sees the batches of an interval one at a time (``update(a, y)``) and
answers for all of them together (``result()``), so the train metric of a
checkpoint is the metric of every sample since the previous one, not a mean of
per-batch values: R^2, in particular, is one minus the summed squared residuals
over the summed squares around the interval's own mean, which a mean of per-batch
R^2 values (each against its own batch mean) is not. ``of(a, y)`` measures one set.

=========  ==========================================================  ==========
name       result                                                      net types
=========  ==========================================================  ==========
accuracy   fraction of samples (and positions) classified right:       classifiers
           argmax over the class axis, or a > 0.5 for one output
r2         1 - SS_res / SS_tot, per output column around its mean      fitting
mae        mean over samples of sum(|a - y|)                           fitting
precision  TP / (TP + FP) of the positive class (a > 0.5)              binary
recall     TP / (TP + FN)                                              binary
f1         2 TP / (2 TP + FP + FN)                                     binary
=========  ==========================================================  ==========

``confusion_matrix(predicted, expected, classes)`` counts the pairs. A new metric
is one class decorated with ``@register_metric``.
"""
import numpy as np

from .enums import NetType
from .infra.buffers import BufferCache
from .registry import Registry, class_decorator, make_from_spec

METRICS = Registry("metric")


class Metric:
    """Base class: ``reset()``, ``update(a, y)`` per batch, ``result()`` for them all."""

    name = None
    label = None            # how plots and logs name it (default: ``name``)
    higher_is_better = True

    def __init__(self):
        self._cache = BufferCache()
        self.reset()

    def reset(self):
        """Forget every batch seen so far."""
        raise NotImplementedError

    def update(self, a, y):
        """Add one batch of outputs ``a`` and labels ``y`` (same shape)."""
        raise NotImplementedError

    def result(self):
        """The metric over every sample since ``reset`` (NaN if there were none)."""
        raise NotImplementedError

    def of(self, a, y):
        """The metric of one whole set (the running sums are reset first and after)."""
        self.reset()
        self.update(a, y)
        value = self.result()
        self.reset()
        return value

    def work(self, name, shape, dtype):
        """This metric's reusable work array (so per-batch updates allocate nothing)."""
        return self._cache.get(name, shape, dtype)

    @property
    def display_name(self):
        """The name shown in logs and plot axes (``R²`` for r2)."""
        return self.label or self.name

    def get_config(self):
        """{"name": ...}: what ``make_metric`` needs to rebuild it."""
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


register_metric = class_decorator(METRICS, Metric)


@register_metric
class Accuracy(Metric):
    """Fraction right: argmax over axis 1 (the class axis, also of (N, K, H, W) maps)
    against the one-hot label's, or ``a > 0.5`` against ``y > 0.5`` for one output."""

    name = "accuracy"
    aliases = ("acc",)
    _shape = _arrays = None      # the work arrays of the last batch shape (the hot path)

    def reset(self):
        self.hits, self.count = 0, 0

    def update(self, a, y):
        if a.shape != self._shape:
            self._arrays, self._shape = self._work_arrays(a), a.shape
        first, second, hit = self._arrays
        if a.shape[1] == 1:                 # one output: a > 0.5 against y > 0.5
            np.equal(np.greater(a, 0.5, out=first), np.greater(y, 0.5, out=second), out=hit)
        else:                               # argmax over the class axis against y's
            np.equal(a.argmax(axis=1, out=first), y.argmax(axis=1, out=second), out=hit)
        self.hits += int(np.count_nonzero(hit))
        self.count += hit.size

    def _work_arrays(self, a):
        if a.shape[1] == 1:
            return (self.work("pa", a.shape, bool), self.work("py", a.shape, bool),
                    self.work("hit", a.shape, bool))
        labels = (a.shape[0],) + a.shape[2:]        # one class decision per sample (and pixel)
        return (self.work("predicted", labels, np.intp), self.work("expected", labels, np.intp),
                self.work("hit", labels, bool))

    def result(self):
        return self.hits / self.count if self.count else float("nan")


@register_metric
class RSquared(Metric):
    """1 - SS_res / SS_tot over every sample seen, SS_tot around each output column's
    mean over the same samples (merged batch by batch: Chan et al.'s parallel
    variance, in float64). A constant target gives 1.0 for a perfect fit, else 0.0."""

    name = "r2"
    label = "R²"
    aliases = ("r_squared", "r²")

    def reset(self):
        self.n, self.ss_res, self.mean, self.m2 = 0, 0.0, 0.0, 0.0

    def update(self, a, y):
        m = a.shape[0]
        r = self.work("r", a.shape, np.float64)
        np.subtract(a, y, out=r)
        self.ss_res += float(np.vdot(r, r))
        batch_mean = np.mean(y, axis=0, dtype=np.float64)
        np.subtract(y, batch_mean, out=r)
        r *= r
        batch_m2 = r.sum(axis=0)
        total = self.n + m
        step = batch_mean - self.mean
        self.mean = self.mean + step * (m / total)
        self.m2 = self.m2 + batch_m2 + step * step * (self.n * m / total)
        self.n = total

    def result(self):
        if not self.n:
            return float("nan")
        ss_tot = float(np.sum(self.m2))
        if ss_tot == 0.0:
            return 1.0 if self.ss_res == 0.0 else 0.0
        return 1.0 - self.ss_res / ss_tot


@register_metric
class MeanAbsoluteError(Metric):
    """Mean over samples of sum(|a - y|) over the outputs."""

    name = "mae"
    higher_is_better = False

    def reset(self):
        self.total, self.n = 0.0, 0

    def update(self, a, y):
        r = np.subtract(a, y, out=self.work("r", a.shape, np.float64))
        self.total += float(np.abs(r, out=r).sum())
        self.n += a.shape[0]

    def result(self):
        return self.total / self.n if self.n else float("nan")


class _BinaryCounts(Metric):
    """True/false positives and negatives of the positive class (a > 0.5)."""

    def reset(self):
        self.tp = self.fp = self.fn = 0

    def update(self, a, y):
        predicted = np.greater(a, 0.5, out=self.work("pa", a.shape, bool))
        actual = np.greater(y, 0.5, out=self.work("py", y.shape, bool))
        both = np.logical_and(predicted, actual, out=self.work("both", a.shape, bool))
        tp = int(np.count_nonzero(both))
        self.tp += tp
        self.fp += int(np.count_nonzero(predicted)) - tp
        self.fn += int(np.count_nonzero(actual)) - tp

    @staticmethod
    def _ratio(num, den):
        return num / den if den else 0.0


@register_metric
class Precision(_BinaryCounts):
    """TP / (TP + FP): of the samples called positive, how many are (0 if none called)."""

    name = "precision"

    def result(self):
        return self._ratio(self.tp, self.tp + self.fp)


@register_metric
class Recall(_BinaryCounts):
    """TP / (TP + FN): of the positive samples, how many were found (0 if none exist)."""

    name = "recall"

    def result(self):
        return self._ratio(self.tp, self.tp + self.fn)


@register_metric
class F1(_BinaryCounts):
    """2 TP / (2 TP + FP + FN): the harmonic mean of precision and recall."""

    name = "f1"

    def result(self):
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


def confusion_matrix(predicted, expected, classes):
    """``counts[i, j]``: samples of true class ``i`` predicted as ``j`` (integer labels)."""
    predicted, expected = np.asarray(predicted).ravel(), np.asarray(expected).ravel()
    if predicted.shape != expected.shape:
        raise ValueError(f"confusion_matrix: {predicted.size} predictions for "
                         f"{expected.size} labels")
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (expected.astype(np.intp), predicted.astype(np.intp)), 1)
    return counts


DEFAULT_METRIC = {NetType.FITTING: "r2", NetType.BINARY_CLASSIFIER: "accuracy",
                  NetType.MULTIPLE_CLASSIFIER: "accuracy"}


def make_metric(spec):
    """A Metric from an instance, a registered name or ``{"name": ...}``."""
    return make_from_spec(spec, METRICS, Metric)


def metric_for(net_type):
    """The metric a net type reports as its ``accuracy``: R^2 for fitting nets, the
    fraction classified right for classifiers."""
    return make_metric(DEFAULT_METRIC[NetType.parse(net_type, "net_type")])
