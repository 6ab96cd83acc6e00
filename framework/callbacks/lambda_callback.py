"""LambdaCallback: a callback made of functions, for one-off hooks in a notebook."""
from .base import HOOKS, Callback, check_hook


class LambdaCallback(Callback):
    """Keras's ``LambdaCallback``: ``LambdaCallback(on_checkpoint=lambda net, record: ...)``.

    Any of ``on_train_begin(net, history)``, ``on_epoch_begin(net, epoch)``,
    ``on_batch_end(net, iteration, loss)``, ``on_checkpoint(net, record)``,
    ``on_epoch_end(net, epoch)``, ``on_train_end(net, history)``; each function is
    checked against the arguments the loop passes when the callback is made.
    """

    def __init__(self, **hooks):
        unknown = sorted(set(hooks) - set(HOOKS))
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hook(s) {unknown}; expected some of "
                             f"{list(HOOKS)}")
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise ValueError(f"LambdaCallback {name}: expected a function, "
                                 f"got {function!r}")
            check_hook("LambdaCallback", name, function)
            setattr(self, name, function)       # an instance attribute overrides the hook
        self._names = sorted(name for name, f in hooks.items() if f is not None)

    def __repr__(self):
        return f"LambdaCallback({', '.join(self._names)})"
