"""Initial weights: the spread each preset promises, scale, dtype, reproducibility."""
import math

import numpy as np
import pytest

from framework.enums import InitMethod
from framework.initializers import init_std, initialize

SHAPE = (512, 512)

THEORY = {   # the std each preset documents, written out independently
    InitMethod.NORMAL: 1.0,
    InitMethod.UNIFORM: 1.0 / math.sqrt(512) / math.sqrt(3),
    InitMethod.XAVIER: math.sqrt(6 / 1024) / math.sqrt(3),
    InitMethod.XAVIER_NORMAL: math.sqrt(2 / 1024),
    InitMethod.MSRA: math.sqrt(2 / 512),
    InitMethod.MSRA_UNIFORM: math.sqrt(6 / 512) / math.sqrt(3),
}

UNIFORM_LIMITS = {InitMethod.UNIFORM: 1 / math.sqrt(512), InitMethod.XAVIER: math.sqrt(6 / 1024),
                  InitMethod.MSRA_UNIFORM: math.sqrt(6 / 512)}


@pytest.mark.parametrize("method", list(THEORY))
def test_empirical_std_matches_theory(method):
    w = initialize(method, SHAPE, np.random.default_rng(0), np.float64)
    assert w.shape == SHAPE
    assert abs(w.std() / THEORY[method] - 1) < 0.05
    assert abs(w.mean()) < 0.05 * THEORY[method]
    assert init_std(method, SHAPE) == pytest.approx(THEORY[method])
    if method in UNIFORM_LIMITS:
        limit = UNIFORM_LIMITS[method]
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


def test_zero_is_all_zeros():
    w = initialize(InitMethod.ZERO, SHAPE, np.random.default_rng(0), np.float32)
    assert w.shape == SHAPE and w.dtype == np.float32 and not np.any(w)


@pytest.mark.parametrize("method", ["msra", "xavier"])
def test_scale_multiplies_the_std(method):
    base = initialize(method, SHAPE, np.random.default_rng(1), np.float64)
    scaled = initialize(method, SHAPE, np.random.default_rng(1), np.float64, scale=0.1)
    np.testing.assert_allclose(scaled, 0.1 * base, rtol=1e-12, atol=1e-15)
    assert abs(scaled.std() / (0.1 * THEORY[InitMethod.parse(method)]) - 1) < 0.05


def test_dtype_and_seed_reproducibility():
    w32 = initialize("xavier", (30, 20), np.random.default_rng(7), np.float32)
    w64 = initialize("xavier", (30, 20), np.random.default_rng(7), np.float64)
    again = initialize("xavier", (30, 20), np.random.default_rng(7), np.float64)
    other = initialize("xavier", (30, 20), np.random.default_rng(8), np.float64)
    assert w32.dtype == np.float32 and w64.dtype == np.float64
    np.testing.assert_array_equal(w64, again)
    np.testing.assert_array_equal(w32, w64.astype(np.float32))
    assert not np.array_equal(w64, other)


def test_aliases_and_bad_arguments():
    a = initialize("he_normal", (4, 3), np.random.default_rng(0), np.float64)
    b = initialize(InitMethod.MSRA, (4, 3), np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="'lecun'"):
        initialize("lecun", (4, 3), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(0, 3\)"):
        initialize("msra", (0, 3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="-1"):
        initialize("msra", (4, 3), np.random.default_rng(0), scale=-1)
