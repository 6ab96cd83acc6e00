"""When to stop training: early stopping, the textbook's stop-loss / stop-diff.

Each rule is a ``Callback`` that watches one number per checkpoint (see
``callbacks.base.monitored``: by default the validation loss, or the train
loss when there is no validation set) and stops the loop with a reason
string, which ends up in ``TrainingHistory.stop_reason``. The textbook's
spellings, ``HyperParameters.stopper`` and ``RegularMethod.EARLY_STOP``,
become these callbacks through ``callbacks_from_params``; because early
stopping is a callback it combines with an L1/L2 penalty.
"""
import math
import numbers

from .callbacks.base import Callback, check_monitor, monitored
from .enums import StopCondition

MAX_EPOCH_REASON = "max_epoch reached"
INTERRUPTED_REASON = "interrupted"


def diverged_reason(where, value):
    """The reason used when a loss stops being a finite number."""
    return (f"diverged: {where} loss became {value!r}; training stopped at once "
            "(try a smaller learning rate)")


def _non_negative(owner, field, value, integer=False):
    """A constructor argument checked at once (NumPy scalars welcome)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) \
            or value < 0:
        what = "a non-negative integer" if integer else "a finite number >= 0"
        raise ValueError(f"{owner} {field}: expected {what}, got {value!r}")
    return int(value) if integer else float(value)


class EarlyStopping(Callback):
    """Stop after ``patience`` checkpoints without an improvement of ``monitor``.

    An improvement is a value better than the best so far by more than
    ``min_delta``. With ``restore_best`` the weights, buffers and optimizer
    state of the best checkpoint are put back when this callback stops the run
    (Keras's ``restore_best_weights``).
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, restore_best=True):
        self.monitor = check_monitor("EarlyStopping", monitor)
        self.patience = _non_negative("EarlyStopping", "patience", patience, integer=True)
        self.min_delta = _non_negative("EarlyStopping", "min_delta", min_delta)
        self.restore_best = bool(restore_best)
        self.on_train_begin(None, None)

    def on_train_begin(self, net, history):
        """Forget the previous run: a new train() call starts counting afresh."""
        self.best, self.wait, self.stopped, self._snapshot = math.inf, 0, False, None

    def on_checkpoint(self, net, record):
        """Count checkpoints without improvement; stop at ``patience``."""
        value = monitored(record, self.monitor)
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best:
                self._snapshot = net.snapshot()
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped = True
            self.stop(net, f"early_stop: no improvement of {self.monitor} for "
                           f"{self.wait} checkpoints (patience {self.patience})")

    def on_train_end(self, net, history):
        """Put the best checkpoint's state back if this callback stopped the run."""
        if self.stopped and self.restore_best and self._snapshot is not None:
            net.restore(self._snapshot)
        self._snapshot = None

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, restore_best={self.restore_best})")


class StopLoss(Callback):
    """The textbook's stop-loss: stop once the monitored loss is <= ``value``."""

    def __init__(self, value, monitor="val_loss"):
        self.value = _non_negative("StopLoss", "value", value)
        self.monitor = check_monitor("StopLoss", monitor)

    def on_checkpoint(self, net, record):
        """Stop when the loss has reached the target."""
        loss = monitored(record, self.monitor)
        if loss <= self.value:
            self.stop(net, f"stop_loss: loss {loss:.6g} <= {self.value:g}")

    def __repr__(self):
        return f"StopLoss({self.value!r}, monitor={self.monitor!r})"


class StopDiff(Callback):
    """The textbook's stop-diff: stop once the monitored loss changes by less than
    ``value`` between two consecutive checkpoints."""

    def __init__(self, value, monitor="val_loss"):
        self.value = _non_negative("StopDiff", "value", value)
        self.monitor = check_monitor("StopDiff", monitor)
        self.previous = None

    def on_train_begin(self, net, history):
        """Forget the previous run's last loss."""
        self.previous = None

    def on_checkpoint(self, net, record):
        """Stop when the loss has settled."""
        loss = monitored(record, self.monitor)
        if self.previous is not None and abs(loss - self.previous) < self.value:
            self.stop(net, f"stop_diff: loss changed by {abs(loss - self.previous):.3g} "
                           f"< {self.value:g}")
        self.previous = loss

    def __repr__(self):
        return f"StopDiff({self.value!r}, monitor={self.monitor!r})"


_STOPPERS = {StopCondition.STOP_LOSS: StopLoss, StopCondition.STOP_DIFF: StopDiff}


def callbacks_from_params(params, restore_best=True):
    """The callbacks the textbook's settings ask for: ``params.stopper`` and
    ``RegularMethod.EARLY_STOP`` (patience ``regular_value``)."""
    found = []
    rule = _STOPPERS.get(params.stopper.condition)
    if rule is not None:
        found.append(rule(params.stopper.value))
    if params.patience is not None:
        found.append(EarlyStopping(patience=params.patience, restore_best=restore_best))
    return found
