"""TerminateOnNaN: stop the moment training stops producing finite numbers.

Always on: ``train`` adds one itself. A non-finite batch loss stops the
loop at that batch (one ``math.isfinite`` per step, done inline by the
loop). A weight, optimizer state or buffer can turn non-finite while the
loss still looks fine -- batch norm trains on the batch's own statistics, so
a running variance that overflowed to inf shows up only at inference -- so
at every checkpoint, before any other callback sees it (a ``ModelCheckpoint``
would save it), every array of the net is checked, and the message names
the layer and the array.
"""
import math

from ..state import first_non_finite
from .base import Callback


class TerminateOnNaN(Callback):
    """Stops training on a non-finite loss, weight, optimizer state or buffer."""

    def on_checkpoint(self, net, record):
        """Stop (with the reason) if the record or any array of the net is non-finite."""
        reason = self.check(net, record)
        if reason is not None:
            self.stop(net, reason)

    @staticmethod
    def loss_reason(where, value):
        """The reason for a non-finite ``where`` ("train"/"validation") loss."""
        from ..stopping import diverged_reason
        return diverged_reason(where, value)

    def check(self, net, record=None):
        """The reason to stop now, or None if every number is finite."""
        found = first_non_finite(net)       # the cause first: a NaN loss is its symptom
        if found is not None:
            layer, array = found
            return (f"diverged: layer {layer!r} array {array!r} holds NaN or inf; training "
                    "stopped at once (try a smaller learning rate)")
        if record is not None:
            for where, value in (("train", record.train_loss), ("validation", record.val_loss)):
                if value is not None and not math.isfinite(value):
                    return self.loss_reason(where, value)
        return None
