"""Training callbacks, with Keras's names (see ``base.py`` for the hooks).

Built in: ``EarlyStopping``, ``StopLoss``, ``StopDiff`` (in ``framework.stopping``),
``ModelCheckpoint``, ``CSVLogger``, ``LearningRateScheduler``,
``ReduceLROnPlateau``, ``LambdaCallback``, ``ProgressBar`` and ``TerminateOnNaN``
(always on).
"""
from .base import Callback, CallbackList
from .files import CSVLogger, ModelCheckpoint
from .lambda_callback import LambdaCallback
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .nan import TerminateOnNaN
from .progress import ProgressBar
from ..stopping import EarlyStopping, StopDiff, StopLoss  # last: stopping imports .base

__all__ = ["Callback", "CallbackList", "EarlyStopping", "StopLoss", "StopDiff",
           "ModelCheckpoint", "CSVLogger", "LearningRateScheduler", "ReduceLROnPlateau",
           "LambdaCallback", "ProgressBar", "TerminateOnNaN"]
