"""Configurations that used to train silently on the wrong thing are refused (issue 12).

Each refusal is a ValueError whose message names what was expected and what
was received; each accepted variant (NumPy scalars, inference on one sample)
is checked to keep working. The memory estimate is compared with what NumPy
really allocates (tracemalloc sees every array's data).
"""
import math
import time
import tracemalloc

import numpy as np
import pytest

import framework as fw
from framework.activators import make_activator
from framework.initializers import initialize
from framework.layers.builder import mlp_specs
from framework.infra.memory import (MemoryEstimate, available_bytes, check_memory,
                              estimate_training_bytes, format_bytes)
from framework.optimizers import make_optimizer


def _params(**changes):
    options = dict(learning_rate=0.1, max_epoch=1, batch_size=4)
    options.update(changes)
    return fw.HyperParameters(**options)


def _batch_norm(shape):
    layer = fw.BatchNormLayer(shape)
    layer.initialize(fw.RandomStreams(0))
    return layer


# ----- batch norm on one value per statistic --------------------------------------
@pytest.mark.parametrize("shape,per", [((3,), r"feature \(batch rows\)"),
                                       ((2, 1, 1), r"channel \(batch x height x width\)")])
def test_batch_norm_refuses_to_train_on_one_value_per_statistic(shape, per):
    layer = _batch_norm(shape)
    x = np.full((1,) + shape, 2.0)
    with pytest.raises(ValueError, match=rf"at least 2 values per {per}.*received input of "
                                         rf"shape \(1, {', '.join(map(str, shape))}\)"):
        layer.forward(x, train=True)
    assert np.all(layer.running_mean == 0) and np.all(layer.running_var == 1)   # untouched
    out = layer.forward(x, train=False)              # inference on one sample is fine
    np.testing.assert_allclose(out, 2.0 / math.sqrt(1 + layer.eps), rtol=1e-6)


def test_batch_norm_trains_on_one_image_with_several_positions():
    layer = _batch_norm((2, 2, 1))
    x = np.array([[[[1.0], [3.0]], [[5.0], [9.0]]]])     # (1, 2, 2, 1): 2 values a channel
    out = layer.forward(x, train=True)
    np.testing.assert_allclose(out[0, :, :, 0], [[-1, 1], [-1, 1]], atol=1e-4)


def test_layers_say_the_smallest_batch_they_can_train_on():
    """What a training loop checks before its first step (and for its last batch)."""
    assert [_batch_norm(shape).min_training_batch() for shape in ((3,), (2, 1, 1), (2, 2, 1))] \
        == [2, 2, 1]
    assert fw.ActivationLayer("relu").min_training_batch() == 1


# ----- classifiers that fit their output --------------------------------------------
@pytest.mark.parametrize("name,shape,expected", [
    ("softmax", (1,), r"expected at least 2 outputs .*received input shape \(1,\)"),
    ("softmax", (1, 4, 4), r"expected at least 2 outputs .*received input shape \(1, 4, 4\)"),
    ("logistic", (3,), r"expected 1 output .*received input shape \(3,\); use 'softmax'"),
])
def test_classification_layer_refuses_an_output_its_function_makes_meaningless(
        name, shape, expected):
    with pytest.raises(ValueError, match=expected):
        fw.ClassificationLayer(name, shape)
    with pytest.raises(ValueError, match=expected):
        fw.ClassificationLayer(name).build(shape)


def test_a_net_names_the_layer_whose_classifier_does_not_fit():
    specs = [{"type": "fc", "size": 1}, {"type": "softmax"}]
    with pytest.raises(ValueError, match=r"add_layer\('softmax1'\).*always 1.0"):
        fw.NeuralNet.from_specs(_params(net_type="multiple_classifier"), specs, (4,))
    assert fw.ClassificationLayer("softmax", (2,)).output_shape == (2,)
    assert fw.ClassificationLayer("logistic", (1, 3, 3)).output_shape == (1, 3, 3)


# ----- NumPy scalars are numbers, bools and NaN are not -----------------------------
def test_numpy_scalars_are_accepted_wherever_python_numbers_are():
    p = _params()
    fc = fw.FcLayer(np.int64(4), np.int32(3), p)
    conv = fw.ConvLayer((1, 6, 6), (np.int64(2), np.int64(3), np.int64(3)),
                        stride=np.int64(1), padding=np.int64(1), params=p)
    pool = fw.PoolingLayer((2, 6, 6), pool_shape=np.int64(2), stride=np.int64(2))
    dropout = fw.DropoutLayer(np.int64(3), ratio=np.float32(0.25))
    bn = fw.BatchNormLayer(3, momentum=np.float32(0.5), eps=np.float64(1e-3))
    assert (fc.input_size, fc.units, conv.output_shape, pool.output_shape) == \
        (4, 3, (2, 6, 6), (2, 3, 3))
    assert dropout.ratio == 0.25 and bn.momentum == 0.5
    schedule = fw.make_schedule({"name": "cosine", "total_epochs": np.int64(4),
                                 "min_lr": np.float32(0.5)})
    assert schedule(1.0, np.int64(4)) == pytest.approx(0.5)
    step = fw.StepLR(step_size=np.int32(2), gamma=np.float32(0.5))
    assert step(1.0, 2) == 0.5
    assert make_optimizer("adam", (2,), beta1=np.float32(0.5), eps=np.float64(1e-7)).beta1 == 0.5
    assert make_activator({"name": "leaky_relu", "alpha": np.float32(0.5)}).alpha == 0.5
    assert initialize("msra", (3, 2), np.random.default_rng(0), scale=np.float32(2)).shape \
        == (3, 2)


@pytest.mark.parametrize("make,expected", [
    (lambda: fw.FcLayer(True, 3, _params()), r"input_size: expected a positive integer, got True"),
    (lambda: fw.ConvLayer((1, 6, 6), (2, 3, 3), stride=True),
     r"stride: expected an integer >= 1 .*got True"),
    (lambda: fw.DropoutLayer(3, ratio=True), r"ratio: expected a number in \[0, 1\), got True"),
    (lambda: fw.BatchNormLayer(3, momentum=False), r"momentum: expected a number in \[0, 1\], "
                                                   r"got False"),
    (lambda: fw.StepLR(gamma=True), r"gamma: expected a positive number, got True"),
    (lambda: make_optimizer("momentum", (2,), mu=True), r"mu: expected a number in \[0, 1\), "
                                                        r"got True"),
    (lambda: make_activator({"name": "elu", "alpha": True}), r"Elu alpha: expected a finite "
                                                              r"number >= 0, got True"),
    (lambda: initialize("msra", (3, 2), np.random.default_rng(0), scale=True),
     r"init scale: expected a finite number >= 0, got True"),
])
def test_bools_are_refused_where_numbers_are_expected(make, expected):
    with pytest.raises(ValueError, match=expected):
        make()


@pytest.mark.parametrize("make,expected", [
    (lambda: fw.DropoutLayer(3, ratio=float("nan")), r"ratio: expected a number in \[0, 1\), "
                                                     r"got nan"),
    (lambda: fw.BatchNormLayer(3, eps=float("inf")), r"eps: expected a positive number, got inf"),
    (lambda: fw.ExponentialLR(gamma=np.float32("inf")), r"gamma: expected a positive number, "
                                                        r"got np.float32\(inf\)"),
    (lambda: make_optimizer("adam", (2,), eps=np.float64("nan")),
     r"adam optimizer eps: expected a finite number >= 0, got np.float64\(nan\)"),
    (lambda: make_optimizer("rmsprop", (2,), rho=1.0), r"rho: expected a number in \[0, 1\), "
                                                       r"got 1.0"),
    (lambda: make_activator({"name": "leaky_relu", "alpha": float("nan")}),
     r"LeakyRelu alpha: expected a finite number >= 0, got nan"),
])
def test_nan_and_inf_are_refused_in_number_options(make, expected):
    with pytest.raises(ValueError, match=expected):
        make()


# ----- complex inputs -----------------------------------------------------------------
def _layers():
    p = _params()
    return [
        (lambda: fw.FcLayer(4, 3, p), (4,)),
        (lambda: fw.ConvLayer((1, 4, 4), (2, 3, 3), params=p), (1, 4, 4)),
        (lambda: fw.BatchNormLayer(4), (4,)),
        (lambda: fw.PoolingLayer((1, 4, 4)), (1, 4, 4)),
        (lambda: fw.FlattenLayer((1, 4, 4)), (1, 4, 4)),
        (lambda: fw.ActivationLayer("relu"), (4,)),
        (lambda: fw.DropoutLayer(4), (4,)),
        (lambda: fw.ClassificationLayer("softmax", (4,)), (4,)),
    ]


@pytest.mark.parametrize("make,shape", _layers())
@pytest.mark.parametrize("after_a_real_batch", [False, True])
def test_every_layer_refuses_complex_input(make, shape, after_a_real_batch):
    """Also after a real batch of the same shape, when the layers skip their shape checks."""
    layer = make()
    layer.initialize(fw.RandomStreams(0))
    x = np.ones((2,) + shape, np.float32) + 1j
    if after_a_real_batch:
        layer.forward(x.real.copy(), True)
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}: expected real numbers, got a "
                                         r"complex array \(dtype complex64.*the imaginary part "
                                         r"would be dropped"):
        layer.forward(x, True)


def test_layer_check_input_refuses_non_numeric_arrays():
    from framework.layers.base import check_input
    with pytest.raises(ValueError, match=r"expected an array of real numbers, got dtype <U1"):
        check_input("ScaleLayer", np.array([["a"]]), (1,))


# ----- learning-rate schedules -------------------------------------------------------
@pytest.mark.parametrize("config,expected", [
    ({"name": "cosine", "min_lr": float("nan")},
     r"min_lr: expected a finite number >= 0, got nan"),
    ({"name": "cosine", "min_lr": -0.1}, r"min_lr: expected a finite number >= 0, got -0.1"),
    ({"name": "polynomial", "end_lr": -1}, r"end_lr: expected a finite number >= 0, got -1"),
    ({"name": "cosine", "min_lr": 0.1, "foo": 2},
     r"'cosine': unknown option\(s\) \['foo'\]; expected one of \['min_lr', 'total_epochs'\]"),
    ({"name": "constant", "gamma": 0.5}, r"'constant': unknown option\(s\) \['gamma'\]; "
                                         r"expected no options"),
    ({"name": "multi_step", "milestones": 10}, r"milestones: expected a list of epochs, got 10"),
    ({"name": "step", "step_size": np.float32(2)}, r"step_size: expected a positive integer, "
                                                   r"got np.float32\(2.0\)"),
])
def test_schedules_refuse_bad_and_unknown_options(config, expected):
    with pytest.raises(ValueError, match=expected):
        fw.make_schedule(config)
    with pytest.raises(ValueError, match=expected):        # and so HyperParameters
        _params(lr_schedule=config)


def test_the_command_line_cosine_nan_is_refused():
    from apps.support.flags import parse_schedule
    with pytest.raises(ValueError, match=r"lr_schedule 'cosine' min_lr: expected a finite "
                                         r"number >= 0, got nan"):
        _params(lr_schedule=parse_schedule("cosine:nan", 10))
    assert _params(lr_schedule=parse_schedule("cosine:0.01", 10)).learning_rate_at(10) == \
        pytest.approx(0.01)


# ----- memory -------------------------------------------------------------------------
def _traced_training(specs, shape, batch, optimizer):
    """Peak bytes NumPy allocates to build a net, keep the training loop's two weight
    copies, run two training steps and one full inference chunk."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch,) + shape).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    chunk = rng.normal(size=(4096,) + shape).astype(np.float32)
    tracemalloc.start()
    try:
        params = _params(batch_size=batch, net_type="multiple_classifier",
                         optimizer_name=optimizer)
        net = fw.NeuralNet.from_specs(params, specs, shape)
        copies = [net.snapshot(), net.snapshot()]
        for _ in range(2):
            a = x
            for layer in net.layers:
                a = layer.forward(a, True)
            delta = (a - y) / batch                     # the fused softmax + CE delta
            for layer in reversed(net.layers[:-1]):
                delta = layer.backward(delta)
            for parameter in net.parameters().values():
                parameter.update(0.01)
        net.predict(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(copies) == 2
    return net, peak


CNN = [{"type": "conv", "filters": 8, "kernel": 5, "padding": 2}, {"type": "batch_norm"},
       {"type": "relu"}, {"type": "pooling", "size": 2}, {"type": "flatten"},
       {"type": "dropout", "ratio": 0.5}, {"type": "fc", "size": 10}, {"type": "softmax"}]


RESIDUAL_MLP = [{"type": "fc", "size": 64}, {"type": "relu"}] + [
    {"type": "residual", "layers": [{"type": "fc", "size": 64}, {"type": "layer_norm"},
                                    {"type": "relu"}]}] * 3 + [
    {"type": "fc", "size": 10}, {"type": "softmax"}]
RESIDUAL_CNN = [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                {"type": "residual", "layers": [
                    {"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
                    {"type": "batch_norm"}, {"type": "relu"}]},
                {"type": "residual", "projection": "linear", "layers": [
                    {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "stride": 2},
                    {"type": "layer_norm"}, {"type": "relu"}]},
                {"type": "flatten"}, {"type": "fc", "size": 10}, {"type": "softmax"}]


@pytest.mark.parametrize("specs,shape,optimizer", [
    (mlp_specs((64, 32), 10, classifier="softmax"), (784,), "sgd"),
    (mlp_specs((128,), 10, batch_norm=True, dropout=0.2, classifier="softmax"), (784,), "adam"),
    (CNN, (1, 28, 28), "momentum"),
    (RESIDUAL_MLP, (784,), "adam"),
    (RESIDUAL_CNN, (1, 28, 28), "sgd"),
])
def test_estimate_is_within_twice_what_training_allocates(specs, shape, optimizer):
    net, peak = _traced_training(specs, shape, 32, optimizer)
    from_net = estimate_training_bytes(net)
    from_specs = estimate_training_bytes(specs, shape, 32, optimizer=optimizer)
    assert from_net == from_specs == estimate_training_bytes(specs, shape, params=net.params)
    assert peak / 2 <= from_net.total <= 2 * peak, (from_net, peak)


def test_a_huge_mlp_is_refused_at_once_without_allocating():
    specs = mlp_specs((100000, 100000), 10, classifier="softmax")
    tracemalloc.start()
    try:
        start = time.perf_counter()
        estimate = estimate_training_bytes(specs, (784,), 64)
        with pytest.raises(ValueError, match=r"^this net needs about \d+\.\d GB for training "
                                             r"with batch 64; this machine has 23\.5 GB "
                                             r"available$"):
            check_memory(estimate, available=23.5e9)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.1 and peak < 1e6, (elapsed, peak)
    assert estimate.total > 2 * 4 * 100000 ** 2          # W and dW of the 100000x100000 layer
    with pytest.raises(ValueError, match="this machine has"):
        check_memory(estimate)                            # the real machine: ~282 GB is too much


def test_check_memory_passes_what_fits_and_reads_the_machine():
    estimate = estimate_training_bytes(mlp_specs((16,), 2, classifier="softmax"), (8,), 4)
    assert isinstance(estimate, MemoryEstimate) and 0 < estimate.total < 1e6
    assert check_memory(estimate) == estimate.total
    assert check_memory(10, available=10) == 10
    with pytest.raises(ValueError, match=r"needs about 2\.0 kB; this machine has 1\.0 kB"):
        check_memory(2000, available=1000)
    available = available_bytes()
    assert isinstance(available, int) and available > 0
    assert format_bytes(80e9) == "80.0 GB" and format_bytes(512) == "512 bytes"


def test_estimate_refuses_specs_it_cannot_shape():
    with pytest.raises(ValueError, match=r"layer spec 0 \('fc'\): FcLayer input_size: expected "
                                         r"a positive integer, got None"):
        estimate_training_bytes([{"type": "fc", "size": 3}], None, 4)
    with pytest.raises(ValueError, match=r"batch_size: expected a positive integer, got 0"):
        estimate_training_bytes([{"type": "relu"}], (3,), 0)


def test_parameter_bytes_count_every_array_a_weight_brings():
    """W (3, 2) + B (1, 2) = 8 values, each with: itself, its gradient, the optimizer's
    state and scratch, the penalty's work array if any, and the loop's two copies."""
    specs = [{"type": "fc", "size": 2}]
    sgd = estimate_training_bytes(specs, (3,), 4)                        # + 1 scratch
    adam = estimate_training_bytes(specs, (3,), 4, optimizer="adam")     # + m, v, 1 scratch
    adam_l2 = estimate_training_bytes(specs, (3,), 4, optimizer="adam", regularized=True)
    adam64 = estimate_training_bytes(specs, (3,), 4, np.float64, "adam")
    assert (sgd.parameters, adam.parameters, adam_l2.parameters, adam64.parameters) == \
        (8 * 5 * 4, 8 * 7 * 4, 8 * 8 * 4, 8 * 7 * 8)


def test_a_command_line_schedule_string_given_to_the_library_says_where_options_go():
    """``lr_schedule="cosine:nan"`` is the apps' flag syntax, not a schedule name: the
    error shows what was given and how to pass options to the library."""
    with pytest.raises(ValueError, match=r"got 'cosine:nan' \(options go in a dict"):
        fw.HyperParameters(learning_rate=0.1, max_epoch=2, batch_size=8,
                           lr_schedule="cosine:nan")
