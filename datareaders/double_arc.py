"""The textbook's double-arc data: two noisy, interleaved sine arcs (ch10, used by ch14 Level3).

Class 0 lies on ``y = sin(x)``, class 1 on ``y = sin(x) + gap``, for x evenly
spaced over [0, pi] (the textbook writes 3.14), each y shifted by uniform noise
of total width ``noise``: the textbook's ``(random() - 0.5) / 4``, i.e.
U(-0.125, 0.125), and gap 0.65. The arcs are never closer than
``gap - noise`` = 0.4, so the set is separable, but only by a curve: a
linear classifier cannot reach 100 %, a 2-3-1 net can.

The textbook generates 200 points per class for training and 50 per class
for testing from the global RNG; here both sets come from one
``numpy.random.Generator`` seeded with ``seed``, so a run is repeatable.
"""
import numpy as np

from framework.infra.validation import check_integer, check_number

from .arrays import check_generated_size
from .base import DataReader

CLASS_NAMES = ("lower arc", "upper arc")
BYTES_PER_POINT = 128   # the arrays a point passes through, from the draw to a 0/1 label


def double_arc(per_class, rng, noise=0.25, gap=0.65):
    """(x (2n, 2) float64, labels (2n, 1) int64): class 0's arc, then class 1's."""
    if per_class < 1:
        raise ValueError(f"double_arc: expected at least 1 point per class, got {per_class}")
    t = np.linspace(0.0, np.pi, per_class)
    parts, labels = [], []
    for label, shift in enumerate((0.0, gap)):
        y = np.sin(t) + shift + (rng.random(per_class) - 0.5) * noise
        parts.append(np.column_stack((t, y)))
        labels.append(np.full((per_class, 1), label, dtype=np.int64))
    return np.concatenate(parts), np.concatenate(labels)


class DoubleArcReader(DataReader):
    """Generated double-arc set: x is (N, 2), y the (N, 1) int label (0 lower, 1 upper).

    ``n_train`` and ``n_test`` count points per class (the textbook's 200
    and 50). Use ``normalize_x()`` and ``normalize_y(NetType.BINARY_CLASSIFIER)``
    as the textbook does.
    """

    class_names = CLASS_NAMES

    def __init__(self, n_train=200, n_test=50, seed=0, noise=0.25, gap=0.65,
                 dtype=np.float32):
        super().__init__(dtype)
        owner = type(self).__name__
        self.n_train = check_integer(f"{owner}: n_train (points per class)", n_train)
        self.n_test = check_integer(f"{owner}: n_test (points per class)", n_test)
        self.seed = check_integer(f"{owner}: seed", seed, minimum=0)
        self.noise = check_number(f"{owner}: noise", noise, 0)
        self.gap = check_number(f"{owner}: gap", gap)
        check_generated_size(f"{owner}(n_train={self.n_train}, n_test={self.n_test})",
                             2 * (self.n_train + self.n_test), BYTES_PER_POINT)

    def _load(self):
        rng = np.random.default_rng(self.seed)
        x_train, y_train = double_arc(self.n_train, rng, self.noise, self.gap)
        x_test, y_test = double_arc(self.n_test, rng, self.noise, self.gap)
        return x_train, y_train, x_test, y_test
