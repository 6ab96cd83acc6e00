"""ONNX export and import (framework/infra/onnx): onnxruntime runs the exported MNIST
MLP, BN + dropout MLP and reference CNN to our predictions within 1e-5 (float32);
every built-in layer goes out and comes back; PyTorch's MLP and LeNet-style CNN,
exported by torch.onnx.export (both exporters), load and predict what PyTorch
predicts; an imported net fine-tunes, saves and loads; what cannot be imported is
refused naming the node and the op.

Needs the ``onnx`` extra (onnx, onnxruntime, onnxscript); the PyTorch tests also the
``reference`` extra (torch)."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed "
                                          "(pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (the onnx extra) is not "
                                                "installed (pip install -e '.[onnx]')")

import framework as fw  # noqa: E402
from datareaders.base import ArrayDataReader  # noqa: E402
from framework.errors import WeightsFileError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN_SPECS = [{"type": "conv", "filters": 4, "kernel": 5, "padding": 2}, {"type": "relu"},
             {"type": "pooling", "size": 2}, {"type": "conv", "filters": 8, "kernel": 5,
                                               "padding": 2}, {"type": "relu"},
             {"type": "pooling", "size": 2}, {"type": "flatten"},
             {"type": "fc", "size": 10}, {"type": "softmax"}]


def _params(net_type="multiple_classifier", **options):
    return fw.HyperParameters(learning_rate=0.05, max_epoch=5, batch_size=16,
                              net_type=net_type, init_method="msra", seed=1, **options)


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _randomize_statistics(net, seed=0):
    """Running statistics that are not the initial zeros and ones."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        for name, buffer in layer.buffers().items():
            buffer[...] = rng.uniform(0.5, 1.5, buffer.shape) if "var" in name \
                else rng.normal(0, 0.5, buffer.shape)


def _mnist_mlp():
    return fw.NeuralNet.from_specs(_params(), fw.mlp_specs([128, 64, 32, 16], 10, "relu",
                                                           classifier="softmax"), (784,))


def _bn_dropout_mlp():
    net = fw.NeuralNet.from_specs(_params(), fw.mlp_specs(
        [64, 32], 10, "relu", batch_norm=True, dropout=0.3, classifier="softmax"), (784,))
    _randomize_statistics(net)
    return net


def _reference_cnn():
    return fw.NeuralNet.from_specs(_params(), CNN_SPECS, (1, 28, 28), "lenet")


@pytest.mark.parametrize("make, shape", [(_mnist_mlp, (784,)), (_bn_dropout_mlp, (784,)),
                                         (_reference_cnn, (1, 28, 28))])
def test_onnxruntime_predicts_what_we_predict(tmp_path, make, shape):
    net = make()
    rng = np.random.default_rng(3)
    path = tmp_path / "net.onnx"
    assert net.to_onnx(path) == path
    for batch in (1, 7, 33):                            # one file, any batch size
        x = rng.normal(size=(batch,) + shape).astype(np.float32)
        out = _run(path, x)
        assert out.dtype == np.float32 and out.shape == (batch, 10)
        np.testing.assert_allclose(out, net.predict(x), rtol=0, atol=1e-5)
    fixed = tmp_path / "fixed.onnx"
    net.to_onnx(fixed, dynamic_batch=False, batch_size=5)
    model = onnx.load(fixed)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][0] == 5
    x = rng.normal(size=(5,) + shape).astype(np.float32)
    np.testing.assert_allclose(_run(fixed, x), net.predict(x), rtol=0, atol=1e-5)
    with pytest.raises(Exception):                      # a fixed batch is fixed
        _run(fixed, x[:2])
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == list(shape)


def test_the_graph_is_the_layers_named_as_the_net_names_them(tmp_path):
    net = _bn_dropout_mlp()
    net.to_onnx(tmp_path / "n.onnx")
    graph = onnx.load(tmp_path / "n.onnx").graph
    assert [(n.name, n.op_type) for n in graph.node] == [
        ("fc1", "Gemm"), ("bn1", "BatchNormalization"), ("relu1", "Relu"),
        ("dropout1", "Dropout"), ("fc2", "Gemm"), ("bn2", "BatchNormalization"),
        ("relu2", "Relu"), ("dropout2", "Dropout"), ("fc3", "Gemm"), ("softmax1", "Softmax")]
    assert {"fc1/W", "fc1/B", "bn1/running_var", "dropout1/ratio"} <= \
        {init.name for init in graph.initializer}


ALL_LAYERS = [{"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": 1},
              {"type": "batch_norm"}, {"type": "elu", "alpha": 0.7},
              {"type": "pooling", "size": 2, "stride": 1, "pool_type": "mean"},
              {"type": "leaky_relu", "alpha": 0.2}, {"type": "pooling", "size": 2},
              {"type": "flatten"}, {"type": "dropout", "ratio": 0.25},
              {"type": "fc", "size": 6}, {"type": "batch_norm"}, {"type": "tanh"},
              {"type": "fc", "size": 5}, {"type": "sigmoid"}, {"type": "fc", "size": 5},
              {"type": "softplus"}, {"type": "fc", "size": 4}, {"type": "identity"}]


@pytest.mark.parametrize("net_type, end", [("multiple_classifier", "softmax"),
                                           ("binary_classifier", "logistic"),
                                           ("fitting", None)])
def test_every_built_in_layer_goes_out_and_comes_back(tmp_path, net_type, end):
    specs = ALL_LAYERS + ([{"type": "fc", "size": 1 if end == "logistic" else 4}]
                          + ([{"type": end}] if end else []))
    net = fw.NeuralNet.from_specs(_params(net_type), specs, (2, 9, 9), "every")
    _randomize_statistics(net)
    x = np.random.default_rng(0).normal(size=(6, 2, 9, 9)).astype(np.float32)
    net.to_onnx(tmp_path / "e.onnx")
    np.testing.assert_allclose(_run(tmp_path / "e.onnx", x), net.predict(x), atol=1e-5)
    back = fw.NeuralNet.from_onnx(tmp_path / "e.onnx")
    assert back.layer_names == net.layer_names and back.name == "every"
    assert back.params.net_type is net.params.net_type
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in net.layers]
    assert [layer.get_config() for layer in back.layers] == \
        [layer.get_config() for layer in net.layers]
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    for key, value in net.state_dict().items():
        if "/" in key and not key.startswith("optimizer/"):
            np.testing.assert_array_equal(back.state_dict()[key], value, err_msg=key)


RESIDUAL_NETS = {
    "mlp, layer norm in the block": ([
        {"type": "fc", "size": 6},
        {"type": "residual", "layers": [{"type": "layer_norm"}, {"type": "relu"},
                                        {"type": "fc", "size": 6}]},
        {"type": "fc", "size": 3}, {"type": "softmax"}], (5,)),
    "mlp, linear shortcut, nested block": ([
        {"type": "fc", "size": 4},
        {"type": "residual", "projection": "linear", "layers": [
            {"type": "fc", "size": 6}, {"type": "relu"},
            {"type": "residual", "layers": [{"type": "fc", "size": 6}]}]},
        {"type": "fc", "size": 3}, {"type": "softmax"}], (5,)),
    "cnn, strided block, 1x1 conv shortcut, layer norm over maps": ([
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "residual", "projection": "linear", "layers": [
            {"type": "conv", "filters": 6, "kernel": 3, "padding": 1, "stride": 2},
            {"type": "layer_norm"}, {"type": "relu"}]},
        {"type": "flatten"}, {"type": "fc", "size": 3}, {"type": "softmax"}], (2, 6, 6)),
}


@pytest.mark.parametrize("specs, shape", RESIDUAL_NETS.values(), ids=RESIDUAL_NETS.keys())
def test_residual_blocks_and_layer_norm_export_and_run_in_onnxruntime(tmp_path, specs, shape):
    """Issue 21's layers go out too: a block is its layers' nodes plus an Add, its weights
    named as net.parameters() names them; trained (non-trivial gamma, beta) first."""
    net = fw.NeuralNet.from_specs(_params(), specs, shape)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(9,) + shape).astype(np.float32)
    for _ in range(3):
        net.train_step(x, rng.integers(0, 3, 9))
    path = tmp_path / "res.onnx"
    net.to_onnx(path)
    np.testing.assert_allclose(_run(path, x), net.predict(x), rtol=0, atol=1e-5)
    graph = onnx.load(path).graph
    assert {init.name for init in graph.initializer} >= set(net.parameters())
    adds = [node.name for node in graph.node if node.op_type == "Add"]
    assert len(adds) == _blocks(specs) and adds[-1] == "res1"     # the outer block last
    if any(spec.get("type") == "residual" and spec.get("projection") for spec in specs):
        assert any(node.name.startswith("res1/shortcut") for node in graph.node)


def _blocks(specs):
    """Residual blocks in ``specs``, nested ones included."""
    return sum(1 + _blocks(spec["layers"]) for spec in specs if spec["type"] == "residual")


def test_layer_norm_needs_opset_17_and_a_block_is_refused_on_import(tmp_path):
    from framework.infra.onnx.export import build_model
    specs, shape = RESIDUAL_NETS["mlp, layer norm in the block"]
    net = fw.NeuralNet.from_specs(_params(), specs, shape)
    with pytest.raises(ValueError, match=r"'res1/ln1' \(LayerNormLayer\) needs opset >= 17"):
        build_model(net, opset=16)
    net.to_onnx(tmp_path / "res.onnx")
    with pytest.raises(ValueError, match=r"node 'res1' \(Add\): reads .*chain"):
        fw.NeuralNet.from_onnx(tmp_path / "res.onnx")
    plain = fw.NeuralNet.from_specs(_params(), [                  # no block: it comes back
        {"type": "fc", "size": 6}, {"type": "layer_norm", "eps": 1e-3}, {"type": "relu"},
        {"type": "fc", "size": 3}, {"type": "softmax"}], shape)
    for parameter in plain.parameters().values():
        parameter.value[...] = np.random.default_rng(1).normal(size=parameter.shape)
    plain.to_onnx(tmp_path / "ln.onnx")
    back = fw.NeuralNet.from_onnx(tmp_path / "ln.onnx")
    assert back.layer_names == plain.layer_names and back.layers[1].eps == 1e-3
    x = np.random.default_rng(2).normal(size=(4,) + shape).astype(np.float32)
    np.testing.assert_allclose(back.predict(x), plain.predict(x), rtol=0, atol=1e-6)


def test_a_float64_net_exports_in_float64(tmp_path):
    net = fw.NeuralNet.from_specs(_params("fitting", dtype="float64"),
                                  fw.mlp_specs([5], 2, "tanh"), (3,))
    net.to_onnx(tmp_path / "d.onnx")
    x = np.random.default_rng(1).normal(size=(4, 3))
    out = _run(tmp_path / "d.onnx", x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, net.predict(x), rtol=1e-12)
    assert fw.NeuralNet.from_onnx(tmp_path / "d.onnx").params.dtype == np.float64


# ----- PyTorch's files ----------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_files(tmp_path_factory):
    """A PyTorch MLP (Linear, BatchNorm1d, ReLU, Dropout, Tanh, Softmax), a LeNet-style
    CNN and an x @ W + b net, each exported by torch.onnx.export (the TorchScript
    exporter and, with onnxscript, the default torch.export one): (name, exporter,
    path, input, PyTorch's output)."""
    torch = pytest.importorskip("torch", reason="torch (the reference extra) is not "
                                                "installed")
    nn = torch.nn
    torch.manual_seed(0)

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 4, 5, padding=2), nn.Conv2d(4, 8, 5, padding=2)
            self.fc1, self.fc2 = nn.Linear(8 * 7 * 7, 16), nn.Linear(16, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = nn.functional.avg_pool2d(torch.relu(self.conv2(x)), 2)
            return torch.softmax(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1)))), dim=1)

    class Affine(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.b = nn.Parameter(torch.randn(6, 3)), nn.Parameter(torch.randn(3))

        def forward(self, x):
            return torch.sigmoid(x @ self.w + self.b)

    mlp = nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 4), nn.Softmax(dim=1))
    with torch.no_grad():
        mlp[1].running_mean.uniform_(-1, 1)
        mlp[1].running_var.uniform_(0.5, 2.0)
    models = {"mlp": (mlp, torch.randn(5, 20)), "lenet": (LeNet(), torch.randn(5, 1, 28, 28)),
              "affine": (Affine(), torch.randn(5, 6))}
    exporters = ["torchscript"]
    try:
        import onnxscript  # noqa: F401
        exporters.append("torch.export")
    except ImportError:
        pass
    folder, found = tmp_path_factory.mktemp("torch"), []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (model, x) in models.items():
            model.eval()
            expected = model(x).detach().numpy()
            for exporter in exporters:
                path = folder / f"{name}_{exporter}.onnx"
                if exporter == "torchscript":
                    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"],
                                      dynamic_axes={"x": {0: "batch"}})
                else:
                    torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False,
                                      dynamic_shapes=({0: torch.export.Dim("batch")},))
                found.append((name, exporter, path, x.numpy(), expected))
    return found


def test_pytorch_mlp_and_lenet_load_and_predict_what_pytorch_predicts(torch_files):
    ops = {}
    for name, exporter, path, x, expected in torch_files:
        net = fw.NeuralNet.from_onnx(path)
        np.testing.assert_allclose(net.predict(x), expected, rtol=0, atol=1e-5,
                                   err_msg=f"{name} by {exporter}")
        ops.setdefault(name, set()).update(n.op_type for n in onnx.load(path).graph.node)
        kinds = [type(layer).__name__ for layer in net.layers]
        if name == "lenet":
            assert kinds == ["ConvLayer", "ActivationLayer", "PoolingLayer", "ConvLayer",
                             "ActivationLayer", "PoolingLayer", "FlattenLayer", "FcLayer",
                             "ActivationLayer", "FcLayer", "ClassificationLayer"]
            assert net.params.net_type is fw.NetType.MULTIPLE_CLASSIFIER
        if name == "affine":                          # sigmoid over 3 outputs: fitting
            assert net.params.net_type is fw.NetType.FITTING and kinds == [
                "FcLayer", "ActivationLayer"]
    assert {"Gemm", "BatchNormalization", "Softmax", "Tanh"} <= ops["mlp"]
    assert {"Conv", "MaxPool", "AveragePool", "Flatten"} <= ops["lenet"]
    assert {"MatMul", "Add"} <= ops["affine"]
    if any(exporter == "torch.export" for _, exporter, *_ in torch_files):
        assert "Reshape" in ops["lenet"]              # the new exporter's flatten


def test_an_imported_net_fine_tunes_saves_and_loads(torch_files, tmp_path):
    name, _, path, x, _ = next(f for f in torch_files if f[0] == "mlp")
    net = fw.NeuralNet.from_onnx(path, params=_params(optimizer_name="adam"))
    rng = np.random.default_rng(2)
    inputs = rng.normal(size=(200, 20))
    reader = ArrayDataReader(inputs, (inputs[:, 0] > 0).astype(int) + 2 * (inputs[:, 1] > 0))
    reader.normalize_y("multiple_classifier")
    reader.generate_validation_set(k=5)
    before = net.evaluate(*reader.get_validation_set())["loss"]
    history = net.train(reader, epochs=5, verbose=0, need_test=False)
    assert history.records[-1].train_loss < history.records[0].train_loss
    assert net.evaluate(*reader.get_validation_set())["loss"] < before
    net.save(tmp_path / "tuned.h5")
    again = fw.NeuralNet.load(tmp_path / "tuned.h5")
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
    again.to_onnx(tmp_path / "tuned.onnx")                  # and out again
    np.testing.assert_allclose(_run(tmp_path / "tuned.onnx", x.astype(np.float32)),
                               net.predict(x), atol=1e-5)


# ----- refusals -----------------------------------------------------------------------
def _graph_file(path, nodes, initializers=(), shape=(None, 4)):
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT,
                                       [None] * len(shape))],
        initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k)
                     for k, v in initializers])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_what_cannot_be_imported_is_refused_naming_node_and_op(tmp_path):
    from onnx import helper
    w = ("w", np.ones((4, 3)))
    unsupported = _graph_file(tmp_path / "u.onnx", [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"),
        helper.make_node("LogSoftmax", ["h"], ["y"], name="out", axis=1)], [w])
    with pytest.raises(ValueError, match=r"u\.onnx: node 'out' \(LogSoftmax\): op "
                                         r"'LogSoftmax' is not supported"):
        fw.NeuralNet.from_onnx(unsupported)
    branch = _graph_file(tmp_path / "b.onnx", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Add", ["x", "r"], ["y"], name="skip")])
    with pytest.raises(ValueError, match=r"node 'skip' \(Add\): reads \['x', 'r'\].*chain"):
        fw.NeuralNet.from_onnx(branch)
    grouped = _graph_file(tmp_path / "g.onnx", [
        helper.make_node("Conv", ["x", "k"], ["y"], name="conv", group=2)],
        [("k", np.ones((4, 1, 3, 3)))], shape=(None, 2, 8, 8))
    with pytest.raises(ValueError, match=r"node 'conv' \(Conv\): group=2"):
        fw.NeuralNet.from_onnx(grouped)
    padded = _graph_file(tmp_path / "p.onnx", [
        helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2],
                         pads=[0, 0, 1, 1])], shape=(None, 2, 8, 8))
    with pytest.raises(ValueError, match=r"node 'pool' \(MaxPool\): pads=\[0, 0, 1, 1\]"):
        fw.NeuralNet.from_onnx(padded)
    computed = _graph_file(tmp_path / "c.onnx", [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "r"], ["y"], name="square")])
    with pytest.raises(ValueError, match=r"node 'square' \(MatMul\)"):
        fw.NeuralNet.from_onnx(computed)
    symbolic = _graph_file(tmp_path / "s.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                           shape=("batch", "features"))
    with pytest.raises(ValueError, match="dimension 1 has no fixed size"):
        fw.NeuralNet.from_onnx(symbolic)
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage that is not protobuf")
    with pytest.raises(ValueError, match=r"junk\.onnx: not a valid ONNX model"):
        fw.NeuralNet.from_onnx(tmp_path / "junk.onnx")
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        fw.NeuralNet.from_onnx(tmp_path / "missing.onnx")
    wrong_type = _graph_file(tmp_path / "w.onnx", [helper.make_node("Relu", ["x"], ["y"])])
    with pytest.raises(ValueError, match=r"w\.onnx: .*'multiple_classifier' expects a "
                                         r"classification layer last"):
        fw.NeuralNet.from_onnx(wrong_type, params=_params())


def test_export_refusals_leave_no_file(tmp_path):
    class Scale(fw.Layer):
        def forward(self, x, train):
            return x * 2

    net = fw.NeuralNet(_params("fitting"))
    net.add_specs([{"type": "fc", "size": 3}], (4,))
    net.add_layer(Scale(), "scale1")
    with pytest.raises(ValueError, match=r"layer 'scale1' \(Scale\) has no ONNX form; "
                                         r"register one"):
        net.to_onnx(tmp_path / "x.onnx")
    good = _mnist_mlp()
    with pytest.raises(ValueError, match="batch_size fixes the batch"):
        good.to_onnx(tmp_path / "x.onnx", batch_size=4)
    with pytest.raises(ValueError, match="dynamic_batch"):
        good.to_onnx(tmp_path / "x.onnx", dynamic_batch="no")
    with pytest.raises(WeightsFileError, match="does not exist"):
        good.to_onnx(tmp_path / "nowhere" / "x.onnx")
    assert not os.path.exists(tmp_path / "x.onnx")
    (tmp_path / "old.onnx").write_bytes(b"old")
    good.to_onnx(tmp_path / "old.onnx")                   # replaced whole
    assert onnx.load(tmp_path / "old.onnx").graph.node[0].op_type == "Gemm"
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_import_framework_loads_neither_onnx_nor_tensorboardx():
    code = ("import sys, framework; framework.NeuralNet.to_onnx; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'tensorboardX', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip() == "[]"
