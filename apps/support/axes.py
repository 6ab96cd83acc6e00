"""``compare --axis KEY=V1,V2``: axes named like the flags they vary.

A user who trains with ``--optimizer adam --lr 0.01`` compares with
``--axis optimizer=sgd,adam --axis lr=0.01,0.1``: each axis key is a flag
name without its dashes (``batch-size`` or ``batch_size``), each value is read
by that flag's own type (so ``lr=-1`` is refused as ``--lr -1`` would be), and
the variant labels in the tables, legends and JSON use the same words
(``optimizer=adam, lr=0.01``). ``AXES`` maps a key to where its value goes in
a run spec (``framework.infra.compare``): a HyperParameters field, the net or
the data section. The run-spec keys that earlier versions took
(``optimizer_name``, ``net.batch_norm``, ...) are still read (``ALIASES``).
"""
import argparse
import itertools
import json

from . import flags
from .flags import UsageError


def _boolean(text):
    """on/off, true/false, yes/no, 1/0."""
    folded = str(text).strip().lower()
    if folded in ("on", "true", "yes", "1"):
        return True
    if folded in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def _widths(value):
    """A JSON list of widths, or one width: the hidden layers of a variant."""
    sizes = value if isinstance(value, list) else [value]
    try:
        return list(flags.hidden_sizes(",".join(str(int(size)) for size in sizes)))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a list of positive widths such as "
                                         f"[100,100], got {value!r}") from None


def _text(value):
    return str(value)


def _schedule(value):
    """A --lr-schedule SPEC (``cosine``, ``step:5``) or a schedule config dict."""
    return value if isinstance(value, dict) else str(value)


# key: (run-spec override key, how a value is read, what it is)
AXES = {
    "optimizer": ("optimizer_name", _text, "sgd, momentum, nag, adagrad, adadelta, rmsprop, "
                                           "adam"),
    "lr": ("learning_rate", flags.positive_float, "base learning rate"),
    "batch-size": ("batch_size", flags.positive_int, "mini-batch size"),
    "epochs": ("max_epoch", flags.positive_int, "epochs of every run"),
    "init": ("init_method", _text, "zero, normal, uniform, xavier, msra, ..."),
    "init-scale": ("init_scale", flags.positive_float, "a factor on the initial weights"),
    "l2": ("l2", flags.non_negative, "L2 weight penalty lambda (0 = none)"),
    "lr-schedule": ("lr_schedule", _schedule, "a --lr-schedule SPEC: constant, cosine, "
                                              "step:EPOCHS, ..."),
    "hidden": ("net.hidden", _widths, "hidden widths, a JSON list such as [100,100]"),
    "activation": ("net.activation", _text, ", ".join(flags.ACTIVATIONS)),
    "bn": ("net.batch_norm", _boolean, "batch norm after each hidden layer: on or off"),
    "dropout": ("net.dropout", flags.ratio, "drop ratio after each hidden activation"),
    "train-size": ("data.train_size", flags.positive_int, "training samples of every run"),
}


# the run-spec keys earlier versions took: still read, labelled with the flag names
ALIASES = {"optimizer-name": "optimizer", "learning-rate": "lr", "max-epoch": "epochs",
           "init-method": "init", "regular-value": "l2", "net.hidden": "hidden",
           "net.activation": "activation", "net.batch-norm": "bn", "net.dropout": "dropout",
           "data.train-size": "train-size"}


def describe():
    """The axis keys for --help: ``optimizer (sgd, momentum, ...), lr (...), ...``."""
    return "; ".join(f"{key} ({what})" for key, (_, _, what) in AXES.items())


def parse_axis(text):
    """``'lr=0.01,0.1'`` -> ``('lr', [0.01, 0.1])`` (argparse type of --axis): the key
    checked against ``AXES``, each value read by its flag's type."""
    key, sep, values = text.partition("=")
    key = key.strip().replace("_", "-")
    if not sep or not key or not values.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=V1,V2,..., got {text!r}")
    key = ALIASES.get(key, key)
    if key not in AXES:
        raise argparse.ArgumentTypeError(f"unknown key {key!r}; expected one of "
                                         f"{', '.join(AXES)} (the flags' names)")
    try:
        raw = json.loads(f"[{values}]")
    except json.JSONDecodeError:
        raw = [_json_or_text(value) for value in values.split(",")]
    read = AXES[key][1]
    try:
        parsed = [read(value if read in (_widths, _schedule) else str(value).strip())
                  for value in raw]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{key}: {error}") from None
    return key, parsed


def _json_or_text(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def override(key, value, epochs):
    """The run-spec overrides of one axis value (``l2`` sets the penalty's name too,
    ``lr-schedule`` becomes the schedule's config)."""
    target = AXES[key][0]
    if key == "l2":
        return ({"regular_name": "l2", "regular_value": value} if value > 0
                else {"regular_name": "nothing", "regular_value": 0.0})
    if key == "lr-schedule":
        return {target: value if isinstance(value, dict)
                else flags.parse_schedule(value, epochs)}
    return {target: value}


def label(key, value):
    """``lr=0.01``, ``hidden=100x100``, ``bn=on``: a value as the flag would take it."""
    if isinstance(value, dict):
        text = str(value.get("name", value))
    elif isinstance(value, bool):
        text = "on" if value else "off"
    elif isinstance(value, list):
        text = "x".join(map(str, value))
    else:
        text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{key}={text}"


def make_variants(axes, epochs):
    """{label: overrides} for the product of ``axes`` ([(key, values), ...] in the
    order given); the same key twice is refused."""
    keys = [key for key, _ in axes]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise UsageError(f"--axis {repeated[0]}: given twice; put all its values in one "
                         "--axis")
    variants = {}
    for combo in itertools.product(*[[(key, value) for value in values]
                                     for key, values in axes]):
        overrides = {}
        for key, value in combo:
            try:
                overrides.update(override(key, value, epochs))
            except UsageError as error:
                raise UsageError(f"--axis {key}: {error}") from None
        variants[", ".join(label(key, value) for key, value in combo)] = overrides
    return variants
