"""Loss functions: registered, each computed in one place with its gradient.

A loss is the mean over the ``m`` samples of a batch of a per-sample sum over the
outputs. Each class writes its equations twice, in ``loss`` and in ``gradient``
(d(mean loss)/da), and nothing else computes them: the training step, evaluation,
``net.loss``, ``net.gradients`` and the gradient checks all call these.

=====================  ==============================================  ================
name                   loss (mean over samples)                        d(loss)/da
=====================  ==============================================  ================
mse                    sum((a - y)^2) / (2m)   (the textbook's)        (a - y) / m
mae                    sum(|a - y|) / m                                sign(a - y) / m
huber (delta)          sum(h(a - y)) / m, h(r) = r^2/2 for |r| <= d,   clip(a - y, -d, d)
                       else d (|r| - d/2)                              / m
binary_cross_entropy   -sum(y log a + (1 - y) log(1 - a)) / m          (a - y)/(a(1-a)m)
cross_entropy          -sum(y log a) / m                               -y / (a m)
=====================  ==============================================  ================

The fast path: cross-entropy after softmax, and binary cross-entropy after logistic,
have the same simple gradient with respect to the logits z, ``(a - y) / m``
(``fused_gradient``). The training step then starts backpropagation below the
classification layer with it: cheaper than chaining ``gradient`` through the
classifier, and it cannot blow up where ``a`` is close to 0 or 1. A loss names the
classifier it fuses with in ``fuses_with``.

The net type picks the loss unless ``HyperParameters(loss=...)`` names one
(``"huber"``, ``{"name": "huber", "delta": 0.5}``); a new loss is one class::

    @register_loss
    class LogCosh(Loss):
        name = "log_cosh"
        def loss(self, a, y): ...
        def gradient(self, a, y, out): ...

Work arrays come from the loss's own cache, so a training step allocates nothing.
"""
import numpy as np

from .enums import NetType
from .infra.buffers import BufferCache
from .infra.validation import check_number
from .registry import Registry, class_decorator, make_from_spec

LOSSES = Registry("loss")

# Probabilities are clipped into [CLIP, 1 - CLIP] (in float64) before log.
CLIP = 1e-12


class Loss:
    """Base class: ``loss(a, y)`` (a Python float) and ``gradient(a, y, out)``."""

    name = None
    label = None            # the loss in words for plots (default: the name, "_" as spaces)
    fuses_with = None       # the classifier whose logits get fused_gradient (softmax, ...)
    net_types = tuple(NetType)  # the net types this loss makes sense for

    def loss(self, a, y):
        """Mean over the batch's samples of the per-sample loss."""
        raise NotImplementedError

    def gradient(self, a, y, out):
        """d(mean loss)/da written into ``out`` (returned)."""
        raise NotImplementedError

    def fused_gradient(self, a, y, out):
        """d(mean loss)/dz through the classifier this loss fuses with: ``(a - y) / m``."""
        np.subtract(a, y, out=out)
        return np.multiply(out, 1.0 / a.shape[0], out=out)

    def work(self, name, like, dtype=None):
        """This loss's reusable work array ``name`` shaped like ``like``."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            cache = self._cache = BufferCache()
        return cache.get(name, like.shape, like.dtype if dtype is None else dtype)

    @property
    def display_name(self):
        """How plots name this loss: ``label``, else the registered name in words."""
        return self.label or str(self.name).replace("_", " ")

    def get_config(self):
        """{"name": ..., <options>}: what ``make_loss`` needs to rebuild it."""
        return {"name": self.name}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({options})"


register_loss = class_decorator(LOSSES, Loss)


@register_loss
class MeanSquaredError(Loss):
    """sum((a - y)^2) / (2m);  gradient (a - y) / m  (the textbook's fitting loss)."""

    name = "mse"
    label = "½·mean squared error"
    aliases = ("mean_squared_error",)

    def loss(self, a, y):
        r = np.subtract(a, y, out=self.work("r", a))
        return float(np.vdot(r, r)) / (2.0 * a.shape[0])

    def gradient(self, a, y, out):
        return self.fused_gradient(a, y, out)   # the same (a - y) / m


@register_loss
class MeanAbsoluteError(Loss):
    """sum(|a - y|) / m;  gradient sign(a - y) / m."""

    name = "mae"
    label = "mean absolute error"
    aliases = ("mean_absolute_error",)

    def loss(self, a, y):
        r = np.subtract(a, y, out=self.work("r", a))
        return float(np.abs(r, out=r).sum(dtype=np.float64)) / a.shape[0]

    def gradient(self, a, y, out):
        np.subtract(a, y, out=out)
        np.sign(out, out=out)
        return np.multiply(out, 1.0 / a.shape[0], out=out)


@register_loss
class Huber(Loss):
    """sum(h(a - y)) / m with h(r) = r^2 / 2 where |r| <= delta, else delta (|r| - delta/2);
    gradient clip(a - y, -delta, delta) / m. Equal to ``mse`` for small residuals,
    to ``mae`` times delta for large ones: outliers pull less."""

    name = "huber"
    label = "Huber"

    def __init__(self, delta=1.0):
        self.delta = check_number("huber loss delta", delta, 0, above=True)

    def loss(self, a, y):
        r = np.subtract(a, y, out=self.work("r", a))
        np.abs(r, out=r)
        small = np.minimum(r, self.delta, out=self.work("small", a))   # min(|r|, d)
        # h = small^2 / 2 + d (|r| - small): r^2/2 inside, d(|r| - d/2) outside
        r -= small
        r *= self.delta
        small *= small
        small *= 0.5
        r += small
        return float(r.sum(dtype=np.float64)) / a.shape[0]

    def gradient(self, a, y, out):
        np.subtract(a, y, out=out)
        np.clip(out, -self.delta, self.delta, out=out)
        return np.multiply(out, 1.0 / a.shape[0], out=out)

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


@register_loss
class BinaryCrossEntropy(Loss):
    """-sum(y log a + (1 - y) log(1 - a)) / m for a probability ``a`` (logistic output)."""

    name = "binary_cross_entropy"
    label = "binary cross-entropy"
    aliases = ("bce", "log_loss")
    fuses_with = "logistic"
    net_types = (NetType.BINARY_CLASSIFIER,)

    def loss(self, a, y):
        p = _clipped(self, a)
        q = np.negative(p, out=self.work("q", a, np.float64))
        np.log1p(q, out=q)                                  # log(1 - p)
        np.log(p, out=p)
        one_minus_y = np.subtract(1.0, y, out=self.work("1-y", y))
        q *= one_minus_y
        p *= y
        p += q
        return -float(p.sum()) / a.shape[0]

    def gradient(self, a, y, out):
        p = _clipped(self, a)
        np.subtract(a, y, out=out)
        out /= p
        np.subtract(1.0, p, out=p)
        out /= p
        return np.multiply(out, 1.0 / a.shape[0], out=out)


@register_loss
class CrossEntropy(Loss):
    """-sum(y log a) / m over one-hot ``y`` and class probabilities ``a`` (softmax output;
    the class axis is axis 1, so (N, K, H, W) maps work too)."""

    name = "cross_entropy"
    label = "cross-entropy"
    aliases = ("categorical_cross_entropy",)
    fuses_with = "softmax"
    net_types = (NetType.MULTIPLE_CLASSIFIER,)

    def loss(self, a, y):
        # in the net's dtype: a float32 net's loss to ~1e-7, one dot product, no copy
        log_p = np.maximum(a, CLIP, out=self.work("log_p", a))
        np.minimum(log_p, 1.0 - CLIP, out=log_p)
        np.log(log_p, out=log_p)
        return -float(np.vdot(y, log_p)) / a.shape[0]

    def gradient(self, a, y, out):
        p = _clipped(self, a)
        np.divide(y, p, out=p)
        return np.multiply(p, -1.0 / a.shape[0], out=out)


def _clipped(loss, a):
    """``a`` in float64, clipped into [CLIP, 1 - CLIP] (a work array of ``loss``; two
    ufuncs rather than ``np.clip``, whose Python wrapper costs more than both)."""
    p = loss.work("p", a, np.float64)
    np.copyto(p, a)
    np.maximum(p, CLIP, out=p)
    return np.minimum(p, 1.0 - CLIP, out=p)


DEFAULT_LOSS = {NetType.FITTING: "mse", NetType.BINARY_CLASSIFIER: "binary_cross_entropy",
                NetType.MULTIPLE_CLASSIFIER: "cross_entropy"}


def make_loss(spec):
    """A Loss from an instance, a registered name or ``{"name": ..., **options}``."""
    return make_from_spec(spec, LOSSES, Loss)


def loss_for(params):
    """The loss ``params`` trains with: ``params.loss``, else the net type's default."""
    return make_loss(params.loss if params.loss is not None
                     else DEFAULT_LOSS[params.net_type])


def check_loss_spec(spec, net_type):
    """The JSON-able config of the loss ``spec`` names, refused if it does not suit
    ``net_type`` (cross-entropy needs class probabilities)."""
    loss = make_loss(spec)
    if net_type not in loss.net_types:
        allowed = ", ".join(t.value for t in loss.net_types)
        raise ValueError(f"loss: {loss.name!r} is for net_type {allowed}, got "
                         f"net_type {net_type.value!r}")
    return loss.get_config()


class LossFunction:
    """The textbook's LossFunction_1_1: the loss, the output gradient and the accuracy
    of one net type (``loss`` overrides the net type's default loss)."""

    def __init__(self, net_type, loss=None):
        from .metrics import metric_for
        self.net_type = NetType.parse(net_type, "net_type")
        self.function = make_loss(loss if loss is not None else DEFAULT_LOSS[self.net_type])
        self._metric = metric_for(self.net_type)

    def loss(self, a, y):
        """Mean loss over the rows, as a Python float."""
        a, y = check_pair(a, y)
        return self.function.loss(a, y)

    def delta(self, z, a, y, out=None):
        """d(mean loss)/dz for the fused classifiers and the fitting loss: (a - y) / m."""
        a, y = check_pair(a, y)
        return self.function.fused_gradient(a, y, np.empty_like(a) if out is None else out)

    def accuracy(self, a, y):
        """R^2 for fitting nets, else the fraction of samples classified right."""
        a, y = check_pair(a, y)
        return self._metric.of(a, y)

    def __repr__(self):
        return f"LossFunction({self.net_type.value!r}, {self.function!r})"


def check_pair(a, y):
    """Outputs and labels as arrays of one shape, at least 2-D and non-empty."""
    a, y = np.asarray(a), np.asarray(y)
    if a.shape != y.shape or a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"loss: output shape {a.shape} and label shape {y.shape} "
                         f"must be equal, at least 2-D (samples first) and non-empty")
    return a, y
