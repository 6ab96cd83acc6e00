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
from .base import Layer, check_input
from .registry import register_layer


@register_layer
class ActivationLayer(Layer):
    """Wraps an activator given as an instance, a name or a config dict."""

    def __init__(self, activator, input_shape=None):
        super().__init__()
        self.function = make_activator(activator)
        self.function.buffers = self._cache     # its work arrays live in this layer's cache
        self.z = self.a = None
        self._out = self._dz = None         # the last output / gradient arrays, reused
        #                                     while the shape and dtype hold
        if input_shape is not None:
            self.build(input_shape)

    @property
    def activator(self):
        """The Activator this layer applies (the textbook's name for ``function``)."""
        return self.function

    def forward(self, x, train):
        out = self._out
        if out is None or out.shape != x.shape or out.dtype != x.dtype:
            check_input(type(self).__name__, x, self.input_shape)
            out = self._out = self.buffer("out", x.shape, x.dtype)
        self.z = x
        self.a = a = self.function.forward(x, out)
        return a

    def backward(self, delta):
        if not self.need_input_grad:
            return None
        dz = self._dz
        if dz is None or dz.shape != delta.shape or dz.dtype != delta.dtype:
            dz = self._dz = self.buffer("dz", delta.shape, delta.dtype)
        return self.function.backward(self.z, self.a, delta, dz)

    def name_hint(self):
        return self.function.name

    def get_config(self):
        return {"activator": self.function.get_config()}
