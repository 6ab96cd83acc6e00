"""Initial weights: registered initializers, most of them one variance-scaling rule.

Every variance-scaling method draws from a zero-mean distribution whose standard
deviation is ``scale * sqrt(gain / fan)``; the presets only choose the gain, the fan
and whether the distribution is normal or uniform. A uniform draw on ``[-limit,
limit]`` has std ``limit / sqrt(3)``, so the uniform presets below are the same rule
written with the limit the papers quote.

=============  ===============  =========================================
name           distribution     std (before ``scale``)
=============  ===============  =========================================
zero           --               0 (all zeros; biases start here)
ones           --               every value 1 (batch-norm gamma)
normal         N(0, std)        1 (the textbook's ``np.random.normal``)
uniform        U(-l, l)         l = 1/sqrt(in)         -> 1/sqrt(3*in)
xavier         U(-l, l)         l = sqrt(6/(in+out))   -> sqrt(2/(in+out))
xavier_normal  N(0, std)        sqrt(2/(in+out))
msra           N(0, std)        sqrt(2/in)   (He et al. 2015)
msra_uniform   U(-l, l)         l = sqrt(6/in)         -> sqrt(2/in)
=============  ===============  =========================================

Xavier keeps the activation variance steady for tanh/sigmoid nets; MSRA doubles it
to make up for ReLU zeroing half of its inputs.

An initializer is called as ``init(shape, fans, rng, scale)`` and returns the values
(any float dtype; the parameter casts them once). Numbers are drawn in float64 from
the caller's ``numpy.random.Generator``, so a float32 net and a float64 net built
from one seed start from the same weights up to rounding, and no global RNG is
touched. A new initializer is one class or one function::

    @register_initializer
    def lecun_normal(shape, fans, rng):
        return rng.normal(0.0, math.sqrt(1.0 / fans[0]), size=shape)

after which ``HyperParameters(init_method="lecun_normal")`` and
``add_parameter(..., init="lecun_normal")`` use it, and files naming it load.
"""
import math

import numpy as np

from .infra.validation import check_number
from .registry import Registry, class_decorator

INITIALIZERS = Registry("initializer")


class Initializer:
    """Base class: ``init(shape, fans, rng, scale=1.0) -> array`` of ``shape``."""

    name = None
    deterministic = False   # True: draws nothing (a constant), so it can fill at once

    def __call__(self, shape, fans, rng, scale=1.0):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


_register_class = class_decorator(INITIALIZERS, Initializer)


def register_initializer(obj):
    """Decorator: register an ``Initializer`` subclass (by its ``name``) or a function
    ``f(shape, fans, rng) -> array`` (by its ``__name__``; ``scale`` multiplies it)."""
    if isinstance(obj, type):
        return _register_class(obj)
    if not callable(obj) or not isinstance(getattr(obj, "__name__", None), str):
        raise TypeError(f"register_initializer: expected an Initializer subclass or a "
                        f"function (shape, fans, rng), got {obj!r}")
    wrapper = type(f"Initializer_{obj.__name__}", (_FunctionInitializer,),
                   {"name": obj.__name__, "function": staticmethod(obj),
                    "__doc__": obj.__doc__, "__module__": obj.__module__,
                    "__qualname__": f"Initializer_{obj.__qualname__}"})
    _register_class(wrapper)
    return obj


class _FunctionInitializer(Initializer):
    """A registered function, scaled by ``scale``."""

    function = None

    def __call__(self, shape, fans, rng, scale=1.0):
        values = np.asarray(self.function(shape, fans, rng), dtype=np.float64)
        if values.shape != tuple(shape):
            raise ValueError(f"initializer {self.name!r} returned shape {values.shape}, "
                             f"expected {tuple(shape)}")
        return values if scale == 1.0 else values * scale


@register_initializer
class Zeros(Initializer):
    """Every value 0 (biases; the textbook's ``InitialMethod.Zero``)."""

    name = "zero"
    aliases = ("zeros",)

    deterministic = True

    def __call__(self, shape, fans, rng, scale=1.0):
        return np.zeros(shape)


@register_initializer
class Ones(Initializer):
    """Every value 1 (batch-norm and layer-norm gamma)."""

    name = "ones"

    deterministic = True

    def __call__(self, shape, fans, rng, scale=1.0):
        return np.ones(shape)


class Constant(Initializer):
    """Every value ``value`` (a parameter declared with ``init=0.25``)."""

    name = "constant"

    deterministic = True

    def __init__(self, value):
        self.value = check_number("constant initializer value", value)

    def __call__(self, shape, fans, rng, scale=1.0):
        return np.full(shape, self.value)

    def __repr__(self):
        return f"Constant({self.value!r})"


class VarianceScaling(Initializer):
    """Zero-mean draws with std ``scale * sqrt(gain / fan)``: subclasses set
    ``distribution`` ("normal" or "uniform"), ``fan`` ("one", "in" or "sum": in + out)
    and ``gain``."""

    distribution, fan, gain = "normal", "in", 1.0

    def std(self, fans, scale=1.0):
        """The standard deviation of the draws for ``fans = (fan_in, fan_out)``."""
        fan_in, fan_out = fans
        fan = {"one": 1, "in": fan_in, "sum": fan_in + fan_out}[self.fan]
        return float(scale) * math.sqrt(self.gain / fan)

    def __call__(self, shape, fans, rng, scale=1.0):
        std = self.std(fans, scale)
        if self.distribution == "normal":
            return rng.normal(0.0, std, size=shape)
        limit = std * math.sqrt(3.0)
        return rng.uniform(-limit, limit, size=shape)


@register_initializer
class Normal(VarianceScaling):
    """N(0, 1): the textbook's ``np.random.normal``."""

    name, fan, gain = "normal", "one", 1.0


@register_initializer
class Uniform(VarianceScaling):
    """U(-l, l), l = 1/sqrt(fan_in)."""

    name, distribution, fan, gain = "uniform", "uniform", "in", 1.0 / 3.0


@register_initializer
class Xavier(VarianceScaling):
    """U(-l, l), l = sqrt(6/(in+out)) (Glorot & Bengio 2010; the textbook's Xavier)."""

    name, distribution, fan, gain = "xavier", "uniform", "sum", 2.0
    aliases = ("glorot", "glorot_uniform", "xavier_uniform")


@register_initializer
class XavierNormal(VarianceScaling):
    """N(0, sqrt(2/(in+out)))."""

    name, fan, gain = "xavier_normal", "sum", 2.0
    aliases = ("glorot_normal",)


@register_initializer
class Msra(VarianceScaling):
    """N(0, sqrt(2/in)) (He et al. 2015; the textbook's MSRA)."""

    name, fan, gain = "msra", "in", 2.0
    aliases = ("he", "he_normal", "msra_normal")


@register_initializer
class MsraUniform(VarianceScaling):
    """U(-l, l), l = sqrt(6/in)."""

    name, distribution, fan, gain = "msra_uniform", "uniform", "in", 2.0
    aliases = ("he_uniform",)


def initializer_name(value, field="init_method"):
    """The canonical registered name of ``value`` (``"he"`` -> ``"msra"``); an
    ``InitMethod`` member counts as its name."""
    return INITIALIZERS.canonical(value, field)


def make_initializer(init):
    """An Initializer from a registered name, a number (constant) or an Initializer."""
    if isinstance(init, Initializer):
        return init
    if isinstance(init, (int, float, np.number)) and not isinstance(init, (bool, np.bool_)):
        return Constant(init)
    return INITIALIZERS.get(initializer_name(init, "init"))()


def init_std(method, shape, scale=1.0, fans=None):
    """The theoretical standard deviation of ``initialize(method, shape, ...)``."""
    init = make_initializer(method)
    fans = _check_fans(shape if fans is None else fans)
    if not isinstance(init, VarianceScaling):
        return 0.0
    return init.std(fans, scale)


def initialize(method, shape, rng, dtype=np.float32, scale=1.0, fans=None):
    """A new array of initial weights of ``shape`` from the initializer ``method``.

    ``fans = (fan_in, fan_out)`` defaults to ``shape`` itself, the (in, out) matrix
    of a fully connected layer; a convolution kernel ``(F, C, kh, kw)`` passes
    ``fans = (C*kh*kw, F*kh*kw)``, as PyTorch and Keras count them. ``scale``
    multiplies the standard deviation (and so the uniform limit).
    """
    init = make_initializer(method)
    fans = _check_fans(shape if fans is None else fans)
    scale = check_number("init scale", scale, 0)
    return np.asarray(init(tuple(int(n) for n in shape), fans, rng, scale)).astype(
        dtype, copy=False)


def _check_fans(fans):
    try:
        fan_in, fan_out = (int(n) for n in fans)
    except (TypeError, ValueError):
        raise ValueError(f"init shape: expected (fan_in, fan_out), got {fans!r}") from None
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"init shape: expected positive sizes, got {fans!r}")
    return fan_in, fan_out

