"""HyperParameters and Stopper: everything that configures one training run.

Mirrors the textbook's HyperParameters_4_0. Every field is validated when the
object is made, so a typo fails at once with a message that names the field
and the value received, not epochs later inside a layer.

Both classes are frozen: assigning a field raises ``FrozenInstanceError``.
A changed copy comes from ``dataclasses.replace(params, max_epoch=20)``,
which validates again. Freezing is what keeps the settings from drifting:
the layers built their weights and optimizers from ``LAYER_FIELDS`` once, so
a later edit of, say, ``optimizer_name`` would leave them on the old rule
while the loop followed the new one. ``NeuralNet.params`` refuses a copy
that changes one of those fields once the net has layers.

NumPy scalars (``np.float32(0.1)``, ``np.int64(5)``) are accepted wherever a
Python number is, and stored as Python numbers.
"""
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .enums import InitMethod, NetType, OptimizerName, RegularMethod, StopCondition
from .initializers import initializer_name
from .losses import check_loss_spec
from .optimizers import OPTIMIZERS, parse_optimizer_name
from .schedules import make_schedule

# What the layers are built from (weights, optimizers, penalties, dtype, random
# streams): fixed for the life of a net once it has layers.
LAYER_FIELDS = ("net_type", "init_method", "init_scale", "optimizer_name",
                "optimizer_options", "regular_name", "regular_value", "dtype", "seed",
                "decay_all_parameters")


class FrozenDict(dict):
    """A dict that refuses changes (picklable, so params still travel to worker processes)."""

    def _refuse(self, *args, **kwargs):
        """Refuse every change: the options are part of a frozen HyperParameters."""
        raise TypeError("HyperParameters.optimizer_options is read-only; use "
                        "dataclasses.replace(params, optimizer_options={...})")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __reduce__(self):
        return FrozenDict, (dict(self),)

    def __hash__(self):
        return hash(tuple(sorted(self.items())))


@dataclass(frozen=True)
class Stopper:
    """A stop condition and its threshold, e.g. ``Stopper("stop_loss", 0.001)``.

    The textbook's spelling; training turns it into a ``StopLoss`` or
    ``StopDiff`` callback (see ``framework.stopping``).
    """

    condition: StopCondition = StopCondition.NOTHING
    value: float = 0.0

    def __post_init__(self):
        _set(self, "condition", StopCondition.parse(self.condition, "stopper.condition"))
        _set(self, "value", _finite_number("stopper.value", self.value, minimum=0.0))

    def to_dict(self):
        """A JSON-able description."""
        return {"condition": self.condition.value, "value": self.value}


@dataclass(frozen=True)
class HyperParameters:
    """The textbook's HyperParameters: learning rate, epochs, batch size, net type, ...

    ``init_method``, ``optimizer_name`` and ``loss`` name registered classes (the
    textbook's enums work too and are stored as their names); ``optimizer_options``
    are checked against the optimizer's own (``{"beta1": 0.9, "amsgrad": True}``);
    ``loss`` None takes the net type's (mse, binary cross-entropy, cross-entropy);
    ``decay_all_parameters`` makes L1/L2 and AdamW's weight decay reach biases and
    normalization parameters too (by default only weights decay). ``clip_norm`` /
    ``clip_value`` (one of them, or neither) clip every step's gradients by their
    global norm / by value before the optimizer uses them (``framework.clipping``).
    """

    learning_rate: float
    max_epoch: int
    batch_size: int
    net_type: NetType = NetType.FITTING
    init_method: str = InitMethod.XAVIER.value
    optimizer_name: str = OptimizerName.SGD.value
    stopper: Stopper = None
    regular_name: RegularMethod = RegularMethod.NOTHING
    regular_value: float = 0.0
    lr_schedule: object = None
    seed: int = 0
    dtype: object = np.float32
    init_scale: float = 1.0
    optimizer_options: Mapping = field(default_factory=dict)
    loss: object = None
    decay_all_parameters: bool = False
    clip_norm: float = None
    clip_value: float = None

    def __post_init__(self):
        _set(self, "learning_rate", _finite_number("learning_rate", self.learning_rate,
                                                   minimum=0.0, strict=True))
        _set(self, "max_epoch", _positive_int("max_epoch", self.max_epoch, allow_zero=True))
        _set(self, "batch_size", _positive_int("batch_size", self.batch_size))
        _set(self, "net_type", NetType.parse(self.net_type, "net_type"))
        _set(self, "init_method", initializer_name(self.init_method, "init_method"))
        _set(self, "optimizer_name", parse_optimizer_name(self.optimizer_name))
        _set(self, "stopper", _parse_stopper(self.stopper))
        _set(self, "regular_name", RegularMethod.parse(self.regular_name, "regular_name"))
        _set(self, "regular_value", _finite_number("regular_value", self.regular_value,
                                                   minimum=0.0))
        if self.regular_name is RegularMethod.EARLY_STOP:
            _positive_int("regular_value (early-stop patience)", self.regular_value)
        _set(self, "lr_schedule", make_schedule(self.lr_schedule))
        _set(self, "seed", _positive_int("seed", self.seed, allow_zero=True))
        _set(self, "dtype", _float_dtype(self.dtype))
        _set(self, "init_scale", _finite_number("init_scale", self.init_scale, minimum=0.0,
                                                strict=True))
        if not isinstance(self.optimizer_options, Mapping):
            raise ValueError(f"optimizer_options: expected a dict, got {self.optimizer_options!r}")
        # checked now, naming the optimizer, not when the first layer is built
        OPTIMIZERS.get(self.optimizer_name).check_options(dict(self.optimizer_options))
        # a read-only private copy: the caller's dict cannot change it later
        _set(self, "optimizer_options", FrozenDict(self.optimizer_options))
        if self.loss is not None:
            _set(self, "loss", FrozenDict(check_loss_spec(self.loss, self.net_type)))
        if not isinstance(self.decay_all_parameters, (bool, np.bool_)):
            raise ValueError(f"decay_all_parameters: expected True or False, "
                             f"got {self.decay_all_parameters!r}")
        _set(self, "decay_all_parameters", bool(self.decay_all_parameters))
        _set(self, "clip_norm", _optional_positive("clip_norm", self.clip_norm))
        _set(self, "clip_value", _optional_positive("clip_value", self.clip_value))
        if self.clip_norm is not None and self.clip_value is not None:
            raise ValueError(f"clip_norm and clip_value: give one of them (clip by the "
                             f"global norm, or each value), got clip_norm={self.clip_norm} "
                             f"and clip_value={self.clip_value}")

    @property
    def patience(self):
        """The textbook's early-stop patience in checkpoints (None unless
        ``regular_name`` is EARLY_STOP); training maps it to an ``EarlyStopping``."""
        if self.regular_name is RegularMethod.EARLY_STOP:
            return int(self.regular_value)
        return None

    def learning_rate_at(self, epoch):
        """The scheduled learning rate of (0-based) ``epoch``."""
        return self.lr_schedule(self.learning_rate, epoch)

    def layer_settings(self):
        """``{field: value}`` of ``LAYER_FIELDS``: everything the layers are built from."""
        return {name: getattr(self, name) for name in LAYER_FIELDS}

    def to_dict(self):
        """A JSON-able description, saved in weight files."""
        return {
            "learning_rate": self.learning_rate, "max_epoch": self.max_epoch,
            "batch_size": self.batch_size, "net_type": self.net_type.value,
            "init_method": self.init_method, "optimizer_name": self.optimizer_name,
            "stopper": self.stopper.to_dict(),
            "regular_name": self.regular_name.value, "regular_value": self.regular_value,
            "lr_schedule": self.lr_schedule.get_config(), "seed": self.seed,
            "dtype": self.dtype.name, "init_scale": self.init_scale,
            "optimizer_options": dict(self.optimizer_options),
            "loss": None if self.loss is None else dict(self.loss),
            "decay_all_parameters": self.decay_all_parameters,
            "clip_norm": self.clip_norm, "clip_value": self.clip_value,
        }

    @classmethod
    def from_dict(cls, data):
        """Rebuild from ``to_dict()`` output (validated again)."""
        data = dict(data)
        data["stopper"] = Stopper(**data["stopper"]) if data.get("stopper") else None
        return cls(**data)


def _set(obj, name, value):
    """Store a validated value on a frozen instance (only ``__post_init__`` may)."""
    object.__setattr__(obj, name, value)


def _parse_stopper(stopper):
    if stopper is None:
        return Stopper()
    if isinstance(stopper, Stopper):
        return stopper
    if isinstance(stopper, (tuple, list)) and len(stopper) == 2:
        return Stopper(*stopper)
    raise ValueError(f"stopper: expected a Stopper or (condition, value), got {stopper!r}")


def _is_number(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number))


def _finite_number(field, value, minimum=None, strict=False):
    if not _is_number(value) or np.iscomplexobj(value) or not math.isfinite(value):
        raise ValueError(f"{field}: expected a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        relation = "greater than" if strict else "at least"
        raise ValueError(f"{field}: expected a number {relation} {minimum}, got {value!r}")
    return float(value)


def _optional_positive(field, value):
    """None (off), or a finite number > 0 (0 would clip every gradient to nothing)."""
    if value is None:
        return None
    if _is_number(value) and not np.iscomplexobj(value) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(f"{field}: expected None (no clipping) or a finite number > 0, "
                     f"got {value!r}")


def _positive_int(field, value, allow_zero=False):
    if isinstance(value, (float, np.floating)) and math.isfinite(value) \
            and float(value).is_integer():
        value = int(value)
    if not _is_number(value) or not isinstance(value, (int, np.integer)) \
            or value < (0 if allow_zero else 1):
        expected = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"{field}: expected {expected}, got {value!r}")
    return int(value)


def _float_dtype(value):
    try:
        dtype = None if value is None else np.dtype(value)   # np.dtype(None) is float64
    except TypeError:
        dtype = None
    if dtype is None or dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: expected float32 or float64, got {value!r}")
    return dtype
