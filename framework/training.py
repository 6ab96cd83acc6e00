"""The training loop behind ``NeuralNet.train``: epochs of steps, checkpoints, an end.

Each epoch runs ``framework.step``'s step over the mini-batches at the rate in
``net.learning_rate`` (read before every step, so a callback that sets it changes
the next update; the textbook's ``lr_schedule`` sets it at each epoch's start).
Around the step the loop adds one ``math.isfinite`` on the loss, one look at
``net.stop_training`` and the ``on_batch_end`` hooks a callback actually
overrides (none by default; see ``callbacks.base``).

Checkpoints are aligned with epochs: ``checkpoint`` <= 1 gives about
``1 / checkpoint`` evenly spaced records per epoch, the last at its end;
``checkpoint`` > 1 records at the end of every ``round(checkpoint)``-th epoch
(and of the last one). A record holds the train loss (with the weight
penalty: what the optimizer minimises) and the metric, both over every sample
since the previous checkpoint, each batch measured on its forward pass before
its update; and the validation loss and metric (data loss alone) of the
weights at that moment.

One monitor judges "best" (``framework.keeper``): ``monitor=`` here, or the one
``EarlyStopping`` / ``ModelCheckpoint(save_best_only=True)`` were given (they
must agree); ``val_loss`` by default. With validation data the net ends on the
best candidate, the weights the call started from included; without it, on
the last weights (``restore_best`` decides when given).

Ending, for any reason: its epochs, a callback (``net.stop_training``), Ctrl-C,
a non-finite number, an exception. Ctrl-C while training runs in the main
thread asks for a stop after the current step; a second press interrupts the
step at once. Then the run ends with one consistent state: the kept snapshot
goes back in (a step cut short rolls back to the last finite checkpoint, or the
start), ``on_train_end`` runs, the thread limit is lifted -- and while that
happens further presses are only counted, never raised. ``train`` then returns
the history (stop reason "interrupted"), or, if a callback or the step raised,
raises that exception once, with the history attached as ``error.history``.
"""
import math
import signal
import threading
from contextlib import contextmanager

import numpy as np

from .batch_order import check_indices, epoch_orders
from .callbacks.base import Callback, CallbackList
from .callbacks.files import ModelCheckpoint
from .callbacks.nan import TerminateOnNaN
from .callbacks.progress import ProgressBar
from .enums import NetType
from .history import Record, TrainingHistory
from .infra import threads
from .infra.memory import check_net_memory, training_growth_bytes
from .infra.validation import check_flag
from .keeper import Keeper
from .labels import as_targets
from .layers.classification import ClassificationLayer
from .losses import loss_for
from .metrics import metric_for
from .monitor import Monitor
from .stopping import (INTERRUPTED_REASON, MAX_EPOCH_REASON, EarlyStopping,
                       callbacks_from_params)


def train(net, reader, epochs=None, checkpoint=0.1, need_test=True, callbacks=None, verbose=1,
          batch_order=None, restore_best=None, monitor=None):
    """Train ``net`` on ``reader``; return the TrainingHistory.

    ``epochs`` more epochs (Keras's meaning), or with None from ``net.epoch`` up
    to ``params.max_epoch`` (a ValueError if it is already there). ``callbacks``:
    ``framework.callbacks.Callback`` objects; the textbook's stopper and
    EARLY_STOP settings add theirs, and ``TerminateOnNaN`` is always on.
    ``verbose``: 0 silent, 1 a progress bar on a terminal and a line per
    checkpoint, 2 the lines only; both end with one line saying why training
    stopped and which weights were kept. ``batch_order``: see
    ``framework.batch_order``. ``monitor`` / ``restore_best``: see the module
    docstring. The whole call runs with ``threads.get_num_threads()`` BLAS threads
    (one by default; see ``framework.threads``), set once here, never per step.
    """
    verbose = _verbosity(verbose)
    run = _Run(net, reader, epochs, checkpoint, callbacks, verbose, batch_order,
               restore_best, monitor)
    with _interrupts(net) as presses:
        with threads.limit():
            error = run.execute(presses)
    history = run.history
    if error is not None:
        error.history = history
        raise error
    if need_test:
        _run_test(net, reader, history, verbose)
    return history


class _Run:
    """One ``train`` call: its plan, history, keeper and callbacks, checked up front."""

    def __init__(self, net, reader, epochs, checkpoint, callbacks, verbose, batch_order,
                 restore_best, monitor):
        self.net, self.reader, self.checkpoint, self.verbose = net, reader, checkpoint, verbose
        _checkpoint_plan(checkpoint, 1)                 # reject a bad value before any work
        self.first, self.stop = _epoch_range(net, epochs)
        _prepare(net, reader)
        params = self.params = net.params
        self.orders = epoch_orders(batch_order, self.first, self.stop - self.first,
                                   num_train=reader.num_train)
        self.per_epoch = math.ceil(reader.num_train / params.batch_size)
        if self.orders is None:
            tail = reader.num_train - (self.per_epoch - 1) * params.batch_size
            _check_batch_sizes(net, [min(params.batch_size, reader.num_train), tail],
                               f"batch_size {params.batch_size} with {reader.num_train} "
                               f"training rows")
        self.validation = reader.get_validation_set()
        check_net_memory(training_growth_bytes(net),
                         f"training net {net.name!r} with batch {params.batch_size}")
        self.hooks = _callbacks(params, callbacks, verbose)
        self.monitor = _monitor(monitor, self.hooks, params.net_type)
        restore = _restore_policy(restore_best, self.hooks, self.validation is not None)
        self.history = TrainingHistory(net.name, params.net_type, restore, self.monitor.name)
        self.history.without_validation = self.validation is None and restore_best is None
        self.history.loss_name = loss_for(params).display_name
        self.history.penalty = _penalty_name(net)
        _check_rate_owners(params, self.hooks)
        self.guard = TerminateOnNaN()
        self.diverged = False
        self.in_step = False        # an exception inside a step leaves it half done
        if net.learning_rate is None:
            net.learning_rate = params.learning_rate_at(self.first)
        self.lr = net.learning_rate
        net.stop_training, net.stop_reason = False, None
        self.keeper = Keeper(net, self.monitor, restore)
        step = net.training_step()
        self.meter = _Meter(step.metric, step.clipper)
        self.history.clipping = step.clipper is not None
        for cb in self.hooks.callbacks:
            cb.set_plan(self.stop - self.first, self.per_epoch)

    # ----- the whole call ---------------------------------------------------------
    def execute(self, presses):
        """Begin, loop, end; returns the exception to raise (None normally)."""
        net, history, error = self.net, self.history, None
        try:
            if self.keeper.restore and self.validation is not None:
                self.offer_start()
            self.hooks.call("on_train_begin", net, history)
            self.loop()
        except KeyboardInterrupt:
            net.stop_training, net.stop_reason = True, INTERRUPTED_REASON
        except Exception as raised:     # a callback's or the step's: ended cleanly, then raised
            error = raised
            net.stop_training = True
            net.stop_reason = net.stop_reason or f"error: {type(raised).__name__}: {raised}"
        presses.defer()                 # from here on Ctrl-C is counted, never raised
        self.finish()
        error = self.end_hooks(error)
        if presses.count and history.stop_reason == MAX_EPOCH_REASON:
            history.stop_reason = INTERRUPTED_REASON
        return error

    def offer_start(self):
        """The weights this call starts from are a candidate for "best"."""
        record = _record(self.net, None, self.lr, self.validation, float(self.first))
        self.history.start_record = record
        self.keeper.offer_start(record)

    def finish(self):
        """The kept state back into the net, the reasons into the history."""
        net, history = self.net, self.history
        history.stop_reason = (net.stop_reason or "stopped by callback") \
            if net.stop_training else MAX_EPOCH_REASON
        consistent = not (self.diverged or self.in_step)
        history.kept = self.keeper.finish(consistent)
        history.best_index = self.keeper.best_index if history.kept != "start" else None
        history.restore_best = history.kept == "best"
        net.stop_training = False

    def end_hooks(self, error):
        """``on_train_end`` (and the progress bar's close even after an error); one line."""
        net, history = self.net, self.history
        try:
            if error is None:
                self.hooks.call("on_train_end", net, history)
            else:
                for bar in self.hooks.of_type(ProgressBar):
                    bar.on_train_end(net, history)
        except KeyboardInterrupt:
            history.stop_reason = INTERRUPTED_REASON
        except Exception as raised:
            error = error or raised
        if self.verbose:
            print(f"training stopped: {history.stop_reason}; {history.kept_description()}",
                  flush=True)
        return error

    # ----- the epochs ------------------------------------------------------------------
    def loop(self):
        """The epochs, then one more record for the batches since the last checkpoint (a
        stop between checkpoints, or an interval the plan did not close)."""
        try:
            self.epochs()
        except KeyboardInterrupt:       # a second Ctrl-C, or raised by a callback
            self.net.stop_training, self.net.stop_reason = True, INTERRUPTED_REASON
            if self.in_step:
                return                  # the step was cut short: the end rolls back
        if self.meter.count and not self.diverged:
            self.checkpoint_now()

    def epochs(self):
        """The epochs and their steps; returns when done or asked to stop."""
        net, hooks, meter, params = self.net, self.hooks, self.meter, self.params
        batch_hooks = hooks.batch_hooks()
        step = net.training_step()
        isfinite, add = math.isfinite, meter.add
        scheduled = not params.lr_schedule.get_config()["name"] == "constant"
        self.epoch_float = float(self.first)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(self.first, self.stop):
                if scheduled:
                    net.learning_rate = params.learning_rate_at(epoch)
                batches, n = self.epoch_batches(epoch)
                in_epoch, every = _checkpoint_plan(self.checkpoint, n)
                due = in_epoch if (epoch + 1) % every == 0 or epoch == self.stop - 1 else ()
                hooks.call("on_epoch_begin", net, epoch)
                for i, (x, y) in enumerate(batches, 1):
                    self.lr = lr = net.learning_rate
                    self.in_step = True
                    loss = step(x, y, lr)
                    self.in_step = False
                    net.iteration += 1
                    add(loss, x.shape[0])
                    self.epoch_float = epoch + i / n
                    if not isfinite(loss):
                        self.diverge(self.guard.loss_reason("train", loss))
                        return
                    if i == n:
                        net.epoch += 1
                    for hook in batch_hooks:
                        hook(net, net.iteration, loss)
                    if i in due:
                        self.checkpoint_now()
                    if net.stop_training:
                        break
                if net.epoch == epoch + 1:          # it ran to its end (even if stopping)
                    hooks.call("on_epoch_end", net, epoch)
                if net.stop_training:
                    break

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

    def checkpoint_now(self):
        """Record, check every number (before any callback), offer it to the keeper,
        tell the callbacks."""
        net, history = self.net, self.history
        record = _record(net, self.meter, self.lr, self.validation, self.epoch_float)
        why = self.guard.check(net, record)
        index = history.add(record)
        if why is not None:
            self.diverge(why)
            return
        if self.keeper.offer(record, index):
            history.best_index = index
        self.hooks.call("on_checkpoint", net, record)

    def diverge(self, why):
        """Stop at once; a non-finite batch loss still gets its (unvalidated) record."""
        if self.meter.count:
            self.history.add(_record(self.net, self.meter, self.lr, None, self.epoch_float))
        self.diverged = True
        self.net.stop_training, self.net.stop_reason = True, why


# ----- setting a run up ------------------------------------------------------------------
def _penalty_name(net):
    """"L1" / "L2" when the training loss includes a weight penalty (some parameter's
    regularizer has a weight), else None: what the step adds, read from the parameters."""
    names = {p.regularizer.name for p in net.parameters().values() if p.regularizer.lam}
    return "/".join(sorted(name.value.upper() for name in names)) or None


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


def _callbacks(params, given, verbose):
    """The run's callbacks: the textbook settings' rules, the user's, the progress output
    (``TerminateOnNaN`` is the loop's own, so a user's copy is dropped). One callback
    given on its own (``callbacks=EarlyStopping()``) counts as a list of one."""
    if isinstance(given, Callback):
        given = [given]
    chosen = callbacks_from_params(params) + [
        cb for cb in (given or []) if not isinstance(cb, TerminateOnNaN)]
    if verbose and not any(isinstance(cb, ProgressBar) for cb in chosen):
        chosen.append(ProgressBar(bar=None if verbose == 1 else False))
    return CallbackList(chosen)


def _monitor(name, hooks, net_type):
    """The run's one monitor: ``name``, else the one its callbacks agree on."""
    watchers = [cb for cb in hooks.of_type(EarlyStopping)] + [
        cb for cb in hooks.of_type(ModelCheckpoint) if cb.save_best_only]
    monitor = Monitor(name, owner="train") if name is not None else \
        (watchers[0].monitor if watchers else Monitor("val_loss", owner="train"))
    for cb in watchers:
        if not cb.monitor.same_as(monitor):
            raise ValueError(
                f"train: {type(cb).__name__} monitors {cb.monitor.name!r} ({cb.monitor.mode}) "
                f"but the run judges its best checkpoint by {monitor.name!r} "
                f"({monitor.mode}); one run keeps one best checkpoint: give them the same "
                f"monitor (or pass monitor= to train)")
    return monitor.check_net_type(net_type)


def _restore_policy(restore_best, hooks, has_validation):
    """End on the best checkpoint? The caller's word, else an ``EarlyStopping``'s
    ``restore_best_weights``, else yes exactly when there is validation data."""
    asked = {cb.restore_best_weights for cb in hooks.of_type(EarlyStopping)
             if cb.restore_best_weights is not None}
    if restore_best is not None:
        restore_best = check_flag("train restore_best", restore_best)
        if asked - {restore_best}:
            raise ValueError(f"train: restore_best={restore_best} but EarlyStopping asks "
                             f"restore_best_weights={not restore_best}; give one of them")
        return restore_best
    if len(asked) > 1:
        raise ValueError("train: two EarlyStopping callbacks disagree on "
                         "restore_best_weights")
    return asked.pop() if asked else has_validation


def _check_rate_owners(params, hooks):
    """Refuse a learning-rate callback beside a non-constant ``lr_schedule``."""
    setters = [type(cb).__name__ for cb in hooks.callbacks
               if getattr(cb, "sets_learning_rate", False)]
    schedule = params.lr_schedule.get_config()["name"]
    if setters and schedule != "constant":
        raise ValueError(f"train: {setters[0]} and lr_schedule {schedule!r} would both set "
                         f"the learning rate; use one of them (the schedule as "
                         f"LearningRateScheduler({schedule!r}), say)")


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


def _check_set(net, x, y, what):
    """The inputs and the labels of one set, as the step will see them."""
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
    as_targets(y, net.params.net_type, net.output_shape, net.params.dtype, x.shape[0], what)


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


# ----- measuring ------------------------------------------------------------------------
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

    def __init__(self, metric, clipper=None):
        self.metric, self.clipper = metric, clipper
        metric.reset()
        self.pop_clipping()
        self.loss, self.count = 0.0, 0

    def add(self, loss, m):
        self.loss += loss * m
        self.count += m

    def pop(self):
        means = self.loss / self.count, self.metric.result()
        self.metric.reset()
        self.loss, self.count = 0.0, 0
        return means

    def pop_clipping(self):
        """(fraction of steps clipped, mean norm before clipping) since the last call;
        (None, None) without clipping."""
        return (None, None) if self.clipper is None else self.clipper.pop()


def _record(net, meter, lr, validation, epoch):
    """A Record: the meter's train numbers (none for the start), the validation pass."""
    train_loss = train_metric = clipped = grad_norm = None
    if meter is not None:
        train_loss, train_metric = meter.pop()
        clipped, grad_norm = meter.pop_clipping()
    val_loss = val_metric = None
    if validation is not None:
        val_loss, val_metric = evaluate(net, *validation, penalty=False)
    return Record(epoch=epoch, iteration=net.iteration, learning_rate=lr,
                  train_loss=train_loss, train_accuracy=train_metric,
                  val_loss=val_loss, val_accuracy=val_metric, clipped=clipped,
                  grad_norm=grad_norm)


def _run_test(net, reader, history, verbose):
    x, y = reader.get_test_set()
    if x is None or len(x) == 0:
        return
    history.test_loss, history.test_accuracy = net.test(reader)
    if verbose:
        print(f"test: loss {history.test_loss:.6g}, {history.metric} "
              f"{history.test_accuracy:.6g}")


# ----- Ctrl-C ---------------------------------------------------------------------------
class _Presses:
    """Ctrl-C presses during one ``train`` call."""

    def __init__(self, net):
        self.net, self.count, self.deferred = net, 0, False

    def press(self, signum, frame):
        """The first press asks for a stop after this step; a second one interrupts the
        step, unless the run is already ending (then it is only counted)."""
        self.count += 1
        self.net.stop_training, self.net.stop_reason = True, INTERRUPTED_REASON
        if self.count > 1 and not self.deferred:
            raise KeyboardInterrupt

    def defer(self):
        """From now on presses are counted, never raised (the run is ending)."""
        self.deferred = True


@contextmanager
def _interrupts(net):
    """Handle SIGINT for the whole call, from the first step to the last cleanup, when
    train runs in the main thread with Python's default handler (a Dask worker's thread,
    or a program with a handler of its own, is left alone)."""
    presses = _Presses(net)
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield presses
        return
    signal.signal(signal.SIGINT, presses.press)
    try:
        yield presses
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
