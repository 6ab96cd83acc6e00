"""MiniFramework: a layered neural-network framework in pure Python + NumPy.

Everything a user needs is importable from here. Only NumPy is imported
eagerly; h5py (save/load) and matplotlib (plots) are imported inside the
functions that use them, so ``import framework`` stays fast.
"""
__version__ = "0.1.0"

from .activators import Elu, Identity, LeakyRelu, Relu, Sigmoid, Softplus, Tanh
from .classifiers import Logistic, Softmax
from .enums import InitMethod, NetType, OptimizerName, RegularMethod, StopCondition
from .errors import WeightsFileError
from .history import Record, TrainingHistory
from .hyper_parameters import HyperParameters, Stopper
from .layers.activation import ActivationLayer
from .layers.base import Layer
from .layers.batch_norm import BatchNormLayer
from .layers.classification import ClassificationLayer
from .layers.dropout import DropoutLayer
from .layers.fc import FcLayer
from .losses import LossFunction
from .net import NeuralNet
from .plotting import plot_history
from .random_streams import RandomStreams
from .schedules import (ConstantLR, CosineLR, ExponentialLR, MultiStepLR, PolynomialLR,
                        StepLR, make_schedule)
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
    "DropoutLayer", "WeightsBias", "LossFunction",
    "Identity", "Sigmoid", "Tanh", "Relu", "LeakyRelu", "Elu", "Softplus",
    "Logistic", "Softmax",
    # the net and its training
    "NeuralNet", "TrainingHistory", "Record", "WeightsFileError", "plot_history",
]
