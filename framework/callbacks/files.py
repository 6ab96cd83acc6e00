"""Callbacks that write files while training runs: ModelCheckpoint, CSVLogger.

Both write at checkpoints only, never per batch. ``ModelCheckpoint`` saves
through ``net.save``, which writes a temporary file and renames it over the
target, so a crash or Ctrl-C mid-write leaves the previous file whole; the
always-on ``TerminateOnNaN`` runs before it at every checkpoint, so no
non-finite weight is ever written.
"""
import csv
from dataclasses import astuple
from pathlib import Path

from ..history import FIELDS
from .base import Callback, check_monitor, monitored


class ModelCheckpoint(Callback):
    """Save the net to ``path`` at checkpoints: every one, or (``save_best_only``)
    each one that improves ``monitor``.

    ``path`` may hold ``{epoch}`` / ``{iteration}`` fields (``"net-{epoch:.0f}.h5"``).
    The file is a complete, loadable net (``NeuralNet.load``), optimizer included.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=True):
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(f"ModelCheckpoint path: expected a file path, got {path!r}")
        self.path = str(path)
        self.monitor = check_monitor("ModelCheckpoint", monitor)
        self.save_best_only = bool(save_best_only)
        self.best = None
        self.last_saved = None      # the path written most recently

    def on_train_begin(self, net, history):
        """A new run starts with no best value."""
        self.best = None

    def on_checkpoint(self, net, record):
        """Save if this checkpoint is wanted."""
        value = monitored(record, self.monitor)
        if self.save_best_only and self.best is not None and not value < self.best:
            return
        self.best = value if self.best is None else min(self.best, value)
        target = Path(self.path.format(epoch=record.epoch, iteration=record.iteration))
        target.parent.mkdir(parents=True, exist_ok=True)
        net.save(target)
        self.last_saved = target

    def __repr__(self):
        return (f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}, "
                f"save_best_only={self.save_best_only})")


class CSVLogger(Callback):
    """One CSV row per checkpoint (the ``Record`` fields), written as it happens.

    The header is written when training begins (``append=True`` keeps an
    existing file and adds rows to it); each row is appended and the file
    closed again, so the file is complete at every moment of the run.
    """

    def __init__(self, path, append=False):
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(f"CSVLogger path: expected a file path, got {path!r}")
        self.path = Path(path)
        self.append = bool(append)

    def on_train_begin(self, net, history):
        """Write the header (unless appending to a file that has one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.append and self.path.is_file() and self.path.stat().st_size:
            return
        self._write(FIELDS, "w")

    def on_checkpoint(self, net, record):
        """Append this checkpoint's row; a missing validation value is an empty cell."""
        self._write(["" if v is None else v for v in astuple(record)], "a")

    def _write(self, row, mode):
        with open(self.path, mode, newline="") as handle:
            csv.writer(handle).writerow(row)

    def __repr__(self):
        return f"CSVLogger({str(self.path)!r}, append={self.append})"
