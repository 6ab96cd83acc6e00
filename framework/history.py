"""TrainingHistory: what happened during one call of ``NeuralNet.train``.

The textbook kept parallel lists and reported the last mini-batch's loss as
the epoch's. Here each checkpoint is one ``Record`` whose train loss/accuracy
are the sample-weighted means over every iteration since the previous
checkpoint, so the curve is not a random draw of one batch.
"""
import csv
import json
import math
from dataclasses import asdict, dataclass, fields


@dataclass
class Record:
    """One checkpoint. ``epoch`` is fractional: iterations done / iterations per epoch."""

    epoch: float
    iteration: int
    learning_rate: float
    train_loss: float
    train_accuracy: float
    val_loss: float = None
    val_accuracy: float = None

    @property
    def monitored_loss(self):
        """The loss that picks the best checkpoint: validation if present, else train."""
        return self.train_loss if self.val_loss is None else self.val_loss


FIELDS = [f.name for f in fields(Record)]


class TrainingHistory:
    """Records, the best checkpoint and why training stopped: metrics only.

    The weights of the best checkpoint are kept by the training loop (and by
    ``EarlyStopping``), not here, so a history is small and JSON-able.
    """

    def __init__(self, name=None, net_type=None, restore_best=True):
        self.name = name                    # the net's name: the plot's title names it
        self.net_type = net_type            # a fitting net's accuracy is R², and says so
        self.restore_best = restore_best    # the best checkpoint is marked only if it is kept
        self.records = []
        self.best_index = None
        self.stop_reason = None
        self.test_loss = None       # set by train(need_test=True) if there is a test set
        self.test_accuracy = None

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        return self.records[index]

    def add(self, record, can_be_best=True):
        """Append ``record``; return True if it is the new best (finite, lowest loss).

        ``can_be_best=False`` records a checkpoint whose weights are unusable
        (a non-finite array was found), so it never becomes the best.
        """
        self.records.append(record)
        loss = record.monitored_loss
        if not can_be_best or not math.isfinite(loss):
            return False
        if self.best_index is None or loss < self.records[self.best_index].monitored_loss:
            self.best_index = len(self.records) - 1
            return True
        return False

    @property
    def best_record(self):
        """The best Record (None before the first finite one)."""
        return None if self.best_index is None else self.records[self.best_index]

    @property
    def best_epoch(self):
        """The (fractional) epoch of the best record."""
        return None if self.best_index is None else self.best_record.epoch

    @property
    def best_val_loss(self):
        """The validation loss of the best record."""
        return None if self.best_index is None else self.best_record.val_loss

    @property
    def best_loss(self):
        """The monitored loss of the best record (validation, else train)."""
        return None if self.best_index is None else self.best_record.monitored_loss

    def column(self, name):
        """All values of one field, e.g. ``history.column("val_loss")``."""
        if name not in FIELDS:
            raise ValueError(f"column: expected one of {FIELDS}, got {name!r}")
        return [getattr(r, name) for r in self.records]

    def as_dict(self):
        """A JSON-able summary (no weight arrays). Non-finite losses become None."""
        return {
            "records": [{k: _jsonable(v) for k, v in asdict(r).items()} for r in self.records],
            "best_index": self.best_index,
            "best_epoch": self.best_epoch,
            "best_val_loss": _jsonable(self.best_val_loss),
            "stop_reason": self.stop_reason,
            "test_loss": _jsonable(self.test_loss),
            "test_accuracy": _jsonable(self.test_accuracy),
        }

    def to_json(self):
        """``as_dict()`` as a JSON string."""
        return json.dumps(self.as_dict())

    def to_csv(self, path):
        """One row per record; missing validation values are empty cells."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FIELDS)
            for record in self.records:
                writer.writerow(["" if v is None else v for v in asdict(record).values()])

    def plot(self, path=None, x_axis="epoch", **options):
        """The loss/accuracy figure (shown inline in a notebook); written as a PNG when
        ``path`` is given. ``options``: see ``framework.plotting.plot_history``."""
        from .plotting import plot_history
        return plot_history(self, path, x_axis=x_axis, **options)

    def __repr__(self):
        return (f"TrainingHistory({len(self.records)} records, best_epoch={self.best_epoch}, "
                f"stop_reason={self.stop_reason!r})")


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
