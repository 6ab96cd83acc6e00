"""Callbacks that write files while training runs: ModelCheckpoint, CSVLogger.

Both write at checkpoints only, never per batch. ``ModelCheckpoint`` saves
through ``net.save``, which writes a temporary file and renames it over the
target, so a crash or Ctrl-C mid-write leaves the previous file whole; the
always-on ``TerminateOnNaN`` runs before it at every checkpoint, so no
non-finite weight is ever written.
"""
import csv
import math
import os
import string
from pathlib import Path

from ..history import csv_row
from ..infra.validation import check_flag
from ..monitor import Monitor
from .base import Callback

CHECKPOINT_KEY = "model_checkpoint"     # the metadata entry that records what was saved


class ModelCheckpoint(Callback):
    """Keras's ``ModelCheckpoint``: save the net at checkpoints, every one or (with
    ``save_best_only``) each one the run's ``Keeper`` finds best.

    ``ModelCheckpoint(filepath, monitor="val_loss", save_best_only=True,
    save_weights_only=False, mode="auto")``

    ``filepath`` may hold Keras's fields: ``{epoch}`` (1-based, an int: ``{epoch:02d}``),
    ``{iteration}``, ``{loss}``, ``{val_loss}``, ``{lr}`` and the metric's
    (``{accuracy}``, ``{val_accuracy}``; ``{r2}``, ``{val_r2}`` for fitting nets);
    a template that cannot be filled is refused when training starts. The run
    judges "best" once (``framework.keeper``), by this monitor, and this callback
    reads that decision. With ``save_best_only``, a file that already exists is
    only replaced by a better net: the monitored value is saved in the file
    (``metadata["model_checkpoint"]``) and compared, so continuing a run at a
    higher learning rate cannot overwrite a good file with a worse one; a file
    without that record is refused rather than guessed about.
    ``save_weights_only`` leaves the optimizer state out.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=True,
                 save_weights_only=False, mode="auto"):
        if not isinstance(filepath, (str, Path)) or not str(filepath):
            raise ValueError(f"ModelCheckpoint filepath: expected a file path, got "
                             f"{filepath!r}")
        self.path = str(filepath)
        self.monitor = Monitor(monitor, mode, "ModelCheckpoint")
        self.save_best_only = check_flag("ModelCheckpoint save_best_only", save_best_only)
        self.save_weights_only = check_flag("ModelCheckpoint save_weights_only",
                                            save_weights_only)
        self.last_saved = None      # the path written most recently
        self._history = None

    def on_train_begin(self, net, history):
        """Check the template against the numbers this run will record."""
        self._history = history
        fields = template_fields(history.metric)
        try:
            self.path.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"ModelCheckpoint filepath {self.path!r} cannot be filled "
                             f"({type(error).__name__}: {error}); its fields can be "
                             f"{', '.join('{' + k + '}' for k in fields)}, with "
                             f"{{epoch}} and {{iteration}} integers") from None
        if self.path.endswith(("/", os.sep)) or Path(self.path.format(**fields)).is_dir():
            raise ValueError(f"ModelCheckpoint filepath {self.path!r} is a folder; expected "
                             f"a file path, e.g. {str(Path(self.path) / 'best.h5')!r}")

    def on_checkpoint(self, net, record):
        """Save if this checkpoint is wanted."""
        history = self._history
        if self.save_best_only and history.best_index != len(history.records) - 1:
            return
        value = self.monitor.raw(record)
        target = Path(self.path.format(**record_fields(record, history)))
        if self.save_best_only and target.exists() and not self._beats_file(target, value):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        metadata = dict(getattr(net, "metadata", None) or {})
        metadata[CHECKPOINT_KEY] = {"monitor": self.monitor.name, "mode": self.monitor.mode,
                                    "value": None if math.isnan(value) else value,
                                    "epoch": record.epoch}
        net.save(target, include_optimizer=not self.save_weights_only, metadata=metadata)
        self.last_saved = target

    def _beats_file(self, target, value):
        """True if ``value`` is better than what ``target`` holds (a file with no record
        of its monitored value, or of another monitor, is refused, not overwritten)."""
        from ..infra.serialization import read_metadata
        saved = read_metadata(target).get(CHECKPOINT_KEY)
        if not isinstance(saved, dict) or saved.get("monitor") != self.monitor.name:
            raise ValueError(f"ModelCheckpoint: {target} exists and does not record its "
                             f"{self.monitor.name}, so save_best_only cannot tell whether "
                             f"this net is better; it was not overwritten. Choose another "
                             f"filepath or remove the file")
        old = saved.get("value")
        return not isinstance(old, (int, float)) or math.isnan(old) or \
            self.monitor.improves(value, old)

    def __repr__(self):
        return (f"ModelCheckpoint({self.path!r}, monitor={self.monitor.name!r}, "
                f"save_best_only={self.save_best_only})")


def template_fields(metric):
    """Sample values of every field a ModelCheckpoint path may use (to check it)."""
    return {"epoch": 1, "iteration": 1, "loss": 0.5, metric: 0.5, "val_loss": 0.5,
            f"val_{metric}": 0.5, "lr": 0.01}


def record_fields(record, history):
    """The values of a record's fields for a ModelCheckpoint path (missing: NaN)."""
    def number(value):
        return math.nan if value is None else value
    metric = history.metric
    return {"epoch": int(math.ceil(record.epoch - 1e-9)), "iteration": record.iteration,
            "loss": number(record.train_loss), metric: number(record.train_accuracy),
            "val_loss": number(record.val_loss), f"val_{metric}": number(record.val_accuracy),
            "lr": record.learning_rate}


class CSVLogger(Callback):
    """Keras's ``CSVLogger(filename, separator=",", append=False)``: one row per
    checkpoint (epoch, iteration, lr, loss, the metric and their val_ twins),
    appended and the file closed again, so it is complete at every moment.

    With ``append`` an existing file must have the same header (a file of another
    run's columns is refused, never mixed into); a missing or empty one gets it.
    """

    def __init__(self, filename, separator=",", append=False):
        if not isinstance(filename, (str, Path)) or not str(filename):
            raise ValueError(f"CSVLogger filename: expected a file path, got {filename!r}")
        if not isinstance(separator, str) or len(separator) != 1 or \
                separator in string.ascii_letters + string.digits + '."\r\n':
            raise ValueError(f"CSVLogger separator: expected one character such as ',' or "
                             f"';', got {separator!r}")
        self.path = Path(filename)
        self.separator = separator
        self.append = check_flag("CSVLogger append", append)
        self._columns = None

    def on_train_begin(self, net, history):
        """Write the header, or check it against the file appended to."""
        self._columns = history.csv_columns()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.append and self.path.is_file() and self.path.stat().st_size:
            self._check_header()
            return
        self._write(self._columns, "w")

    def _check_header(self):
        with open(self.path, newline="") as handle:
            header = next(csv.reader(handle, delimiter=self.separator), [])
        if header != self._columns:
            raise ValueError(f"CSVLogger: {self.path} has the columns {header}, this run "
                             f"writes {self._columns}; append to a file of the same columns "
                             f"or choose another file")

    def on_checkpoint(self, net, record):
        """Append this checkpoint's row; a missing validation value is an empty cell."""
        if not (self.path.is_file() and self.path.stat().st_size):
            self._write(self._columns, "w")         # removed while running: header again
        self._write(csv_row(record), "a")

    def _write(self, row, mode):
        with open(self.path, mode, newline="") as handle:
            csv.writer(handle, delimiter=self.separator).writerow(row)

    def __repr__(self):
        return (f"CSVLogger({str(self.path)!r}, separator={self.separator!r}, "
                f"append={self.append})")
