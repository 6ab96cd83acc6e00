"""Callbacks that steer the learning rate: LearningRateScheduler, ReduceLROnPlateau.

The loop reads ``net.learning_rate`` before every step, so a callback that sets
it changes the very next update; every checkpoint records the rate in use (the
history's ``lr`` column). The textbook's ``lr_schedule`` setting is the same
mechanism: the loop sets the scheduled rate at each epoch's start. Two owners of
the rate would fight, so a run refuses a rate callback beside a schedule other
than ``constant``.
"""
import inspect
import math

from ..monitor import Monitor, Patience
from ..schedules import LRSchedule, make_schedule
from .base import Callback


class LearningRateScheduler(Callback):
    """Keras's ``LearningRateScheduler(schedule)``: at each epoch's start the rate becomes
    ``schedule(epoch, lr)`` (0-based epoch, the current rate), or ``schedule(epoch)``;
    ``schedule`` may also be an ``LRSchedule`` or its name (``"cosine:total=20"``), of
    the rate the run started with."""

    sets_learning_rate = True

    def __init__(self, schedule):
        if isinstance(schedule, (str, dict, LRSchedule)):
            self.schedule, self._arity = make_schedule(schedule), None
        elif callable(schedule):
            self.schedule, self._arity = schedule, _arity(schedule)
        else:
            raise ValueError(f"LearningRateScheduler schedule: expected a function "
                             f"(epoch, lr) -> lr or a schedule name, got {schedule!r}")
        self._base = None

    def on_train_begin(self, net, history):
        """Remember the rate the run starts from (what a named schedule scales)."""
        self._base = net.learning_rate

    def on_epoch_begin(self, net, epoch):
        """Set this epoch's rate."""
        if self._arity is None:
            rate = self.schedule(self._base, epoch)
        elif self._arity == 1:
            rate = self.schedule(epoch)
        else:
            rate = self.schedule(epoch, net.learning_rate)
        net.learning_rate = _rate("LearningRateScheduler", rate, epoch)

    def __repr__(self):
        return f"LearningRateScheduler({self.schedule!r})"


class ReduceLROnPlateau(Callback):
    """Keras's ``ReduceLROnPlateau``: multiply the rate by ``factor`` once ``monitor``
    has not improved (by more than ``min_delta``) for ``patience`` epochs; then wait
    ``cooldown`` epochs before counting again; never go below ``min_lr``.

    ``ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto",
    min_delta=1e-4, cooldown=0, min_lr=0.0, patience_unit="epochs")``
    """

    sets_learning_rate = True

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, patience_unit="epochs"):
        self.monitor = Monitor(monitor, mode, "ReduceLROnPlateau")
        self.factor = _in_range("factor", factor, 0.0, 1.0)
        self.patience = _non_negative("patience", patience)
        self.min_delta = _non_negative("min_delta", min_delta)
        self.cooldown = _non_negative("cooldown", cooldown)
        self.min_lr = _non_negative("min_lr", min_lr)
        self._patience = Patience(self.monitor, self.min_delta, patience_unit)
        self.reductions = []            # (epoch, new rate) of every reduction

    def on_train_begin(self, net, history):
        """Count from where the net is; no cooldown pending."""
        self._patience.reset(since=float(net.epoch))
        self._cooldown_until = -math.inf
        self.reductions = []

    def on_checkpoint(self, net, record):
        """Reduce the rate after a plateau of ``patience``."""
        if self._patience.update(record) or record.epoch < self._cooldown_until:
            return
        if self._patience.waited >= self.patience and net.learning_rate > self.min_lr:
            net.learning_rate = max(net.learning_rate * self.factor, self.min_lr)
            self.reductions.append((record.epoch, net.learning_rate))
            self._cooldown_until = record.epoch + self.cooldown
            self._patience.restart(record.epoch)          # Keras: wait from 0, same best

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor.name!r}, factor={self.factor}, "
                f"patience={self.patience:g}, min_lr={self.min_lr})")


def _arity(function):
    """How many positional arguments ``function`` takes (1: epoch; 2: epoch, lr)."""
    try:
        parameters = [p for p in inspect.signature(function).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return 2
    return 1 if len(parameters) == 1 else 2


def _rate(owner, rate, epoch):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) and not hasattr(
            rate, "__float__") or not math.isfinite(float(rate)) or float(rate) < 0:
        raise ValueError(f"{owner}: the schedule gave {rate!r} for epoch {epoch}; expected "
                         f"a finite learning rate >= 0")
    return float(rate)


def _non_negative(field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"ReduceLROnPlateau {field}: expected a finite number >= 0, "
                         f"got {value!r}")
    return float(value)


def _in_range(field, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not low < value < high:
        raise ValueError(f"ReduceLROnPlateau {field}: expected a number in ({low}, {high}), "
                         f"got {value!r}")
    return float(value)
