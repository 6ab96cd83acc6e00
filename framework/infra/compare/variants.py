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
from ..validation import check_integer
from .spec import SEED_IS_THE_SWEEPS, RunSpec

_PARAM_FIELDS = {f.name for f in fields(HyperParameters)}
_SECTIONS = ("data", "net", "params", "train")
_SET_BY_THE_SWEEP = ("name", "variant", "repeat", "weights_path")


def make_variants(variants=None, axes=None):
    """{name: overrides}: explicit variants, then the product of ``axes``.

    Every label must be unique: an axis value whose label is an explicit
    variant's (or another combination's) would silently replace it, so it is
    refused. An axis is a non-empty list of values (or a {label: value} dict).
    """
    named = {}
    for label, overrides in _checked_variants(variants).items():
        named[label] = overrides
    if axes is not None and not isinstance(axes, dict):
        raise ValueError(f"axes: expected a dict {{key: [values]}}, got {axes!r}")
    if axes:
        keys = list(axes)
        choices = [_labelled(key, axes[key]) for key in keys]
        for combo in itertools.product(*choices):
            label = combo[0][0] if len(keys) == 1 else ",".join(
                f"{key.split('.')[-1]}={text}" for key, (text, _) in zip(keys, combo))
            if label in named:
                raise ValueError(f"variant label {label!r} is made twice (by an explicit "
                                 f"variant or another axis value); one would silently "
                                 f"replace the other: rename one")
            named[label] = {key: value for key, (_, value) in zip(keys, combo)}
    return named or {"base": {}}


def _checked_variants(variants):
    if variants is None:
        return {}
    if not isinstance(variants, dict):
        raise ValueError(f"variants: expected a dict {{label: {{override: value}}}}, "
                         f"got {variants!r}")
    for label, overrides in variants.items():
        if not isinstance(label, str) or not label:
            raise ValueError(f"variants: a label must be a non-empty string, got {label!r}")
        if not isinstance(overrides, dict):
            raise ValueError(f"variant {label!r}: expected a dict of overrides, "
                             f"got {overrides!r}")
    return variants


def _labelled(key, values):
    if not isinstance(key, str) or not key:
        raise ValueError(f"axes: a key must be a non-empty string, got {key!r}")
    if isinstance(values, dict):
        pairs = list(values.items())
        bad = [label for label, _ in pairs if not isinstance(label, str) or not label]
        if bad:
            raise ValueError(f"axis {key!r}: labels must be non-empty strings, got {bad[0]!r}")
    elif isinstance(values, (list, tuple)):
        pairs = [(_label(v), v) for v in values]
    else:
        raise ValueError(f"axis {key!r}: expected a list of values (or a {{label: value}} "
                         f"dict), got {values!r}")
    if not pairs:
        raise ValueError(f"axis {key!r}: expected at least one value, got none")
    return pairs


def _label(value):
    if isinstance(value, dict):
        return str(value.get("name", json.dumps(value, sort_keys=True, default=str)))
    return str(value)


def apply_overrides(base, overrides):
    """A deep copy of ``base`` with ``overrides`` applied (see the module doc).

    The fields a sweep sets itself (``seed``, ``name``, ``variant``,
    ``repeat``, ``weights_path``) cannot be overridden: the sweep would
    silently replace the value (an axis over ``seed`` gave identical runs).
    """
    config = copy.deepcopy(base)
    if not isinstance(config, dict):
        raise ValueError(f"base: expected a dict with data, net, params, train, got {base!r}")
    for section in _SECTIONS:
        config.setdefault(section, {})
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"override: a key must be a non-empty string, got {key!r}")
        if key in ("seed", "params.seed") or (key == "params" and isinstance(value, dict)
                                              and "seed" in value):
            raise ValueError(SEED_IS_THE_SWEEPS)
        if key in _SET_BY_THE_SWEEP:
            raise ValueError(f"override {key!r}: set by the sweep for every run, cannot be "
                             f"varied")
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
        elif key in _SECTIONS:
            if not isinstance(value, dict):
                raise ValueError(f"override {key!r}: expected a dict to merge into the "
                                 f"section, got {value!r}")
            config[key].update(value)
        else:
            config[key] = value
    return config


def make_specs(name, base, named, repeats, base_seed=0):
    """One RunSpec per (repeat, variant); the seed depends on the repeat only.

    Every spec is built (and so checked) here, before any run starts; an
    error names the variant. ``repeats`` is a positive integer and
    ``base_seed`` an integer >= 0 (NumPy integers too; 2.5, "2" and True are
    refused rather than rounded or read).
    """
    repeats = check_integer("repeats", repeats)
    base_seed = check_integer("base_seed", base_seed, minimum=0)
    for key in ("name", "variant", "repeat", "seed"):
        if isinstance(base, dict) and key in base:
            raise ValueError(f"base: {key!r} is set by the sweep for every run; "
                             + (SEED_IS_THE_SWEEPS if key == "seed" else "remove it"))
    specs = []
    for repeat in range(repeats):
        for variant, overrides in named.items():
            try:
                config = apply_overrides(base, overrides)
                config.update(name=name, variant=variant, repeat=repeat,
                              seed=base_seed + repeat)
                specs.append(RunSpec.from_dict(config))
            except ValueError as error:
                raise ValueError(f"variant {variant!r}: {error}") from None
    return specs
