"""Element-wise activation functions, written for in-place use.

Every activator has
  ``forward(z, out)``              writes a = f(z) into ``out`` and returns it;
  ``backward(z, a, delta, out)``   writes delta * f'(z) into ``out`` and returns it;
  ``get_config()``                 ``{"name": ..., <params>}`` for ``make_activator``.

``out`` may be the very array ``delta`` (each element is read before it is
written), never ``z`` or ``a``. The layers keep both ``z`` and ``a`` so each
derivative uses whichever is cheaper and more accurate. Work arrays come from
the owning layer's buffer cache (``buffers``, set by the layer), so
steady-state calls allocate nothing. A new activator joins with
``@register_activator`` and is then usable by name in specs and files.

Sigmoid and softplus go through ``logaddexp`` so |z| ~ 1000 neither overflows
nor warns.
"""
import numpy as np

from .infra.buffers import BufferCache
from .registry import Registry, class_decorator, make_from_spec
from .infra.validation import check_number

ACTIVATORS = Registry("activator")

_maximum, _greater, _multiply = np.maximum, np.greater, np.multiply


class Activator:
    """Base: identity, plus the scratch-array cache used by subclasses."""

    name = "identity"
    buffers = None      # the owning layer's BufferCache (a private one when standalone)

    def forward(self, z, out):
        """Write a = f(z) into ``out`` and return it."""
        if out is not z:
            np.copyto(out, z)
        return out

    def backward(self, z, a, delta, out):
        """Write delta * f'(z) into ``out`` (which may be ``delta``) and return it."""
        if out is not delta:
            np.copyto(out, delta)
        return out

    def get_config(self):
        """{"name": ..., <options>}: what make_activator needs to rebuild this activator."""
        return {"name": self.name}

    def _scratch(self, name, like, dtype=None, shape=None):
        """Work array ``name`` shaped like ``like`` (or ``shape``), from the layer's cache.

        Transient: valid only within one call, so layers sharing an activator
        instance may share its arrays. The ``"zeros"`` array is never written.
        """
        cache = self.buffers
        if cache is None:
            cache = self.buffers = BufferCache()
        return cache.get(name, like.shape if shape is None else shape,
                         like.dtype if dtype is None else dtype)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({params})"


register_activator = class_decorator(ACTIVATORS, Activator)


@register_activator
class Identity(Activator):
    """a = z;  f' = 1"""


def stable_sigmoid(z, out):
    """out = 1 / (1 + exp(-z)) computed as exp(-log(1 + exp(-z))): no overflow."""
    np.logaddexp(0.0, np.negative(z, out=out), out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


@register_activator
class Sigmoid(Activator):
    """a = 1 / (1 + exp(-z));  f' = a (1 - a)"""

    name = "sigmoid"

    def forward(self, z, out):
        return stable_sigmoid(z, out)

    def backward(self, z, a, delta, out):
        s = self._scratch("sigmoid", a)
        np.subtract(1.0, a, out=s)
        s *= a
        return np.multiply(delta, s, out=out)


@register_activator
class Tanh(Activator):
    """a = tanh(z);  f' = 1 - a^2"""

    name = "tanh"

    def forward(self, z, out):
        return np.tanh(z, out=out)

    def backward(self, z, a, delta, out):
        s = self._scratch("tanh", a)
        np.multiply(a, a, out=s)
        np.subtract(1.0, s, out=s)
        return np.multiply(delta, s, out=out)


@register_activator
class Relu(Activator):
    """a = max(z, 0);  f' = 1 where z > 0 else 0"""

    name = "relu"

    _zeros = _mask = None       # the last scratch arrays, reused while the shape holds

    def forward(self, z, out):
        # against an array of zeros rather than the scalar 0: the same result,
        # but NumPy's same-shape loop is 2-4x faster than its broadcast one
        return _maximum(z, self._zeros_like(z), out=out)

    def backward(self, z, a, delta, out):
        mask = self._mask
        if mask is None or mask.shape != z.shape:
            mask = self._mask = self._scratch("relu_mask", z, bool)
        _greater(z, self._zeros_like(z), out=mask)     # zeros, not 0: as in forward
        return _multiply(delta, mask, out=out)

    def _zeros_like(self, z):
        zeros = self._zeros
        if zeros is None or zeros.shape != z.shape or zeros.dtype != z.dtype:
            zeros = self._zeros = self._scratch("zeros", z)
        return zeros


@register_activator
class LeakyRelu(Activator):
    """a = z where z > 0 else alpha z;  f' = 1 where z > 0 else alpha"""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        self.alpha = _number("LeakyRelu alpha", alpha, minimum=0.0)

    def forward(self, z, out):
        mask = self._scratch("mask", z, bool)
        np.greater(z, 0, out=mask)
        np.multiply(z, self.alpha, out=out)
        np.copyto(out, z, where=mask)
        return out

    def backward(self, z, a, delta, out):
        mask = self._scratch("mask", z, bool)
        np.less_equal(z, 0, out=mask)
        if out is not delta:
            np.copyto(out, delta)
        return np.multiply(out, self.alpha, out=out, where=mask)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


@register_activator
class Elu(Activator):
    """a = z where z > 0 else alpha (exp(z) - 1);  f' = 1 where z > 0 else a + alpha"""

    name = "elu"

    def __init__(self, alpha=1.0):
        self.alpha = _number("Elu alpha", alpha, minimum=0.0)

    def forward(self, z, out):
        mask = self._scratch("mask", z, bool)
        np.greater(z, 0, out=mask)
        np.minimum(z, 0, out=out)          # exp only of non-positive values: no overflow
        np.expm1(out, out=out)
        out *= self.alpha
        np.copyto(out, z, where=mask)
        return out

    def backward(self, z, a, delta, out):
        mask, s = self._scratch("mask", z, bool), self._scratch("elu", a)
        np.greater(z, 0, out=mask)
        np.add(a, self.alpha, out=s)
        np.copyto(s, 1, where=mask)
        return np.multiply(delta, s, out=out)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


@register_activator
class Softplus(Activator):
    """a = log(1 + exp(z));  f' = sigmoid(z)"""

    name = "softplus"

    def forward(self, z, out):
        return np.logaddexp(0.0, z, out=out)

    def backward(self, z, a, delta, out):
        s = stable_sigmoid(z, self._scratch("softplus", a))
        return np.multiply(delta, s, out=out)


def make_activator(config_or_name):
    """An activator from an instance, a name (``"relu"``) or a ``get_config()`` dict."""
    return make_from_spec(config_or_name, ACTIVATORS, Activator)


def _number(field, value, minimum=None):
    return check_number(field, value, minimum)
