"""From flags to a trained net: hyper-parameters, the memory check, the training call.

Early stopping (``--patience``) and the textbook's stop conditions
(``--stop-loss``, ``--stop-diff``) are the framework's ``EarlyStopping``,
``StopLoss`` and ``StopDiff`` callbacks, so they combine with each other and
with ``--l2``; an app adds its own callbacks (house_price's collapse guard).
Progress bar and checkpoint lines are the training loop's (``verbose``): a bar
only on a terminal, whole lines always.
"""
import time
from dataclasses import dataclass

from framework import HyperParameters, NeuralNet, RegularMethod
from framework.infra import memory
from framework.callbacks import EarlyStopping, StopDiff, StopLoss
from framework.infra.memory import estimate_training_bytes

from . import insight
from .flags import UsageError, clipping_fields, parse_schedule

INTERRUPTED = "interrupted"

# HyperParameters field -> the flag that sets it, to name the flag in errors
FIELD_FLAGS = {"learning_rate": "--lr", "max_epoch": "--epochs", "batch_size": "--batch-size",
               "init_method": "--init", "optimizer_name": "--optimizer",
               "regular_value": "--l2", "lr_schedule": "--lr-schedule", "seed": "--seed",
               "clip_norm": "--clip-norm", "clip_value": "--clip-value"}


@dataclass
class TrainedNet:
    """What training produced: the net (best or last weights), its history, the seconds."""

    net: object
    history: object
    seconds: float
    interrupted: bool = False       # Ctrl-C stopped it: the net holds the best weights so far


def make_params(args, net_type):
    """HyperParameters from the parsed flags; a bad value is a UsageError naming its flag."""
    regular = ("l2", args.l2) if args.l2 > 0 else ("nothing", 0.0)
    try:
        return HyperParameters(
            learning_rate=args.lr, max_epoch=args.epochs, batch_size=args.batch_size,
            net_type=net_type, init_method=args.init, optimizer_name=args.optimizer,
            regular_name=regular[0], regular_value=regular[1],
            lr_schedule=parse_schedule(args.lr_schedule, args.epochs), seed=args.seed,
            **clipping_fields(args))
    except UsageError:
        raise
    except ValueError as error:
        raise UsageError(_name_flag(str(error))) from None


def _name_flag(message):
    """``"optimizer_name: expected ..."`` -> ``"--optimizer: expected ..."``."""
    for field, flag in FIELD_FLAGS.items():
        if message.startswith(field):
            return flag + message[len(field):]
    return message


def check_memory(params, specs, input_shape, available=None):
    """Refuse (UsageError) a net whose training would need more memory than is available.

    Called before the net is built: the estimate comes from the specs and
    shapes alone, so ``--hidden 100000,100000`` is refused without allocating.
    """
    estimate = estimate_training_bytes(
        specs, input_shape, batch_size=params.batch_size, dtype=params.dtype,
        optimizer=params.optimizer_name,
        regularized=params.regular_name in (RegularMethod.L1, RegularMethod.L2))
    try:
        memory.check_memory(estimate, available, what="this net")
    except ValueError as error:
        raise UsageError(f"{error} (see --hidden and --batch-size)") from None


def build_net(params, specs, input_shape, name):
    """The net from its layer specs (the framework's one builder)."""
    return NeuralNet.from_specs(params, specs, input_shape, name)


def train(net, reader, args, callbacks=()):
    """Train ``net`` on ``reader`` as the flags say; return a ``TrainedNet``.

    The test set is not touched here: the app measures it once, afterwards.
    """
    callbacks = list(callbacks) + stop_callbacks(args) + insight.callbacks(args, reader)
    start = time.perf_counter()
    history = net.train(reader, checkpoint=args.checkpoint, need_test=False,
                        restore_best=args.keep == "best", verbose=args.verbose,
                        callbacks=callbacks)
    return TrainedNet(net, history, time.perf_counter() - start,
                      interrupted=history.stop_reason == INTERRUPTED)


def stop_callbacks(args):
    """The stop rules the flags ask for: --patience, --stop-loss, --stop-diff."""
    found = []
    if getattr(args, "patience", 0):
        found.append(EarlyStopping(monitor="val_loss", patience=args.patience,
                                   restore_best_weights=args.keep == "best"))
    if getattr(args, "stop_loss", 0):
        found.append(StopLoss(args.stop_loss, monitor="val_loss"))
    if getattr(args, "stop_diff", 0):
        found.append(StopDiff(args.stop_diff, monitor="val_loss"))
    return found


def describe_stop(trained, keep):
    """One log line: why training stopped, how long it took, which weights were kept."""
    history = trained.history
    return (f"training stopped: {history.stop_reason}; {trained.seconds:.1f} s; "
            f"{history.kept_description()}")


def architecture(net):
    """The net as JSON-able data: input shape and one entry per layer (name, class, config)."""
    return {"input_shape": list(net.input_shape or ()),
            "layers": [{"name": name, "class": type(layer).__name__, **layer.get_config()}
                       for name, layer in zip(net.layer_names, net.layers)]}


def settings(net, args=None):
    """The run's settings for the JSON line, read from the net itself (right for --load
    too); ``args`` (when the app trained) adds the training loop's flags."""
    params = net.params
    found = {"architecture": architecture(net),
            "optimizer": str(params.optimizer_name),
            "learning_rate": params.learning_rate,
            "lr_schedule": params.lr_schedule.get_config(),
            "batch_size": params.batch_size, "epochs": params.max_epoch,
            "regularization": {"name": params.regular_name.value,
                               "value": params.regular_value},
            "init": params.init_method, "seed": params.seed}
    if args is not None:
        found.update(checkpoint=args.checkpoint, keep=args.keep, patience=args.patience,
                     stop_loss=args.stop_loss, stop_diff=args.stop_diff,
                     holdout=args.holdout)
    return found
