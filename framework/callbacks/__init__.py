"""Training callbacks, with Keras's names (see ``base.py`` for the hooks).

Built in: ``EarlyStopping``, ``StopLoss``, ``StopDiff`` (in ``framework.stopping``),
``ModelCheckpoint``, ``CSVLogger``, ``LearningRateScheduler``,
``ReduceLROnPlateau``, ``LambdaCallback``, ``ProgressBar`` and ``TerminateOnNaN``
(always on); for looking inside training, ``LayerMonitor`` and ``TensorBoard``.
"""
from .base import Callback, CallbackList
from .files import CSVLogger, ModelCheckpoint
from .lambda_callback import LambdaCallback
from .layer_monitor import LayerMonitor
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .nan import TerminateOnNaN
from .progress import ProgressBar
from .tensorboard import TensorBoard
from ..stopping import EarlyStopping, StopDiff, StopLoss  # last: stopping imports .base

__all__ = ["Callback", "CallbackList", "EarlyStopping", "StopLoss", "StopDiff",
           "ModelCheckpoint", "CSVLogger", "LearningRateScheduler", "ReduceLROnPlateau",
           "LambdaCallback", "ProgressBar", "TerminateOnNaN", "LayerMonitor", "TensorBoard"]
