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

from .monitor import Monitor, metric_name


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
    clipped: float = None       # with gradient clipping: the fraction of steps clipped
    grad_norm: float = None     # ... and their mean gradient norm before clipping

    @property
    def monitored_loss(self):
        """The loss that picks the best checkpoint: validation if present, else train."""
        return self.train_loss if self.val_loss is None else self.val_loss


FIELDS = [f.name for f in fields(Record)]
CLIPPING = ("clipped", "grad_norm")     # in a record only when the run clipped


class TrainingHistory:
    """Records, the best checkpoint, which weights the net kept and why training stopped.

    The weights themselves are kept by the training loop's ``Keeper`` (the one
    owner of "best"), not here, so a history is small and JSON-able.
    ``history.history`` is Keras's dict of lists (``loss``, ``accuracy`` or ``r2``,
    ``val_loss``, ``val_accuracy`` or ``val_r2``, ``lr``, ``epoch``).
    """

    def __init__(self, name=None, net_type=None, restore_best=True, monitor="val_loss"):
        self.name = name                    # the net's name: the plot's title names it
        self.net_type = net_type            # a fitting net's accuracy is R², and says so
        self.metric = metric_name(net_type) if net_type is not None else "accuracy"
        self.loss_name = None       # the loss in words ("cross-entropy"): the plot's label
        self.penalty = None         # "L1"/"L2" when the training loss includes that penalty
        self.restore_best = restore_best    # the best checkpoint is marked only if it is kept
        self.monitor = monitor              # what chose the best checkpoint
        self.records = []
        self.best_index = None              # set by the training loop's Keeper
        self.kept = None                    # "best", "start", "last" or "rollback"
        self.start_record = None            # the starting weights' validation numbers
        self.without_validation = False     # no validation data: nothing to judge "best" by
        self.stop_reason = None
        self.test_loss = None       # set by train(need_test=True) if there is a test set
        self.test_accuracy = None
        self.clipping = False       # the run clipped gradients: records say how often

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        return self.records[index]

    def add(self, record):
        """Append ``record`` (which checkpoint is best is the Keeper's decision)."""
        self.records.append(record)
        return len(self.records) - 1

    @property
    def best_record(self):
        """The best Record (None before the first finite one, or if the start was best)."""
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

    def kept_description(self):
        """One phrase for logs: which weights the net holds now, and why."""
        if self.kept == "best" and self.best_record is not None:
            record = self.best_record
            return (f"kept the best checkpoint by {self.monitor} (epoch {record.epoch:.2f}, "
                    f"{self.monitor} {_number(_value(record, self.monitor, self.metric))})")
        if self.kept == "start":
            return (f"kept the weights training started from (no checkpoint improved "
                    f"{self.monitor})")
        if self.kept == "rollback":
            return "rolled back to the last finite checkpoint"
        if self.without_validation:
            return "kept the last weights (no validation data to judge a best checkpoint by)"
        return "kept the last weights"

    def column(self, name):
        """All values of one field, e.g. ``history.column("val_loss")``."""
        if name not in FIELDS:
            raise ValueError(f"column: expected one of {FIELDS}, got {name!r}")
        return [getattr(r, name) for r in self.records]

    @property
    def history(self):
        """Keras's ``History.history``: ``{"loss": [...], "accuracy": [...], ...}``, one
        value per checkpoint (``r2`` instead of ``accuracy`` for fitting nets; the
        ``val_`` keys only when there was validation data)."""
        out = {"epoch": self.column("epoch"), "loss": self.column("train_loss"),
               self.metric: self.column("train_accuracy")}
        if any(r.val_loss is not None for r in self.records):
            out["val_loss"] = self.column("val_loss")
            out[f"val_{self.metric}"] = self.column("val_accuracy")
        out["lr"] = self.column("learning_rate")
        if any(r.clipped is not None for r in self.records):
            out.update(clipped=self.column("clipped"), grad_norm=self.column("grad_norm"))
        return out

    def csv_columns(self):
        """The CSV header: Keras's names (``epoch, iteration, lr, loss, r2, val_loss, ...``)."""
        return ["epoch", "iteration", "lr", "loss", self.metric, "val_loss",
                f"val_{self.metric}"] + (list(CLIPPING) if self.clipping else [])

    def as_dict(self):
        """A JSON-able summary (no weight arrays). Non-finite losses become None."""
        return {
            "records": [{k: _jsonable(v) for k, v in asdict(r).items()
                         if v is not None or k not in CLIPPING} for r in self.records],
            "metric": self.metric,
            "monitor": self.monitor,
            "best_index": self.best_index,
            "best_epoch": self.best_epoch,
            "best_val_loss": _jsonable(self.best_val_loss),
            "kept": self.kept,
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
            writer.writerow(self.csv_columns())
            for record in self.records:
                writer.writerow(csv_row(record))

    def plot(self, path=None, x_axis="epoch", **options):
        """The loss/accuracy figure (shown inline in a notebook); written as a PNG when
        ``path`` is given. ``options``: see ``framework.plotting.plot_history``."""
        from .plotting import plot_history
        return plot_history(self, path, x_axis=x_axis, **options)

    def __repr__(self):
        return (f"TrainingHistory({len(self.records)} records, best_epoch={self.best_epoch}, "
                f"kept={self.kept!r}, stop_reason={self.stop_reason!r})")


def csv_row(record):
    """A record as a CSV row in ``csv_columns`` order (missing values empty)."""
    values = (record.epoch, record.iteration, record.learning_rate, record.train_loss,
              record.train_accuracy, record.val_loss, record.val_accuracy)
    if record.clipped is not None:
        values += (record.clipped, record.grad_norm)
    return ["" if v is None else v for v in values]


def _value(record, monitor, metric):
    return Monitor(monitor).raw(record) if monitor else record.monitored_loss


def _number(value):
    return "nan" if value is None or value != value else f"{value:.6g}"


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
