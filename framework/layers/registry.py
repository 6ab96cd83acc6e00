"""The layer registry: which classes a spec or a weights file may name.

``@register_layer`` adds a class under its short name (``FcLayer`` -> "fc",
``BatchNormLayer`` -> "batch_norm") and its class name, the name a weights
file records. A user's own layer class, defined anywhere, joins the same way
and is then built by ``layers_from_specs`` and saved and loaded by the net
like the built-in ones. Lookup is by exact (folded) name: an unknown class
is an error, never a guess, and no code from a file is ever executed.
"""
from ..registry import Registry, snake_case
from .base import Layer

LAYERS = Registry("layer")


def register_layer(cls=None, *, name=None):
    """Class decorator: ``@register_layer`` or ``@register_layer(name="scale")``."""
    def add(layer_class):
        if not (isinstance(layer_class, type) and issubclass(layer_class, Layer)):
            raise TypeError(f"register_layer: expected a subclass of Layer, "
                            f"got {layer_class!r}")
        short = name or snake_case(layer_class.__name__, suffix="Layer")
        LAYERS.register(layer_class, [short, layer_class.__name__])
        layer_class.registered_name = short
        return layer_class
    return add if cls is None else add(cls)


def layer_from_config(class_name, config, params, input_shape=None):
    """A new, uninitialized layer equal in structure to the one that was saved."""
    cls = LAYERS.get(class_name)
    if not isinstance(config, dict):
        raise ValueError(f"{class_name} config: expected a dict, got {config!r}")
    return cls.from_config(config, input_shape, params)


# Compatibility: a read-only view of the registered classes by class name.
class _ByClassName:
    def __getitem__(self, name):
        cls = LAYERS.get(name)
        if cls.__name__ != name:
            raise KeyError(name)
        return cls

    def __contains__(self, name):
        return name in LAYERS and LAYERS.get(name).__name__ == name

    def __iter__(self):
        return iter(sorted(LAYERS.get(n).__name__ for n in LAYERS.names()))


LAYER_CLASSES = _ByClassName()
