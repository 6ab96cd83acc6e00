"""When to stop training: early stopping, the textbook's stop-loss / stop-diff.

Each rule is a ``Callback`` that watches one number per checkpoint through a
``Monitor`` (by default the validation loss, or the train loss when there is no
validation set) and stops the loop with a reason string, which ends up in
``TrainingHistory.stop_reason``. The textbook's spellings,
``HyperParameters.stopper`` and ``RegularMethod.EARLY_STOP``, become these
callbacks through ``callbacks_from_params``; because early stopping is a
callback it combines with an L1/L2 penalty.
"""
import math
import numbers

from .callbacks.base import Callback
from .infra.validation import check_flag
from .monitor import Monitor, Patience

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
    """Keras's ``EarlyStopping``: stop once ``monitor`` has not improved for ``patience``.

    ``EarlyStopping(monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
    baseline=None, restore_best_weights=None, start_from_epoch=0,
    patience_unit="epochs")``

    An improvement beats the best so far by more than ``min_delta`` (and, with a
    ``baseline``, beats that too). ``patience`` counts epochs, as in Keras, however
    often checkpoints come (``patience_unit="checkpoints"`` counts those, the
    textbook's way); nothing is counted before ``start_from_epoch``.
    ``restore_best_weights`` True ends on the best checkpoint by this monitor,
    False on the last weights, None leaves it to ``train(restore_best=...)``. The run
    has one judge of "best" (``framework.keeper``): it uses this monitor.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
                 baseline=None, restore_best_weights=None, start_from_epoch=0,
                 patience_unit="epochs", restore_best=None):
        self.monitor = Monitor(monitor, mode, "EarlyStopping")
        self.min_delta = _non_negative("EarlyStopping", "min_delta", min_delta)
        self.patience = _non_negative("EarlyStopping", "patience", patience,
                                      integer=patience_unit == "checkpoints")
        self.baseline = None if baseline is None else float(
            _finite("EarlyStopping", "baseline", baseline))
        self.start_from_epoch = _non_negative("EarlyStopping", "start_from_epoch",
                                              start_from_epoch)
        if restore_best is not None:        # the earlier spelling
            if restore_best_weights is not None:
                raise ValueError("EarlyStopping: give restore_best_weights or restore_best, "
                                 "not both")
            restore_best_weights = restore_best
        self.restore_best_weights = None if restore_best_weights is None else check_flag(
            "EarlyStopping restore_best_weights", restore_best_weights)
        self._patience = Patience(self.monitor, self.min_delta, patience_unit, self.baseline)
        self.stopped_epoch = None

    @property
    def patience_unit(self):
        """"epochs" (Keras's) or "checkpoints" (the textbook's)."""
        return self._patience.unit

    def on_train_begin(self, net, history):
        """A new train() call counts afresh, from where the net is (or start_from_epoch)."""
        self._patience.reset(since=max(float(net.epoch), self.start_from_epoch))
        self.stopped_epoch = None

    def on_checkpoint(self, net, record):
        """Count the time without improvement; stop at ``patience``."""
        if record.epoch <= self.start_from_epoch:
            return
        if self._patience.update(record):
            return
        waited = self._patience.waited
        if waited >= self.patience:
            self.stopped_epoch = record.epoch
            unit = "checkpoints" if self.patience_unit == "checkpoints" else "epochs"
            self.stop(net, f"early_stop: no improvement of {self.monitor.name} for "
                           f"{waited:g} {unit} (patience {self.patience:g})")

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor.name!r}, patience={self.patience:g}, "
                f"min_delta={self.min_delta}, mode={self.monitor.mode!r}, "
                f"restore_best_weights={self.restore_best_weights})")


class StopLoss(Callback):
    """The textbook's stop-loss: stop once the monitored loss is <= ``value``."""

    def __init__(self, value, monitor="val_loss"):
        self.value = _non_negative("StopLoss", "value", value)
        self.monitor = Monitor(monitor, "min", "StopLoss")

    def on_checkpoint(self, net, record):
        """Stop when the loss has reached the target."""
        loss = self.monitor.raw(record)
        if loss <= self.value:
            self.stop(net, f"stop_loss: {self.monitor.name} {loss:.6g} <= {self.value:g}")

    def __repr__(self):
        return f"StopLoss({self.value!r}, monitor={self.monitor.name!r})"


class StopDiff(Callback):
    """The textbook's stop-diff: stop once the monitored loss changes by less than
    ``value`` between two consecutive checkpoints."""

    def __init__(self, value, monitor="val_loss"):
        self.value = _non_negative("StopDiff", "value", value)
        self.monitor = Monitor(monitor, "min", "StopDiff")
        self.previous = None

    def on_train_begin(self, net, history):
        """Forget the previous run's last loss."""
        self.previous = None

    def on_checkpoint(self, net, record):
        """Stop when the loss has settled."""
        loss = self.monitor.raw(record)
        if self.previous is not None and abs(loss - self.previous) < self.value:
            self.stop(net, f"stop_diff: {self.monitor.name} changed by "
                           f"{abs(loss - self.previous):.3g} < {self.value:g}")
        self.previous = loss

    def __repr__(self):
        return f"StopDiff({self.value!r}, monitor={self.monitor.name!r})"


def _finite(owner, field, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(f"{owner} {field}: expected a finite number, got {value!r}")
    return value


def callbacks_from_params(params):
    """The callbacks the textbook's settings ask for: ``params.stopper`` and
    ``RegularMethod.EARLY_STOP`` (patience ``regular_value``, in checkpoints as the
    textbook counts)."""
    from .enums import StopCondition
    rules = {StopCondition.STOP_LOSS: StopLoss, StopCondition.STOP_DIFF: StopDiff}
    found = []
    rule = rules.get(params.stopper.condition)
    if rule is not None:
        found.append(rule(params.stopper.value))
    if params.patience is not None:
        found.append(EarlyStopping(patience=params.patience, patience_unit="checkpoints"))
    return found
