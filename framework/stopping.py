"""When to stop training: stop-loss, stop-diff, early stopping, divergence.

All rules look at one number per checkpoint, the *monitored loss*: the
validation loss when there is a validation set, else the train loss (the mean
over the checkpoint interval). Each rule returns a human-readable reason
string, which ends up in ``TrainingHistory.stop_reason``.
"""
import math

from .enums import StopCondition

MAX_EPOCH_REASON = "max_epoch reached"


def diverged_reason(where, value):
    """The reason used when a loss stops being a finite number."""
    return (f"diverged: {where} loss became {value!r}; training stopped at once "
            "(try a smaller learning rate)")


class StopRules:
    """Applies ``params.stopper`` and the early-stop patience at each checkpoint."""

    def __init__(self, params):
        self.condition = params.stopper.condition
        self.value = params.stopper.value
        self.patience = params.patience
        self.previous = None
        self.best = math.inf
        self.bad_checkpoints = 0

    def check(self, record):
        """Return a reason to stop after ``record``, or None to continue."""
        loss = record.monitored_loss
        for name, value in (("train", record.train_loss), ("validation", record.val_loss)):
            if value is not None and not math.isfinite(value):
                return diverged_reason(name, value)
        reason = self._stopper(loss) or self._early_stop(loss)
        self.previous = loss
        return reason

    def _stopper(self, loss):
        if self.condition is StopCondition.STOP_LOSS and loss <= self.value:
            return f"stop_loss: loss {loss:.6g} <= {self.value:g}"
        if self.condition is StopCondition.STOP_DIFF and self.previous is not None:
            change = abs(loss - self.previous)
            if change < self.value:
                return f"stop_diff: loss changed by {change:.3g} < {self.value:g}"
        return None

    def _early_stop(self, loss):
        if self.patience is None:
            return None
        if loss < self.best:
            self.best = loss
            self.bad_checkpoints = 0
            return None
        self.bad_checkpoints += 1
        if self.bad_checkpoints >= self.patience:
            return (f"early_stop: no improvement of the monitored loss for "
                    f"{self.bad_checkpoints} checkpoints (patience {self.patience})")
        return None
