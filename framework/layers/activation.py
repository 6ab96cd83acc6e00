"""ActivationLayer: an element-wise function between two parameter layers.

Both keep a reference to their input ``z`` and their own output ``a`` so the
backward pass can use whichever gives the cheaper, more accurate derivative
(``a`` for sigmoid/tanh, ``z`` for ReLU). After ``forward`` they are
available as ``layer.z`` and ``layer.a``; the net reads them to compute the
fused loss gradient at the output. Any input shape works: the function is
applied element by element, so the layer takes its shape from the previous
layer.
"""
from ..activators import make_activator
from .base import Layer
from .registry import register_layer


@register_layer
class ActivationLayer(Layer):
    """Wraps an activator given as an instance, a name or a config dict."""

    def __init__(self, activator, input_shape=None):
        super().__init__()
        self.function = make_activator(activator)
        self.function.buffers = self._cache     # its work arrays live in this layer's cache
        self.z = self.a = None
        if input_shape is not None:
            self.build(input_shape)

    @property
    def activator(self):
        """The Activator this layer applies (the textbook's name for ``function``)."""
        return self.function

    def forward(self, x, train):
        self.z = self.checked(x)                                        # z
        self.a = self.function.forward(x, self.work("a", x.shape, x.dtype))   # a = f(z)
        return self.a

    def backward(self, delta):
        if not self.need_input_grad:
            return None
        dz = self.work("dz", delta.shape, delta.dtype)                  # dz = delta * f'(z)
        return self.function.backward(self.z, self.a, delta, dz)

    def name_hint(self):
        return self.function.name

    def get_config(self):
        return {"activator": self.function.get_config()}
