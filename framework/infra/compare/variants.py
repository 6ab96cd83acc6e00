"""From a base config and variants to the RunSpecs of a sweep.

A variant is a dict of overrides applied to a deep copy of the base. An
override key is a ``HyperParameters`` field (``"optimizer_name"``), a dotted
path into a section (``"net.batch_norm"``, ``"data.train_size"``,
``"data.options.noise"``), a section name with a dict (merged into it), or a
top-level RunSpec field (``"evaluate_test"``). ``axes`` ({key: [values]})
make variants from the cartesian product of their values.
"""
import copy
import itertools
import json
from dataclasses import fields

from ...hyper_parameters import HyperParameters
from .spec import RunSpec

_PARAM_FIELDS = {f.name for f in fields(HyperParameters)}
_SECTIONS = ("data", "net", "params", "train")


def make_variants(variants=None, axes=None):
    """{name: overrides}: explicit variants, then the product of ``axes``."""
    named = dict(variants or {})
    if axes:
        keys = list(axes)
        choices = [_labelled(axes[key]) for key in keys]
        for combo in itertools.product(*choices):
            label = combo[0][0] if len(keys) == 1 else ",".join(
                f"{key.split('.')[-1]}={text}" for key, (text, _) in zip(keys, combo))
            named[label] = {key: value for key, (_, value) in zip(keys, combo)}
    return named or {"base": {}}


def _labelled(values):
    if isinstance(values, dict):
        return list(values.items())
    return [(_label(v), v) for v in values]


def _label(value):
    if isinstance(value, dict):
        return str(value.get("name", json.dumps(value, sort_keys=True)))
    return str(value)


def apply_overrides(base, overrides):
    """A deep copy of ``base`` with ``overrides`` applied (see the module doc)."""
    config = copy.deepcopy(base)
    for section in _SECTIONS:
        config.setdefault(section, {})
    for key, value in overrides.items():
        value = copy.deepcopy(value)
        if key in _PARAM_FIELDS:
            config["params"][key] = value
        elif "." in key:
            *path, last = key.split(".")
            target = config
            for part in path:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ValueError(f"override {key!r}: {part!r} is not a section")
            target[last] = value
        elif key in _SECTIONS and isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


def make_specs(name, base, named, repeats, base_seed=0):
    """One RunSpec per (repeat, variant); the seed depends on the repeat only.

    Every spec is built (and so checked) here, before any run starts.
    """
    specs = []
    for repeat in range(int(repeats)):
        for variant, overrides in named.items():
            config = apply_overrides(base, overrides)
            config.update(name=name, variant=variant, repeat=repeat,
                          seed=int(base_seed) + repeat)
            specs.append(RunSpec.from_dict(config))
    return specs
