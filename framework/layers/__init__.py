"""Layers: one class per file, all following ``base.Layer``."""
from .activation import ActivationLayer
from .base import Layer
from .batch_norm import BatchNormLayer
from .classification import ClassificationLayer
from .dropout import DropoutLayer
from .fc import FcLayer
from .registry import LAYER_CLASSES, layer_from_config

__all__ = ["Layer", "FcLayer", "ActivationLayer", "ClassificationLayer", "BatchNormLayer",
           "DropoutLayer", "LAYER_CLASSES", "layer_from_config"]
