"""Layer class names -> classes, to rebuild a net from a weights file.

A file stores each layer's class name and ``get_config()``; ``params`` comes
from the file's HyperParameters and is passed to the layers whose
constructor takes it. Lookup is by exact name: an unknown class is an error,
never a guess, and no code from the file is ever executed.
"""
import inspect

from .activation import ActivationLayer
from .batch_norm import BatchNormLayer
from .classification import ClassificationLayer
from .dropout import DropoutLayer
from .fc import FcLayer

LAYER_CLASSES = {cls.__name__: cls for cls in
                 (FcLayer, ActivationLayer, ClassificationLayer, BatchNormLayer, DropoutLayer)}


def layer_from_config(class_name, config, params):
    """A new, uninitialized layer equal in structure to the one that was saved."""
    cls = LAYER_CLASSES.get(class_name)
    if cls is None:
        raise ValueError(f"unknown layer class {class_name!r}; "
                         f"expected one of {sorted(LAYER_CLASSES)}")
    if not isinstance(config, dict):
        raise ValueError(f"{class_name} config: expected a dict, got {config!r}")
    kwargs = dict(config)
    if "params" in inspect.signature(cls.__init__).parameters:
        kwargs["params"] = params
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"{class_name} config {config!r} does not match its "
                         f"constructor: {error}") from None
