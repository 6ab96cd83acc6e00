"""Keeper: the one owner of "the best weights" of a training run.

One object decides, by the run's monitor (``framework.monitor``), which
checkpoint is best, keeps that checkpoint's snapshot (weights, buffers,
optimizer state), and puts it back when training ends. ``history.best_index``,
the weights the net ends with, ``ModelCheckpoint(save_best_only=True)``,
``EarlyStopping``'s ``restore_best_weights`` and the apps' "kept ..." line all
read this one decision, so they cannot disagree.

The weights a ``train`` call starts from are a candidate too (measured on the
validation set before the first step): a second call that only makes the net
worse ends where it began. Without validation data the last weights are kept by
default -- the train loss of an interval, measured on moving weights, is no
fair judge of one snapshot -- and the history says so.

Whatever ends the run -- its epochs, a callback, Ctrl-C, a non-finite number, an
exception -- the net ends on one consistent state: the kept snapshot (the best,
or the last finite checkpoint when the last weights are kept, or the start).
"""


class Keeper:
    """``Keeper(net, monitor, restore)``: ``restore`` True ends on the best candidate,
    False on the last weights (a rollback still goes to the last finite checkpoint)."""

    def __init__(self, net, monitor, restore):
        self.net, self.monitor, self.restore = net, monitor, restore
        self.start = net.snapshot()
        self.kept = None            # the snapshot to end on (or roll back to)
        self.best_value = None
        self.best_index = None      # index in the history; None: the start (or nothing yet)
        self.start_is_best = False

    def offer_start(self, record):
        """The weights the call starts from, measured (``record``: validation only)."""
        value = self.monitor.raw(record)
        if self.restore and self.monitor.improves(value, None):
            self.best_value, self.start_is_best = value, True

    def offer(self, record, index):
        """A finite checkpoint was made (history index ``index``): is it the best? Keep
        its snapshot if it is the one the run would end on."""
        value = self.monitor.raw(record)
        is_best = self.monitor.improves(value, self.best_value)
        if is_best:
            self.best_value, self.best_index, self.start_is_best = value, index, False
        if (is_best and self.restore) or not self.restore:
            self.kept = self.net.snapshot()
        return is_best

    def finish(self, consistent):
        """Put the kept state back and say which: "best" (the best checkpoint), "start"
        (the weights the call began with), "last" (the last weights, when they are kept
        and whole) or "rollback" (the last finite checkpoint, when the last weights are
        kept but unusable: a non-finite number, a step cut short by an exception)."""
        if self.restore:
            if self.start_is_best or self.kept is None:
                self.net.restore(self.start)
                return "start"
            self.net.restore(self.kept)
            return "best"
        if consistent:
            return "last"
        self.net.restore(self.kept if self.kept is not None else self.start)
        return "rollback"
