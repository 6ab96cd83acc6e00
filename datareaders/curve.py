"""The textbook's ch09 curve-fitting data set, generated or read from npz.

    y = 0.4 x² + 0.3 x sin(15 x) + 0.01 cos(50 x) − 0.3

Training: ``n_train`` points with x ~ U(0, 1) and U(−noise, noise) added to y;
test: ``n_test`` noise-free points on linspace(0, 1). Generated from a seed
with its own ``numpy.random.Generator`` (the textbook seeds the global RNG),
or read from the textbook's ``ch09_2.train.npz`` / ``ch09_2.test.npz``.
"""
import numpy as np

from framework.infra.validation import check_integer, check_number

from .arrays import check_generated_size
from .base import DataReader
from .npzfile import read_npz_pair

BYTES_PER_POINT = 128   # x, y, the noise and the formula's temporaries, then the casts


def curve(x):
    """The ch09 target function."""
    return 0.4 * x ** 2 + 0.3 * x * np.sin(15 * x) + 0.01 * np.cos(50 * x) - 0.3


class CurveFittingReader(DataReader):
    """x and y are (N, 1); use ``normalize_y(NetType.FITTING)`` as usual.

    Pass ``train_file`` and ``test_file`` to read npz files (keys ``data``,
    ``label``); otherwise the set is generated from ``seed``.
    """

    def __init__(self, train_file=None, test_file=None, n_train=1000, n_test=200,
                 seed=0, noise=0.05, dtype=np.float32):
        super().__init__(dtype)
        if (train_file is None) != (test_file is None):
            raise ValueError("give both train_file and test_file, or neither")
        owner = type(self).__name__
        self.train_file, self.test_file = train_file, test_file
        self.n_train = check_integer(f"{owner}: n_train", n_train)
        self.n_test = check_integer(f"{owner}: n_test", n_test)
        self.seed = check_integer(f"{owner}: seed", seed, minimum=0)
        self.noise = check_number(f"{owner}: noise", noise, 0)
        if train_file is None:
            check_generated_size(f"{owner}(n_train={self.n_train}, n_test={self.n_test})",
                                 self.n_train + self.n_test, BYTES_PER_POINT)

    def _load(self):
        if self.train_file is not None:
            return (*read_npz_pair(self.train_file, num_feature=1),
                    *read_npz_pair(self.test_file, num_feature=1))
        rng = np.random.default_rng(self.seed)
        x_train = rng.uniform(0.0, 1.0, size=(self.n_train, 1))
        y_train = curve(x_train) + rng.uniform(-self.noise, self.noise,
                                               size=(self.n_train, 1))
        x_test = np.linspace(0.0, 1.0, self.n_test).reshape(-1, 1)
        return x_train, y_train, x_test, curve(x_test)
