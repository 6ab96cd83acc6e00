"""Initial weights: one variance-scaling rule with named presets.

Every method except ZERO draws from a zero-mean distribution whose standard
deviation is ``scale * sqrt(gain / fan)``; the presets only choose the gain,
the fan and whether the distribution is normal or uniform. A uniform draw on
``[-limit, limit]`` has std ``limit / sqrt(3)``, so the uniform presets below
are the same rule written with the limit the papers quote.

=============  ===============  =========================================
method         distribution     std (before ``scale``)
=============  ===============  =========================================
ZERO           --               0 (all zeros; B is always zeros anyway)
NORMAL         N(0, std)        1 (the textbook's ``np.random.normal``)
UNIFORM        U(-l, l)         l = 1/sqrt(in)         -> 1/sqrt(3*in)
XAVIER         U(-l, l)         l = sqrt(6/(in+out))   -> sqrt(2/(in+out))
XAVIER_NORMAL  N(0, std)        sqrt(2/(in+out))
MSRA           N(0, std)        sqrt(2/in)   (He et al. 2015)
MSRA_UNIFORM   U(-l, l)         l = sqrt(6/in)         -> sqrt(2/in)
=============  ===============  =========================================

Xavier keeps the activation variance steady for tanh/sigmoid nets; MSRA
doubles it to make up for ReLU zeroing half of its inputs.

Numbers are drawn in float64 from the caller's ``numpy.random.Generator`` and
only then cast, so a float32 net and a float64 net built from one seed start
from the same weights up to rounding, and no global RNG is ever touched.
"""
import math

import numpy as np

from .enums import InitMethod
from .infra.validation import check_number

# method -> (distribution, fan, gain): std = scale * sqrt(gain / fan)
_RULES = {
    InitMethod.NORMAL: ("normal", "one", 1.0),
    InitMethod.UNIFORM: ("uniform", "in", 1.0 / 3.0),
    InitMethod.XAVIER: ("uniform", "sum", 2.0),
    InitMethod.XAVIER_NORMAL: ("normal", "sum", 2.0),
    InitMethod.MSRA: ("normal", "in", 2.0),
    InitMethod.MSRA_UNIFORM: ("uniform", "in", 2.0),
}


def init_std(method, shape, scale=1.0, fans=None):
    """The theoretical standard deviation of ``initialize(method, shape, ...)``."""
    method = InitMethod.parse(method, "init_method")
    fan_in, fan_out = _check_shape(shape) if fans is None else _check_shape(fans)
    if method is InitMethod.ZERO:
        return 0.0
    _, fan_mode, gain = _RULES[method]
    fan = {"one": 1, "in": fan_in, "sum": fan_in + fan_out}[fan_mode]
    return float(scale) * math.sqrt(gain / fan)


def initialize(method, shape, rng, dtype=np.float32, scale=1.0, fans=None):
    """Return a new array of initial weights of ``shape``.

    ``fans = (fan_in, fan_out)`` defaults to ``shape`` itself, the (in, out)
    matrix of a fully connected layer; a convolution kernel of shape
    ``(F, C, kh, kw)`` passes ``fans = (C*kh*kw, F*kh*kw)``, the inputs that
    feed one output and the outputs one input feeds, as PyTorch and Keras
    count them. ``scale`` multiplies the standard deviation (and so the
    uniform limit).
    """
    method = InitMethod.parse(method, "init_method")
    if fans is None:
        shape = _check_shape(shape)
    else:
        _check_shape(fans)
        shape = tuple(int(n) for n in shape)
    scale = check_number("init scale", scale, 0)
    if method is InitMethod.ZERO:
        return np.zeros(shape, dtype=dtype)
    distribution = _RULES[method][0]
    std = init_std(method, shape, scale, fans)
    if distribution == "normal":
        values = rng.normal(0.0, std, size=shape)
    else:
        limit = std * math.sqrt(3.0)
        values = rng.uniform(-limit, limit, size=shape)
    return values.astype(dtype, copy=False)


def _check_shape(shape):
    try:
        fan_in, fan_out = (int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"init shape: expected (fan_in, fan_out), got {shape!r}") from None
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"init shape: expected positive sizes, got {shape!r}")
    return fan_in, fan_out
