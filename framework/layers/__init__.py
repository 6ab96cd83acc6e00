"""Layers: one class per file, all following ``base.Layer``, all registered.

Importing this package registers the built-in layers; ``register_layer``
adds more (see ``registry.py``), ``layers_from_specs`` builds from specs.
"""
from .activation import ActivationLayer
from .base import Layer
from .batch_norm import BatchNormLayer
from .builder import layer_spec, layers_from_specs, mlp_specs
from .classification import ClassificationLayer
from .conv import ConvLayer
from .dropout import DropoutLayer
from .fc import FcLayer
from .flatten import FlattenLayer
from .layer_norm import LayerNormLayer
from .pooling import PoolingLayer, PoolType
from .residual import ResidualLayer
from .registry import LAYER_CLASSES, LAYERS, layer_from_config, register_layer

__all__ = ["Layer", "FcLayer", "ActivationLayer", "ClassificationLayer", "BatchNormLayer",
           "DropoutLayer", "ConvLayer", "PoolingLayer", "PoolType", "FlattenLayer", "LayerNormLayer",
           "ResidualLayer", "LAYERS", "LAYER_CLASSES", "register_layer", "layer_from_config",
           "layers_from_specs", "layer_spec", "mlp_specs"]
