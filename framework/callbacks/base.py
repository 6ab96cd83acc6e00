"""Callback: the hooks ``NeuralNet.train`` calls, with Keras's names.

A callback overrides any of the six hooks; the loop calls only the hooks a
callback's class overrides, so a callback that does not override
``on_batch_end`` costs the mini-batch loop nothing. A callback stops
training by setting ``net.stop_training = True`` (``self.stop(net, why)``
also records the reason, which becomes ``history.stop_reason``); the loop
looks at that flag once per mini-batch. It changes the learning rate of the
next step by setting ``net.learning_rate``.

The hooks take the net first (``on_epoch_end(self, net, epoch)``), where Keras's
take the epoch and a ``logs`` dict. A hook whose signature does not fit is
refused when ``train`` starts, naming the hook and the signature expected: a
Keras-style ``on_epoch_end(self, epoch, logs=None)`` would otherwise run with
the net in ``epoch``.

Before ``on_train_begin`` the loop calls ``set_plan(epochs, steps_per_epoch)``
so a callback knows the size of the run (a progress bar needs it).
"""
import inspect

HOOKS = {   # hook -> the arguments the loop passes, after self
    "on_train_begin": ("net", "history"),
    "on_epoch_begin": ("net", "epoch"),
    "on_batch_end": ("net", "iteration", "loss"),
    "on_checkpoint": ("net", "record"),
    "on_epoch_end": ("net", "epoch"),
    "on_train_end": ("net", "history"),
}
_KERAS_FIRST = {"epoch", "batch", "logs", "iteration", "record", "history"}


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
    """True if ``callback``'s class (or the instance itself) defines its own ``hook``."""
    return hook in vars(callback) or getattr(type(callback), hook) is not getattr(Callback, hook)


def check_hook(owner, hook, function):
    """Refuse ``function`` as ``hook`` unless the loop's arguments fit its signature."""
    expected = HOOKS[hook]
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return                                  # a builtin: nothing to check
    wanted = f"{hook}(self, {', '.join(expected)})"
    try:
        signature.bind(*expected)
    except TypeError:
        raise ValueError(f"{owner}: {hook}{signature} does not fit: the loop calls "
                         f"{wanted}") from None
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if positional and positional[0].name in _KERAS_FIRST:
        raise ValueError(f"{owner}: {hook}{signature} looks like Keras's hook (epoch or batch "
                         f"first, then logs); here the loop calls {wanted}, and the numbers "
                         f"Keras puts in logs are on the record (on_checkpoint) or the net")


class CallbackList:
    """The bound hooks of several callbacks, grouped by hook, in callback order."""

    def __init__(self, callbacks):
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks: expected framework.callbacks.Callback "
                                 f"instances, got {callback!r}")
        self.callbacks = callbacks
        self.hooks = {}
        for hook in HOOKS:
            found = []
            for callback in callbacks:
                if overrides(callback, hook):
                    method = getattr(callback, hook)
                    check_hook(type(callback).__name__, hook, method)
                    found.append(method)
            self.hooks[hook] = found

    def call(self, hook, *args):
        """Call ``hook(*args)`` on every callback that overrides it."""
        for method in self.hooks[hook]:
            method(*args)

    def batch_hooks(self):
        """The ``on_batch_end`` methods to call per step (decided after on_train_begin)."""
        return [getattr(cb, "on_batch_end") for cb in self.callbacks
                if overrides(cb, "on_batch_end") and cb.wants_batches]

    def of_type(self, kind):
        """The callbacks that are instances of ``kind``."""
        return [cb for cb in self.callbacks if isinstance(cb, kind)]
