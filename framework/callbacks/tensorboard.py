"""TensorBoard: the run's numbers in TensorBoard's event files, with Keras's meaning.

    net.train(reader, callbacks=[TensorBoard("logs/run1", histogram_freq=1, data=reader)])
    tensorboard --logdir logs

Like Keras's ``TensorBoard(log_dir, histogram_freq)``: two runs under
``log_dir``, ``train`` and ``validation``, so the two curves of one scalar
share a chart; at every checkpoint the scalars ``epoch_loss``,
``epoch_accuracy`` (``epoch_r2`` for a fitting net) and, in ``train``,
``epoch_learning_rate``, at step = the iteration count (a checkpoint may fall
inside an epoch). Every ``histogram_freq``-th checkpoint (0: never) it adds
histograms: ``weights/<layer>/<parameter>`` always, and with ``data`` (a
DataReader or ``(x, y)``) the gradients ``gradients/<layer>/<parameter>`` and the
activations ``activations/<layer>`` of one training step on a fixed sample
batch (``framework.diagnostics.probe``; the net is left as it was). The
net's ``summary()`` and hyper-parameters are written once as text.

The events are written by tensorboardX (``pip install 'miniframework[tensorboard]'``)
and flushed at every checkpoint, so a run that ends by an error or Ctrl-C
keeps everything up to its last checkpoint.
"""
import os

import numpy as np

from ..diagnostics.probe import probe
from ..diagnostics.samples import check_source, sample_batch
from ..infra.validation import check_integer
from .base import Callback

INSTALL = "pip install 'miniframework[tensorboard]' (tensorboardX)"


def summary_writer_class():
    """tensorboardX's SummaryWriter, or an ImportError saying how to install it."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as error:
        raise ImportError(f"TensorBoard needs tensorboardX: {INSTALL}") from error
    return SummaryWriter


class TensorBoard(Callback):
    """``TensorBoard(log_dir="logs", histogram_freq=0, data=None, samples=None, seed=0)``.

    ``histogram_freq``: histograms every n-th checkpoint (0: none); ``data``: what
    the gradient and activation histograms are measured on (``samples`` rows of
    it, None: the batch size, drawn with ``seed``).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, data=None, samples=None, seed=0):
        self.writer_class = summary_writer_class()
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError(f"TensorBoard: log_dir: expected a folder path, got {log_dir!r}")
        if os.path.exists(log_dir) and not os.path.isdir(log_dir):
            raise ValueError(f"TensorBoard: log_dir {str(log_dir)!r} is a file, not a folder")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = check_integer("TensorBoard histogram_freq", histogram_freq,
                                            minimum=0)
        self.data = check_source(data, "TensorBoard")
        self.samples = None if samples is None else check_integer("TensorBoard samples",
                                                                  samples)
        self.seed = check_integer("TensorBoard seed", seed, minimum=0)
        self.sample = None
        self.metric = "accuracy"
        self._writers = {}
        self._seen = 0

    # ----- the hooks
    def on_train_begin(self, net, history):
        """Open the writers; the net's structure and settings as text."""
        self.metric = history.metric
        self._seen = 0
        if self.data is not None and self.sample is None and self.histogram_freq:
            self.sample = sample_batch(net, self.data, self.samples, self.seed, "TensorBoard")
        writer = self.writer("train")
        writer.add_text("net/summary", _preformatted(net.summary()), net.iteration)
        writer.add_text("net/hyper_parameters", _preformatted(_settings(net)), net.iteration)
        writer.flush()

    def on_checkpoint(self, net, record):
        """Scalars now; histograms every ``histogram_freq``-th checkpoint; flush."""
        step = record.iteration
        train = self.writer("train")
        self._scalars(train, step, record.train_loss, record.train_accuracy)
        train.add_scalar("epoch_learning_rate", record.learning_rate, step)
        if record.val_loss is not None:
            validation = self.writer("validation")
            self._scalars(validation, step, record.val_loss, record.val_accuracy)
            validation.flush()
        self._seen += 1
        if self.histogram_freq and self._seen % self.histogram_freq == 0:
            self.histograms(net, train, step)
        train.flush()

    def on_train_end(self, net, history):
        """Flush and close the writers (the next ``train`` opens them again)."""
        self.close()

    # ----- writing
    def writer(self, run):
        """The SummaryWriter of ``run`` ("train" or "validation"), opened on first use."""
        if run not in self._writers:
            self._writers[run] = self.writer_class(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _scalars(self, writer, step, loss, metric):
        if loss is not None:
            writer.add_scalar("epoch_loss", loss, step)
        if metric is not None:
            writer.add_scalar(f"epoch_{self.metric}", metric, step)

    def histograms(self, net, writer, step):
        """Weights always; gradients and activations of the sample batch when given."""
        for key, parameter in net.parameters().items():
            _histogram(writer, f"weights/{key}", parameter.value, step)
        if self.sample is None:
            return
        reading = probe(net, *self.sample, keep=True)
        for key, measured in reading.parameters.items():
            _histogram(writer, f"gradients/{key}", measured.grad, step)
        for layer in reading.layers:
            _histogram(writer, f"activations/{layer.name}", layer.output, step)

    def close(self):
        """Flush and close every writer."""
        for writer in self._writers.values():
            writer.flush()
            writer.close()
        self._writers = {}

    def __repr__(self):
        return f"TensorBoard({self.log_dir!r}, histogram_freq={self.histogram_freq})"


def _histogram(writer, tag, values, step):
    """A histogram of the finite values (none: nothing is written)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    if values.size:
        writer.add_histogram(tag, values, step)


def _preformatted(text):
    """Text TensorBoard shows as written (its Markdown keeps 4-space-indented lines)."""
    return "\n".join("    " + line for line in text.splitlines())


def _settings(net):
    """The hyper-parameters, one ``name = value`` a line."""
    params = net.params
    fields = ("net_type", "learning_rate", "lr_schedule", "batch_size", "max_epoch",
              "optimizer_name", "init_method", "regular_name", "regular_value", "dtype",
              "seed")
    lines = []
    for name in fields:
        value = getattr(params, name, None)
        value = value.get_config() if hasattr(value, "get_config") else value
        lines.append(f"{name} = {getattr(value, 'value', value)}")
    return "\n".join(lines)
