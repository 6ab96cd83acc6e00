"""ProgressBar: a tqdm bar on a terminal, and one whole line per checkpoint.

A bar is drawn only where it can be redrawn: on a terminal (stderr is a
tty) and never when the environment variable ``TQDM_DISABLE`` is set to
anything but ``""``/``0``/``false``. Anywhere else -- a redirected log, a
notebook, a CI job -- there are no ``\\r`` frames at all, only the
checkpoint lines, each written whole (with the bar on, through
``tqdm.write``, which lifts the bar first). ``verbose=1`` in ``train`` is a
``ProgressBar()``, ``verbose=2`` a ``ProgressBar(bar=False)``.
"""
import os
import sys

from ..infra.validation import check_flag
from .base import Callback


def bar_allowed(stream=None):
    """True if a progress bar may be drawn on ``stream`` (default stderr)."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false"):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False


def format_record(record, metric="accuracy"):
    """The checkpoint line: ``epoch 1.00  iter 47  lr 0.1  loss ...  accuracy ...`` (a fitting
    net's metric is ``r2``), numbers to six significant digits."""
    text = (f"epoch {record.epoch:7.2f}  iter {record.iteration:6d}  "
            f"lr {record.learning_rate:.6g}  loss {record.train_loss:.6g}  "
            f"{metric} {record.train_accuracy:.6g}")
    if record.val_loss is not None:
        text += f"  val_loss {record.val_loss:.6g}  val_{metric} {record.val_accuracy:.6g}"
    if record.clipped is not None:
        text += f"  clipped {record.clipped:.0%}  grad_norm {record.grad_norm:.6g}"
    return text


class ProgressBar(Callback):
    """``ProgressBar(bar=None, lines=True)``: ``bar`` None decides by ``bar_allowed``."""

    def __init__(self, bar=None, lines=True):
        self.bar_wanted = None if bar is None else check_flag("ProgressBar bar", bar)
        self.lines = check_flag("ProgressBar lines", lines)
        self._bar = None
        self._metric = "accuracy"

    def on_train_begin(self, net, history):
        """Open the bar (if any) for ``epochs * steps_per_epoch`` steps."""
        self._metric = getattr(history, "metric", "accuracy")
        show = bar_allowed() if self.bar_wanted is None else bool(self.bar_wanted)
        self.wants_batches = show       # no bar: no per-batch call at all
        self._bar = None
        if show:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=(self.epochs or 0) * (self.steps_per_epoch or 0),
                             unit="batch", file=sys.stderr, dynamic_ncols=True, leave=False)

    def on_batch_end(self, net, iteration, loss):
        """Advance the bar by one step."""
        self._bar.update(1)

    def on_checkpoint(self, net, record):
        """Print the checkpoint's line, whole."""
        if self.lines:
            self.write(format_record(record, self._metric))

    def write(self, line):
        """A whole line on stdout, above the bar if one is drawn."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stdout)
        else:
            print(line)
        sys.stdout.flush()

    def on_train_end(self, net, history):
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __repr__(self):
        return f"ProgressBar(bar={self.bar_wanted!r}, lines={self.lines})"
