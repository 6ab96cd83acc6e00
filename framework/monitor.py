"""Monitor: which number of a checkpoint record says "better", and which way.

Keras's names: ``"val_loss"``, ``"loss"``, ``"val_accuracy"``, ``"accuracy"`` (for a
fitting net the metric is R²: ``"val_r2"``, ``"r2"``), ``"lr"``. ``mode`` "min",
"max" or "auto" (losses down, metrics up). ``val_*`` falls back to the train value
when the run has no validation set. One monitor per run decides the best
checkpoint (see ``framework.keeper``); ``EarlyStopping``, ``ModelCheckpoint`` and
``ReduceLROnPlateau`` watch theirs through the same class.
"""
import math

from .enums import NetType

_FIELDS = {"loss": "train_loss", "val_loss": "val_loss", "lr": "learning_rate",
           "learning_rate": "learning_rate", "train_loss": "train_loss"}
_METRIC_NAMES = {"accuracy": ("accuracy", "acc", "train_accuracy"), "r2": ("r2", "train_r2")}
MODES = ("auto", "min", "max")


def metric_name(net_type):
    """What the record's second number is for ``net_type``: "r2" or "accuracy"."""
    return "r2" if NetType.parse(net_type, "net_type") is NetType.FITTING else "accuracy"


class Monitor:
    """``Monitor(name="val_loss", mode="auto")``: ``value(record)`` is the watched number,
    ``improves(value, best, min_delta)`` says whether it beats ``best``."""

    def __init__(self, name="val_loss", mode="auto", owner="monitor"):
        if not isinstance(name, str):
            raise ValueError(f"{owner} monitor: expected a name such as 'val_loss', "
                             f"got {name!r}")
        self.name, self.owner = name, owner
        self.field = self._field(name)
        if mode not in MODES:
            raise ValueError(f"{owner} mode: expected one of {list(MODES)}, got {mode!r}")
        if mode == "auto":
            mode = "min" if self.field in ("train_loss", "val_loss") else "max"
        self.mode = mode

    def _field(self, name):
        if name in _FIELDS:
            return _FIELDS[name]
        prefix = "val_" if name.startswith("val_") else ""
        bare = name[len(prefix):]
        for canonical, aliases in _METRIC_NAMES.items():
            if bare in aliases:
                return f"{'val' if prefix else 'train'}_metric:{canonical}"
        known = sorted(set(_FIELDS) | {p + m for m in ("accuracy", "r2") for p in ("", "val_")})
        raise ValueError(f"{self.owner} monitor: expected one of {known}, got {name!r}")

    def check_net_type(self, net_type):
        """Refuse a metric the net does not report (R² of a classifier, accuracy of a
        fitting net) with a message saying which one it does."""
        if ":" in self.field:
            wanted = self.field.split(":")[1]
            have = metric_name(net_type)
            if wanted != have:
                raise ValueError(f"{self.owner} monitor {self.name!r}: a "
                                 f"{NetType.parse(net_type, 'net_type').value} net reports "
                                 f"{have!r}, not {wanted!r}; monitor "
                                 f"'{'val_' if self.name.startswith('val_') else ''}{have}'")
        return self

    def raw(self, record):
        """The watched number of ``record`` (val_* falls back to train), or NaN."""
        field = self.field.split(":")[0]
        if field.endswith("_metric"):
            field = field.replace("_metric", "_accuracy")
        value = getattr(record, field)
        if value is None and field.startswith("val_"):
            value = getattr(record, "train_" + field[4:])
        return math.nan if value is None else float(value)

    def improves(self, value, best, min_delta=0.0):
        """True if ``value`` is better than ``best`` by more than ``min_delta`` (a NaN
        never improves; anything beats a best of None)."""
        if math.isnan(value):
            return False
        if best is None:
            return True
        return value < best - min_delta if self.mode == "min" else value > best + min_delta

    def same_as(self, other):
        """True if ``other`` watches the same number the same way."""
        return self.field == other.field and self.mode == other.mode

    def __repr__(self):
        return f"Monitor({self.name!r}, mode={self.mode!r})"


UNITS = ("epochs", "checkpoints")


class Patience:
    """How long ``monitor`` has not improved, in epochs (Keras's unit) or checkpoints.

    ``update(record)`` takes one checkpoint and says whether it improved on the
    best so far (by more than ``min_delta``; with a ``baseline``, it must also
    beat that); ``waited`` is then the epochs (fractional) or checkpoints since
    the last improvement, or since counting began.
    """

    def __init__(self, monitor, min_delta=0.0, unit="epochs", baseline=None):
        if unit not in UNITS:
            raise ValueError(f"{monitor.owner} patience_unit: expected one of {list(UNITS)}, "
                             f"got {unit!r}")
        self.monitor, self.min_delta, self.unit, self.baseline = monitor, min_delta, unit, \
            baseline
        self.reset()

    def reset(self, since=None):
        """Forget the best value; count from epoch ``since`` (None: the next record)."""
        self.best, self.since, self.count = None, since, 0

    def restart(self, epoch):
        """Count the wait again from ``epoch``, keeping the best value (after an action
        such as a learning-rate reduction)."""
        self.since, self.count = epoch, 0

    def update(self, record):
        """Take one checkpoint; True if it improved."""
        value = self.monitor.raw(record)
        if self.since is None:
            self.since = record.epoch
        improved = self.monitor.improves(value, self.best, self.min_delta) and (
            self.baseline is None or self.monitor.improves(value, self.baseline))
        if improved:
            self.best, self.since, self.count = value, record.epoch, 0
        else:
            self.count += 1
        self.last_epoch = record.epoch
        return improved

    @property
    def waited(self):
        """Epochs (or checkpoints) since the last improvement."""
        return self.count if self.unit == "checkpoints" else self.last_epoch - self.since
