"""The training loop behind ``NeuralNet.train``.

One step: NAG look-ahead, forward(train=True), the fused loss delta, backward,
``update(lr)`` on every WeightsBias. The step is a closure over prebuilt
lists so the per-batch Python overhead is a handful of calls per layer; the
loop around it adds one ``math.isfinite`` on the loss, one look at
``net.stop_training`` and the ``on_batch_end`` hooks that a callback
actually overrides (none by default; see ``callbacks.base``).

The train loss of a record includes the weight penalty (sum of
``wb.regular_loss()``): it is what the optimizer minimises, as in the
textbook. The validation loss is the data loss alone, so checkpoints and runs
with different penalties are judged on the same scale. The train
loss/accuracy of a record are sample-weighted means over every batch since
the previous checkpoint, each batch measured on its forward pass before its
update.

Checkpoints are aligned with epochs: ``checkpoint`` <= 1 gives about
``1 / checkpoint`` evenly spaced records per epoch, the last at its end;
``checkpoint`` > 1 records at the end of every ``round(checkpoint)``-th epoch
(and of the last one), so no record averages a stray handful of batches.

Ending: a stop asked by a callback (``net.stop_training``) or by Ctrl-C
takes effect after the current step (SIGINT only sets the flag while
``train`` runs in the main thread; a second Ctrl-C interrupts at once).
Then the kept weights go back into the net: with ``restore_best`` the
snapshot (weights, buffers and optimizer state) of the best checkpoint; a
diverged run always rolls back to its last finite snapshot (the best one,
else the last good checkpoint, else the start).
"""
import math
import signal
import threading
from contextlib import contextmanager

import numpy as np

from .batch_order import check_indices, epoch_orders
from .callbacks.base import Callback, CallbackList
from .callbacks.nan import TerminateOnNaN
from .callbacks.progress import ProgressBar
from .enums import NetType
from .history import Record, TrainingHistory
from .infra import threads
from .layers.classification import ClassificationLayer
from .losses import loss_for
from .metrics import metric_for
from .stopping import INTERRUPTED_REASON, MAX_EPOCH_REASON, callbacks_from_params


def train(net, reader, epochs=None, checkpoint=0.1, need_test=True, callbacks=None, verbose=1,
          batch_order=None, restore_best=True):
    """Train ``net`` on ``reader``; return the TrainingHistory.

    ``epochs`` more epochs (Keras's meaning), or with None from ``net.epoch`` up
    to ``params.max_epoch`` (a ValueError if it is already there). ``callbacks``:
    ``framework.callbacks.Callback`` objects; the textbook's stopper and
    EARLY_STOP settings add theirs, and ``TerminateOnNaN`` is always on.
    ``verbose``: 0 silent, 1 a progress bar on a terminal and a line per
    checkpoint, 2 the lines only. ``batch_order``: see ``framework.batch_order``.
    The whole call runs with ``threads.get_num_threads()`` BLAS threads (one
    by default; see ``framework.infra.threads``), set once here, never per step.
    """
    with threads.limit():
        return _train(net, reader, epochs, checkpoint, need_test, callbacks, verbose,
                      batch_order, restore_best)


def _epoch_range(net, epochs):
    """(first, stop) epoch numbers of this call."""
    if epochs is None:
        if net.epoch >= net.params.max_epoch:
            raise ValueError(
                f"train: the net has already trained {net.epoch} epochs and params.max_epoch "
                f"is {net.params.max_epoch}, so there is nothing left to train; pass "
                f"epochs=N to train N more epochs")
        return net.epoch, net.params.max_epoch
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"train: epochs: expected a positive integer (epochs to train "
                         f"now), got {epochs!r}")
    return net.epoch, net.epoch + int(epochs)


def _verbosity(verbose):
    if verbose not in (0, 1, 2):       # True/False are 1/0
        raise ValueError(f"train: verbose: expected 0 (silent), 1 (bar and lines) or "
                         f"2 (lines), got {verbose!r}")
    return int(verbose)


class _Keeper:
    """The snapshot training ends on: the best checkpoint's (``restore_best``) or the
    last finite checkpoint's, and the start, for a run that diverges before any."""

    def __init__(self, net, restore_best):
        self.net, self.restore_best = net, restore_best
        self.start = net.snapshot()
        self.kept = None

    def offer(self, is_best):
        """A finite checkpoint was made: keep it if it is the one to end on."""
        if is_best or not self.restore_best:
            self.kept = self.net.snapshot()

    def finish(self, diverged):
        """Put the kept state back (a diverged run always rolls back)."""
        if diverged:
            self.net.restore(self.kept if self.kept is not None else self.start)
        elif self.restore_best and self.kept is not None:
            self.net.restore(self.kept)


def _train(net, reader, epochs, checkpoint, need_test, callbacks, verbose, batch_order,
           restore_best):
    verbose = _verbosity(verbose)
    _checkpoint_plan(checkpoint, 1)                     # reject a bad value before any work
    first, stop = _epoch_range(net, epochs)
    _prepare(net, reader)
    run = _Run(net, reader, checkpoint, (first, stop),
               epoch_orders(batch_order, first, stop - first),
               _callbacks(net.params, callbacks, verbose, restore_best), restore_best)
    history = run.history
    run.hooks.call("on_train_begin", net, history)
    try:
        run.loop()
    except BaseException:
        for cb in run.hooks.callbacks:      # an error escapes: take the bar off the terminal
            if isinstance(cb, ProgressBar):
                cb.on_train_end(net, history)
        raise
    history.stop_reason = (net.stop_reason or "stopped by callback") if net.stop_training \
        else MAX_EPOCH_REASON
    run.keeper.finish(run.diverged)
    run.hooks.call("on_train_end", net, history)
    net.stop_training = False
    if run.diverged and verbose:
        print(f"warning: {history.stop_reason}", flush=True)
    if need_test:
        _run_test(net, reader, history, verbose)
    return history


def _callbacks(params, given, verbose, restore_best):
    """The run's callbacks: the textbook settings' rules, the user's, the progress output
    (``TerminateOnNaN`` is the loop's own, so a user's copy is dropped). One callback
    given on its own (``callbacks=EarlyStopping()``) counts as a list of one."""
    if isinstance(given, Callback):
        given = [given]
    chosen = callbacks_from_params(params, restore_best) + [
        cb for cb in (given or []) if not isinstance(cb, TerminateOnNaN)]
    if verbose and not any(isinstance(cb, ProgressBar) for cb in chosen):
        chosen.append(ProgressBar(bar=None if verbose == 1 else False))
    return CallbackList(chosen)


class _Run:
    """One ``train`` call: its plan, its history and the state its loop shares."""

    def __init__(self, net, reader, checkpoint, epochs, orders, hooks, restore_best):
        self.net, self.reader, self.checkpoint, self.orders = net, reader, checkpoint, orders
        self.params = params = net.params
        self.first, self.stop = epochs
        self.per_epoch = math.ceil(reader.num_train / params.batch_size)
        if orders is None:
            tail = reader.num_train - (self.per_epoch - 1) * params.batch_size
            _check_batch_sizes(net, [min(params.batch_size, reader.num_train), tail],
                               f"batch_size {params.batch_size} with {reader.num_train} "
                               f"training rows")
        self.validation = reader.get_validation_set()
        self.history = TrainingHistory(net.name, params.net_type, restore_best)
        self.guard = TerminateOnNaN()
        self.hooks = hooks
        for cb in hooks.callbacks:
            cb.set_plan(self.stop - self.first, self.per_epoch)
        self.keeper = _Keeper(net, restore_best)
        self.meter = _Meter(net.training_step().metric)
        self.diverged = False
        self.lr = params.learning_rate_at(self.first)
        net.stop_training, net.stop_reason = False, None

    def epoch_batches(self, epoch):
        """(the epoch's batch iterator, its number of batches)."""
        reader, batch_size = self.reader, self.params.batch_size
        if self.orders is None:
            return reader.batches(batch_size, self.net.streams.shuffle), self.per_epoch
        order = check_indices(self.orders.epoch(epoch), reader.num_train,
                              f"batch_order epoch {epoch}")
        _check_batch_sizes(self.net, [rows.shape[0] for rows in order],
                           f"batch_order epoch {epoch}")
        return reader.batches(batch_size, order=order), len(order)

    def loop(self):
        """The epochs and their steps; returns when done or asked to stop."""
        net, hooks, meter = self.net, self.hooks, self.meter
        batch_hooks = hooks.batch_hooks()
        step = net.training_step()
        isfinite, add = math.isfinite, meter.add
        epoch_float = float(self.first)
        with _stop_on_sigint(net), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                for epoch in range(self.first, self.stop):
                    self.lr = lr = self.params.learning_rate_at(epoch)
                    batches, n = self.epoch_batches(epoch)
                    in_epoch, every = _checkpoint_plan(self.checkpoint, n)
                    due = in_epoch if (epoch + 1) % every == 0 or epoch == self.stop - 1 else ()
                    hooks.call("on_epoch_begin", net, epoch)
                    for i, (x, y) in enumerate(batches, 1):
                        loss = step(x, y, lr)
                        net.iteration += 1
                        add(loss, x.shape[0])
                        epoch_float = epoch + i / n
                        if not isfinite(loss):
                            self.diverge(self.guard.loss_reason("train", loss), epoch_float)
                            break
                        if i == n:
                            net.epoch += 1
                        for hook in batch_hooks:
                            hook(net, net.iteration, loss)
                        if i in due:
                            self.checkpoint_now(epoch_float)
                        if net.stop_training:
                            break
                    if net.epoch == epoch + 1:          # it ran to its end (even if stopping)
                        hooks.call("on_epoch_end", net, epoch)
                    if net.stop_training:
                        break
            except KeyboardInterrupt:
                net.stop_training, net.stop_reason = True, INTERRUPTED_REASON
            if meter.count and not self.diverged:
                # the batches since the last checkpoint: one more record (a stop between
                # checkpoints, or an interval the plan did not close)
                try:
                    self.checkpoint_now(epoch_float)
                except KeyboardInterrupt:
                    net.stop_training, net.stop_reason = True, INTERRUPTED_REASON

    def checkpoint_now(self, epoch_float):
        """Record, check every number (before any callback), keep, tell the callbacks."""
        net = self.net
        record = _record(net, self.meter, self.lr, self.validation, epoch_float)
        why = self.guard.check(net, record)
        is_best = self.history.add(record, can_be_best=why is None)
        if why is not None:
            self.diverge(why)
            return
        self.keeper.offer(is_best)
        self.hooks.call("on_checkpoint", net, record)

    def diverge(self, why, epoch_float=None):
        """Stop at once; a non-finite batch loss still gets its (unvalidated) record."""
        if epoch_float is not None:
            self.history.add(_record(self.net, self.meter, self.lr, None, epoch_float))
        self.diverged = True
        self.net.stop_training, self.net.stop_reason = True, why


@contextmanager
def _stop_on_sigint(net):
    """While training runs in the main thread, Ctrl-C asks for a stop after the current
    step instead of raising mid-step; a second Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        net.stop_training, net.stop_reason = True, INTERRUPTED_REASON

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def evaluate(net, x, y, penalty=True):
    """(loss, accuracy or R²) of inference-mode outputs on (x, y), in chunks."""
    a = net._predict(x)        # x was checked once, before training
    loss = loss_for(net.params).loss(a, y)
    if penalty:
        loss += sum(float(p.penalty()) for p in net.parameters().values())
    return loss, metric_for(net.params.net_type).of(a, y)


class _Meter:
    """Sample-weighted sums of the train loss since the last checkpoint, beside the
    step's metric, which accumulates over the same batches."""

    def __init__(self, metric):
        self.metric = metric
        metric.reset()
        self.loss, self.count = 0.0, 0

    def add(self, loss, m):
        self.loss += loss * m
        self.count += m

    def pop(self):
        means = self.loss / self.count, self.metric.result()
        self.metric.reset()
        self.loss, self.count = 0.0, 0
        return means


def _record(net, meter, lr, validation, epoch):
    train_loss, train_accuracy = meter.pop()
    val_loss = val_accuracy = None
    if validation is not None:
        val_loss, val_accuracy = evaluate(net, *validation, penalty=False)
    return Record(epoch=epoch, iteration=net.iteration,
                  learning_rate=lr, train_loss=train_loss, train_accuracy=train_accuracy,
                  val_loss=val_loss, val_accuracy=val_accuracy)


def _checkpoint_plan(checkpoint, per_epoch):
    """(iterations within an epoch that end a record, record every n-th epoch)."""
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, float, np.integer,
                                                                   np.floating)) \
            or not math.isfinite(checkpoint) or checkpoint <= 0:
        raise ValueError(f"checkpoint: expected a positive number of epochs, got {checkpoint!r}")
    if checkpoint > 1:
        return frozenset({per_epoch}), max(1, math.floor(checkpoint + 0.5))
    records = min(per_epoch, max(1, math.floor(1 / checkpoint + 0.5)))
    return frozenset(math.ceil(k * per_epoch / records) for k in range(1, records + 1)), 1


def _prepare(net, reader):
    """Check the net and the data agree before the first step."""
    params = net.params
    if not net.layers:
        raise ValueError("train: the net has no layers")
    is_classifier = isinstance(net.layers[-1], ClassificationLayer)
    if params.net_type is not NetType.FITTING and not is_classifier:
        raise ValueError(f"train: net_type {params.net_type.value} expects a "
                         f"ClassificationLayer last, received {type(net.layers[-1]).__name__}")
    reader.astype(params.dtype)
    if reader.num_train == 0:
        raise ValueError("train: expected at least one training sample, received 0")
    _check_set(net, reader.x_train, reader.y_train, "training set")
    if reader.get_validation_set() is not None:
        _check_set(net, *reader.get_validation_set(), "validation set")


def _min_batch(net):
    """Fewest rows a training batch may have (2 with batch norm on vectors)."""
    return max([layer.min_training_batch() for layer in net.layers] or [1])


def _check_batch_sizes(net, sizes, where):
    """Refuse, before the first step, a batch the layers cannot train on."""
    need = _min_batch(net)
    small = [k for k, size in enumerate(sizes) if size < need]
    if small:
        raise ValueError(f"train: {where}: batch {small[0]} would have {sizes[small[0]]} "
                         f"row(s), but the net needs at least {need} per training batch "
                         f"(batch norm normalizes over the batch); choose another batch_size")


def _check_set(net, x, y, what):
    net.check_input(x, what)
    expected = (x.shape[0],) + net.output_shape
    if y is None or y.shape != expected:
        hint = " (call normalize_y(net_type) to one-hot class labels)" \
            if net.params.net_type is NetType.MULTIPLE_CLASSIFIER else ""
        raise ValueError(f"{what}: expected labels of shape {expected} to match the net's "
                         f"output shape {net.output_shape}, received "
                         f"{None if y is None else y.shape}{hint}")
    if y.dtype != net.params.dtype:
        raise ValueError(f"{what}: expected labels of dtype {net.params.dtype}, "
                         f"received {y.dtype}{'' if y.dtype.kind == 'f' else ' (normalize_y first)'}")


def _run_test(net, reader, history, verbose):
    x, y = reader.get_test_set()
    if x is None or len(x) == 0:
        return
    history.test_loss, history.test_accuracy = net.test(reader)
    if verbose:
        print(f"test: loss {history.test_loss:.6g}, accuracy {history.test_accuracy:.4f}")
