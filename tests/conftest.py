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
    """
    import framework as fw

    def build(sizes, params, activation="tanh", dropout=None, batch_norm=False, name="net"):
        net = fw.NeuralNet(params, name)
        last = len(sizes) - 2
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            net.add_layer(fw.FcLayer(n_in, n_out, params), f"fc{i + 1}")
            if i == last:
                break
            if batch_norm:
                net.add_layer(fw.BatchNormLayer(n_out, params=params), f"bn{i + 1}")
            net.add_layer(fw.ActivationLayer(activation), f"act{i + 1}")
            if dropout:
                net.add_layer(fw.DropoutLayer(n_out, dropout), f"drop{i + 1}")
        if params.net_type is fw.NetType.MULTIPLE_CLASSIFIER:
            net.add_layer(fw.ClassificationLayer("softmax"), "softmax")
        elif params.net_type is fw.NetType.BINARY_CLASSIFIER:
            net.add_layer(fw.ClassificationLayer("logistic"), "logistic")
        return net
    return build
