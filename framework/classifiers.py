"""Output functions that turn logits into probabilities.

Same interface as the activators (``forward(z, out)``, ``backward(z, a,
delta, out)``, ``get_config()``). ``backward`` is the true Jacobian-vector
product, so a ClassificationLayer can be gradient-checked on its own; in
training the net normally skips it and starts from ``LossFunction.delta``,
whose fused ``(a - y) / m`` is the same number computed without the
cancellation-prone product.
"""
import numpy as np

from .activators import Activator, Sigmoid, _make


class Classifier(Activator):
    """Base class of output functions (for ``isinstance`` checks)."""


class Logistic(Sigmoid, Classifier):
    """Binary: a = sigmoid(z) (stable);  backward = delta * a (1 - a)"""

    name = "logistic"


class Softmax(Classifier):
    """Multi-class, row-wise: a = exp(z - max z) / sum(exp(z - max z)).

    Subtracting the row maximum changes nothing mathematically and keeps exp
    from overflowing. backward: a * (delta - sum(delta * a, axis=1)).
    """

    name = "softmax"
    _column = None      # the last (rows, 1) work column, reused while rows and dtype hold

    def forward(self, z, out):
        column = self._column
        if column is None or column.shape[0] != z.shape[0] or column.dtype != z.dtype:
            column = self._column = self._scratch(z, shape=(z.shape[0], 1))
        np.maximum.reduce(z, axis=1, keepdims=True, out=column)
        np.subtract(z, column, out=out)
        np.exp(out, out=out)
        np.add.reduce(out, axis=1, keepdims=True, out=column)
        np.divide(out, column, out=out)
        return out

    def backward(self, z, a, delta, out):
        s, column = self._scratch(a), self._scratch_column(a)
        np.multiply(delta, a, out=s)
        np.sum(s, axis=1, keepdims=True, out=column)
        np.subtract(delta, column, out=out)
        out *= a
        return out

    def _scratch_column(self, like):
        return self._scratch(like, shape=(like.shape[0], 1))


CLASSIFIERS = {cls.name: cls for cls in (Logistic, Softmax)}


def make_classifier(config_or_name):
    """A classifier from an instance, a name (``"softmax"``) or a ``get_config()`` dict."""
    return _make(config_or_name, CLASSIFIERS, Classifier, "classifier")
