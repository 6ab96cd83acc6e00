"""PoolingLayer: max/mean against loops, tie routing, central differences, the contract."""
import json
import tracemalloc

import numpy as np
import pytest

from framework.enums import _ParsableEnum
from framework.layers import pool_kernels
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
    ((2, 9, 11), (5, 4), (2, 3)),       # big enough to be routed by rows, then columns
    ((1, 7, 8), (7, 8), 1),             # global pooling
    ((2, 12, 13), (4, 5), (5, 6)),      # gaps between windows
]
IDS = [f"in{c[0]}-p{c[1]}-s{c[2]}" for c in CONFIGS]


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def ties(shape, seed):
    """Small integers: many tied maxima in every window."""
    return np.random.default_rng(seed).integers(0, 3, shape).astype(float)


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


@pytest.fixture(params=["walk-offsets", "rows-then-columns"])
def routing(request, monkeypatch):
    """Max pooling's two ways of finding each window's first maximum (the layer
    picks one by window size; both must give the same answer)."""
    walk = request.param == "walk-offsets"
    monkeypatch.setattr(pool_kernels, "walks_offsets", lambda pool_shape: walk)
    return request.param


@pytest.mark.parametrize("kind", ["max", "mean"])
@pytest.mark.parametrize("input_shape,pool,stride", CONFIGS, ids=IDS)
def test_forward_and_backward_equal_loops(input_shape, pool, stride, kind, routing):
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
def test_gradients_match_central_differences(input_shape, pool, stride, kind, routing):
    layer = PoolingLayer(input_shape, pool, stride, kind)
    x = tie_free((2,) + input_shape, seed=2)
    G = np.random.default_rng(3).normal(size=(2,) + layer.output_shape)

    def loss():
        return float(np.sum(layer.forward(x, True) * G))

    loss()
    dx = layer.backward(G).copy()
    assert max_relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE


def test_tied_maxima_send_the_gradient_to_the_first_in_row_major_order(routing):
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
def test_all_equal_windows_each_pick_exactly_one_position(input_shape, pool, stride, routing):
    layer = PoolingLayer(input_shape, pool, stride, "max")
    x = np.zeros((2,) + input_shape)
    layer.forward(x, True)
    delta = np.random.default_rng(4).uniform(1, 2, (2,) + layer.output_shape)
    dx = layer.backward(delta)
    _, dx_loop = loop_pool(x, pool, stride, "max", delta)   # every window's top-left
    np.testing.assert_array_equal(dx, dx_loop)
    np.testing.assert_allclose(dx.sum(), delta.sum())


def test_tied_maxima_in_overlapping_windows_accumulate_deterministically(routing):
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


@pytest.mark.parametrize("input_shape,pool,stride", CONFIGS, ids=IDS)
def test_tied_windows_route_like_the_loops(input_shape, pool, stride, routing):
    layer = PoolingLayer(input_shape, pool, stride, "max")
    x = ties((3,) + input_shape, seed=11)
    layer.forward(x, True)
    delta = np.random.default_rng(12).normal(size=(3,) + layer.output_shape)
    _, dx_loop = loop_pool(x, pool, stride, "max", delta)
    np.testing.assert_allclose(layer.backward(delta), dx_loop, rtol=0, atol=1e-12)


# ----- big windows (issue 19: no Python object per window offset) ----------------------
@pytest.mark.parametrize("size", [3000, 20000])
def test_a_huge_pool_is_made_and_loaded_quickly_in_little_memory(size, tmp_path):
    """A 3000x3000 window used to build nine million offset tuples (916 MB) when the
    layer was made; now making it, saving a net with it and loading that file
    takes well under a second and 50 MB (CPU time, so that other programs on a
    shared machine do not count; h5py is imported before)."""
    import time

    import h5py  # noqa: F401  (its first import is not the layer's cost)

    import framework as fw
    params = fw.HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=1,
                                net_type="multiple_classifier")
    specs = [{"type": "pooling", "size": size, "stride": size}, {"type": "flatten"},
             {"type": "fc", "size": 2}, {"type": "softmax"}]
    tracemalloc.start()
    start = time.process_time()
    try:
        layer = PoolingLayer((1, size, size), size, size, "max")
        net = fw.NeuralNet.from_specs(params, specs, input_shape=(1, size, size))
        net.save(tmp_path / "pool.h5")
        loaded = fw.NeuralNet.load(tmp_path / "pool.h5")
        seconds = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert layer.output_shape == (1, 1, 1) and loaded.layer_shapes[0] == (1, 1, 1)
    assert seconds < 1.0, seconds
    assert peak < 50 * 2**20, peak


@pytest.mark.parametrize("kind", ["max", "mean"])
def test_global_pooling_over_a_large_map_takes_rows_plus_columns_passes(kind):
    """A 600x600 window: 1,200 passes (about a millisecond each way), not 360,000."""
    import time
    x = np.random.default_rng(13).normal(size=(2, 1, 600, 600)).astype(np.float32)
    layer = PoolingLayer((1, 600, 600), 600, 600, kind)
    start = time.process_time()
    y = layer.forward(x, True)
    dx = layer.backward(np.ones_like(y))
    assert time.process_time() - start < 5.0      # offset by offset: 360,000 passes
    if kind == "max":
        assert np.array_equal(y.ravel(), x.reshape(2, -1).max(axis=1))
        flat = x.reshape(2, -1).argmax(axis=1)            # the first maximum
        expected = np.zeros((2, 360000), np.float32)
        expected[np.arange(2), flat] = 1
        assert np.array_equal(dx.reshape(2, -1), expected)
    else:
        np.testing.assert_allclose(y.ravel(), x.reshape(2, -1).mean(axis=1, dtype=np.float64),
                                   rtol=1e-5)
        assert np.all(dx == np.float32(1 / 360000))


# ----- against PyTorch ----------------------------------------------------------
TORCH_CASES = [   # odd sizes, strides 1-2, padding-free as in PoolingLayer
    ((3, 9, 7), (2, 2), 2), ((3, 9, 7), (3, 3), 2), ((3, 9, 7), (2, 2), 1),
    ((2, 11, 13), (3, 2), (1, 2)), ((16, 28, 28), (2, 2), 2), ((32, 14, 14), (2, 2), 2),
    ((2, 13, 11), (5, 5), 2), ((1, 9, 9), (9, 9), 1),
]


@pytest.mark.parametrize("kind", ["max", "mean"])
@pytest.mark.parametrize("input_shape,pool,stride", TORCH_CASES,
                         ids=[f"in{c[0]}-p{c[1]}-s{c[2]}" for c in TORCH_CASES])
def test_forward_and_gradient_equal_torch(input_shape, pool, stride, kind, routing):
    torch = pytest.importorskip("torch", reason="PyTorch is the reference here "
                                "(pip install -e '.[bench]')")
    functional = torch.nn.functional
    layer = PoolingLayer(input_shape, pool, stride, kind)
    x = tie_free((5,) + input_shape, seed=14)
    xt = torch.tensor(x, requires_grad=True)
    pool_torch = functional.max_pool2d if kind == "max" else functional.avg_pool2d
    yt = pool_torch(xt, pair(pool), pair(stride))
    y = layer.forward(x, True)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    delta = np.random.default_rng(15).normal(size=y.shape)
    yt.backward(torch.tensor(delta))
    np.testing.assert_allclose(layer.backward(delta), xt.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


def test_max_pool_ties_go_where_torch_sends_them(routing):
    torch = pytest.importorskip("torch", reason="PyTorch is the reference here "
                                "(pip install -e '.[bench]')")
    layer = PoolingLayer((2, 9, 9), (3, 3), 2, "max")
    x = ties((3, 2, 9, 9), seed=16)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 3, 2)
    layer.forward(x, True)
    delta = np.random.default_rng(17).normal(size=yt.shape)
    yt.backward(torch.tensor(delta))
    np.testing.assert_allclose(layer.backward(delta), xt.grad.numpy(), rtol=0, atol=1e-12)


# ----- threads ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["max", "mean"])
def test_results_are_the_same_bits_for_any_number_of_threads(kind, monkeypatch):
    from framework.infra import threads
    monkeypatch.setattr(threads, "_usable_cores", lambda: 8)
    x = np.random.default_rng(18).normal(size=(29, 4, 15, 15)).astype(np.float32)
    results = []
    for count in (1, 2, 3):
        layer = PoolingLayer((4, 15, 15), 3, 2, kind)
        with threads.blas_threads(count):
            y = layer.forward(x, True).copy()
            dx = layer.backward(np.ones_like(y)).copy()
        results.append((y, dx))
    for y, dx in results[1:]:
        assert np.array_equal(y, results[0][0]) and np.array_equal(dx, results[0][1])
