"""Convolutional nets on the shape contract: spatial batch norm, whole-CNN gradients,
save/load of every new layer, shape checks at add_layer, allocation-free steps."""
import json
import tracemalloc

import h5py
import numpy as np
import pytest

import framework as fw
from datareaders import ArrayDataReader
from framework.errors import WeightsFileError
from framework.losses import LossFunction
from framework.step import Step
from fresh_process import load_and_predict
from net_state import same_arrays
from gradcheck import max_relative_error, numerical_gradient

EVERY_NEW_LAYER = [
    {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
    {"type": "batch_norm"},
    {"type": "relu"},
    {"type": "pooling", "size": 2, "stride": 2},
    {"type": "conv", "filters": 5, "kernel": (3, 2), "stride": 1},
    {"type": "pooling", "size": 2, "stride": 1, "pool_type": "mean"},
    {"type": "flatten"},
    {"type": "dropout", "ratio": 0.2},
    {"type": "fc", "size": 3},
    {"type": "softmax"},
]


def _params(**kw):
    base = dict(learning_rate=0.05, max_epoch=2, batch_size=8, net_type="multiple_classifier",
                init_method="msra", optimizer_name="adam", seed=4)
    base.update(kw)
    return fw.HyperParameters(**base)


def _image_reader(n=48, shape=(2, 8, 8), classes=3, seed=0):
    """Images whose class is the brightest of three image regions (learnable)."""
    rng = np.random.default_rng(seed)
    def make(count):
        x = rng.uniform(0, 0.3, (count,) + shape)
        y = rng.integers(0, classes, count)
        thirds = np.array_split(np.arange(shape[1]), classes)
        for i, label in enumerate(y):
            x[i, :, thirds[label]] += 0.7
        return x, y
    reader = ArrayDataReader(*make(n), *make(n // 2))
    reader.normalize_y("multiple_classifier")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


# ------------------------------------------------------------- spatial batch norm
def test_spatial_batch_norm_gradients_in_training():
    rng = np.random.default_rng(0)
    layer = fw.BatchNormLayer((3, 3, 4), params=_params(dtype=np.float64))
    layer.initialize(fw.RandomStreams(0))
    layer.gamma.value[...] = rng.uniform(0.5, 1.5, layer.gamma.shape)
    layer.beta.value[...] = rng.normal(size=layer.beta.shape)
    x = rng.normal(size=(4, 3, 3, 4)) * rng.uniform(0.8, 1.5, (1, 3, 1, 1)) \
        + np.arange(3).reshape(1, 3, 1, 1)
    g = rng.normal(size=x.shape)

    def loss():
        return float(np.sum(layer.forward(x, train=True) * g))

    expected = [numerical_gradient(loss, a) for a in (x, layer.gamma.value, layer.beta.value)]
    layer.forward(x, train=True)
    dx = layer.backward(g).copy()
    for got, want in zip((dx, layer.gamma.grad, layer.beta.grad), expected):
        assert max_relative_error(got, want) < 1e-6


def test_spatial_batch_norm_normalises_each_channel_over_batch_and_positions():
    layer = fw.BatchNormLayer((3, 4, 4), momentum=0.0, params=_params(dtype=np.float64))
    layer.initialize(fw.RandomStreams(0))
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, (5, 3, 4, 4)) + np.arange(3).reshape(1, 3, 1, 1) * 10
    y = layer.forward(x, train=True)
    assert np.allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    assert np.allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-4)
    assert layer.running_mean.shape == (1, 3, 1, 1)
    assert np.allclose(layer.running_mean.ravel(), x.mean(axis=(0, 2, 3)))
    assert np.allclose(layer.running_var.ravel(), x.var(axis=(0, 2, 3)))
    one = layer.forward(x[:1], train=False).copy()        # inference: running statistics
    assert np.allclose(one, (x[:1] - layer.running_mean) / np.sqrt(layer.running_var + 1e-5))
    assert layer.get_config()["input_shape"] == [3, 4, 4]


# ----------------------------------------------------------------- whole CNN
def _total_loss(net, x, y):
    a = net.forward(x, train=True)
    return LossFunction(net.params.net_type).loss(a, y) + sum(
        p.penalty() for p in net.parameters().values())


def test_whole_small_cnn_with_l2_matches_central_differences():
    """One SGD step with lr 1 moves every array by exactly its gradient, so
    (before - after) must equal d(data loss + L2 penalty)/d(array), for every
    kernel, bias, gamma and beta of a net with two convolutions, spatial batch
    norm, max and mean pooling and a stride-2 non-square kernel."""
    params = fw.HyperParameters(1.0, 1, 5, net_type="multiple_classifier",
                                optimizer_name="sgd", regular_name="l2", regular_value=0.05,
                                dtype=np.float64, init_method="xavier", seed=3)
    specs = [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1},
             {"type": "batch_norm"}, {"type": "tanh"},
             {"type": "pooling", "size": 2, "stride": 2},
             {"type": "conv", "filters": 4, "kernel": (3, 2), "stride": 2, "padding": 1},
             {"type": "tanh"}, {"type": "pooling", "size": 2, "stride": 1, "pool_type": "mean"},
             {"type": "flatten"}, {"type": "fc", "size": 3}, {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(params, specs, (2, 8, 8), "cnn")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 2, 8, 8))
    y = np.eye(3)[rng.integers(0, 3, 5)]
    arrays = [p.value for p in net.parameters().values()]
    assert len(arrays) == 8 and arrays[0].shape == (3, 2, 3, 3)
    numerical = [numerical_gradient(lambda: _total_loss(net, x, y), a) for a in arrays]
    before = [a.copy() for a in arrays]
    Step(net)(x, y, 1.0)
    for b, a, n in zip(before, arrays, numerical):
        assert max_relative_error(b - a, n) < 1e-6 or np.max(np.abs(b - a - n)) < 1e-9


# ------------------------------------------------------------------ save / load
@pytest.fixture
def trained_cnn(tmp_path):
    reader = _image_reader()
    net = fw.NeuralNet.from_specs(_params(), EVERY_NEW_LAYER, (2, 8, 8), "cnn")
    history = net.train(reader, checkpoint=1, need_test=False, verbose=False)
    assert history.stop_reason
    path = tmp_path / "cnn.h5"
    net.save(path)
    return net, reader, path


def test_cnn_loads_in_a_fresh_process_with_bit_identical_predictions(trained_cnn, tmp_path):
    net, reader, path = trained_cnn
    x = reader.get_test_set()[0]
    predicted, info = load_and_predict(path, x, tmp_path)
    assert np.array_equal(predicted, net.inference(x))
    assert info["names"] == net.layer_names == ["conv1", "bn1", "relu1", "pooling1", "conv2",
                                                "pooling2", "flatten1", "dropout1", "fc1",
                                                "softmax1"]
    assert [tuple(s) for s in info["shapes"]] == net.layer_shapes
    assert (info["epoch"], info["iteration"]) == (net.epoch, net.iteration)


def test_cnn_resumes_from_file_exactly(trained_cnn):
    net, reader, path = trained_cnn
    loaded = fw.NeuralNet.load(path)
    assert same_arrays(loaded.state_dict(), net.state_dict())
    assert np.array_equal(loaded.get_layer("bn1").running_var, net.get_layer("bn1").running_var)


def test_kernel_shape_differing_from_the_config_is_refused(trained_cnn, tmp_path):
    _, _, path = trained_cnn
    with h5py.File(path, "r+") as f:
        kernel = f["layers/conv2/W"][()]
        del f["layers/conv2/W"]
        f["layers/conv2"].create_dataset("W", data=kernel[:, :, :2, :])   # (5, 4, 2, 2)
    with pytest.raises(WeightsFileError) as info:
        fw.NeuralNet.load(path)
    message = str(info.value)
    for word in (str(path), "conv2", "'W'", "(5, 4, 2, 2)", "(5, 4, 3, 2)"):
        assert word in message, message


def test_a_config_naming_an_unknown_layer_type_is_refused(trained_cnn):
    _, _, path = trained_cnn
    with h5py.File(path, "r+") as f:
        f["layers/conv1"].attrs["class"] = "os.system"
    with pytest.raises(WeightsFileError, match="unknown layer type 'os.system'"):
        fw.NeuralNet.load(path)


def test_input_shape_is_saved(trained_cnn):
    net, _, path = trained_cnn
    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["input_shape"]) == [2, 8, 8]
        assert f["layers/conv1/W"].shape == (4, 2, 3, 3) and f["layers/conv1/B"].shape == (4,)
        assert f["layers/bn1/running_mean"].shape == (1, 4, 1, 1)


# ------------------------------------------------------------------- building
def test_specs_record_shapes_and_summary_prints_them():
    net = fw.NeuralNet.from_specs(_params(), EVERY_NEW_LAYER, (2, 8, 8), "cnn")
    assert net.input_shape == (2, 8, 8)
    assert net.layer_shapes == [(4, 8, 8), (4, 8, 8), (4, 8, 8), (4, 4, 4), (5, 2, 3),
                                (5, 1, 2), (10,), (10,), (3,), (3,)]
    text = net.summary()
    assert "input 2x8x8" in text and "5x2x3" in text and "ConvLayer" in text
    assert f"{4 * 2 * 9 + 4:,}" in text                     # conv1 parameters
    assert net.layers[0].need_input_grad is False and net.layers[4].need_input_grad


def test_fc_after_feature_maps_asks_for_a_flatten_layer():
    params = _params()
    net = fw.NeuralNet(params)
    net.add_layer(fw.ConvLayer((1, 6, 6), (2, 3, 3), params=params), "conv")
    with pytest.raises(ValueError, match="FlattenLayer"):
        net.add_layer(fw.FcLayer(32, 4, params), "fc")
    with pytest.raises(ValueError, match="flatten"):
        fw.NeuralNet.from_specs(params, [{"type": "conv", "filters": 2, "kernel": 3},
                                         {"type": "fc", "size": 4}], (1, 6, 6))


def test_a_layer_class_instead_of_an_instance_is_refused_without_side_effects():
    params = _params()
    net = fw.NeuralNet(params)
    with pytest.raises(ValueError, match="the class FcLayer"):
        net.add_layer(fw.FcLayer, "fc")
    assert fw.FcLayer.need_input_grad is True
    with pytest.raises(ValueError, match="class"):
        fw.layers_from_specs([fw.ConvLayer], (1, 4, 4), params)


@pytest.mark.parametrize("specs, words", [
    ([{"type": "convolution"}], ["unknown layer type 'convolution'", "conv"]),
    ([{"size": 3}], ["'type'"]),
    (["fc"], ["dict"]),
    ([{"type": "conv", "filters": 0, "kernel": 3}], ["filters", "0"]),
    ([{"type": "pooling", "size": 9}], ["pool"]),
])
def test_bad_specs_say_what_is_wrong(specs, words):
    with pytest.raises(ValueError) as info:
        fw.NeuralNet.from_specs(_params(), specs, (1, 6, 6))
    for word in words:
        assert word in str(info.value), str(info.value)


def test_image_inputs_are_checked_against_the_input_shape():
    net = fw.NeuralNet.from_specs(_params(), EVERY_NEW_LAYER, (2, 8, 8))
    with pytest.raises(ValueError, match=r"\(samples, 2, 8, 8\).*reshape"):
        net.inference(np.zeros((3, 128)))
    with pytest.raises(ValueError, match="received shape"):
        net.inference(np.zeros((3, 2, 8, 9)))
    with pytest.raises(ValueError, match="real numbers"):
        net.inference(np.zeros((3, 2, 8, 8), complex))
    assert net.inference(np.zeros((3, 2, 8, 8))).shape == (3, 3)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_training_step_allocates_nothing_in_steady_state(workers, monkeypatch):
    """Five steps create small Python objects (views, floats) and NumPy's own
    fixed-size ufunc buffers (8192 values, ~64 KB at most, whatever the batch;
    one per thread running a ufunc at that moment, so two worker threads can
    hold two at once), but no batch-sized array: the smallest one here, the
    input batch, is 256 KB. With two worker threads too (each thread's scratch
    is made once)."""
    monkeypatch.setattr(fw.threads, "_usable_cores", lambda: 8)
    net = fw.NeuralNet.from_specs(_params(optimizer_name="nag", regular_name="l2",
                                          regular_value=1e-4), EVERY_NEW_LAYER, (2, 16, 16))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 2, 16, 16)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 128)]
    step = Step(net)
    with fw.threads.blas_threads(workers):
        for _ in range(3):
            step(x, y, 0.01)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(5):
                step(x, y, 0.01)
            growth = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    ufunc_buffers = workers * 64 * 1024
    allowed = ufunc_buffers + 64 * 1024                   # + small objects; < 256 KB
    assert growth < allowed, f"{growth} bytes allocated by 5 steady-state steps"


def test_cnn_learns_the_image_task():
    reader = _image_reader(n=240, seed=2)
    net = fw.NeuralNet.from_specs(_params(max_epoch=15, learning_rate=0.01),
                                  EVERY_NEW_LAYER, (2, 8, 8))
    history = net.train(reader, checkpoint=1, verbose=False)
    assert history.test_accuracy >= 0.9


def test_inference_of_a_feature_map_net_runs_fixed_size_chunks(monkeypatch):
    """Wide nets predict in chunks; the last, shorter one is padded to the chunk
    size, so the layers see one inference shape, and the result is unchanged."""
    import framework.net as net_module
    params = _params(dtype=np.float64)
    net = fw.NeuralNet.from_specs(params, EVERY_NEW_LAYER, (2, 8, 8))
    x = np.random.default_rng(0).normal(size=(23, 2, 8, 8))
    whole = net.inference(x)
    monkeypatch.setattr(net_module, "PREDICT_VALUES", 256 * 5)    # 5 samples per chunk
    assert net._predict_chunk() == 5
    seen = []
    conv = net.layers[0]
    original = conv.forward
    monkeypatch.setattr(conv, "forward", lambda a, train: seen.append(a.shape[0]) or
                        original(a, train))
    assert np.allclose(net.inference(x), whole, rtol=1e-12, atol=1e-15)
    assert seen == [5] * 5


def test_the_first_layer_must_accept_the_given_input_shape():
    with pytest.raises(ValueError, match=r"expects input shape \(5,\), but the net's input "
                                         r"shape is \(4,\)"):
        fw.NeuralNet.from_specs(_params(), [{"type": "fc", "input_size": 5, "output_size": 3}],
                                (4,))
    net = fw.NeuralNet.from_specs(_params(net_type="fitting"),
                                  [{"type": "relu"}, {"type": "fc", "size": 2}], 4)
    assert net.input_shape == (4,) and net.layer_shapes == [(4,), (2,)]


@pytest.mark.parametrize("make", [lambda: fw.ActivationLayer("tanh"),
                                  lambda: fw.ActivationLayer("softplus"),
                                  lambda: fw.ClassificationLayer("softmax"),
                                  lambda: fw.ClassificationLayer("logistic")])
def test_element_wise_and_output_layers_take_feature_maps(make):
    """Activation and classification layers on (N, C, H, W): central differences
    (softmax normalises over the channel axis, as PyTorch's does)."""
    layer = make()
    channels = 1 if isinstance(layer.function, fw.Logistic) else 3   # logistic: one output map
    layer.build((channels, 2, 4))
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(2, channels, 2, 4)), rng.normal(size=(2, channels, 2, 4))
    out = layer.forward(x, train=True)
    assert out.shape == x.shape
    if layer.function.name == "softmax":
        assert np.allclose(out.sum(axis=1), 1.0)
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(x, True) * g)), x)
    layer.forward(x, True)
    assert max_relative_error(layer.backward(g), numeric) < 1e-6


def test_dropout_on_feature_maps_keeps_the_shape_and_the_mean():
    layer = fw.DropoutLayer(ratio=0.25)
    layer.build((4, 8, 8))
    layer.initialize(fw.RandomStreams(0))
    x = np.ones((50, 4, 8, 8))
    out = layer.forward(x, train=True)
    assert out.shape == x.shape and abs(out.mean() - 1.0) < 0.02
    assert set(np.unique(out)) <= {0.0, 1.0 / 0.75}
    assert layer.forward(x, train=False) is x


def test_shape_free_layers_used_on_their_own_take_the_first_batch_shape():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4))
    flatten, pool = fw.FlattenLayer(), fw.PoolingLayer()
    assert flatten.forward(x, False).shape == (2, 48) and flatten.input_shape == (3, 4, 4)
    assert pool.forward(x, False).shape == (2, 3, 2, 2) and pool.output_shape == (3, 2, 2)
    with pytest.raises(ValueError, match="expected input of shape"):
        pool.forward(x[:, :, :3], False)
