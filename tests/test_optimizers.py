"""Optimizers: golden trajectories from the published equations, convergence on
a toy problem, state round trips and option checking."""
import math

import numpy as np
import pytest

from framework.enums import NetType, OptimizerName
from framework.hyper_parameters import HyperParameters
from framework.layers import ClassificationLayer, FcLayer
from framework.losses import LossFunction
from framework.optimizers import make_optimizer
from framework.random_streams import RandomStreams

THETA0 = [1.0, -2.0]
LR = 0.1
STEPS = 5


def grad(theta):
    """A gradient that changes along the path: g(theta) = 2 theta + 1."""
    return [2.0 * t + 1.0 for t in theta]


# --- reference trajectories: the published update rules, element by element ---

def ref_sgd(theta, g, state):
    return theta - LR * g


def ref_momentum(theta, g, state, mu=0.9):
    state["v"] = mu * state.get("v", 0.0) - LR * g
    return theta + state["v"]


def ref_adagrad(theta, g, state, eps=1e-6):
    state["r"] = state.get("r", 0.0) + g * g
    return theta - LR * g / (math.sqrt(state["r"]) + eps)


def ref_adadelta(theta, g, state, rho=0.95, eps=1e-6):
    state["eg"] = rho * state.get("eg", 0.0) + (1 - rho) * g * g
    dx = -math.sqrt(state.get("edx", 0.0) + eps) / math.sqrt(state["eg"] + eps) * g
    state["edx"] = rho * state.get("edx", 0.0) + (1 - rho) * dx * dx
    return theta + dx


def ref_rmsprop(theta, g, state, rho=0.9, eps=1e-6):
    state["r"] = rho * state.get("r", 0.0) + (1 - rho) * g * g
    return theta - LR * g / math.sqrt(state["r"] + eps)


def ref_adam(theta, g, state, b1=0.9, b2=0.999, eps=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    m_hat, v_hat = state["m"] / (1 - b1 ** t), state["v"] / (1 - b2 ** t)
    return theta - LR * m_hat / (math.sqrt(v_hat) + eps)


REFERENCES = {"sgd": ref_sgd, "momentum": ref_momentum, "adagrad": ref_adagrad,
              "adadelta": ref_adadelta, "rmsprop": ref_rmsprop, "adam": ref_adam}


def reference_trajectory(rule):
    theta, states, path = list(THETA0), [{}, {}], []
    for _ in range(STEPS):
        g = grad(theta)
        theta = [rule(t, gi, s) for t, gi, s in zip(theta, g, states)]
        path.append(list(theta))
    return path


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_golden_trajectory(name):
    optimizer = make_optimizer(name, (2,), np.float64)
    theta, path = np.array(THETA0), []
    for _ in range(STEPS):
        optimizer.look_ahead(theta)
        optimizer.step(theta, np.array(grad(theta.tolist())), LR)
        path.append(theta.copy())
    expected = reference_trajectory(REFERENCES[name])
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(path[0], THETA0)      # it moved


def test_nag_matches_sutskever_and_one_step_forms():
    mu = 0.9
    optimizer = make_optimizer("nag", (2,), np.float64, mu=mu)
    theta = np.array(THETA0)
    # Sutskever et al. (2013): v <- mu v - lr g(theta + mu v); theta <- theta + v
    ref_theta, ref_v = list(THETA0), [0.0, 0.0]
    # One-step form in phi = theta + mu v: v <- mu v - lr g(phi); phi <- phi + mu v - lr g(phi)
    phi, phi_v = list(THETA0), [0.0, 0.0]
    for _ in range(STEPS):
        optimizer.look_ahead(theta)
        np.testing.assert_allclose(theta, phi, rtol=1e-12, atol=1e-14)
        g = grad(theta.tolist())
        optimizer.step(theta, np.array(g), LR)

        look = [t + mu * v for t, v in zip(ref_theta, ref_v)]
        ref_v = [mu * v - LR * gi for v, gi in zip(ref_v, grad(look))]
        ref_theta = [t + v for t, v in zip(ref_theta, ref_v)]
        np.testing.assert_allclose(theta, ref_theta, rtol=1e-12, atol=1e-14)

        g_phi = grad(phi)
        phi_v = [mu * v - LR * gi for v, gi in zip(phi_v, g_phi)]
        phi = [p + mu * v - LR * gi for p, v, gi in zip(phi, phi_v, g_phi)]
    assert not np.allclose(theta, THETA0)


def two_blobs(rng, n=200):
    """Two Gaussian blobs, label 1 around (2, 1), label 0 around (-1, -2)."""
    half = n // 2
    x = np.vstack([rng.normal((2.0, 1.0), 0.8, (half, 2)),
                   rng.normal((-1.0, -2.0), 0.8, (half, 2))])
    y = np.vstack([np.ones((half, 1)), np.zeros((half, 1))])
    return x, y


LEARNING_RATES = {"sgd": 0.5, "momentum": 0.1, "nag": 0.1, "adagrad": 0.5,
                  "adadelta": 1.0, "rmsprop": 0.02, "adam": 0.05}


@pytest.mark.parametrize("name", [o.value for o in OptimizerName])
def test_every_optimizer_trains_a_linear_classifier(name):
    x, y = two_blobs(np.random.default_rng(0))
    params = HyperParameters(learning_rate=LEARNING_RATES[name], max_epoch=1, batch_size=len(x),
                             optimizer_name=name, dtype=np.float64,
                             net_type=NetType.BINARY_CLASSIFIER)
    fc, out = FcLayer(2, 1, params), ClassificationLayer("logistic")
    fc.initialize(RandomStreams(0))
    fc.need_input_grad = False
    wb, loss = fc.wb, LossFunction(params.net_type)
    wb.W[...] = [[-1.0], [-1.0]]          # start pointing the wrong way: must learn
    start = loss.accuracy(out.forward(fc.forward(x, True), True), y)
    for _ in range(300):
        wb.pre_update()
        a = out.forward(fc.forward(x, True), True)
        fc.backward(loss.delta(out.z, a, y))
        wb.update(params.learning_rate)
    final = loss.accuracy(out.forward(fc.forward(x, False), False), y)
    assert start < 0.1 and final >= 0.95, (start, final)


@pytest.mark.parametrize("name", [o.value for o in OptimizerName])
def test_state_starts_at_zero_and_round_trips(name):
    optimizer = make_optimizer(name, (3,), np.float32)
    for key, value in optimizer.state().items():
        assert np.all(np.asarray(value) == 0), key
    theta = np.ones(3, np.float32)
    for i in range(3):
        optimizer.look_ahead(theta)
        optimizer.step(theta, np.array([0.5, -1.0, 2.0], np.float32) * (i + 1), 0.1)
    saved = optimizer.state()
    clone = make_optimizer(name, (3,), np.float32)
    clone.set_state(saved)
    theta_a, theta_b = theta.copy(), theta.copy()
    for opt, th in ((optimizer, theta_a), (clone, theta_b)):
        opt.look_ahead(th)
        opt.step(th, np.array([1.0, 1.0, -1.0], np.float32), 0.1)
    np.testing.assert_array_equal(theta_a, theta_b)
    if name != "sgd":
        assert any(np.any(np.asarray(v) != 0) for v in saved.values())


def test_state_is_a_copy_and_shapes_are_checked():
    optimizer = make_optimizer("adam", (2,), np.float64)
    optimizer.step(np.zeros(2), np.ones(2), 0.1)
    state = optimizer.state()
    assert state["t"] == 1
    state["m"][...] = 99.0
    assert not np.any(optimizer.state()["m"] == 99.0)
    with pytest.raises(ValueError, match="shape"):
        optimizer.set_state({"m": np.zeros(3), "v": np.zeros(2), "t": 1})
    with pytest.raises(ValueError, match="keys"):
        optimizer.set_state({"m": np.zeros(2)})


@pytest.mark.parametrize("name,options", [("sgd", {"mu": 0.9}), ("adam", {"rho": 0.9}),
                                          ("momentum", {"mu": 0.9, "beta": 1})])
def test_unknown_option_is_an_error_naming_it(name, options):
    bad = sorted(set(options) - {"mu"}) if name == "momentum" else sorted(options)
    with pytest.raises(ValueError, match=bad[0]):
        make_optimizer(name, (2,), np.float32, **options)


def test_options_are_used():
    optimizer = make_optimizer("momentum", (1,), np.float64, mu=0.5)
    theta = np.zeros(1)
    optimizer.step(theta, np.ones(1), 1.0)
    optimizer.step(theta, np.ones(1), 1.0)
    assert theta[0] == pytest.approx(-1.0 - 1.5)
    with pytest.raises(ValueError, match="mu"):
        make_optimizer("nag", (1,), np.float64, mu=float("nan"))
    with pytest.raises(ValueError, match="beta2"):
        make_optimizer("adam", (1,), np.float64, beta2=1.0)
    with pytest.raises(ValueError, match="optimizer_name"):
        make_optimizer("adamx", (1,), np.float64)


@pytest.mark.parametrize("name", [o.value for o in OptimizerName])
def test_step_discarding_grad_follows_the_same_trajectory_bit_for_bit(name):
    """WeightsBias.update uses step_discarding_grad (SGD's one-pass form), so it
    must reproduce the golden-tested ``step`` exactly, in float32 too."""
    for dtype in (np.float32, np.float64):
        plain, discarding = (make_optimizer(name, (3,), dtype) for _ in range(2))
        theta_a = np.array([1.0, -2.0, 0.5], dtype)
        theta_b = theta_a.copy()
        for _ in range(STEPS):
            plain.look_ahead(theta_a)
            discarding.look_ahead(theta_b)
            g = (2 * theta_a + 1).astype(dtype)
            plain.step(theta_a, g.copy(), LR)
            discarding.step_discarding_grad(theta_b, g.copy(), LR)
            assert np.array_equal(theta_a, theta_b)
