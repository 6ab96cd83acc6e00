"""The net's state under one key scheme.

Snapshots and rollbacks, saving and loading, ``net.gradients``, the NaN guard and
checkpoints all read and write the net through this module, under these keys::

    "fc1/W", "bn1/gamma"            a parameter's value   <layer>/<parameter>
    "bn1/running_var"               a buffer              <layer>/<buffer>
    "optimizer/fc1/W/m"             optimizer state       optimizer/<parameter key>/<state>
    "optimizer/fc1/W/t"             ... its step count (an int)
    "epoch", "iteration"            the net's counters (ints)
    "learning_rate"                 the rate the next step uses (None: the params' rate)
    "random_state"                  the seeded streams (a JSON-able dict)

A block layer that holds layers names theirs below its own (``"res1/fc1/W"``).
The weights file stores the first two kinds under ``/layers/<layer>/``, the third
under ``/optimizer/``, the rest as attributes (see ``infra/serialization``).
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .infra.validation import all_finite

OPTIMIZER = "optimizer"
COUNTERS = ("epoch", "iteration")
RANDOM_STATE = "random_state"
LEARNING_RATE = "learning_rate"


@dataclass(frozen=True)
class Entry:
    """One array (or step count) of the net: its key, its live value, what it is."""

    key: str            # "fc1/W", "bn1/running_var", "optimizer/fc1/W/m"
    layer: str          # the layer it belongs to ("fc1")
    name: str           # its name within the layer ("W", "running_var", "W/m")
    kind: str           # "parameter", "buffer" or "optimizer"
    value: object       # the live array (an int for a step count)
    non_negative: bool  # save and load refuse a negative value (variances, moments)


def entries(net):
    """Every parameter, buffer and optimizer state entry of ``net``, in layer order."""
    found, states = [], []
    for layer_name, layer in zip(net.layer_names, net.layers):
        for name, parameter in layer.parameters().items():
            key = f"{layer_name}/{name}"
            found.append(Entry(key, layer_name, name, "parameter", parameter.value, False))
            if parameter.optimizer is not None:
                states.append((layer_name, name, key, parameter.optimizer))
        non_negative = layer.non_negative_buffers()
        for name, value in layer.buffers().items():
            found.append(Entry(f"{layer_name}/{name}", layer_name, name, "buffer", value,
                               name in non_negative))
    for layer_name, name, key, optimizer in states:
        for state, value in optimizer.state_arrays().items():
            found.append(Entry(f"{OPTIMIZER}/{key}/{state}", layer_name, f"{name}/{state}",
                               "optimizer", value, state in optimizer.non_negative))
        if optimizer.counter:
            found.append(Entry(f"{OPTIMIZER}/{key}/t", layer_name, f"{name}/t", "optimizer",
                               optimizer.t, True))
    return found


def state_dict(net, counters=True):
    """A copy of everything: ``{key: array copy}`` (see the module docstring), with the
    counters and the random state unless ``counters`` is False (a snapshot)."""
    state = {entry.key: (entry.value.copy() if isinstance(entry.value, np.ndarray)
                         else entry.value) for entry in entries(net)}
    if counters:
        state.update(epoch=net.epoch, iteration=net.iteration)
        state[LEARNING_RATE] = net.learning_rate
        state[RANDOM_STATE] = net.streams.get_state()
    return state


class LoadResult(NamedTuple):
    """What ``load_state_dict`` left out: PyTorch's ``(missing_keys, unexpected_keys)``."""
    missing_keys: list
    unexpected_keys: list


def load_state_dict(net, state, strict=True):
    """Copy ``state`` into ``net`` after checking all of it (nothing changes on an error).

    Strict: every parameter and buffer key must be there with its shape; the
    optimizer entries come all or none (none leaves the optimizer state as it is),
    so do the counters with the random state; the learning rate may come alone;
    any other key is refused. ``strict=False`` (PyTorch's, e.g. to start a bigger net
    from a smaller one's layers) copies the keys the net has and returns those it
    missed and those it did not know; shapes and values are checked all the same.
    """
    own = {entry.key: entry for entry in entries(net)}
    given = set(state)
    extras = {RANDOM_STATE, *COUNTERS}
    unknown = sorted(given - set(own) - extras - {LEARNING_RATE})
    missing = sorted(key for key in own if key not in given)
    if strict:
        _check_strictly(own, given, unknown)
    else:
        given -= set(unknown)
    if given & extras and not extras <= given:
        raise ValueError(f"load_state_dict: expected all or none of {sorted(extras)}, got "
                         f"{sorted(given & extras)}")
    rate = _checked_rate(state[LEARNING_RATE]) if LEARNING_RATE in given else None
    checked = {key: _checked_value(own[key], state[key]) for key in given & set(own)}
    _apply(net, own, checked)
    if extras <= given:
        net.epoch, net.iteration = int(state["epoch"]), int(state["iteration"])
        net.streams.set_state(state[RANDOM_STATE])
    if LEARNING_RATE in given:
        net.learning_rate = rate
    return LoadResult([] if strict else missing, [] if strict else unknown)


def _check_strictly(own, given, unknown):
    """Refuse unknown keys, missing parameters or buffers, and part of the optimizer state."""
    if unknown:
        raise ValueError(f"load_state_dict: unknown key(s) {unknown[:5]}; the net's keys "
                         f"look like {sorted(own)[:3]}")
    _require_all([e for e in own.values() if e.kind != "optimizer"], given,
                 "parameter and buffer")
    optimizer = [e for e in own.values() if e.kind == "optimizer"]
    if any(e.key in given for e in optimizer):
        _require_all(optimizer, given, "optimizer")


def _checked_rate(rate):
    """A learning rate from a state dict: None, or a finite number >= 0."""
    if rate is None:
        return None
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.number)) \
            or not np.isfinite(rate) or rate < 0:
        raise ValueError(f"load_state_dict: 'learning_rate' must be None or a finite number "
                         f">= 0, got {rate!r}")
    return float(rate)


def _require_all(group, given, what):
    missing = [e.key for e in group if e.key not in given]
    if missing:
        raise ValueError(f"load_state_dict: missing {what} key(s) {missing[:5]}")


def _checked_value(entry, value):
    if not isinstance(entry.value, np.ndarray):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
                or value < 0:
            raise ValueError(f"load_state_dict: {entry.key!r} is a step count, expected an "
                             f"integer >= 0, got {value!r}")
        return int(value)
    value = np.asarray(value)
    if value.shape != entry.value.shape:
        raise ValueError(f"load_state_dict: {entry.key!r} has shape {value.shape}, the net "
                         f"expects {entry.value.shape}")
    if value.dtype.kind not in "fiu":
        raise ValueError(f"load_state_dict: {entry.key!r} has dtype {value.dtype}, expected "
                         f"real numbers")
    with np.errstate(over="ignore"):               # a value beyond the dtype becomes inf
        cast = value.astype(entry.value.dtype, copy=False)
    if not all_finite(cast):
        raise ValueError(f"load_state_dict: {entry.key!r} holds NaN or inf (as "
                         f"{entry.value.dtype}); a net's state must be finite")
    if entry.non_negative and value.size and value.min() < 0:
        raise ValueError(f"load_state_dict: {entry.key!r} can never be negative (a variance "
                         f"or second moment), got {value.min()!r}")
    return value


def _apply(net, own, checked):
    """Copy the checked values in; step counts go to their optimizers."""
    counts = {}
    for key, value in checked.items():
        if isinstance(own[key].value, np.ndarray):
            np.copyto(own[key].value, value, casting="same_kind")
        else:
            counts[key[len(OPTIMIZER) + 1:-len("/t")]] = value
    for key, parameter in net.parameters().items():
        if key in counts:
            parameter.optimizer.t = counts[key]


def first_non_finite(net):
    """(layer name, array name) of the first non-finite parameter, buffer or optimizer
    state of ``net``, or None (the NaN guard's question)."""
    for entry in entries(net):
        value = entry.value
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not all_finite(value):
            where = f"optimizer {entry.name}" if entry.kind == "optimizer" else entry.name
            return entry.layer, where
    return None
