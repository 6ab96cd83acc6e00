"""Shared test setup: one BLAS thread (bit-reproducible, fair on shared cores)
and small generated data sets with nets to match."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the thread settings)
import pytest  # noqa: E402


def spiral(n, rng, arms=3, noise=0.08):
    """``arms`` interleaved spiral arms in 2-D; labels 0..arms-1."""
    t = rng.uniform(0.05, 1.0, n)
    label = rng.integers(0, arms, n)
    angle = 4.0 * t + label * 2.0 * np.pi / arms + rng.normal(0.0, noise, n)
    return np.c_[t * np.cos(angle), t * np.sin(angle)], label


@pytest.fixture
def spiral_reader():
    """make(n_train, n_test, seed, validation=True) -> normalized one-hot ArrayDataReader."""
    from datareaders.base import ArrayDataReader

    def make(n_train=600, n_test=300, seed=0, validation=True):
        rng = np.random.default_rng(seed)
        x, y = spiral(n_train, rng)
        xt, yt = spiral(n_test, rng)
        reader = ArrayDataReader(x, y, xt, yt)
        reader.normalize_x()
        reader.normalize_y("multiple_classifier")
        if validation:
            reader.generate_validation_set(k=5, seed=seed)
        return reader
    return make


@pytest.fixture
def build_net():
    """build(sizes, params, activation, dropout=None, batch_norm=False, name="net").

    Hidden layers are Fc + (BatchNorm) + activation + (Dropout); the output
    end is Softmax/Logistic for classifiers and nothing (identity) for fitting.
    Built from specs by the library's own builder (layers fc1, bn1, tanh1, ...).
    """
    import framework as fw

    def build(sizes, params, activation="tanh", dropout=None, batch_norm=False, name="net"):
        classifier = {fw.NetType.MULTIPLE_CLASSIFIER: "softmax",
                      fw.NetType.BINARY_CLASSIFIER: "logistic"}.get(params.net_type)
        specs = fw.mlp_specs(sizes[1:-1], sizes[-1], activation, batch_norm, dropout,
                             classifier)
        return fw.NeuralNet.from_specs(params, specs, (sizes[0],), name)
    return build
