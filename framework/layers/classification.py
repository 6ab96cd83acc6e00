"""ClassificationLayer: the Logistic or Softmax output of a classifier.

In training the net usually starts backpropagation below this layer with
``LossFunction.delta`` (the fused ``(a - y) / m`` with respect to ``z``);
``backward`` here is the exact Jacobian-vector product, for completeness and
for gradient checks. Softmax normalises over axis 1, so ``(N, K)`` and
``(N, K, H, W)`` outputs both work.
"""
from ..classifiers import make_classifier
from .activation import ActivationLayer
from .registry import register_layer


@register_layer
class ClassificationLayer(ActivationLayer):
    """Wraps a classifier given as an instance, a name or a config dict."""

    def __init__(self, classifier, input_shape=None):
        super().__init__(make_classifier(classifier), input_shape)

    @property
    def classifier(self):
        return self.function

    def get_config(self):
        return {"classifier": self.function.get_config()}
