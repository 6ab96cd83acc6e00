"""layers_from_specs: the one builder from plain data to named layers.

A spec is a small JSON-able dict, so an architecture can live in a config
file, cross to a worker process, or be read back from a weights file::

    [{"type": "conv", "filters": 16, "kernel": 5, "padding": 2},
     {"type": "relu"},
     {"type": "pooling", "size": 2},
     {"type": "flatten"},
     {"type": "dropout", "ratio": 0.5},
     {"type": "fc", "size": 10},
     {"type": "softmax"}]

``type`` names a registered layer ("fc", "conv", "pooling", "flatten",
"batch_norm", "dropout", "activation", "classification", or a class name such
as "FcLayer"), or, as a shortcut, a registered activator ("relu", "tanh", ...)
or classifier ("softmax", "logistic"). The other keys are the layer's options
(``from_config``), or sit under ``"config"``; ``"name"`` names the layer.
Without one, layers are named by kind and count: conv1, relu1, pooling1, ...,
fc1, softmax1. The apps, the comparison runner, the tests, the benchmarks and
``NeuralNet.load`` all build through here, so every path names layers alike.
"""
from ..activators import ACTIVATORS
from ..classifiers import CLASSIFIERS
from .activation import ActivationLayer
from .base import Layer
from .classification import ClassificationLayer
from .registry import LAYERS

_RESERVED = ("type", "name", "config")


def layers_from_specs(specs, input_shape, params):
    """``[(name, layer), ...]`` for ``specs``, each layer made for the shape before it.

    ``input_shape`` is the per-sample shape of the data (``(784,)``,
    ``(1, 28, 28)``; an int means a vector); None lets the first layer's own
    config decide. A spec may also be a ``Layer`` instance, used as it is.
    """
    from .base import as_shape
    if isinstance(specs, (str, bytes, dict)) or not hasattr(specs, "__iter__"):
        raise ValueError(f"layer specs: expected a list of dicts, got {specs!r}")
    shape = None if input_shape is None else as_shape(input_shape, "input_shape")
    counts, named, used = {}, [], set()
    for index, spec in enumerate(specs):
        layer, name = _make(spec, index, shape, params)
        if name is None:
            stem = layer.name_hint()
            counts[stem] = counts.get(stem, 0) + 1
            name = f"{stem}{counts[stem]}"
            while name in used:
                counts[stem] += 1
                name = f"{stem}{counts[stem]}"
        used.add(name)
        named.append((name, layer))
        shape = _output_shape(layer, shape)
    return named


def _make(spec, index, shape, params):
    """(layer, its name or None) for one spec."""
    if isinstance(spec, Layer):
        return spec, None
    kind, options, name = parse_spec(spec, index)
    try:
        return make_layer(kind, options, shape, params), name
    except ValueError as error:
        raise ValueError(f"layer spec {index} ({kind!r}): {error}"
                         f"{_unknown_options_hint(kind, options)}") from None


_SPEC_SHORT_KEYS = ("size", "filters", "kernel")   # the spec shorthands layers accept


def _unknown_options_hint(kind, options):
    """"; unknown option 'filter' (did you mean 'filters'?)" when a failed spec has
    options that its layer's constructor and the spec shorthands do not know."""
    import difflib
    import inspect
    if kind not in LAYERS:
        return ""
    known = [p for p in inspect.signature(LAYERS.get(kind).__init__).parameters
             if p not in ("self", "params")] + list(_SPEC_SHORT_KEYS)
    hints = []
    for key in sorted(set(options) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hints.append(f"unknown option {key!r}" + (f" (did you mean {close[0]!r}?)"
                                                  if close else ""))
    return "; " + "; ".join(hints) if hints else ""


def parse_spec(spec, index):
    """``(type, options, name or None)`` of spec number ``index``, checked."""
    if isinstance(spec, type):
        raise ValueError(f"layer spec {index}: got the class {spec.__name__}, expected "
                         f"an instance or a dict such as {{'type': 'fc', 'size': 10}}")
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValueError(f"layer spec {index}: expected a dict with a 'type' string, "
                         f"got {spec!r}")
    kind, name = spec["type"], spec.get("name")
    options = {k: v for k, v in spec.items() if k not in _RESERVED}
    if "config" in spec:
        if options or not isinstance(spec["config"], dict):
            raise ValueError(f"layer spec {index}: 'config' must be a dict and the only "
                             f"options, got {spec!r}")
        options = dict(spec["config"])
    if name is not None and not isinstance(name, str):
        raise ValueError(f"layer spec {index}: 'name' must be a string, got {name!r}")
    return kind, options, name


def layer_class(kind):
    """The class a spec's ``type`` builds (None if the type is unknown)."""
    if kind in LAYERS:
        return LAYERS.get(kind)
    if kind in ACTIVATORS:
        return ActivationLayer
    if kind in CLASSIFIERS:
        return ClassificationLayer
    return None


def make_layer(kind, options, shape, params):
    """A new layer of spec type ``kind`` with ``options``, for input ``shape``."""
    if kind in LAYERS:
        return LAYERS.get(kind).from_config(options, shape, params)
    if kind in ACTIVATORS:
        return ActivationLayer({"name": kind, **options})
    if kind in CLASSIFIERS:
        return ClassificationLayer({"name": kind, **options})
    raise ValueError(f"unknown layer type {kind!r}; expected a layer "
                     f"({', '.join(LAYERS.names())}), an activator "
                     f"({', '.join(ACTIVATORS.names())}) or a classifier "
                     f"({', '.join(CLASSIFIERS.names())})")


def _output_shape(layer, shape):
    """The layer's output shape for input ``shape`` (None if neither is known)."""
    if layer.input_shape is not None:
        return layer.output_shape
    return None if shape is None else tuple(layer.compute_output_shape(shape))


def layer_spec(name, layer):
    """The spec that rebuilds ``layer`` under ``name`` (what a weights file stores)."""
    return {"type": type(layer).__name__, "name": name, "config": layer.get_config()}


def mlp_specs(hidden, num_output, activation="relu", batch_norm=False, dropout=0.0,
              classifier=None):
    """The textbook's stack as specs: (fc [+ batch_norm] + activation [+ dropout])
    per hidden width, then the output fc and, for classifiers, ``classifier``."""
    specs = []
    for size in hidden:
        specs.append({"type": "fc", "size": int(size)})
        if batch_norm:
            specs.append({"type": "batch_norm"})
        specs.append({"type": "activation", "activator": activation})
        if dropout:
            specs.append({"type": "dropout", "ratio": float(dropout)})
    specs.append({"type": "fc", "size": int(num_output)})
    if classifier is not None:
        specs.append({"type": "classification", "classifier": classifier})
    return specs
