"""Gaussian clusters: a seeded classification set that trains in milliseconds.

``classes`` centres are drawn from N(0, 1.5²) in ``features`` dimensions;
each sample is a centre (its class, drawn uniformly) plus N(0, noise²) noise.
The sweeps and their tests use it where MNIST is absent or too slow. Every
option is checked when the reader is made (sizes are positive integers, the
seed an integer >= 0, the noise a number >= 0), and so is the memory the set
will take, before anything is drawn.
"""
import numpy as np

from framework.infra.validation import check_integer, check_number

from .arrays import check_generated_size
from .base import DataReader

BYTES_PER_VALUE = 64    # the draw, centre + noise, the reader's copy and its float cast


class GaussianClustersReader(DataReader):
    """x is (N, features) float, y the (N, 1) int class until ``normalize_y``."""

    def __init__(self, n_train=600, n_test=200, features=20, classes=3, noise=1.0, seed=0,
                 dtype=np.float32):
        super().__init__(dtype)
        owner = type(self).__name__
        self.n_train = check_integer(f"{owner}: n_train", n_train)
        self.n_test = check_integer(f"{owner}: n_test", n_test)
        self.features = check_integer(f"{owner}: features", features)
        self.classes = check_integer(f"{owner}: classes", classes, minimum=2)
        self.noise = check_number(f"{owner}: noise", noise, 0)
        self.seed = check_integer(f"{owner}: seed", seed, minimum=0)
        check_generated_size(f"{owner}(n_train={self.n_train}, n_test={self.n_test}, "
                             f"features={self.features})",
                             (self.n_train + self.n_test + self.classes) * self.features,
                             BYTES_PER_VALUE)

    def _load(self):
        rng = np.random.default_rng([self.seed, 7])
        centers = rng.normal(0.0, 1.5, size=(self.classes, self.features))

        def draw(n):
            labels = rng.integers(0, self.classes, size=n)
            return (centers[labels] + rng.normal(0.0, self.noise, size=(n, self.features)),
                    labels)

        return (*draw(self.n_train), *draw(self.n_test))
