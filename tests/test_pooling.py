"""PoolingLayer: max/mean against loops, tie routing, central differences, the contract."""
import json
import tracemalloc

import numpy as np
import pytest

from framework.enums import _ParsableEnum
from framework.layers.pooling import PoolingLayer, PoolType
from framework.layers.registry import LAYERS, layer_from_config
from gradcheck import TOLERANCE, max_relative_error, numerical_gradient

# (input_shape, pool_shape, stride): disjoint, overlapping, remainder, gaps, non-square
CONFIGS = [
    ((2, 6, 8), (2, 2), 2),
    ((2, 7, 8), (3, 3), 2),
    ((1, 7, 9), (2, 2), 2),
    ((2, 8, 8), (2, 2), 3),
    ((3, 6, 7), (3, 2), (1, 2)),
    ((1, 5, 5), (1, 1), 1),
]
IDS = [f"in{c[0]}-p{c[1]}-s{c[2]}" for c in CONFIGS]


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def loop_pool(x, pool, stride, kind, delta):
    """(y, dx) by loops; max takes the first maximum in row-major window order."""
    (ph, pw), (sh, sw) = pair(pool), pair(stride)
    n_batch, channels, h, w = x.shape
    oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
    y, dx = np.zeros((n_batch, channels, oh, ow)), np.zeros_like(x)
    for n in range(n_batch):
        for c in range(channels):
            for r in range(oh):
                for s in range(ow):
                    win = x[n, c, r * sh:r * sh + ph, s * sw:s * sw + pw]
                    if kind == "max":
                        k = int(np.argmax(win))         # argmax: the first maximum
                        y[n, c, r, s] = win.flat[k]
                        dx[n, c, r * sh + k // pw, s * sw + k % pw] += delta[n, c, r, s]
                    else:
                        y[n, c, r, s] = win.mean()
                        dx[n, c, r * sh:r * sh + ph, s * sw:s * sw + pw] += \
                            delta[n, c, r, s] / (ph * pw)
    return y, dx


def tie_free(shape, seed):
    """Distinct values 0.01 apart: no tie, and no max flips under a 1e-6 nudge."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


@pytest.mark.parametrize("kind", ["max", "mean"])
@pytest.mark.parametrize("input_shape,pool,stride", CONFIGS, ids=IDS)
def test_forward_and_backward_equal_loops(input_shape, pool, stride, kind):
    layer = PoolingLayer(input_shape, pool, stride, kind)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3,) + input_shape)
    y = layer.forward(x, True)
    delta = rng.normal(size=y.shape)
    y_loop, dx_loop = loop_pool(x, pool, stride, kind, delta)
    assert y.shape == (3,) + layer.output_shape
    np.testing.assert_allclose(y, y_loop, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.backward(delta), dx_loop, rtol=0, atol=1e-12)
    x, delta = rng.normal(size=x.shape), rng.normal(size=y.shape)   # reused arrays
    y_loop, dx_loop = loop_pool(x, pool, stride, kind, delta)
    np.testing.assert_allclose(layer.forward(x, True), y_loop, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.backward(delta), dx_loop, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "mean"])
@pytest.mark.parametrize("input_shape,pool,stride", CONFIGS, ids=IDS)
def test_gradients_match_central_differences(input_shape, pool, stride, kind):
    layer = PoolingLayer(input_shape, pool, stride, kind)
    x = tie_free((2,) + input_shape, seed=2)
    G = np.random.default_rng(3).normal(size=(2,) + layer.output_shape)

    def loss():
        return float(np.sum(layer.forward(x, True) * G))

    loss()
    dx = layer.backward(G).copy()
    assert max_relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE


def test_tied_maxima_send_the_gradient_to_the_first_in_row_major_order():
    layer = PoolingLayer((1, 4, 4), (2, 2), 2, "max")
    x = np.array([[1, 3, 0, 0],           # window 1: 3 at (0,1) and (1,0) -> (0,1)
                  [3, 2, 0, 0],           # window 2: all zeros -> (0,2)
                  [5, 1, 4, 7],           # window 3: 5 at (2,0) and (3,1) -> (2,0)
                  [2, 5, 7, 7]],          # window 4: 7 three times -> (2,3)
                 dtype=np.float64).reshape(1, 1, 4, 4)
    layer.forward(x, True)
    dx = layer.backward(np.array([10.0, 20.0, 30.0, 40.0]).reshape(1, 1, 2, 2))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[0, 2], expected[2, 0], expected[2, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize("input_shape,pool,stride", CONFIGS, ids=IDS)
def test_all_equal_windows_each_pick_exactly_one_position(input_shape, pool, stride):
    layer = PoolingLayer(input_shape, pool, stride, "max")
    x = np.zeros((2,) + input_shape)
    layer.forward(x, True)
    delta = np.random.default_rng(4).uniform(1, 2, (2,) + layer.output_shape)
    dx = layer.backward(delta)
    _, dx_loop = loop_pool(x, pool, stride, "max", delta)   # every window's top-left
    np.testing.assert_array_equal(dx, dx_loop)
    np.testing.assert_allclose(dx.sum(), delta.sum())


def test_tied_maxima_in_overlapping_windows_accumulate_deterministically():
    layer = PoolingLayer((1, 3, 4), (2, 2), 1, "max")
    x = np.array([[1, 1, 1, 0], [1, 1, 0, 1], [0, 1, 1, 1]], float).reshape(1, 1, 3, 4)
    layer.forward(x, True)
    delta = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    _, dx_loop = loop_pool(x, (2, 2), 1, "max", delta)
    first = layer.backward(delta).copy()
    np.testing.assert_array_equal(first, dx_loop)
    layer.forward(x, True)
    np.testing.assert_array_equal(layer.backward(delta), first)


def test_mean_spreads_delta_over_the_window():
    layer = PoolingLayer((1, 4, 4), (2, 2), 2, "mean")
    layer.forward(np.random.default_rng(5).normal(size=(1, 1, 4, 4)), True)
    dx = layer.backward(np.full((1, 1, 2, 2), 8.0))
    np.testing.assert_array_equal(dx, np.full((1, 1, 4, 4), 2.0))


def test_float32_equals_float64():
    x = np.random.default_rng(6).normal(size=(2, 3, 9, 8))
    for kind in ("max", "mean"):
        layer = PoolingLayer((3, 9, 8), (3, 2), 2, kind)
        y64 = layer.forward(x, False).copy()
        y32 = layer.forward(x.astype(np.float32), False)      # the output follows the input
        assert y32.dtype == np.float32 and y64.dtype == np.float64
        assert np.max(np.abs(y32 - y64)) < 1e-5 * np.max(np.abs(y64))


# ----- shapes and validation ----------------------------------------------------
def test_output_shapes_follow_the_floor_rule():
    assert PoolingLayer((16, 28, 28)).output_shape == (16, 14, 14)
    assert PoolingLayer((2, 7, 9), (2, 2), 2).output_shape == (2, 3, 4)
    assert PoolingLayer((2, 7, 8), (3, 3), 2).output_shape == (2, 3, 3)
    assert PoolingLayer((1, 6, 7), (3, 2), (1, 2)).compute_output_shape((1, 6, 7)) == (1, 4, 3)


def test_input_shape_may_come_from_build():
    layer = PoolingLayer()
    assert layer.input_shape is None
    assert layer.build((4, 10, 10)) == (4, 5, 5)
    with pytest.raises(ValueError, match=r"\(4, 10, 10\).*\(4, 12, 12\)"):
        layer.build((4, 12, 12))


@pytest.mark.parametrize("kwargs,quoted", [
    ({"pool_shape": 0}, "0"),
    ({"pool_shape": (2, 0)}, "(2, 0)"),
    ({"pool_shape": (2, 2, 2)}, "(2, 2, 2)"),
    ({"stride": 0}, "0"),
    ({"stride": 1.5}, "1.5"),
    ({"stride": True}, "True"),
    ({"pool_type": "median"}, "'median'"),
    ({"input_shape": (4, 4)}, "(4, 4)"),
    ({"input_shape": (1, 3, 3), "pool_shape": 4}, "pool H 4 is larger than the input H 3"),
])
def test_bad_values_raise_naming_the_value(kwargs, quoted):
    with pytest.raises(ValueError) as error:
        PoolingLayer(**kwargs) if "input_shape" in kwargs else \
            PoolingLayer((1, 8, 8), **kwargs)
    assert quoted in str(error.value)


def test_wrong_shapes_raise():
    layer = PoolingLayer((2, 6, 6))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 2, 6, 6\)"):
        layer.forward(np.zeros((1, 3, 6, 6)), True)
    layer.forward(np.zeros((1, 2, 6, 6)), True)
    with pytest.raises(ValueError, match="delta of shape"):
        layer.backward(np.zeros((1, 2, 2, 2)))


def test_pool_type_enum():
    assert issubclass(PoolType, _ParsableEnum)
    assert [m.value for m in PoolType] == ["max", "mean"]
    assert PoolType.parse("MEAN") is PoolType.MEAN
    assert PoolType.parse(PoolType.MAX) is PoolType.MAX
    assert PoolingLayer((1, 4, 4), pool_type=PoolType.MEAN).pool_type is PoolType.MEAN
    with pytest.raises(ValueError, match="pool_type"):
        PoolType.parse("min", "pool_type")


def test_config_round_trip_and_spec_short_keys():
    layer = PoolingLayer((3, 9, 8), (3, 2), (2, 1), "mean")
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"input_shape": [3, 9, 8], "pool_shape": [3, 2], "stride": [2, 1],
                      "pool_type": "mean"}
    again = layer_from_config("PoolingLayer", config, None)
    assert again.get_config() == config and again.output_shape == layer.output_shape
    spec = PoolingLayer.from_config({"size": 2, "stride": 2}, (16, 28, 28), None)
    assert spec.pool_shape == (2, 2) and spec.output_shape == (16, 14, 14)
    with pytest.raises(ValueError, match="not both"):
        PoolingLayer.from_config({"size": 2, "pool_shape": 2}, (1, 4, 4), None)


def test_registry_names():
    assert LAYERS.get("pooling") is PoolingLayer
    assert LAYERS.get("PoolingLayer") is PoolingLayer
    assert LAYERS.name_of(PoolingLayer) == "pooling"


# ----- buffers ------------------------------------------------------------------
def test_need_input_grad_false_returns_none():
    layer = PoolingLayer((1, 4, 4))
    layer.need_input_grad = False
    layer.forward(np.zeros((1, 1, 4, 4)), True)
    assert layer.backward(np.zeros((1, 1, 2, 2))) is None


@pytest.mark.parametrize("pool,stride", [((2, 2), 2), ((3, 3), 2)])
def test_steady_state_reuses_its_arrays(pool, stride):
    peaks = []
    for batch in (32, 64):      # both above NumPy's 8192-element buffer size
        layer = PoolingLayer((4, 28, 28), pool, stride, "max")
        x = np.random.default_rng(7).normal(size=(batch, 4, 28, 28))
        delta = np.ones((batch,) + layer.output_shape)
        y1, dx1 = layer.forward(x, True), layer.backward(delta)
        y2, dx2 = layer.forward(x, True), layer.backward(delta)
        assert y1 is y2 and dx1 is dx2
        tracemalloc.start()
        try:
            for _ in range(3):
                layer.forward(x, True)
                layer.backward(delta)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    # only NumPy's bounded iterator buffers: the peak does not grow with the batch
    assert peaks[1] < peaks[0] + 16 * 1024, peaks
