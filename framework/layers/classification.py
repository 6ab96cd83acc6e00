"""ClassificationLayer: the Logistic or Softmax output of a classifier.

In training the net usually starts backpropagation below this layer with
``LossFunction.delta`` (the fused ``(a - y) / m`` with respect to ``z``);
``backward`` here is the exact Jacobian-vector product, for completeness and
for gradient checks.
"""
from ..classifiers import make_classifier
from .activation import ActivationLayer
from .base import Layer


class ClassificationLayer(ActivationLayer):
    """Wraps a classifier given as an instance, a name or a config dict."""

    def __init__(self, classifier):
        Layer.__init__(self)
        self.function = make_classifier(classifier)
        self.z = self.a = None
        self._out = self._dz = None

    @property
    def classifier(self):
        return self.function

    def get_config(self):
        return {"classifier": self.function.get_config()}
