"""ActivationLayer: an element-wise function between two parameter layers.

Both keep a reference to their input ``z`` and their own output ``a`` so the
backward pass can use whichever gives the cheaper, more accurate derivative
(``a`` for sigmoid/tanh, ``z`` for ReLU). After ``forward`` they are
available as ``layer.z`` and ``layer.a``; the net reads them to compute the
fused loss gradient at the output.
"""
from ..activators import make_activator
from .base import Layer, check_input


class ActivationLayer(Layer):
    """Wraps an activator given as an instance, a name or a config dict."""

    def __init__(self, activator):
        super().__init__()
        self.function = make_activator(activator)
        self.z = self.a = None
        self._out = self._dz = None     # the last output / gradient arrays, reused when
        #                                 the next call has the same shape and dtype


    @property
    def activator(self):
        return self.function

    def forward(self, x, train):
        out = self._out
        if out is None or out.shape != x.shape or out.dtype != x.dtype:
            if x.ndim != 2:
                check_input(type(self).__name__, x, None)
            out = self._out = self._cache.get("out", x.shape[0], x.shape[1], x.dtype)
        self.z = x
        self.a = a = self.function.forward(x, out)
        return a

    def backward(self, delta):
        if not self.need_input_grad:
            return None
        dz = self._dz
        if dz is None or dz.shape != delta.shape or dz.dtype != delta.dtype:
            dz = self._dz = self._cache.get("dz", delta.shape[0], delta.shape[1], delta.dtype)
        return self.function.backward(self.z, self.a, delta, dz)

    def get_config(self):
        return {"activator": self.function.get_config()}
