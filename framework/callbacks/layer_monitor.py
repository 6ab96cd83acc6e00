"""LayerMonitor: every layer's activations and gradients, checkpoint by checkpoint.

    monitor = LayerMonitor(reader)                 # or LayerMonitor((x, y))
    net.train(reader, checkpoint=1.0, callbacks=[monitor])
    monitor.input_grad_rms                         # layers x checkpoints
    monitor.plot("layers.png")                     # the three panels in one figure

At the start of training and at every ``every``-th checkpoint it runs the
diagnostic pass (``framework.diagnostics.probe``: one training step on a fixed
sample batch, measured, then undone) and keeps, as arrays of layers (or
parameters) x readings:

    output_mean, output_std, zero_fraction     each layer's output
    input_grad_rms                             RMS of dL/d(input) of each layer
    grad_rms, update_ratio                     each parameter's gradient RMS and the
                                               RMS of one optimizer update over the
                                               RMS of its values

with ``reading_epochs`` and ``reading_iterations`` saying when each reading was
taken (and ``reading_losses`` the sample batch's loss then) and
``seconds`` what the readings cost in all. The monitor never touches the
training step: a run without it is the run it always was, and a run with it
trains bit-identically (the probe puts everything back).
"""
import math
import time

import numpy as np

from ..diagnostics.probe import probe
from ..diagnostics.samples import check_source, sample_batch
from ..infra.validation import check_flag, check_integer
from .base import Callback

LAYER_FIELDS = ("output_mean", "output_std", "zero_fraction", "input_grad_rms")
PARAMETER_FIELDS = ("grad_rms", "update_ratio")


class LayerMonitor(Callback):
    """``LayerMonitor(data, samples=None, seed=0, every=1, at_start=True)``.

    ``data``: a DataReader (its training set is sampled once, when training
    starts) or ``(x, y)`` arrays; ``samples`` rows (None: the net's batch size);
    ``every``: read at every n-th checkpoint; ``at_start``: also read the weights
    training starts from.
    """

    def __init__(self, data, samples=None, seed=0, every=1, at_start=True):
        self.data = check_source(data, "LayerMonitor")
        if data is None:
            raise ValueError("LayerMonitor: data: expected a DataReader or (x, y) to probe, "
                             "got None")
        self.samples = None if samples is None else check_integer("LayerMonitor samples",
                                                                  samples)
        self.seed = check_integer("LayerMonitor seed", seed, minimum=0)
        self.every = check_integer("LayerMonitor every", every)
        self.at_start = check_flag("LayerMonitor at_start", at_start)
        self.sample = None
        self.layer_names, self.parameter_names = [], []
        self.reading_epochs, self.reading_iterations, self.reading_losses = [], [], []
        self._layers = {name: [] for name in LAYER_FIELDS}
        self._parameters = {name: [] for name in PARAMETER_FIELDS}
        self.seconds = 0.0
        self._seen = 0

    # ----- the hooks
    def on_train_begin(self, net, history):
        """Draw the sample batch (once per monitor) and read the starting weights."""
        if self.sample is None:
            self.sample = sample_batch(net, self.data, self.samples, self.seed,
                                       "LayerMonitor")
            self.layer_names, self.parameter_names = net.layer_names, list(net.parameters())
        elif net.layer_names != self.layer_names:
            raise ValueError(f"LayerMonitor: it watched a net with layers {self.layer_names}; "
                             f"this one has {net.layer_names} (use a new monitor)")
        self._seen = 0
        done = self.reading_iterations
        if self.at_start and (not done or done[-1] != net.iteration):
            self.read(net, float(net.epoch))

    def on_checkpoint(self, net, record):
        """Read at every ``every``-th checkpoint."""
        self._seen += 1
        if self._seen % self.every == 0:
            self.read(net, record.epoch)

    # ----- reading
    def read(self, net, epoch):
        """Probe the net now and append the reading (``epoch``: when, for the x axis)."""
        start = time.perf_counter()
        reading = probe(net, *self.sample)
        self.reading_epochs.append(float(epoch))
        self.reading_iterations.append(int(net.iteration))
        self.reading_losses.append(reading.loss)
        for name in LAYER_FIELDS:
            self._layers[name].append([getattr(layer, name) for layer in reading.layers])
        for name in PARAMETER_FIELDS:
            self._parameters[name].append([getattr(reading.parameters[key], name)
                                           for key in self.parameter_names])
        self.seconds += time.perf_counter() - start
        return reading

    # ----- the arrays (rows: layers or parameters, columns: readings)
    def array(self, field):
        """``field`` (one of LAYER_FIELDS or PARAMETER_FIELDS) as rows x readings."""
        table = self._layers.get(field, self._parameters.get(field))
        if table is None:
            raise ValueError(f"LayerMonitor: expected one of "
                             f"{LAYER_FIELDS + PARAMETER_FIELDS}, got {field!r}")
        rows = len(self.layer_names if field in LAYER_FIELDS else self.parameter_names)
        return np.array(table, dtype=np.float64).reshape(-1, rows).T

    @property
    def output_mean(self):
        """Mean of each layer's output (layers x readings)."""
        return self.array("output_mean")

    @property
    def output_std(self):
        """Std of each layer's output (layers x readings)."""
        return self.array("output_std")

    @property
    def zero_fraction(self):
        """Share of exact zeros in each layer's output (layers x readings)."""
        return self.array("zero_fraction")

    @property
    def input_grad_rms(self):
        """RMS of dL/d(input) of each layer (layers x readings; NaN: the first layer)."""
        return self.array("input_grad_rms")

    @property
    def grad_rms(self):
        """RMS of each parameter's gradient (parameters x readings)."""
        return self.array("grad_rms")

    @property
    def update_ratio(self):
        """RMS(one optimizer update) / RMS(value) per parameter (parameters x readings)."""
        return self.array("update_ratio")

    def parameter(self, key, field="grad_rms"):
        """One parameter's row, e.g. ``monitor.parameter("fc1/W")``."""
        if key not in self.parameter_names:
            raise KeyError(f"LayerMonitor: no parameter {key!r}; it watched "
                           f"{self.parameter_names}")
        return self.array(field)[self.parameter_names.index(key)]

    def as_dict(self):
        """JSON-able: names, when, and every array as nested lists (NaN as None)."""
        def listed(array):
            return [[None if not math.isfinite(v) else v for v in row] for row in array.tolist()]
        return {"layers": self.layer_names, "parameters": self.parameter_names,
                "epochs": self.reading_epochs, "iterations": self.reading_iterations,
                "loss": self.reading_losses,
                "seconds": self.seconds,
                **{name: listed(self.array(name)) for name in LAYER_FIELDS + PARAMETER_FIELDS}}

    def plot(self, path=None, title=None):
        """The three panels (gradient RMS on a log scale, output std, share of zeros)
        as one figure; written as a PNG when ``path`` is given."""
        from ..diagnostics.figure import plot_layer_monitor
        return plot_layer_monitor(self, path, title)

    def __repr__(self):
        return (f"LayerMonitor({len(self.layer_names)} layers, "
                f"{len(self.reading_epochs)} readings, {self.seconds:.3f} s)")
