"""Value rules shared by save and load, so a file that saves always loads.

One set of rules (finite values; variances, second moments and counters not
negative) is applied by ``save_net`` before anything is written and by the
reader to everything it reads.
"""
import json

import numpy as np

from .safety import MAX_DEPTH

MAX_COUNTER = 2 ** 63 - 1


def value_problem(value, non_negative=False):
    """Why ``value`` may not be saved or loaded ("contains NaN or inf", ...), or None.

    Both directions call this one function, so a file that saves always loads.
    """
    value = np.asarray(value)
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        return "contains NaN or inf"
    if value.dtype.kind not in "fiub":
        return f"has dtype {value.dtype}, expected numbers"
    if non_negative and value.size and value.min() < 0:
        return f"has a negative value ({float(value.min())!r}); it must be >= 0"
    return None


def counter_problem(value):
    """Why ``value`` is not a valid step count or epoch counter, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return f"is {value!r}, expected an integer"
    if value < 0:
        return f"is {int(value)}, a negative count (it must be >= 0)"
    if value > MAX_COUNTER:
        return f"is {int(value)}, beyond the largest count {MAX_COUNTER}"
    return None


def save_problem(net, include_optimizer):
    """The first value of ``net`` that ``load`` would refuse, described; or None."""
    from ...hyper_parameters import HyperParameters
    from ...state import entries
    try:
        HyperParameters.from_dict(net.params.to_dict())
        json.dumps(net.params.to_dict(), allow_nan=False)
    except (ValueError, TypeError) as error:
        return f"the hyper-parameters would not load back ({error})"
    for name, layer in zip(net.layer_names, net.layers):
        try:
            json.dumps(layer.get_config(), allow_nan=False)
        except (ValueError, TypeError) as error:
            return f"layer {name!r} config is not JSON with finite numbers ({error})"
    for key in ("epoch", "iteration"):
        problem = counter_problem(getattr(net, key))
        if problem:
            return f"net.{key} {problem}"
    rate = net.learning_rate
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not np.isfinite(rate) or rate < 0):
        return f"net.learning_rate is {rate!r}, expected a finite number >= 0 (or None)"
    for entry in entries(net):
        if entry.kind == "optimizer" and not include_optimizer:
            continue
        groups = entry.key.count("/") + (entry.kind != "optimizer")   # /layers/ adds one
        if groups > MAX_DEPTH:
            return (f"layer {entry.layer!r} array {entry.name!r} would sit {groups} groups "
                    f"deep, more than the {MAX_DEPTH} a weights file may nest (blocks "
                    f"nested too deeply)")
        problem = (value_problem(entry.value, entry.non_negative)
                   if isinstance(entry.value, np.ndarray) else counter_problem(entry.value))
        if problem:
            what = "optimizer state" if entry.kind == "optimizer" else "array"
            name = entry.name
            return f"layer {entry.layer!r} {what} {name!r} {problem}"
    return None
