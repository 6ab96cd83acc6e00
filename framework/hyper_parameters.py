"""HyperParameters and Stopper: everything that configures one training run.

Mirrors the textbook's HyperParameters_4_0. Every field is validated when the
object is made, so a typo fails at once with a message that names the field
and the value received, not epochs later inside a layer.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from .enums import InitMethod, NetType, OptimizerName, RegularMethod, StopCondition
from .optimizers import parse_optimizer_name
from .schedules import make_schedule


@dataclass
class Stopper:
    """A stop condition and its threshold, e.g. ``Stopper("stop_loss", 0.001)``."""

    condition: StopCondition = StopCondition.NOTHING
    value: float = 0.0

    def __post_init__(self):
        self.condition = StopCondition.parse(self.condition, "stopper.condition")
        self.value = _finite_number("stopper.value", self.value, minimum=0.0)

    def to_dict(self):
        return {"condition": self.condition.value, "value": self.value}


@dataclass
class HyperParameters:
    learning_rate: float
    max_epoch: int
    batch_size: int
    net_type: NetType = NetType.FITTING
    init_method: InitMethod = InitMethod.XAVIER
    optimizer_name: OptimizerName = OptimizerName.SGD
    stopper: Stopper = None
    regular_name: RegularMethod = RegularMethod.NOTHING
    regular_value: float = 0.0
    lr_schedule: object = None
    seed: int = 0
    dtype: object = np.float32
    init_scale: float = 1.0
    optimizer_options: dict = field(default_factory=dict)

    def __post_init__(self):
        self.learning_rate = _finite_number("learning_rate", self.learning_rate, minimum=0.0,
                                            strict=True)
        self.max_epoch = _positive_int("max_epoch", self.max_epoch, allow_zero=True)
        self.batch_size = _positive_int("batch_size", self.batch_size)
        self.net_type = NetType.parse(self.net_type, "net_type")
        self.init_method = InitMethod.parse(self.init_method, "init_method")
        self.optimizer_name = parse_optimizer_name(self.optimizer_name)
        self.stopper = _parse_stopper(self.stopper)
        self.regular_name = RegularMethod.parse(self.regular_name, "regular_name")
        self.regular_value = _finite_number("regular_value", self.regular_value, minimum=0.0)
        if self.regular_name is RegularMethod.EARLY_STOP:
            self.regular_value = _positive_int("regular_value (early-stop patience)",
                                               self.regular_value)
        self.lr_schedule = make_schedule(self.lr_schedule)
        self.seed = _positive_int("seed", self.seed, allow_zero=True)
        self.dtype = _float_dtype(self.dtype)
        self.init_scale = _finite_number("init_scale", self.init_scale, minimum=0.0, strict=True)
        if not isinstance(self.optimizer_options, dict):
            raise ValueError(f"optimizer_options: expected a dict, got {self.optimizer_options!r}")

    @property
    def patience(self):
        """Checkpoints without improvement before early stopping (None if off)."""
        if self.regular_name is RegularMethod.EARLY_STOP:
            return int(self.regular_value)
        return None

    def learning_rate_at(self, epoch):
        return self.lr_schedule(self.learning_rate, epoch)

    def to_dict(self):
        """A JSON-able description, saved in weight files."""
        return {
            "learning_rate": self.learning_rate, "max_epoch": self.max_epoch,
            "batch_size": self.batch_size, "net_type": self.net_type.value,
            "init_method": self.init_method.value,
            "optimizer_name": str(self.optimizer_name),
            "stopper": self.stopper.to_dict(),
            "regular_name": self.regular_name.value, "regular_value": self.regular_value,
            "lr_schedule": self.lr_schedule.get_config(), "seed": self.seed,
            "dtype": self.dtype.name, "init_scale": self.init_scale,
            "optimizer_options": dict(self.optimizer_options),
        }

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        data["stopper"] = Stopper(**data["stopper"]) if data.get("stopper") else None
        return cls(**data)


def _parse_stopper(stopper):
    if stopper is None:
        return Stopper()
    if isinstance(stopper, Stopper):
        return stopper
    if isinstance(stopper, (tuple, list)) and len(stopper) == 2:
        return Stopper(*stopper)
    raise ValueError(f"stopper: expected a Stopper or (condition, value), got {stopper!r}")


def _finite_number(field, value, minimum=None, strict=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value):
        raise ValueError(f"{field}: expected a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        relation = "greater than" if strict else "at least"
        raise ValueError(f"{field}: expected a number {relation} {minimum}, got {value!r}")
    return float(value)


def _positive_int(field, value, allow_zero=False):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < (0 if allow_zero else 1):
        expected = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"{field}: expected {expected}, got {value!r}")
    return int(value)


def _float_dtype(value):
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: expected float32 or float64, got {value!r}")
    return dtype
