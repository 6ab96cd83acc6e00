"""LayerMonitor and the diagnostic pass (framework.diagnostics.probe): the notes'
lesson measured (gradients vanish toward the input of a deep sigmoid net with a
small initial scale, not with He + ReLU), every number against a hand
computation, the net left exactly as it was, training bit-identical with it."""
import json
import math

import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from framework.callbacks import LayerMonitor
from framework.diagnostics import probe
from framework.diagnostics.probe import rms
from net_state import same_arrays


def _reader(n=256, features=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    labels = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)
    reader = ArrayDataReader(x, labels % classes)
    reader.normalize_y("multiple_classifier")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


def _deep_net(activation, init, scale=1.0, depth=10, width=32, batch_norm=False, **options):
    params = fw.HyperParameters(learning_rate=0.1, max_epoch=2, batch_size=32,
                                net_type="multiple_classifier", init_method=init,
                                init_scale=scale, optimizer_name="sgd", seed=3, **options)
    specs = fw.mlp_specs([width] * (depth - 1), 3, activation, batch_norm,
                         classifier="softmax")
    return fw.NeuralNet.from_specs(params, specs, (16,))


def _monitored(net, reader, **options):
    monitor = LayerMonitor(reader, **options)
    net.train(reader, checkpoint=1.0, callbacks=[monitor], verbose=0, need_test=False)
    return monitor


def _side_ratio(monitor, reading=0):
    """(output-side / input-side) RMS of the weight gradients of the first and last fc,
    and of the input gradients of the second and the last fc layer."""
    weights = monitor.parameter("fc10/W")[reading] / monitor.parameter("fc1/W")[reading]
    grads = monitor.input_grad_rms[:, reading]
    names = monitor.layer_names
    inputs = grads[names.index("fc10")] / grads[names.index("fc2")]
    return weights, inputs


def test_a_deep_sigmoid_net_with_a_small_scale_has_vanishing_gradients_he_relu_does_not():
    reader = _reader()
    sigmoid = _monitored(_deep_net("sigmoid", "normal", 0.01), reader)
    relu = _monitored(_deep_net("relu", "msra"), reader)
    for reading in (0, -1):                 # at the start and after two epochs
        weights, inputs = _side_ratio(sigmoid, reading)
        assert weights > 100 and inputs > 100, (weights, inputs)
        weights, inputs = _side_ratio(relu, reading)
        assert weights < 100 and inputs < 100, (weights, inputs)
    # the vanishing is geometric: every sigmoid layer divides the gradient again
    fc_rows = [sigmoid.layer_names.index(f"fc{k}") for k in range(2, 11)]
    assert np.all(np.diff(np.log(sigmoid.input_grad_rms[fc_rows, 0])) > 0)
    # the sigmoid net's hidden activations sit at 0.5 and hardly spread
    hidden = [i for i, name in enumerate(sigmoid.layer_names) if name.startswith("sigmoid")]
    assert np.all(sigmoid.output_std[hidden] < 0.05)
    assert np.allclose(sigmoid.output_mean[hidden], 0.5, atol=0.05)


def test_batch_norm_keeps_the_gradients_of_the_small_scale_sigmoid_net_alive():
    monitor = _monitored(_deep_net("sigmoid", "normal", 0.01, batch_norm=True), _reader())
    weights, inputs = _side_ratio(monitor, 0)
    assert weights < 100 and inputs < 100, (weights, inputs)


def test_the_arrays_are_layers_by_readings_with_when_and_what_it_cost():
    reader = _reader()
    net = _deep_net("relu", "msra", depth=3)
    monitor = _monitored(net, reader)
    readings = 1 + 2                            # the start, then one per epoch
    assert monitor.layer_names == net.layer_names
    assert monitor.parameter_names == list(net.parameters())
    for field in ("output_mean", "output_std", "zero_fraction", "input_grad_rms"):
        assert getattr(monitor, field).shape == (len(net.layers), readings)
    for field in ("grad_rms", "update_ratio"):
        assert getattr(monitor, field).shape == (len(net.parameters()), readings)
    assert monitor.reading_epochs == [0.0, 1.0, 2.0]
    assert monitor.reading_iterations[0] == 0 and monitor.reading_iterations[-1] == net.iteration
    assert monitor.seconds > 0
    assert math.isnan(monitor.input_grad_rms[0, 0])         # the first layer has no dL/dx
    assert np.all(np.isfinite(monitor.input_grad_rms[1:]))
    text = json.dumps(monitor.as_dict())
    assert json.loads(text)["input_grad_rms"][0][0] is None
    every_other = LayerMonitor(reader, every=2, at_start=False)
    net2 = _deep_net("relu", "msra", depth=3)
    net2.train(reader, epochs=4, checkpoint=1.0, callbacks=[every_other], verbose=0,
               need_test=False)
    assert every_other.reading_epochs == [2.0, 4.0]
    net2.train(reader, epochs=1, checkpoint=1.0, callbacks=[every_other], verbose=0,
               need_test=False)                         # a second call goes on appending
    assert every_other.reading_epochs == [2.0, 4.0]     # (every 2nd checkpoint of this call)
    with pytest.raises(KeyError, match="fc9/W"):
        monitor.parameter("fc9/W")


def test_every_number_is_what_the_step_computes_by_hand():
    reader = _reader()
    net = _deep_net("relu", "msra", depth=3, regular_name="l2", regular_value=0.01)
    rng = np.random.default_rng(5)
    rows = rng.choice(reader.num_train, 32, replace=False)
    x, y = reader.x_train[rows].astype(np.float32), reader.y_train[rows].astype(np.float32)
    reading = probe(net, x, y, lr=0.1)
    a = x                                              # the forward pass, by hand
    for layer, measured in zip(net.layers, reading.layers):
        a = layer.forward(a, True).copy()
        assert measured.output_mean == pytest.approx(a.astype(np.float64).mean(), rel=1e-6)
        assert measured.output_std == pytest.approx(a.astype(np.float64).std(), rel=1e-6)
        assert measured.zero_fraction == np.mean(a == 0)
    assert reading.layers[-1].output_mean == pytest.approx(1 / 3)   # softmax rows sum to 1
    grads = net.gradients(x, y)                        # data loss + the L2 penalty's
    for key, parameter in net.parameters().items():
        measured = reading.parameters[key]
        data_grad = grads[key] - (0.01 * parameter.value if key.endswith("/W") else 0)
        assert measured.grad_rms == pytest.approx(rms(data_grad), rel=1e-4)
        # plain SGD: the update is lr * (gradient + penalty gradient)
        if not np.any(parameter.value):         # a bias at its start: no scale to compare
            assert measured.update_ratio == math.inf
            continue
        expected = rms(0.1 * grads[key]) / rms(parameter.value)
        assert measured.update_ratio == pytest.approx(expected, rel=1e-3), key
    # the classifier's input gradient is the fused one: (a - y) / m at the logits
    fused = (net.predict(x) * 0 + net.forward(x, True) - y) / len(x)
    assert reading.layers[-1].input_grad_rms == pytest.approx(rms(fused), rel=1e-5)


@pytest.mark.parametrize("clipping", [{"clip_norm": 0.05}, {"clip_value": 1e-3}])
def test_with_clipping_the_measured_update_is_the_clipped_one_training_makes(clipping):
    """The gradients are read before clipping (what explodes); the update after it,
    as the training step makes it: the ratio equals that of one real train_step."""
    reader = _reader()
    net = _deep_net("relu", "msra", depth=3, **clipping)
    x, y = reader.x_train[:32].astype(np.float32), reader.y_train[:32].astype(np.float32)
    reading = probe(net, x, y, lr=0.1)
    raw = net.gradients(x, y)
    before = {key: p.value.copy() for key, p in net.parameters().items()}
    net.train_step(x, y, lr=0.1)
    clipped_any = False
    for key, parameter in net.parameters().items():
        measured = reading.parameters[key]
        assert measured.grad_rms == pytest.approx(rms(raw[key]), rel=1e-5)   # unclipped
        if not np.any(before[key]):
            continue
        step = rms(parameter.value - before[key]) / rms(before[key])
        assert measured.update_ratio == pytest.approx(step, rel=1e-5), key
        clipped_any |= step < 0.1 * rms(raw[key]) / rms(before[key]) * 0.999
    assert clipped_any                       # the settings really clipped this batch


def test_the_probe_leaves_the_net_exactly_as_it_was():
    net = fw.NeuralNet.from_specs(
        fw.HyperParameters(learning_rate=0.1, max_epoch=2, batch_size=32,
                           net_type="multiple_classifier", optimizer_name="nag"),
        fw.mlp_specs([16, 16], 3, "relu", batch_norm=True, dropout=0.3,
                     classifier="softmax"), (16,))
    reader = _reader()
    net.train(reader, epochs=1, verbose=0, need_test=False)    # optimizer state, statistics
    state = net.state_dict()
    grads = {key: p.grad.copy() for key, p in net.parameters().items()}
    noise = net.streams.noise.bit_generator.state
    reading = probe(net, reader.x_train[:32], reader.y_train[:32], keep=True)
    assert same_arrays(state, net.state_dict())
    assert all(np.array_equal(grads[key], p.grad) for key, p in net.parameters().items())
    assert net.streams.noise.bit_generator.state == noise
    assert all(math.isfinite(r.update_ratio) and r.update_ratio > 0
               for r in reading.parameters.values())
    kept = reading.layers[1]
    assert kept.output.shape == (32, 16) and kept.input_grad.shape == (32, 16)
    assert reading.parameters["fc1/W"].grad.shape == (16, 16)


@pytest.mark.parametrize("optimizer", ["adam", "nag"])
def test_training_is_bit_identical_with_and_without_the_monitor(optimizer):
    specs = [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1},
             {"type": "batch_norm"}, {"type": "relu"}, {"type": "pooling", "size": 2},
             {"type": "flatten"}, {"type": "dropout", "ratio": 0.3},
             {"type": "fc", "size": 3}, {"type": "softmax"}]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 1, 6, 6))
    reader = ArrayDataReader(x, (x[:, 0, 0, 0] > 0).astype(int) + (x[:, 0, 1, 1] > 0))
    reader.normalize_y("multiple_classifier")
    reader.generate_validation_set(k=4)
    runs = []
    for callbacks in ([], [LayerMonitor(reader, samples=20)]):
        params = fw.HyperParameters(learning_rate=0.05, max_epoch=3, batch_size=16,
                                    net_type="multiple_classifier", optimizer_name=optimizer,
                                    seed=4)
        net = fw.NeuralNet.from_specs(params, specs, (1, 6, 6))
        history = net.train(reader, checkpoint=0.5, callbacks=callbacks, verbose=0,
                            need_test=False)
        runs.append((net.state_dict(), history.column("train_loss"),
                     history.column("val_loss")))
    assert same_arrays(runs[0][0], runs[1][0])
    assert runs[0][1:] == runs[1][1:]


def test_the_figure_is_written(tmp_path):
    monitor = _monitored(_deep_net("relu", "msra", depth=3), _reader())
    path = tmp_path / "layers.png"
    monitor.plot(str(path), title="three layers")
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="nothing to plot"):
        LayerMonitor(_reader()).plot()


def test_bad_arguments_are_refused_with_their_name():
    reader = _reader()
    with pytest.raises(ValueError, match="data"):
        LayerMonitor(None)
    with pytest.raises(ValueError, match="data"):
        LayerMonitor([1, 2, 3])
    with pytest.raises(ValueError, match="samples"):
        LayerMonitor(reader, samples=0)
    with pytest.raises(ValueError, match="every"):
        LayerMonitor(reader, every=1.5)
    with pytest.raises(ValueError, match="at_start"):
        LayerMonitor(reader, at_start="yes")
    wrong = (np.zeros((8, 5)), np.zeros(8, dtype=int))     # 5 features, the net wants 16
    net = _deep_net("relu", "msra", depth=2)
    with pytest.raises(ValueError, match="LayerMonitor: expected 16 features"):
        net.train(reader, epochs=1, callbacks=[LayerMonitor(wrong)], verbose=0)
