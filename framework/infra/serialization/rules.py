"""Value rules shared by save and load, so a file that saves always loads.

One set of rules (finite values; variances, second moments and counters not
negative) is applied by ``save_net`` before anything is written and by the
reader to everything it reads.
"""
import json

import numpy as np

MAX_COUNTER = 2 ** 63 - 1

# Arrays that must not be negative (a variance or second moment below 0 turns into
# NaN at its first square root). A layer or optimizer class may declare its own with a
# ``non_negative`` tuple attribute; these are the built-in ones.
NON_NEGATIVE_BUFFERS = {"BatchNormLayer": ("running_var",)}
NON_NEGATIVE_STATE = {"adam": ("v",), "adagrad": ("r",), "rmsprop": ("r",),
                      "adadelta": ("Eg", "Edx")}


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


def save_problem(net, state):
    """The first value of ``net`` that ``load`` would refuse, described; or None."""
    from ...hyper_parameters import HyperParameters
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
    for index, (name, layer) in enumerate(zip(net.layer_names, net.layers)):
        non_negative = non_negative_buffers(layer)
        for key, value in net.layer_arrays(index).items():
            problem = value_problem(value, key in non_negative)
            if problem:
                return f"layer {name!r} array {key!r} {problem}"
    for name, key, value, non_negative in state or ():
        problem = (value_problem(value, non_negative) if isinstance(value, np.ndarray)
                   else counter_problem(value))
        if problem:
            return f"layer {name!r} optimizer state {key!r} {problem}"
    return None


def optimizer_items(net):
    """(layer name, "<param>/<state>", value, must be >= 0) for every optimizer state entry."""
    from ...net import param_name
    for name, layer in zip(net.layer_names, net.layers):
        for index, wb in enumerate(layer.weights()):
            non_negative = _declared(wb.optimizer_W, NON_NEGATIVE_STATE,
                                     getattr(wb.optimizer_W, "name", None))
            for key, value in wb.optimizer_state().items():
                param, state = key.split("/", 1)
                yield (name, f"{param_name(index, param)}/{state}", value,
                       state in non_negative)


def _declared(obj, table, key):
    """The names ``obj`` declares non-negative (its ``non_negative``, else ``table``)."""
    own = getattr(obj, "non_negative", None)
    return tuple(own) if own is not None else table.get(key, ())


def non_negative_buffers(layer):
    """The buffer names of ``layer`` that must not be negative."""
    return _declared(layer, NON_NEGATIVE_BUFFERS, type(layer).__name__)
