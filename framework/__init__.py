"""MiniFramework: a layered neural-network framework in pure Python + NumPy.

Everything a user needs is importable from here. Only NumPy is imported
eagerly; h5py (save/load) and matplotlib (plots) are imported inside the
functions that use them, so ``import framework`` stays fast.
"""
from .version import __version__

from .activators import (Activator, Elu, Identity, LeakyRelu, Relu, Sigmoid, Softplus, Tanh,
                         register_activator)
from . import callbacks
from .infra import threads
from .batch_order import BatchOrder
from .infra.buffers import BufferCache
from .callbacks import (Callback, CSVLogger, EarlyStopping, LambdaCallback,
                        LearningRateScheduler, ModelCheckpoint, ProgressBar, ReduceLROnPlateau,
                        StopDiff, StopLoss, TerminateOnNaN)
from .classifiers import Classifier, Logistic, Softmax, register_classifier
from .enums import InitMethod, NetType, OptimizerName, RegularMethod, StopCondition
from .errors import WeightsFileError
from .gradient_check import check_gradients
from .history import Record, TrainingHistory
from .hyper_parameters import HyperParameters, Stopper
from .initializers import Initializer, VarianceScaling, register_initializer
from .layers.activation import ActivationLayer
from .layers.base import Layer
from .layers.batch_norm import BatchNormLayer
from .layers.builder import layers_from_specs, mlp_specs
from .layers.classification import ClassificationLayer
from .layers.conv import ConvLayer
from .layers.dropout import DropoutLayer
from .layers.fc import FcLayer
from .layers.flatten import FlattenLayer
from .layers.layer_norm import LayerNormLayer
from .layers.pooling import PoolingLayer, PoolType
from .layers.registry import register_layer
from .layers.residual import ResidualLayer
from .infra.memory import check_memory, estimate_training_bytes
from .losses import Loss, LossFunction, register_loss
from .metrics import Metric, confusion_matrix, register_metric
from .net import NeuralNet
from .optimizers import Optimizer, register_optimizer
from .parameter import Buffer, Parameter
from .plotting import plot_history
from .random_streams import RandomStreams
from .schedules import (ConstantLR, CosineLR, ExponentialLR, LRSchedule, MultiStepLR,
                        PolynomialLR, StepLR, make_schedule, register_schedule)
from .weights_bias import WeightsBias

__all__ = [
    "__version__",
    # configuration
    "HyperParameters", "Stopper", "NetType", "InitMethod", "OptimizerName",
    "RegularMethod", "StopCondition", "RandomStreams",
    "ConstantLR", "StepLR", "MultiStepLR", "ExponentialLR", "PolynomialLR", "CosineLR",
    "make_schedule",
    # building blocks
    "Layer", "FcLayer", "ActivationLayer", "ClassificationLayer", "BatchNormLayer",
    "DropoutLayer", "ConvLayer", "PoolingLayer", "PoolType", "FlattenLayer", "LayerNormLayer",
    "ResidualLayer", "WeightsBias", "LossFunction",
    "Identity", "Sigmoid", "Tanh", "Relu", "LeakyRelu", "Elu", "Softplus",
    "Logistic", "Softmax",
    # the net and its training
    "NeuralNet", "TrainingHistory", "Record", "WeightsFileError", "plot_history",
    "BatchOrder", "check_gradients", "callbacks", "Callback", "EarlyStopping", "StopLoss",
    "StopDiff", "ModelCheckpoint", "CSVLogger", "ProgressBar", "TerminateOnNaN",
    "LearningRateScheduler", "ReduceLROnPlateau", "LambdaCallback",
    "estimate_training_bytes", "check_memory",
    # extending: registries, the builder, base classes
    "register_layer", "register_activator", "register_classifier", "register_optimizer",
    "register_schedule", "register_loss", "register_initializer", "register_metric",
    "layers_from_specs", "mlp_specs", "Activator", "Classifier", "Optimizer", "LRSchedule",
    "Loss", "Metric", "Initializer", "VarianceScaling", "Parameter", "Buffer", "BufferCache",
    "confusion_matrix",
]
