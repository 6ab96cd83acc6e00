"""Callback: the hooks ``NeuralNet.train`` calls, with Keras's names.

A callback overrides any of the six hooks; the loop calls only the hooks a
callback's class overrides, so a callback that does not override
``on_batch_end`` costs the mini-batch loop nothing. A callback stops
training by setting ``net.stop_training = True`` (``self.stop(net, why)``
also records the reason, which becomes ``history.stop_reason``); the loop
looks at that flag once per mini-batch.

Before ``on_train_begin`` the loop calls ``set_plan(epochs, steps_per_epoch)``
so a callback knows the size of the run (a progress bar needs it).
"""
import math

HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_checkpoint",
         "on_epoch_end", "on_train_end")


class Callback:
    """Base class: every hook does nothing."""

    wants_batches = True    # set False (e.g. in on_train_begin) to skip on_batch_end

    epochs = None           # epochs this train() call will run (set by set_plan)
    steps_per_epoch = None  # mini-batches per epoch

    def set_plan(self, epochs, steps_per_epoch):
        """Told by the loop before ``on_train_begin``: how long the run will be."""
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch

    def on_train_begin(self, net, history):
        """Before the first step; reset per-run state here."""

    def on_epoch_begin(self, net, epoch):
        """Before the first step of (0-based, absolute) ``epoch``."""

    def on_batch_end(self, net, iteration, loss):
        """After each optimizer step; ``iteration`` is ``net.iteration``."""

    def on_checkpoint(self, net, record):
        """After each checkpoint ``record`` (a ``framework.Record``) is made."""

    def on_epoch_end(self, net, epoch):
        """After the last step of a whole ``epoch``."""

    def on_train_end(self, net, history):
        """After the loop, once the kept weights are in the net (before the test set)."""

    def stop(self, net, reason):
        """Ask the loop to stop after the current step, saying why."""
        net.stop_training = True
        net.stop_reason = reason

    def __repr__(self):
        return f"{type(self).__name__}()"


def overrides(callback, hook):
    """True if ``callback``'s class defines its own ``hook``."""
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList:
    """The bound hooks of several callbacks, grouped by hook, in callback order."""

    def __init__(self, callbacks):
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks: expected framework.callbacks.Callback "
                                 f"instances, got {callback!r}")
        self.callbacks = callbacks
        self.hooks = {hook: [getattr(cb, hook) for cb in callbacks if overrides(cb, hook)]
                      for hook in HOOKS}

    def call(self, hook, *args):
        """Call ``hook(*args)`` on every callback that overrides it."""
        for method in self.hooks[hook]:
            method(*args)

    def batch_hooks(self):
        """The ``on_batch_end`` methods to call per step (decided after on_train_begin)."""
        return [getattr(cb, "on_batch_end") for cb in self.callbacks
                if overrides(cb, "on_batch_end") and cb.wants_batches]


# ----- what a callback watches ---------------------------------------------------
_MONITORS = {   # name -> (Record field, +1: lower is better / -1: higher is better)
    "val_loss": ("val_loss", 1), "loss": ("train_loss", 1), "train_loss": ("train_loss", 1),
    "val_accuracy": ("val_accuracy", -1), "accuracy": ("train_accuracy", -1),
    "train_accuracy": ("train_accuracy", -1),
}
_FALLBACK = {"val_loss": "train_loss", "val_accuracy": "train_accuracy"}


def check_monitor(owner, monitor):
    """Validate a monitor name; return it."""
    if monitor not in _MONITORS:
        raise ValueError(f"{owner} monitor: expected one of {sorted(_MONITORS)}, "
                         f"got {monitor!r}")
    return monitor


def monitored(record, monitor):
    """The watched value of ``record``, signed so that lower is always better.

    ``val_*`` falls back to the train value when the run has no validation set,
    the rule every part of training uses ("the monitored loss").
    """
    name, sign = _MONITORS[monitor]
    value = getattr(record, name)
    if value is None:
        value = getattr(record, _FALLBACK.get(monitor, name))
    return math.nan if value is None else sign * value
