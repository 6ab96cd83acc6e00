"""AdamW, Adam's AMSGrad switch and the registered losses against their published
equations in float64 (always) and against PyTorch (when it is installed: the
``reference`` extra, which CI installs); the losses' gradients against central
differences; per-parameter weight decay."""
import numpy as np
import pytest

import framework as fw
from framework.losses import LOSSES, make_loss
from framework.optimizers import make_optimizer
from gradcheck import max_relative_error, numerical_gradient

STEPS = 25


def _gradients(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) * (1 + 0.3 * k) for k in range(STEPS)]


def adam_by_the_equations(theta, grads, lr, beta1, beta2, eps, weight_decay=0.0,
                          amsgrad=False):
    """Loshchilov & Hutter's AdamW (Algorithm 2, PyTorch's order: decay, then Adam) and
    Reddi et al.'s AMSGrad, written out plainly."""
    theta = theta.copy()
    m, v, v_max = (np.zeros_like(theta) for _ in range(3))
    trajectory = []
    for t, g in enumerate(grads, 1):
        theta = theta * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = np.maximum(v_max, v)
        second = v_max if amsgrad else v
        theta = theta - lr * (m / (1 - beta1 ** t)) / (np.sqrt(second / (1 - beta2 ** t)) + eps)
        trajectory.append(theta.copy())
    return trajectory


def ours(name, theta, grads, lr, decay=True, **options):
    optimizer = make_optimizer(name, theta.shape, np.float64, decay=decay, **options)
    theta = theta.copy()
    trajectory = []
    for g in grads:
        optimizer.step(theta, g.copy(), lr)
        trajectory.append(theta.copy())
    return trajectory


CASES = [("adamw", {"weight_decay": 0.1}), ("adamw", {"weight_decay": 0.1, "amsgrad": True}),
         ("adam", {"amsgrad": True}), ("adamw", {"weight_decay": 0.0})]


@pytest.mark.parametrize("name,options", CASES)
def test_adamw_and_amsgrad_follow_the_published_equations(name, options):
    theta = np.random.default_rng(1).normal(size=(4, 3))
    grads = _gradients(theta.shape)
    got = ours(name, theta, grads, 0.01, beta1=0.8, beta2=0.95, eps=1e-7, **options)
    want = adam_by_the_equations(theta, grads, 0.01, 0.8, 0.95, 1e-7, **options)
    for step, (a, b) in enumerate(zip(got, want)):
        assert max_relative_error(a, b) < 1e-12, step


def test_decoupled_decay_skips_the_parameters_that_do_not_decay():
    theta = np.random.default_rng(2).normal(size=5)
    grads = _gradients(theta.shape, seed=3)
    no_decay = ours("adamw", theta, grads, 0.01, decay=False, weight_decay=0.5)
    plain = ours("adam", theta, grads, 0.01)
    assert np.array_equal(no_decay[-1], plain[-1])


def test_a_net_decays_weights_not_biases_unless_asked():
    specs = fw.mlp_specs([4], 2, "relu", batch_norm=True, classifier="softmax")
    for everything in (False, True):
        params = fw.HyperParameters(0.1, 1, 4, net_type="multiple_classifier",
                                    optimizer_name="adamw", optimizer_options={
                                        "weight_decay": 0.5}, decay_all_parameters=everything)
        net = fw.NeuralNet.from_specs(params, specs, (3,))
        decays = {key: p.optimizer.decay for key, p in net.parameters().items()}
        assert decays == {"fc1/W": True, "fc1/B": everything, "bn1/gamma": everything,
                          "bn1/beta": everything, "fc2/W": True, "fc2/B": everything}


def test_optimizer_options_are_checked_when_the_params_are_made():
    with pytest.raises(ValueError, match=r"adam optimizer: unknown option\(s\) \['ams_grad'\]"):
        fw.HyperParameters(0.1, 1, 4, optimizer_name="adam", optimizer_options={"ams_grad": 1})
    with pytest.raises(ValueError, match="adam optimizer amsgrad: expected True or False"):
        fw.HyperParameters(0.1, 1, 4, optimizer_name="adam", optimizer_options={"amsgrad": 1})
    with pytest.raises(ValueError, match="adamw optimizer weight_decay"):
        fw.HyperParameters(0.1, 1, 4, optimizer_name="adamw",
                           optimizer_options={"weight_decay": -1})
    params = fw.HyperParameters(0.1, 1, 4, optimizer_name="adam",
                                optimizer_options={"amsgrad": np.bool_(True)})
    assert make_optimizer("adam", (2,), **params.optimizer_options).state_names == \
        ("m", "v", "v_max")


def test_amsgrad_state_is_saved_and_checked_non_negative(tmp_path):
    params = fw.HyperParameters(0.1, 2, 4, net_type="multiple_classifier",
                                optimizer_name="adam", optimizer_options={"amsgrad": True})
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([3], 2, classifier="softmax"), (2,))
    x = np.random.default_rng(0).normal(size=(4, 2))
    net.train_step(x, np.eye(2)[[0, 1, 0, 1]])
    assert np.any(net.state_dict()["optimizer/fc1/W/v_max"] > 0)
    net.save(tmp_path / "a.h5")
    loaded = fw.NeuralNet.load(tmp_path / "a.h5")
    assert np.array_equal(loaded.state_dict()["optimizer/fc1/W/v_max"],
                          net.state_dict()["optimizer/fc1/W/v_max"])
    net.parameters()["fc1/W"].optimizer.state_arrays()["v_max"][0, 0] = -1.0
    with pytest.raises(fw.WeightsFileError, match="v_max.*negative"):
        net.save(tmp_path / "b.h5")


# ----- losses ----------------------------------------------------------------------------
def _pair(name, rng):
    if name == "cross_entropy":
        z = rng.normal(size=(6, 4))
        return np.exp(z) / np.exp(z).sum(1, keepdims=True), np.eye(4)[rng.integers(0, 4, 6)]
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, (6, 1)), rng.integers(0, 2, (6, 1)).astype(float)
    return rng.normal(size=(6, 3)) * 2, rng.normal(size=(6, 3))


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "binary_cross_entropy",
                                  "cross_entropy"])
def test_every_built_in_loss_gradient_matches_central_differences(name):
    rng = np.random.default_rng(4)
    a, y = _pair(name, rng)
    loss = make_loss({"name": "huber", "delta": 0.7} if name == "huber" else name)
    analytic = loss.gradient(a, y, np.empty_like(a))
    numeric = numerical_gradient(lambda: loss.loss(a, y), a)
    assert max_relative_error(analytic, numeric) < 1e-6


def test_the_losses_by_their_equations():
    a = np.array([[0.5, -2.0], [3.0, 1.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    r = a - y                                         # 0.5, -2, 2, 0
    assert make_loss("mse").loss(a, y) == pytest.approx((0.25 + 4 + 4) / 2 / 2)
    assert make_loss("mae").loss(a, y) == pytest.approx((0.5 + 2 + 2) / 2)
    huber = make_loss({"name": "huber", "delta": 1.0})
    assert huber.loss(a, y) == pytest.approx((0.125 + 1.5 + 1.5 + 0) / 2)
    np.testing.assert_allclose(huber.gradient(a, y, np.empty_like(a)),
                               np.clip(r, -1, 1) / 2)
    assert {"mse", "mae", "huber", "binary_cross_entropy", "cross_entropy"} <= set(LOSSES)


def test_a_loss_that_does_not_suit_the_net_type_is_refused():
    with pytest.raises(ValueError, match="'cross_entropy' is for net_type multiple_classifier"):
        fw.HyperParameters(0.1, 1, 4, net_type="fitting", loss="cross_entropy")
    with pytest.raises(ValueError, match="huber loss delta"):
        fw.HyperParameters(0.1, 1, 4, loss={"name": "huber", "delta": 0})
    with pytest.raises(ValueError, match="loss: expected one of"):
        fw.HyperParameters(0.1, 1, 4, loss="hubber")


def test_a_fitting_net_trains_with_huber_and_mae(tmp_path):
    from datareaders import ArrayDataReader
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ [[1.0], [-2.0], [0.5]] + 0.1 * rng.normal(size=(200, 1))
    y[:10] += 50                                      # outliers: huber and mae shrug them off
    for loss in ("huber", "mae"):
        params = fw.HyperParameters(0.05, 30, 16, loss=loss, seed=1)
        net = fw.NeuralNet.from_specs(params, [{"type": "fc", "size": 1}], (3,))
        net.train(ArrayDataReader(x, y), checkpoint=1, verbose=0)
        np.testing.assert_allclose(net.parameters()["fc1/W"].value.ravel(), [1, -2, 0.5],
                                   atol=0.15)
        net.save(tmp_path / f"{loss}.h5")
        expected = {"name": "huber", "delta": 1.0} if loss == "huber" else {"name": "mae"}
        assert fw.NeuralNet.load(tmp_path / f"{loss}.h5").params.loss == expected


# ----- against PyTorch ---------------------------------------------------------------------
def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the 'reference' "
                                               "extra: pip install -e '.[reference]')")


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adamw_equals_pytorch(amsgrad, weight_decay):
    torch = _torch()
    theta = np.random.default_rng(5).normal(size=(3, 4))
    grads = _gradients(theta.shape, seed=6)
    param = torch.tensor(theta.copy(), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.AdamW([param], lr=0.02, betas=(0.85, 0.99), eps=1e-8,
                                  weight_decay=weight_decay, amsgrad=amsgrad)
    got = ours("adamw", theta, grads, 0.02, beta1=0.85, beta2=0.99, eps=1e-8,
               weight_decay=weight_decay, amsgrad=amsgrad)
    for step, g in enumerate(grads):
        param.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        assert max_relative_error(got[step], param.detach().numpy()) < 1e-10, step


def test_huber_and_mae_equal_pytorch():
    torch = _torch()
    rng = np.random.default_rng(7)
    a, y = rng.normal(size=(5, 3)) * 2, rng.normal(size=(5, 3))
    for name, function in (("huber", lambda p, t: torch.nn.functional.huber_loss(
            p, t, reduction="sum", delta=0.8)), ("mae", lambda p, t:
                                                  torch.nn.functional.l1_loss(p, t, reduction="sum"))):
        loss = make_loss({"name": "huber", "delta": 0.8} if name == "huber" else name)
        p = torch.tensor(a, requires_grad=True)
        value = function(p, torch.tensor(y)) / a.shape[0]
        value.backward()
        assert loss.loss(a, y) == pytest.approx(float(value.detach()), rel=1e-12)
        np.testing.assert_allclose(loss.gradient(a, y, np.empty_like(a)), p.grad.numpy(),
                                   rtol=1e-12)
