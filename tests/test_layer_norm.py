"""LayerNormLayer: its equations against PyTorch's LayerNorm in float64 (forward, dx,
dgamma, dbeta), central differences in a net, and what differs from batch norm."""
import numpy as np
import pytest

import framework as fw
from framework import LayerNormLayer
from framework.random_streams import RandomStreams


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the 'reference' "
                                               "extra: pip install -e '.[reference]')")


def _params(**fields):
    base = dict(learning_rate=0.1, max_epoch=1, batch_size=8, dtype="float64", seed=0)
    return fw.HyperParameters(**{**base, **fields})


def _layer(shape, rng, eps=1e-5):
    """A float64 layer with random gamma and beta (ones and zeros would hide mistakes)."""
    layer = LayerNormLayer(shape, eps=eps, params=_params())
    layer.initialize(RandomStreams(0))
    layer.gamma.value[...] = rng.normal(1.0, 0.5, layer.gamma.shape)
    layer.beta.value[...] = rng.normal(0.0, 0.5, layer.beta.shape)
    return layer


@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_forward_and_every_gradient_equal_pytorch_layer_norm(shape):
    torch = _torch()
    rng = np.random.default_rng(1)
    layer = _layer(shape, rng, eps=1e-3)
    x = rng.normal(2.0, 3.0, (6,) + shape)
    delta = rng.normal(size=(6,) + shape)
    y = layer.forward(x, train=True).copy()
    dx = layer.backward(delta).copy()

    reference = torch.nn.LayerNorm(shape, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.value[0]))
        reference.bias.copy_(torch.from_numpy(layer.beta.value[0]))
    tx = torch.tensor(x, requires_grad=True)
    ty = reference(tx)
    ty.backward(torch.from_numpy(delta))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.gamma.grad[0], reference.weight.grad.numpy(),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.beta.grad[0], reference.bias.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


def test_every_sample_has_mean_beta_and_its_own_statistics():
    rng = np.random.default_rng(2)
    layer = LayerNormLayer((2, 3, 3), params=_params())
    layer.initialize(RandomStreams(0))
    x = rng.normal(size=(4, 2, 3, 3)) * np.array([1, 10, 100, 1000])[:, None, None, None]
    y = layer.forward(x, train=True)
    flat = y.reshape(4, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(flat.var(axis=1), 1, rtol=1e-3)      # eps aside
    # a sample's output does not depend on the other samples, nor on the mode
    alone = layer.forward(x[2:3], train=False).copy()
    np.testing.assert_array_equal(alone, layer.forward(x, train=True)[2:3])


def test_a_net_with_layer_norm_passes_the_gradient_check_on_vectors_and_maps():
    rng = np.random.default_rng(3)
    params = _params(net_type="multiple_classifier")
    vector = fw.NeuralNet.from_specs(params, [
        {"type": "fc", "size": 6}, {"type": "layer_norm"}, {"type": "tanh"},
        {"type": "fc", "size": 3}, {"type": "softmax"}], (4,))
    maps = fw.NeuralNet.from_specs(params, [
        {"type": "conv", "filters": 2, "kernel": 3, "padding": 1}, {"type": "layer_norm"},
        {"type": "relu"}, {"type": "flatten"}, {"type": "fc", "size": 3},
        {"type": "softmax"}], (1, 4, 4))
    for net, shape in ((vector, (4,)), (maps, (1, 4, 4))):
        for name in ("ln1/gamma", "ln1/beta"):      # start away from ones and zeros
            value = net.parameters()[name].value
            value += rng.normal(0, 0.3, value.shape)
        x, y = rng.normal(size=(5,) + shape), rng.integers(0, 3, 5)
        errors = fw.check_gradients(net, x, y)
        assert max(errors.values()) < 1e-6, errors
        assert {"ln1/gamma", "ln1/beta"} <= set(errors)


def test_gamma_and_beta_are_parameters_that_do_not_decay_and_it_trains_on_one_sample():
    params = _params(net_type="multiple_classifier", regular_name="l2", regular_value=0.5,
                     batch_size=1)
    net = fw.NeuralNet.from_specs(params, [{"type": "fc", "size": 5}, {"type": "layer_norm"},
                                           {"type": "relu"}, {"type": "fc", "size": 2},
                                           {"type": "softmax"}], (3,))
    gamma = net.parameters()["ln1/gamma"]
    assert gamma.shape == (1, 5) and not gamma.decay and gamma.regularizer.lam == 0
    assert net.get_layer("ln1").min_training_batch() == 1
    assert net.layers[1].buffers() == {}            # no running statistics
    loss, _ = net.train_step(np.ones((1, 3)), np.array([1]))
    assert np.isfinite(loss)


def test_options_and_shapes_are_checked():
    for eps in (0, -1e-5, float("nan"), "1e-5", True):
        with pytest.raises(ValueError, match="LayerNormLayer eps"):
            LayerNormLayer(4, eps=eps)
    layer = LayerNormLayer(4)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 4\)"):
        layer.forward(np.ones((2, 5)), train=True)
    with pytest.raises(RuntimeError, match="no input shape yet"):
        LayerNormLayer().initialize(RandomStreams(0))
    standalone = LayerNormLayer((2, 2)).forward(np.ones((1, 2, 2)), train=False)
    assert standalone.dtype == np.float32 and standalone.shape == (1, 2, 2)
