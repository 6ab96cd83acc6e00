"""ClassificationLayer: the Logistic or Softmax output of a classifier.

In training the net usually starts backpropagation below this layer with
``LossFunction.delta`` (the fused ``(a - y) / m`` with respect to ``z``);
``backward`` here is the exact Jacobian-vector product, for completeness and
for gradient checks. Softmax normalises over axis 1, so ``(N, K)`` and
``(N, K, H, W)`` outputs both work.

Building the layer (``add_layer`` does, or ``input_shape=``) refuses an output
the classifier makes meaningless: softmax over a single output is always 1.0,
and logistic over several classes is a multi-class net with a binary output.
"""
from ..classifiers import make_classifier
from .activation import ActivationLayer
from .base import as_shape
from .registry import register_layer


@register_layer
class ClassificationLayer(ActivationLayer):
    """Wraps a classifier given as an instance, a name or a config dict."""

    def __init__(self, classifier, input_shape=None):
        super().__init__(make_classifier(classifier), input_shape)

    def build(self, input_shape):
        """Fix the input shape and refuse one the classifier cannot use (see
        ``Classifier.check_output_shape``): softmax on one output, logistic on many."""
        shape = as_shape(input_shape, "ClassificationLayer input_shape")
        try:
            self.function.check_output_shape(shape)
        except ValueError as error:
            raise ValueError(f"ClassificationLayer: {error}") from None
        return super().build(shape)

    @property
    def classifier(self):
        """The Classifier this layer applies (softmax or logistic)."""
        return self.function

    def get_config(self):
        return {"classifier": self.function.get_config()}
