"""The training loop behind ``NeuralNet.train``.

One step: NAG look-ahead, forward(train=True), the fused loss delta, backward,
``update(lr)`` on every WeightsBias. The step is a closure over prebuilt
lists so the per-batch Python overhead is a handful of calls per layer.

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
"""
import math

import numpy as np

from . import threads
from .buffers import BufferCache
from .enums import NetType, RegularMethod
from .history import Record, TrainingHistory
from .layers.classification import ClassificationLayer
from .losses import _CLIP, LossFunction
from .stopping import MAX_EPOCH_REASON, StopRules, diverged_reason


def train(net, reader, checkpoint=0.1, need_test=True, restore_best=True, verbose=True,
          callback=None):
    """Train ``net`` from epoch ``net.epoch`` to ``params.max_epoch``; return the history.

    ``callback(net, record)`` runs after each checkpoint; a truthy return stops.
    The whole call runs with ``threads.get_num_threads()`` BLAS threads (one
    by default; see ``framework.threads``), set once here, never per step.
    """
    with threads.limit():
        return _train(net, reader, checkpoint, need_test, restore_best, verbose, callback)


def _train(net, reader, checkpoint, need_test, restore_best, verbose, callback):
    params = net.params
    _prepare(net, reader)
    per_epoch = math.ceil(reader.num_train / params.batch_size)
    in_epoch, every_epochs = _checkpoint_plan(checkpoint, per_epoch)
    validation = reader.get_validation_set()
    history = TrainingHistory()
    rules = StopRules(params)
    start_state = net.get_state()
    step = make_step(net)
    meter = _Meter()
    reason = None

    def checkpoint_now(lr):
        record = _record(net, meter, lr, validation, per_epoch)
        if history.add(record):
            history.best_weights = net.get_state()
        if verbose:
            print(_format(record))
        why = rules.check(record)
        if why is None and callback is not None and callback(net, record):
            why = "stopped by callback"
        return why

    isfinite, add = math.isfinite, meter.add
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(net.epoch, params.max_epoch):
            lr = params.learning_rate_at(epoch)
            due = in_epoch if (epoch + 1) % every_epochs == 0 else ()
            batches = reader.batches(params.batch_size, net.streams.shuffle)
            for i, (x, y) in enumerate(batches, 1):
                loss, correct = step(x, y, lr)
                net.iteration += 1
                add(loss, correct, x.shape[0])
                if not isfinite(loss):
                    reason = diverged_reason("train", loss)
                    history.add(_record(net, meter, lr, None, per_epoch))
                    break
                if i in due:
                    reason = checkpoint_now(lr)
                    if reason:
                        break
            if reason:
                break
            net.epoch += 1
        else:
            if meter.count:
                reason = checkpoint_now(params.learning_rate_at(net.epoch - 1))
    history.stop_reason = reason or MAX_EPOCH_REASON
    _finish(net, history, restore_best, start_state, verbose)
    if need_test:
        _run_test(net, reader, history, verbose)
    return history


def make_step(net):
    """Build ``step(x, y, lr) -> (loss incl. penalty, correct)`` for one mini-batch.

    ``correct`` is the batch's accuracy times its rows (a count for
    classifiers), so the caller sums it without a division per step.
    Everything the step touches is looked up here, once: the loop body is
    bound methods and NumPy calls on buffers that already exist.
    """
    params = net.params
    layers = net.layers
    wbs = net.weights()
    fused = params.net_type is not NetType.FITTING
    backward = [layer.backward for layer in reversed(layers[:-1] if fused else layers)]
    forward = [layer.forward for layer in layers]
    look_ahead = [wb.pre_update for wb in wbs if wb.look_ahead_needed]
    penalties = [wb.regular_loss for wb in wbs] \
        if params.regular_name in (RegularMethod.L1, RegularMethod.L2) else []
    updates = [wb.update for wb in wbs]
    buffers = BufferCache()     # the fused delta and the metrics' work arrays
    metrics = _batch_metrics(params.net_type, buffers)
    subtract, multiply = np.subtract, np.multiply
    last = {"shape": None, "delta": None}

    def step(x, y, lr):
        for pre in look_ahead:
            pre()
        a = x
        for f in forward:
            a = f(a, True)
        loss, correct = metrics(a, y)
        for penalty in penalties:
            loss += float(penalty())
        out = last["delta"]
        if a.shape != last["shape"]:
            if a.shape != y.shape:
                LossFunction(params.net_type).delta(a, a, y)   # raises the shape error
            out = last["delta"] = buffers.get("delta", a.shape, a.dtype)
            last["shape"] = a.shape
        # the fused d(mean loss)/dz = (a - y) / m of LossFunction.delta, inline
        subtract(a, y, out=out)
        delta = multiply(out, 1.0 / a.shape[0], out=out)
        for b in backward:
            delta = b(delta)
        for update in updates:
            update(lr)
        return loss, correct

    return step


def _batch_metrics(net_type, buffers=None):
    """``metrics(a, y) -> (mean loss, accuracy * rows)`` for one training batch.

    The multi-class form is ``LossFunction.loss`` / ``.accuracy`` on work
    arrays from ``buffers`` (a BufferCache): probabilities clipped to [1e-12,
    1 - 1e-12], logged and dotted with y in the net's dtype (float64 in
    ``loss``; for a float32 net the train loss differs from it by ~1e-7
    relative), and the correct rows counted instead of averaged. Other net
    types call LossFunction.
    """
    loss_fn = LossFunction(net_type)
    buffers = BufferCache() if buffers is None else buffers
    if net_type is not NetType.MULTIPLE_CLASSIFIER:
        def metrics(a, y):
            return float(loss_fn.loss(a, y)), float(loss_fn.accuracy(a, y)) * a.shape[0]
        return metrics

    maximum, minimum, log, vdot, equal = np.maximum, np.minimum, np.log, np.vdot, np.equal
    count_nonzero = np.count_nonzero
    last = {"shape": None, "work": None}

    def work_arrays(a, y):
        loss_fn.loss(a, y)                          # validates the shapes once
        labels = (a.shape[0],) + a.shape[2:]        # one class decision per sample (and pixel)
        low = buffers.get("clip_low", a.shape, a.dtype)
        high = buffers.get("clip_high", a.shape, a.dtype)
        # the clip bounds as full arrays: NumPy's same-shape loop beats the scalar one
        low.fill(_CLIP)
        high.fill(1.0 - _CLIP)
        return (buffers.get("log_p", a.shape, a.dtype), low, high,
                buffers.get("predicted", labels, np.intp),
                buffers.get("expected", labels, np.intp), buffers.get("hit", labels, bool))

    def metrics(a, y):
        if a.shape != last["shape"]:
            last["work"], last["shape"] = work_arrays(a, y), a.shape
        p, low, high, predicted, expected, hit = last["work"]
        maximum(a, low, out=p)
        minimum(p, high, out=p)
        log(p, out=p)
        loss = -float(vdot(y, p)) / a.shape[0]
        a.argmax(axis=1, out=predicted)
        y.argmax(axis=1, out=expected)
        equal(predicted, expected, out=hit)
        hits = int(count_nonzero(hit))
        return loss, hits if hit.ndim == 1 else hits * a.shape[0] / hit.size

    return metrics


def evaluate(net, x, y, penalty=True):
    """(loss, accuracy) of inference-mode outputs on (x, y), in chunks."""
    a = net.predict(x)
    loss_fn = LossFunction(net.params.net_type)
    loss = float(loss_fn.loss(a, y))
    if penalty:
        loss += sum(float(wb.regular_loss()) for wb in net.weights())
    return loss, float(loss_fn.accuracy(a, y))


class _Meter:
    """Sample-weighted running sums of loss and accuracy since the last checkpoint."""

    def __init__(self):
        self.loss = self.accuracy = 0.0
        self.count = 0

    def add(self, loss, correct, m):
        """``correct`` is the batch accuracy times ``m`` (see ``make_step``)."""
        self.loss += loss * m
        self.accuracy += correct
        self.count += m

    def pop(self):
        means = self.loss / self.count, self.accuracy / self.count
        self.__init__()
        return means


def _record(net, meter, lr, validation, per_epoch):
    train_loss, train_accuracy = meter.pop()
    val_loss = val_accuracy = None
    if validation is not None:
        val_loss, val_accuracy = evaluate(net, *validation, penalty=False)
    return Record(epoch=net.iteration / per_epoch, iteration=net.iteration,
                  learning_rate=lr, train_loss=train_loss, train_accuracy=train_accuracy,
                  val_loss=val_loss, val_accuracy=val_accuracy)


def _checkpoint_plan(checkpoint, per_epoch):
    """(iterations within an epoch that end a record, record every n-th epoch)."""
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, float)) \
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


def _finish(net, history, restore_best, start_state, verbose):
    diverged = history.stop_reason.startswith("diverged")
    if diverged and verbose:
        print(f"warning: {history.stop_reason}")
    if not restore_best:
        return
    if history.best_weights is not None:
        net.set_state(history.best_weights)
    elif diverged:
        net.set_state(start_state)


def _run_test(net, reader, history, verbose):
    x, y = reader.get_test_set()
    if x is None or len(x) == 0:
        return
    history.test_loss, history.test_accuracy = net.test(reader)
    if verbose:
        print(f"test: loss {history.test_loss:.6g}, accuracy {history.test_accuracy:.4f}")


def _format(record):
    text = (f"epoch {record.epoch:7.2f}  iter {record.iteration:6d}  "
            f"lr {record.learning_rate:.3g}  loss {record.train_loss:.6f}  "
            f"acc {record.train_accuracy:.4f}")
    if record.val_loss is not None:
        text += f"  val_loss {record.val_loss:.6f}  val_acc {record.val_accuracy:.4f}"
    return text
