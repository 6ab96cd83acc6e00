"""Learning-rate schedules: the rate for an epoch as a function of the base rate.

Each schedule is a small object with ``__call__(base_lr, epoch) -> float``
(epochs count from 0) and ``get_config()`` so it can be saved as JSON and
rebuilt by ``make_schedule``. A new schedule joins with ``@register_schedule``.

Every option is checked when the schedule is made, and ``make_schedule``
refuses options the schedule does not have: a NaN minimum rate or a typo'd
option name would otherwise train a whole run on a rate nobody asked for.
NumPy numbers are accepted wherever Python numbers are.
"""
import inspect
import math

from .registry import Registry, class_decorator, fold
from .infra.validation import check_integer, check_number

SCHEDULES = Registry("lr_schedule")


class LRSchedule:
    """Base: equal schedules have equal configs."""

    name = "base"

    def get_config(self):
        """{"name": ..., <options>}: what make_schedule needs to rebuild this schedule."""
        return {"name": self.name}

    def __eq__(self, other):
        return isinstance(other, LRSchedule) and self.get_config() == other.get_config()

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({options})"


register_schedule = class_decorator(SCHEDULES, LRSchedule)


@register_schedule
class ConstantLR(LRSchedule):
    """lr = base_lr."""

    name = "constant"

    def __call__(self, base_lr, epoch):
        return float(base_lr)


@register_schedule
class StepLR(LRSchedule):
    """lr = base_lr * gamma ** floor(epoch / step_size)."""

    name = "step"

    def __init__(self, step_size=10, gamma=0.5):
        self.step_size = check_integer("lr_schedule 'step' step_size", step_size)
        self.gamma = check_number("lr_schedule 'step' gamma", gamma, 0, above=True)

    def __call__(self, base_lr, epoch):
        return float(base_lr * self.gamma ** (epoch // self.step_size))

    def get_config(self):
        return {"name": self.name, "step_size": self.step_size, "gamma": self.gamma}


@register_schedule
class MultiStepLR(LRSchedule):
    """lr = base_lr * gamma ** (number of milestones <= epoch).

    The notes' example: milestones [10, 50, 200], gamma 0.7.
    """

    name = "multi_step"

    def __init__(self, milestones=(10, 50, 200), gamma=0.7):
        field = "lr_schedule 'multi_step' milestones"
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise ValueError(f"{field}: expected a list of epochs, got {milestones!r}")
        milestones = [check_integer(field, m) for m in milestones]
        if milestones != sorted(milestones):
            raise ValueError(f"{field}: expected increasing epochs, got {milestones!r}")
        self.milestones = milestones
        self.gamma = check_number("lr_schedule 'multi_step' gamma", gamma, 0, above=True)

    def __call__(self, base_lr, epoch):
        passed = sum(1 for m in self.milestones if epoch >= m)
        return float(base_lr * self.gamma ** passed)

    def get_config(self):
        return {"name": self.name, "milestones": list(self.milestones), "gamma": self.gamma}


@register_schedule
class ExponentialLR(LRSchedule):
    """lr = base_lr * gamma ** epoch."""

    name = "exponential"

    def __init__(self, gamma=0.95):
        self.gamma = check_number("lr_schedule 'exponential' gamma", gamma, 0, above=True)

    def __call__(self, base_lr, epoch):
        return float(base_lr * self.gamma ** epoch)

    def get_config(self):
        return {"name": self.name, "gamma": self.gamma}


@register_schedule
class PolynomialLR(LRSchedule):
    """lr = (base_lr - end_lr) * (1 - epoch / total_epochs) ** power + end_lr,
    held at end_lr after total_epochs."""

    name = "polynomial"

    def __init__(self, total_epochs=100, power=1.0, end_lr=0.0):
        self.total_epochs = check_integer("lr_schedule 'polynomial' total_epochs", total_epochs)
        self.power = check_number("lr_schedule 'polynomial' power", power, 0, above=True)
        self.end_lr = check_number("lr_schedule 'polynomial' end_lr", end_lr, 0)

    def __call__(self, base_lr, epoch):
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return float((base_lr - self.end_lr) * (1.0 - progress) ** self.power + self.end_lr)

    def get_config(self):
        return {"name": self.name, "total_epochs": self.total_epochs,
                "power": self.power, "end_lr": self.end_lr}


@register_schedule
class CosineLR(LRSchedule):
    """lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / total_epochs)) / 2,
    held at min_lr after total_epochs (SGDR without restarts)."""

    name = "cosine"

    def __init__(self, total_epochs=100, min_lr=0.0):
        self.total_epochs = check_integer("lr_schedule 'cosine' total_epochs", total_epochs)
        self.min_lr = check_number("lr_schedule 'cosine' min_lr", min_lr, 0)

    def __call__(self, base_lr, epoch):
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return float(self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2)

    def get_config(self):
        return {"name": self.name, "total_epochs": self.total_epochs, "min_lr": self.min_lr}


@register_schedule
class WarmupLR(LRSchedule):
    """A linear warm-up, then another schedule (PyTorch's LinearLR + SequentialLR):

        lr = base_lr * (start_factor + (1 - start_factor) * epoch / epochs)   epoch < epochs
        lr = then(base_lr, epoch - epochs)                                    afterwards

    The schedule after the warm-up starts its own epoch 0 where the warm-up ends,
    as SequentialLR restarts it, so ``{"name": "warmup", "epochs": 5, "then":
    {"name": "cosine", "total_epochs": 15}}`` warms up for 5 epochs and anneals
    over the 15 after them. ``then`` is any schedule spec (a name, a config dict,
    a schedule; default "constant"), so the warm-up composes with every
    schedule. ``start_factor`` 1/3 is LinearLR's default: the first epoch runs at
    a third of the rate. Why warm up: at the start the weights are random and
    the gradients largest, so a rate that is safe later can make the first
    steps diverge; a few epochs of smaller steps get past that (Goyal et al., 2017).
    """

    name = "warmup"

    def __init__(self, epochs=5, then="constant", start_factor=1 / 3):
        self.epochs = check_integer("lr_schedule 'warmup' epochs", epochs)
        self.start_factor = check_number("lr_schedule 'warmup' start_factor", start_factor,
                                         0, 1, above=True)
        try:
            self.then = make_schedule(then)
        except ValueError as error:
            raise ValueError(f"lr_schedule 'warmup' then: {error}") from None

    def __call__(self, base_lr, epoch):
        if epoch < self.epochs:
            factor = self.start_factor + (1.0 - self.start_factor) * epoch / self.epochs
            return float(base_lr * factor)
        return self.then(base_lr, epoch - self.epochs)

    def get_config(self):
        return {"name": self.name, "epochs": self.epochs, "start_factor": self.start_factor,
                "then": self.then.get_config()}


def make_schedule(spec):
    """Build a schedule from None (constant), a name, a config dict or a schedule."""
    if spec is None:
        return ConstantLR()
    if isinstance(spec, LRSchedule):
        return spec
    given = spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        options = dict(spec)
        name = fold(options.pop("name", ""))
        if name not in SCHEDULES:
            hint = (" (options go in a dict, e.g. {'name': 'cosine', 'min_lr': 0.001}; "
                    "'name:options' is the apps' --lr-schedule syntax)"
                    if isinstance(given, str) and ":" in given else "")
            raise ValueError(f"lr_schedule: expected one of {SCHEDULES.names()}, "
                             f"got {given!r}{hint}")
        cls = SCHEDULES.get(name)
        _check_option_names(name, cls, options)
        return cls(**options)
    raise ValueError(f"lr_schedule: expected a schedule, a name or a dict, got {spec!r}")


def _check_option_names(name, cls, options):
    """Refuse options the schedule's constructor does not take, listing the ones it does."""
    accepted = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in accepted):
        return
    known = sorted(p.name for p in accepted)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"lr_schedule {name!r}: unknown option(s) {unknown}; expected "
                         f"{'one of ' + str(known) if known else 'no options'}")
