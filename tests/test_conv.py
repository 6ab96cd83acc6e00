"""ConvLayer: against a plain-loop convolution, central differences, the contract."""
import json
import math
import tracemalloc

import numpy as np
import pytest

from framework import HyperParameters, RandomStreams
from framework.layers import conv_kernels
from framework.layers.conv import ConvLayer
from framework.layers.registry import LAYERS, layer_from_config
from gradcheck import TOLERANCE, max_relative_error, numerical_gradient

# (input_shape, kernel_shape, stride, padding, batch)
CONFIGS = [
    ((1, 5, 5), (2, 3, 3), 1, 0, 2),
    ((3, 6, 5), (4, 3, 2), 1, 1, 3),
    ((3, 7, 6), (2, 3, 3), 2, 1, 2),
    ((1, 8, 7), (3, 5, 5), 1, 2, 2),
    ((2, 9, 8), (3, 2, 3), (2, 3), (0, 2), 2),
    ((3, 6, 6), (2, 3, 3), 2, 2, 1),
]
IDS = [f"in{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-n{c[4]}" for c in CONFIGS]


def make_params(dtype=np.float64, init_method="msra", batch=4):
    return HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=batch, dtype=dtype,
                           init_method=init_method)


def make_conv(input_shape, kernel_shape, stride=1, padding=0, dtype=np.float64, seed=0):
    """A ConvLayer with initialized weights and a non-zero bias."""
    layer = ConvLayer(input_shape, kernel_shape, stride, padding, params=make_params(dtype))
    layer.initialize(RandomStreams(seed))
    layer.wb.B[:] = np.random.default_rng(seed + 1).normal(size=layer.wb.B.shape)
    return layer


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def loop_forward(x, W, B, stride, padding):
    """y[n, f, oh, ow] = B[f] + sum_{c,i,j} W[f, c, i, j] * xpad[n, c, oh*sh + i, ow*sw + j]."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    n_batch, channels, h, w = x.shape
    filters, _, kh, kw = W.shape
    xp = np.zeros((n_batch, channels, h + 2 * ph, w + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n_batch, filters, oh, ow))
    for n in range(n_batch):
        for f in range(filters):
            for r in range(oh):
                for s in range(ow):
                    total = B[f]
                    for c in range(channels):
                        for i in range(kh):
                            for j in range(kw):
                                total += W[f, c, i, j] * xp[n, c, r * sh + i, s * sw + j]
                    y[n, f, r, s] = total
    return y


def loop_backward(x, W, delta, stride, padding):
    """(dx, dW, dB) of loss = sum(y * delta), accumulated element by element."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    n_batch, channels, h, w = x.shape
    filters, _, kh, kw = W.shape
    xp = np.zeros((n_batch, channels, h + 2 * ph, w + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    dxp, dW, dB = np.zeros_like(xp), np.zeros_like(W), np.zeros(filters)
    for n in range(n_batch):
        for f in range(filters):
            for r in range(delta.shape[2]):
                for s in range(delta.shape[3]):
                    g = delta[n, f, r, s]
                    dB[f] += g
                    for c in range(channels):
                        for i in range(kh):
                            for j in range(kw):
                                dW[f, c, i, j] += g * xp[n, c, r * sh + i, s * sw + j]
                                dxp[n, c, r * sh + i, s * sw + j] += g * W[f, c, i, j]
    return dxp[:, :, ph:ph + h, pw:pw + w], dW, dB


def force_plan(layer, batch_last=None, samples_per_chunk=None, transposed_dx=None):
    """Pin the choices the layer normally makes from its shapes: the working layout,
    the chunk size and the way dx is computed (stride 1: a transposed convolution)."""
    geometry = conv_kernels.ConvGeometry(layer.input_shape, layer.output_shape,
                                         layer.kernel_hw, layer.stride, layer.padding)
    if batch_last is not None:
        geometry.batch_last = batch_last
    if samples_per_chunk is not None:
        geometry.samples_per_chunk = samples_per_chunk
    if transposed_dx is not None:
        geometry.transposed_dx = transposed_dx
    layer._geometry, layer._plan, layer._plan_shape, layer._plans = geometry, None, None, {}


# ----- numerics -----------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 2, None], ids=["chunk1", "chunk2", "chunk-auto"])
@pytest.mark.parametrize("batch_last", [False, True], ids=["batch-first", "batch-last"])
@pytest.mark.parametrize("input_shape,kernel,stride,padding,batch", CONFIGS, ids=IDS)
def test_forward_and_backward_equal_loops(input_shape, kernel, stride, padding, batch,
                                          batch_last, chunk):
    """Every layout and chunk size (chunk 2 of a batch of 3: a short last chunk)."""
    layer = make_conv(input_shape, kernel, stride, padding)
    force_plan(layer, batch_last, chunk)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(batch,) + input_shape)
    y = layer.forward(x, True)
    expected = loop_forward(x, layer.wb.W, layer.wb.B, stride, padding)
    assert y.shape == expected.shape == (batch,) + layer.output_shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    for step in range(2):           # the second step reuses every work array
        delta = rng.normal(size=y.shape)
        dx = layer.backward(delta)
        dx_loop, dw_loop, db_loop = loop_backward(x, layer.wb.W, delta, stride, padding)
        np.testing.assert_allclose(dx, dx_loop, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.wb.dW, dw_loop, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.wb.dB, db_loop, rtol=0, atol=1e-12)
        x = rng.normal(size=x.shape)
        np.testing.assert_allclose(layer.forward(x, True),
                                   loop_forward(x, layer.wb.W, layer.wb.B, stride, padding),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("padding", [0, 1, 2, 3, 5, (4, 1)])
@pytest.mark.parametrize("transposed_dx", [True, False], ids=["transposed-conv", "col2im"])
def test_both_input_gradients_equal_loops_for_any_padding(padding, transposed_dx):
    """Stride 1 computes dx as a convolution of the delta in a zero frame of
    k - 1 - p, cut where p > k - 1 (outputs that saw only padding); col2im is
    the general way. Both for paddings below, at and beyond the kernel."""
    layer = make_conv((2, 5, 6), (3, 3, 2), 1, padding)
    force_plan(layer, transposed_dx=transposed_dx, samples_per_chunk=2)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3, 2, 5, 6))
    layer.forward(x, True)
    delta = rng.normal(size=(3,) + layer.output_shape)
    dx = layer.backward(delta)
    dx_loop, dw_loop, db_loop = loop_backward(x, layer.wb.W, delta, 1, padding)
    np.testing.assert_allclose(dx, dx_loop, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.wb.dW, dw_loop, rtol=0, atol=1e-12)


@pytest.mark.parametrize("input_shape,kernel,stride,padding,batch", CONFIGS, ids=IDS)
def test_gradients_match_central_differences(input_shape, kernel, stride, padding, batch):
    layer = make_conv(input_shape, kernel, stride, padding)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(batch,) + input_shape)
    G = rng.normal(size=(batch,) + layer.output_shape)

    def loss():
        return float(np.sum(layer.forward(x, True) * G))

    loss()
    dx = layer.backward(G).copy()
    dW, dB = layer.wb.dW.copy(), layer.wb.dB.copy()
    assert max_relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE
    assert max_relative_error(dW, numerical_gradient(loss, layer.wb.W)) < TOLERANCE
    assert max_relative_error(dB, numerical_gradient(loss, layer.wb.B)) < TOLERANCE


def test_first_layer_skips_dx_but_fills_dw_and_db():
    layer = make_conv((2, 26, 26), (3, 3, 3), padding=1)    # 26-wide rows: batch first
    layer.need_input_grad = False
    x = np.random.default_rng(4).normal(size=(2, 2, 26, 26))
    delta = np.random.default_rng(5).normal(size=(2,) + layer.output_shape)
    layer.forward(x, True)
    assert layer.backward(delta) is None
    _, dw_loop, db_loop = loop_backward(x, layer.wb.W, delta, 1, 1)
    np.testing.assert_allclose(layer.wb.dW, dw_loop, rtol=0, atol=1e-11)
    np.testing.assert_allclose(layer.wb.dB, db_loop, rtol=0, atol=1e-11)


def test_gradients_are_written_into_the_weights_arrays_in_place():
    layer = make_conv((1, 6, 6), (2, 3, 3), padding=1)
    dW, dB = layer.wb.dW, layer.wb.dB
    x = np.random.default_rng(6).normal(size=(2, 1, 6, 6))
    layer.forward(x, True)
    layer.backward(np.ones((2,) + layer.output_shape))
    assert layer.wb.dW is dW and layer.wb.dB is dB
    np.testing.assert_allclose(dB, 2 * 36)          # dB = sum of delta per filter


def test_float32_forward_equals_float64():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 3, 12, 11))
    single = make_conv((3, 12, 11), (4, 5, 3), 2, 2, dtype=np.float32)
    double = make_conv((3, 12, 11), (4, 5, 3), 2, 2, dtype=np.float64)
    double.wb.W[:] = single.wb.W                    # the same weights, bias included
    double.wb.B[:] = single.wb.B
    y32 = single.forward(x.astype(np.float32), False).copy()
    y64 = double.forward(x, False)
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    assert np.max(np.abs(y32 - y64)) < 1e-5 * np.max(np.abs(y64))
    cast = single.forward(x, False)             # a float64 batch into a float32 layer
    assert cast.dtype == np.float32 and np.max(np.abs(cast - y32)) <= 1e-6 * np.max(np.abs(y32))


def test_backward_before_any_forward_is_refused_and_a_second_one_repeats_the_first():
    layer = make_conv((1, 5, 5), (1, 3, 3))
    with pytest.raises(ValueError, match="forward"):
        layer.backward(np.ones((1, 1, 3, 3)))
    layer.forward(np.random.default_rng(0).normal(size=(1, 1, 5, 5)), True)
    delta = np.random.default_rng(1).normal(size=(1, 1, 3, 3))
    first = (layer.backward(delta).copy(), layer.wb.dW.copy(), layer.wb.dB.copy())
    again = (layer.backward(delta), layer.wb.dW, layer.wb.dB)     # the same input again
    for a, b in zip(first, again):
        assert np.array_equal(a, b)


# ----- shapes and validation ----------------------------------------------------
def test_output_shape_follows_the_floor_rule():
    layer = ConvLayer((3, 7, 8), (5, 3, 2), stride=(2, 3), padding=1)
    assert layer.compute_output_shape((3, 7, 8)) == (5, 4, 3)
    assert layer.output_shape == (5, 4, 3)
    assert ConvLayer((1, 28, 28), (16, 5, 5), padding=2).output_shape == (16, 28, 28)
    assert ConvLayer((1, 6, 6), (1, 3, 3), stride=2).output_shape == (1, 2, 2)  # remainder


@pytest.mark.parametrize("kwargs,quoted", [
    ({"kernel_shape": (0, 3, 3)}, "(0, 3, 3)"),
    ({"kernel_shape": (4, 3)}, "(4, 3)"),
    ({"kernel_shape": "abc"}, "'abc'"),
    ({"kernel_shape": (2, 3, 3.5)}, "3.5"),
    ({"stride": 0}, "0"),
    ({"stride": (1, 0)}, "(1, 0)"),
    ({"stride": True}, "True"),
    ({"stride": 1.5}, "1.5"),
    ({"padding": -1}, "-1"),
    ({"padding": (1, 2, 3)}, "(1, 2, 3)"),
    ({"input_shape": (8, 8)}, "(8, 8)"),
    ({"input_shape": (1, 0, 8)}, "(1, 0, 8)"),
    ({"params": "fast"}, "'fast'"),
])
def test_bad_constructor_values_raise_naming_the_value(kwargs, quoted):
    args = {"input_shape": (1, 8, 8), "kernel_shape": (2, 3, 3), **kwargs}
    with pytest.raises(ValueError) as error:
        ConvLayer(**args)
    assert quoted in str(error.value)


def test_kernel_larger_than_the_padded_input_is_refused():
    with pytest.raises(ValueError, match="kernel W 6 is larger than the padded input W 4"):
        ConvLayer((1, 6, 4), (2, 3, 6))
    assert ConvLayer((1, 6, 4), (2, 3, 6), padding=1).output_shape == (2, 6, 1)


def test_kernel_channels_must_match_the_input():
    assert ConvLayer((3, 8, 8), (2, 3, 3, 3)).output_shape == (2, 6, 6)
    with pytest.raises(ValueError, match="kernel has 2 channels"):
        ConvLayer((3, 8, 8), (2, 2, 3, 3))


def test_wrong_input_shape_raises():
    layer = make_conv((2, 6, 6), (3, 3, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 2, 6, 6\)"):
        layer.forward(np.zeros((4, 1, 6, 6)), True)
    with pytest.raises(ValueError, match=r"\(2, 6, 6\).*\(2, 7, 7\)"):
        layer.build((2, 7, 7))
    layer.forward(np.zeros((4, 2, 6, 6)), True)
    with pytest.raises(ValueError, match="delta of shape"):
        layer.backward(np.zeros((4, 3, 5, 5)))


def test_without_params_the_layer_computes_alone_then_takes_the_nets():
    layer = ConvLayer((1, 8, 8), (2, 3, 3))
    assert layer.wb.W is None                           # declared, not yet allocated
    assert layer.forward(np.zeros((1, 1, 8, 8)), True).dtype == np.float32   # alone: float32
    layer.attach(make_params(np.float64))               # the net's params replace them
    layer.initialize(RandomStreams(0))
    assert layer.wb.W.shape == (2, 1, 3, 3) and layer.wb.B.shape == (2,)
    assert layer.wb.W.dtype == np.float64
    assert layer.forward(np.ones((1, 1, 8, 8)), True).dtype == np.float64


def test_attach_keeps_params_given_at_construction():
    own = make_params(np.float64)
    layer = ConvLayer((1, 8, 8), (2, 3, 3), params=own)
    wb = layer.wb
    layer.attach(make_params(np.float32))
    assert layer.wb is wb and layer.wb.W.dtype == np.float64


def test_input_shape_may_come_from_build():
    layer = ConvLayer(None, (4, 3, 3), padding=1, params=make_params())
    assert layer.output_shape is None
    assert layer.build((2, 5, 5)) == (4, 5, 5)
    assert layer.wb.W.shape == (4, 2, 3, 3)


def test_config_round_trip_through_json():
    layer = ConvLayer((3, 9, 8), (4, 3, 2), stride=(2, 1), padding=(1, 0),
                      params=make_params())
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"input_shape": [3, 9, 8], "kernel_shape": [4, 3, 2],
                      "stride": [2, 1], "padding": [1, 0]}
    again = ConvLayer.from_config(config, None, make_params())
    assert again.get_config() == config
    assert again.output_shape == layer.output_shape
    assert again.wb.W.shape == layer.wb.W.shape
    rebuilt = layer_from_config("ConvLayer", config, make_params())
    assert type(rebuilt) is ConvLayer and rebuilt.output_shape == layer.output_shape


def test_spec_short_keys():
    layer = ConvLayer.from_config({"filters": 16, "kernel": 5, "padding": 2}, (1, 28, 28),
                                  make_params())
    assert layer.get_config()["kernel_shape"] == [16, 5, 5]
    assert layer.output_shape == (16, 28, 28)
    layer = ConvLayer.from_config({"filters": 8, "kernel": [3, 2]}, (2, 6, 6), make_params())
    assert layer.wb.W.shape == (8, 2, 3, 2)
    with pytest.raises(ValueError, match="not both"):
        ConvLayer.from_config({"filters": 8, "kernel": 3, "kernel_shape": (8, 3, 3)},
                              (1, 6, 6), make_params())
    with pytest.raises(ValueError, match="kernel"):
        ConvLayer.from_config({"filters": 8}, (1, 6, 6), make_params())
    with pytest.raises(ValueError, match="filters"):
        ConvLayer.from_config({"filters": 0, "kernel": 3}, (1, 6, 6), make_params())


def test_registry_names():
    assert LAYERS.get("conv") is ConvLayer
    assert LAYERS.get("ConvLayer") is ConvLayer
    assert LAYERS.name_of(ConvLayer) == "conv"


def test_msra_std_uses_the_kernel_fan_in():
    layer = ConvLayer((64, 9, 9), (128, 5, 5), params=make_params(init_method="msra"))
    layer.initialize(RandomStreams(0))
    W = layer.wb.W
    assert W.shape == (128, 64, 5, 5)
    expected = math.sqrt(2.0 / (64 * 5 * 5))
    assert abs(W.std() / expected - 1) < 0.02
    assert abs(W.mean()) < 0.02 * expected
    assert np.all(layer.wb.B == 0)


def test_xavier_uses_both_kernel_fans():
    layer = ConvLayer((32, 9, 9), (96, 3, 3), params=make_params(init_method="xavier_normal"))
    layer.initialize(RandomStreams(1))
    expected = math.sqrt(2.0 / (32 * 9 + 96 * 9))
    assert abs(layer.wb.W.std() / expected - 1) < 0.02


# ----- buffers ------------------------------------------------------------------
def steady_state_peak(layer, x, delta):
    """Peak traced bytes of three training steps after two warm-up steps."""
    for _ in range(2):
        layer.forward(x, True)
        layer.backward(delta)
    tracemalloc.start()
    try:
        for _ in range(3):
            layer.forward(x, True)
            layer.backward(delta)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("need_input_grad", [True, False])
def test_steady_state_reuses_its_arrays(need_input_grad):
    peaks = []
    for batch in (8, 64):
        layer = make_conv((3, 32, 32), (4, 3, 3), padding=1)
        layer.need_input_grad = need_input_grad
        x = np.random.default_rng(8).normal(size=(batch, 3, 32, 32))
        delta = np.ones((batch,) + layer.output_shape)
        y1, dx1 = layer.forward(x, True), layer.backward(delta)
        y2, dx2 = layer.forward(x, True), layer.backward(delta)
        assert y1 is y2 and dx1 is dx2
        peaks.append(steady_state_peak(layer, x, delta))
    # NumPy's strided ufuncs use transient iterator buffers of at most 8192
    # elements per operand whatever the batch; an array of the batch (the
    # output alone grows by 1.8 MB here) would make the peak grow with it
    assert peaks[1] < peaks[0] + 16 * 1024, peaks
    assert peaks[1] < 400 * 1024, peaks


def test_a_new_batch_size_gets_its_own_arrays():
    layer = make_conv((1, 6, 6), (2, 3, 3), padding=1)
    big = layer.forward(np.ones((4, 1, 6, 6)), True)
    small = layer.forward(np.ones((2, 1, 6, 6)), True)
    assert big.shape[0] == 4 and small.shape[0] == 2
    expected = loop_forward(np.ones((2, 1, 6, 6)), layer.wb.W, layer.wb.B, 1, 1)
    np.testing.assert_allclose(small, expected, rtol=0, atol=1e-12)


# ----- against PyTorch ----------------------------------------------------------
TORCH_CASES = [   # (input_shape, kernel_shape, stride, padding, batch): odd sizes, s 1-2, p 0-2
    ((3, 9, 7), (4, 3, 3), 1, 0, 3),
    ((3, 9, 7), (4, 3, 3), 1, 1, 3),
    ((2, 11, 13), (5, 5, 5), 1, 2, 5),
    ((3, 9, 7), (4, 3, 3), 2, 0, 3),
    ((3, 9, 7), (4, 3, 3), 2, 1, 3),
    ((2, 11, 13), (5, 5, 5), 2, 2, 5),
    ((1, 28, 28), (16, 5, 5), 1, 2, 7),          # the reference net's layers
    ((16, 14, 14), (32, 5, 5), 1, 2, 7),
    ((4, 10, 9), (3, 3, 2), (2, 1), (0, 2), 4),
    ((2, 15, 17), (6, 4, 3), (1, 2), (2, 1), 9),
]


@pytest.mark.parametrize("chunk", [None, 2], ids=["chunk-auto", "chunk2"])
@pytest.mark.parametrize("input_shape,kernel,stride,padding,batch", TORCH_CASES,
                         ids=[f"in{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-n{c[4]}" for c in TORCH_CASES])
def test_forward_and_all_gradients_equal_torch_conv2d(input_shape, kernel, stride, padding,
                                                      batch, chunk):
    torch = pytest.importorskip("torch", reason="PyTorch is the reference here "
                                "(pip install -e '.[bench]')")
    layer = make_conv(input_shape, kernel, stride, padding, seed=5)
    force_plan(layer, samples_per_chunk=chunk)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(batch,) + input_shape)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.wb.W.copy(), requires_grad=True)
    bt = torch.tensor(layer.wb.B.copy(), requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=pair(stride), padding=pair(padding))
    y = layer.forward(x, True)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    delta = rng.normal(size=y.shape)
    yt.backward(torch.tensor(delta))
    dx = layer.backward(delta)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.wb.dW, wt.grad.numpy(), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(layer.wb.dB, bt.grad.numpy(), rtol=1e-12, atol=1e-11)


# ----- threads ----------------------------------------------------------------------
@pytest.fixture
def many_cores(monkeypatch):
    """Worker threads as asked, even on a machine with fewer cores than that."""
    from framework.infra import threads
    monkeypatch.setattr(threads, "_usable_cores", lambda: 8)


@pytest.mark.parametrize("input_shape,kernel,stride,padding", [
    ((16, 14, 14), (32, 5, 5), 1, 2), ((3, 12, 30), (4, 3, 3), 2, 1)])
def test_results_are_the_same_bits_for_any_number_of_threads(many_cores, input_shape, kernel,
                                                             stride, padding):
    """Each chunk writes its own output rows and partial dW / dB, summed in chunk
    order: 1, 2 or 3 worker threads give identical float32 results."""
    from framework.infra import threads
    rng = np.random.default_rng(9)
    x = rng.normal(size=(37,) + input_shape).astype(np.float32)
    results = []
    for count in (1, 2, 3):
        layer = make_conv(input_shape, kernel, stride, padding, dtype=np.float32)
        force_plan(layer, samples_per_chunk=3)
        delta = np.random.default_rng(10).normal(size=(37,) + layer.output_shape).astype(
            np.float32)
        with threads.blas_threads(count):
            assert threads.worker_threads() == count
            y = layer.forward(x, True).copy()
            dx = layer.backward(delta).copy()
        results.append((y, dx, layer.wb.dW.copy(), layer.wb.dB.copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_alternating_batch_sizes_keep_their_plans_and_results():
    """The batch, the last partial batch and an inference chunk take turns; each size
    keeps its plan (no rebuild), and every pass still equals the loops."""
    layer = make_conv((2, 7, 6), (3, 3, 3), 1, 1)
    rng = np.random.default_rng(20)
    plans = {}
    for batch in (5, 2, 3, 5, 2, 3, 5):
        x = rng.normal(size=(batch, 2, 7, 6))
        y = layer.forward(x, True)
        np.testing.assert_allclose(y, loop_forward(x, layer.wb.W, layer.wb.B, 1, 1), atol=1e-12)
        delta = rng.normal(size=y.shape)
        dx_loop, dw_loop, _ = loop_backward(x, layer.wb.W, delta, 1, 1)
        np.testing.assert_allclose(layer.backward(delta), dx_loop, atol=1e-12)
        np.testing.assert_allclose(layer.wb.dW, dw_loop, atol=1e-12)
        assert plans.setdefault(batch, layer._plan) is layer._plan
    with pytest.raises(ValueError, match="delta of shape"):
        layer.backward(np.zeros((2,) + layer.output_shape))     # the last forward had 5
