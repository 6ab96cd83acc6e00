"""ResidualLayer: y = x + F(x) (or P(x) + F(x)) against its equation and against the
same block written in PyTorch (float64, output and every gradient); residual MLPs and
CNNs built from specs train, pass check_gradients, save and reload in a fresh process
with identical predictions; nested names everywhere a layer's names go."""
import json

import numpy as np
import pytest

import framework as fw
from datareaders.base import ArrayDataReader
from framework import ResidualLayer
from framework.infra.memory import estimate_training_bytes
from framework.state import first_non_finite
from fresh_process import load_and_predict


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the 'reference' "
                                               "extra: pip install -e '.[reference]')")


def _params(**fields):
    base = dict(learning_rate=0.05, max_epoch=3, batch_size=16, seed=3,
                net_type="multiple_classifier", dtype="float64")
    return fw.HyperParameters(**{**base, **fields})


BLOCK = [{"type": "fc", "size": 6}, {"type": "layer_norm"}, {"type": "tanh"},
         {"type": "fc", "size": 6}]
MLP = [{"type": "fc", "size": 6}, {"type": "relu"},
       {"type": "residual", "layers": BLOCK},
       {"type": "residual", "layers": [{"type": "fc", "size": 5}, {"type": "batch_norm"},
                                       {"type": "sigmoid"}], "projection": "linear"},
       {"type": "fc", "size": 3}, {"type": "softmax"}]
CNN = [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "relu"},
       {"type": "residual", "layers": [
           {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "relu"},
           {"type": "batch_norm"}, {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}]},
       {"type": "residual", "projection": "linear", "layers": [
           {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "stride": 2},
           {"type": "layer_norm"}, {"type": "relu"}]},
       {"type": "flatten"}, {"type": "fc", "size": 3}, {"type": "softmax"}]


def _reader(shape, n=96, seed=0):
    """A learnable 3-class problem: the class is the sign pattern of two input sums."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape)
    flat = x.reshape(n, -1)
    half = flat.shape[1] // 2
    y = (flat[:, :half].sum(1) > 0).astype(int) + (flat[:, half:].sum(1) > 0)
    reader = ArrayDataReader(x, y, x[:24], y[:24])
    reader.normalize_y("multiple_classifier")
    return reader


# ----- the equation ------------------------------------------------------------------------
def test_the_output_is_the_input_plus_what_the_inner_layers_make():
    rng = np.random.default_rng(0)
    net = fw.NeuralNet.from_specs(_params(), MLP, (4,))
    block, projected = net.get_layer("res1"), net.get_layer("res2")
    x = rng.normal(size=(5, 6))
    f = x
    for _, layer in block.inner_layers():
        f = layer.forward(f, True)
    expected = x + f
    np.testing.assert_array_equal(block.forward(x, True), expected)
    # with a learned projection: P(x) + F(x), P an fc layer named "shortcut"
    assert [name for name, _ in projected.inner_layers()] == ["fc1", "bn1", "sigmoid1",
                                                              "shortcut"]
    shortcut = projected.shortcut
    assert isinstance(shortcut, fw.FcLayer) and shortcut.wb.W.shape == (6, 5)
    f = x
    for _, layer in projected.inner_layers()[:-1]:
        f = layer.forward(f, True)
    np.testing.assert_allclose(projected.forward(x, True), x @ shortcut.wb.W + shortcut.wb.B + f,
                               rtol=1e-14)


def test_the_input_gradient_is_delta_plus_what_flows_through_the_block():
    rng = np.random.default_rng(1)
    block = ResidualLayer([{"type": "fc", "size": 4}, {"type": "tanh"}], 4, params=_params())
    block.initialize(fw.RandomStreams(0))
    x, delta = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    block.forward(x, True)
    fc, tanh = (layer for _, layer in block.inner_layers())
    through = (delta * (1 - np.tanh(x @ fc.wb.W + fc.wb.B) ** 2)) @ fc.wb.W.T
    np.testing.assert_allclose(block.backward(delta), delta + through, rtol=1e-13)
    assert all(layer.need_input_grad for _, layer in block.inner_layers())


def test_a_block_as_the_first_layer_returns_no_input_gradient_but_fills_its_own():
    net = fw.NeuralNet.from_specs(_params(), [{"type": "residual", "layers": BLOCK[:1] + [
        {"type": "relu"}, {"type": "fc", "size": 4}]}, {"type": "fc", "size": 3},
        {"type": "softmax"}], (4,))
    block = net.layers[0]
    assert not block.need_input_grad
    assert all(layer.need_input_grad for _, layer in block.inner_layers())
    x = np.random.default_rng(2).normal(size=(4, 4))
    block.forward(x, True)
    assert block.backward(np.ones((4, 4))) is None
    assert np.any(net.parameters()["res1/fc1/W"].grad != 0)


@pytest.mark.parametrize("projection", ["identity", "linear"])
def test_a_block_equals_the_same_block_written_in_pytorch(projection):
    torch = _torch()
    rng = np.random.default_rng(4)
    size = 5 if projection == "identity" else 3
    specs = [{"type": "fc", "size": 7}, {"type": "layer_norm"}, {"type": "tanh"},
             {"type": "fc", "size": size}]
    block = ResidualLayer(specs, 5, projection=projection, params=_params())
    block.initialize(fw.RandomStreams(9))
    names = dict(block.inner_layers())
    names["ln1"].gamma.value[...] = rng.normal(1, 0.3, (1, 7))
    names["ln1"].beta.value[...] = rng.normal(0, 0.3, (1, 7))
    x, delta = rng.normal(size=(6, 5)), rng.normal(size=(6, size))
    y = block.forward(x, True).copy()
    dx = block.backward(delta).copy()

    def linear(layer):
        module = torch.nn.Linear(*layer.wb.W.shape, dtype=torch.float64)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(layer.wb.W.T))
            module.bias.copy_(torch.from_numpy(layer.wb.B[0]))
        return module
    fc1, fc2 = linear(names["fc1"]), linear(names["fc2"])
    norm = torch.nn.LayerNorm(7, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(names["ln1"].gamma.value[0]))
        norm.bias.copy_(torch.from_numpy(names["ln1"].beta.value[0]))
    shortcut = linear(names["shortcut"]) if projection == "linear" else torch.nn.Identity()
    tx = torch.tensor(x, requires_grad=True)
    ty = shortcut(tx) + fc2(torch.tanh(norm(fc1(tx))))
    ty.backward(torch.from_numpy(delta))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-13)
    torch_grads = {"fc1/W": fc1.weight.grad.T, "fc1/B": fc1.bias.grad[None],
                   "ln1/gamma": norm.weight.grad[None], "ln1/beta": norm.bias.grad[None],
                   "fc2/W": fc2.weight.grad.T, "fc2/B": fc2.bias.grad[None]}
    if projection == "linear":
        torch_grads.update({"shortcut/W": shortcut.weight.grad.T,
                            "shortcut/B": shortcut.bias.grad[None]})
    assert set(block.parameters()) == set(torch_grads)
    for key, parameter in block.parameters().items():
        np.testing.assert_allclose(parameter.grad, torch_grads[key].numpy(), rtol=1e-10,
                                   atol=1e-13, err_msg=key)


# ----- residual nets from specs: train, check, save, reload ---------------------------------
@pytest.mark.parametrize("specs,shape", [(MLP, (4,)), (CNN, (2, 6, 6))],
                         ids=["mlp", "cnn"])
def test_a_residual_net_from_specs_trains_checks_and_reloads_in_a_fresh_process(
        specs, shape, tmp_path):
    rng = np.random.default_rng(5)
    checked = fw.NeuralNet.from_specs(_params(), specs, shape)
    errors = fw.check_gradients(checked, rng.normal(size=(6,) + shape), rng.integers(0, 3, 6))
    assert max(errors.values()) < 1e-6, errors
    assert any(key.startswith("res2/shortcut/") for key in errors)

    net = fw.NeuralNet.from_specs(_params(dtype="float32", optimizer_name="adam",
                                          learning_rate=0.01), specs, shape)
    reader = _reader(shape)
    history = net.train(reader, checkpoint=1, verbose=0, need_test=False)
    losses = history.column("train_loss")
    assert losses[-1] < losses[0]
    path = tmp_path / "residual.h5"
    net.save(path)
    x = reader.x_test
    predictions, info = load_and_predict(path, x, str(tmp_path))
    np.testing.assert_array_equal(predictions, net.predict(x))
    assert info["names"] == net.layer_names and info["epoch"] == 3
    again = fw.NeuralNet.load(path)
    for key, value in net.state_dict().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(again.state_dict()[key], value, err_msg=key)


def test_inner_parameters_buffers_and_optimizer_state_are_named_below_the_block(tmp_path):
    net = fw.NeuralNet.from_specs(_params(optimizer_name="adam"), MLP, (4,))
    keys = set(net.state_dict())
    assert {"res1/fc1/W", "res1/ln1/gamma", "res1/fc2/B", "res2/bn1/running_var",
            "res2/shortcut/W", "optimizer/res1/fc1/W/m", "optimizer/res2/shortcut/B/t"} <= keys
    assert "res2/bn1/running_var" not in net.parameters()
    net.save(tmp_path / "n.h5")
    import h5py
    with h5py.File(tmp_path / "n.h5") as handle:
        assert handle["layers/res1/fc1/W"].shape == (6, 6)
        assert "running_var" in handle["layers/res2/bn1"]
        config = json.loads(handle["layers/res2"].attrs["config"])
    assert config["projection"] == "linear"
    assert [spec["name"] for spec in config["layers"]] == ["fc1", "bn1", "sigmoid1"]
    # the save rules, the NaN guard and rollbacks see the nested arrays
    snapshot = net.snapshot()
    net.get_layer("res2").buffers()["bn1/running_var"][...] = -1.0
    with pytest.raises(fw.WeightsFileError, match="layer 'res2' array 'bn1/running_var' has "
                                                  "a negative value"):
        net.save(tmp_path / "bad.h5")
    net.parameters()["res1/fc2/W"].value[0, 0] = np.nan
    assert first_non_finite(net) == ("res1", "fc2/W")
    net.restore(snapshot)
    assert first_non_finite(net) is None
    assert net.get_layer("res2").buffers()["bn1/running_var"].min() == 1.0
    with pytest.raises(ValueError, match="missing parameter and buffer key"):
        net.load_state_dict({k: v for k, v in snapshot.items() if k != "res1/ln1/beta"})


def test_the_same_seed_gives_the_block_the_weights_of_the_same_layers_without_it():
    layers = [{"type": "fc", "size": 6}, {"type": "sigmoid"}]
    plain = fw.NeuralNet.from_specs(_params(), layers + layers + layers[:1] + [
        {"type": "softmax"}], (4,))
    blocked = fw.NeuralNet.from_specs(_params(), layers + [{"type": "residual", "layers": layers}]
                                      + layers[:1] + [{"type": "softmax"}], (4,))
    ours, theirs = plain.parameters(), blocked.parameters()
    assert list(theirs) == ["fc1/W", "fc1/B", "res1/fc1/W", "res1/fc1/B", "fc2/W", "fc2/B"]
    for a, b in zip(ours.values(), theirs.values()):
        np.testing.assert_array_equal(a.value, b.value)


def test_summary_lists_the_layers_inside_a_block_and_counts_them_once():
    net = fw.NeuralNet.from_specs(_params(), MLP, (4,))
    text = net.summary()
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.split()[1:3] == ["res2",
                                                                         "ResidualLayer"])
    assert lines[row].split()[3:] == ["5", str(6 * 5 + 5 + 2 * 5 + 6 * 5 + 5)]
    assert lines[row + 1].split() == ["fc1", "FcLayer", "5", "35"]     # indented, no index
    assert lines[row + 4].split() == ["shortcut", "FcLayer", "5", "35"]
    assert f"Total trainable parameters: {net.parameter_count():,}" in text
    assert net.parameter_count() == sum(p.size for p in net.parameters().values())


def test_nested_blocks_are_named_saved_and_loaded(tmp_path):
    inner = {"type": "residual", "layers": [{"type": "fc", "size": 4}, {"type": "relu"}]}
    specs = [{"type": "fc", "size": 4}, {"type": "residual", "layers": [inner, inner]},
             {"type": "fc", "size": 3}, {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(_params(), specs, (3,))
    assert "res1/res2/fc1/W" in net.parameters()
    net.save(tmp_path / "nested.h5")
    x = np.random.default_rng(6).normal(size=(5, 3))
    np.testing.assert_array_equal(fw.NeuralNet.load(tmp_path / "nested.h5").predict(x),
                                  net.predict(x))
    deep = [{"type": "fc", "size": 2}]
    for _ in range(7):
        deep = [{"type": "residual", "layers": deep}]
    too_deep = fw.NeuralNet.from_specs(_params(), [{"type": "fc", "size": 2}] + deep + [
        {"type": "softmax"}], (3,))
    with pytest.raises(fw.WeightsFileError, match="groups deep"):
        too_deep.save(tmp_path / "deep.h5")
    assert not (tmp_path / "deep.h5").exists()


def test_the_memory_estimate_counts_the_layers_inside_a_block():
    plain = [{"type": "fc", "size": 32}, {"type": "relu"}, {"type": "fc", "size": 32},
             {"type": "relu"}, {"type": "fc", "size": 10}, {"type": "softmax"}]
    blocked = plain[:2] + [{"type": "residual", "layers": plain[2:4]}] + plain[4:]
    a = estimate_training_bytes(plain, (64,), 16)
    b = estimate_training_bytes(blocked, (64,), 16)
    assert a.parameters == b.parameters             # the same weights
    assert b.activations == a.activations + 16 * (32 + 32) * 4     # + y and dx of the block
    net = fw.NeuralNet.from_specs(_params(dtype="float32", batch_size=16), blocked, (64,))
    assert estimate_training_bytes(net) == b


# ----- refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec,message", [
    ({"type": "residual", "layers": [{"type": "fc", "size": 3}]},
     r"F outputs shape \(3,\) but its input has shape \(4,\).*\"projection\": \"linear\""),
    ({"type": "residual", "layers": []}, "at least one layer"),
    ({"type": "residual", "layers": {"type": "fc", "size": 4}}, "expected a list"),
    ({"type": "residual", "layers": [{"type": "fc", "size": 4}], "projection": "conv"},
     r"projection: expected one of \['identity', 'linear'\], got 'conv'"),
    ({"type": "residual", "layers": [{"type": "fc", "size": 4}, {"type": "softmax"}]},
     "classification layer .* cannot be inside a block"),
    ({"type": "residual", "layers": [{"type": "fc", "size": 4, "name": "a/b"}]},
     "inner layer name 'a/b'"),
    ({"type": "residual", "projection": "linear",
      "layers": [{"type": "fc", "size": 4, "name": "shortcut"}]}, "'shortcut'"),
    ({"type": "residual", "layers": [{"type": "fc", "size": 4}, {"type": "fcc"}]},
     "unknown layer type 'fcc'"),
])
def test_blocks_that_cannot_be_built_are_refused_naming_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        fw.NeuralNet.from_specs(_params(), [spec, {"type": "fc", "size": 2},
                                            {"type": "softmax"}], (4,))


def test_a_map_shortcut_needs_a_whole_stride_and_keeps_maps_as_maps():
    params = _params(net_type="fitting")
    with pytest.raises(ValueError, match="no linear shortcut maps shape"):
        fw.NeuralNet.from_specs(params, [{"type": "residual", "projection": "linear",
                                          "layers": [{"type": "flatten"},
                                                     {"type": "fc", "size": 4}]}], (1, 4, 4))
    net = fw.NeuralNet.from_specs(params, [{"type": "residual", "projection": "linear",
                                            "layers": [{"type": "conv", "filters": 2,
                                                        "kernel": 3, "stride": 2,
                                                        "padding": 1}]}],
                                  (1, 6, 6))
    assert net.layers[0].shortcut.stride == (2, 2) and net.output_shape == (2, 3, 3)
