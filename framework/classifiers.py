"""Output functions that turn logits into probabilities.

Same interface as the activators (``forward(z, out)``, ``backward(z, a,
delta, out)``, ``get_config()``). ``backward`` is the true Jacobian-vector
product, so a ClassificationLayer can be gradient-checked on its own; in
training the net normally skips it and starts from ``LossFunction.delta``,
whose fused ``(a - y) / m`` is the same number computed without the
cancellation-prone product.

Softmax normalises over axis 1, the class axis of ``(N, K)`` outputs, and,
as in PyTorch, the channel axis of ``(N, K, H, W)`` ones. A new classifier
joins with ``@register_classifier``.
"""
import numpy as np

from .activators import Activator, Sigmoid
from .registry import Registry, class_decorator, make_from_spec

CLASSIFIERS = Registry("classifier")


class Classifier(Activator):
    """Base class of output functions (for ``isinstance`` checks)."""

    def check_output_shape(self, shape):
        """Refuse a per-sample shape this function makes meaningless (none by default).

        ``shape[0]`` is the class axis: the features of a vector, the channels
        of a feature map. ``ClassificationLayer.build`` calls this.
        """


register_classifier = class_decorator(CLASSIFIERS, Classifier)


@register_classifier
class Logistic(Sigmoid, Classifier):
    """Binary: a = sigmoid(z) (stable);  backward = delta * a (1 - a)"""

    name = "logistic"

    def check_output_shape(self, shape):
        """One output: the probability of the positive class. Several outputs are a
        multi-class net, whose class probabilities logistic would not make sum to 1."""
        if shape[0] != 1:
            raise ValueError(f"logistic: expected 1 output (a binary classifier's "
                             f"probability), received input shape {tuple(shape)}; use "
                             f"'softmax' for {shape[0]} classes")


@register_classifier
class Softmax(Classifier):
    """Multi-class, over axis 1: a = exp(z - max z) / sum(exp(z - max z)).

    Subtracting the maximum changes nothing mathematically and keeps exp
    from overflowing. backward: a * (delta - sum(delta * a, axis=1)).
    """

    name = "softmax"
    _column = None      # the last (rows, 1, ...) work column, reused while its shape holds

    def check_output_shape(self, shape):
        """At least 2 classes: the softmax of a single output is always 1.0."""
        if shape[0] < 2:
            raise ValueError(f"softmax: expected at least 2 outputs (one per class), "
                             f"received input shape {tuple(shape)}, whose softmax is always "
                             f"1.0; use 'logistic' for a binary classifier's single output")

    def forward(self, z, out):
        column = self._column
        if column is None or column.shape[0] != z.shape[0] or column.dtype != z.dtype \
                or column.ndim != z.ndim or column.shape[2:] != z.shape[2:]:
            column = self._column = self._scratch("column", z, shape=_column_shape(z))
        np.maximum.reduce(z, axis=1, keepdims=True, out=column)
        np.subtract(z, column, out=out)
        np.exp(out, out=out)
        np.add.reduce(out, axis=1, keepdims=True, out=column)
        np.divide(out, column, out=out)
        return out

    def backward(self, z, a, delta, out):
        s = self._scratch("softmax", a)
        column = self._scratch("column_back", a, shape=_column_shape(a))
        np.multiply(delta, a, out=s)
        np.sum(s, axis=1, keepdims=True, out=column)
        np.subtract(delta, column, out=out)
        out *= a
        return out


def _column_shape(z):
    return (z.shape[0], 1) + z.shape[2:]


def make_classifier(config_or_name):
    """A classifier from an instance, a name (``"softmax"``) or a ``get_config()`` dict."""
    return make_from_spec(config_or_name, CLASSIFIERS, Classifier)
