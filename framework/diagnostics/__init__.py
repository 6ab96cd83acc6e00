"""Looking inside training: the diagnostic pass and what is built on it.

``probe.py``    one training step on a fixed sample batch, measured layer by
                layer (outputs, input gradients, parameter gradients, the
                update each parameter would get), the net left exactly as it was
``samples.py``  the fixed sample batch, from a reader or arrays
``figure.py``   the LayerMonitor's figure (layers x checkpoints)

``framework.callbacks.LayerMonitor`` and ``framework.callbacks.TensorBoard``
call the probe at checkpoints only: nothing here runs inside the training
step, so a run without them costs exactly what it did.
"""
from .probe import LayerReading, ParameterReading, Reading, probe

__all__ = ["probe", "Reading", "LayerReading", "ParameterReading"]
