"""Gradient-descent update rules, one small class per algorithm.

One optimizer object serves one parameter array. The base class owns
everything that is not the math: option checking, state allocation (always
``np.zeros``, never ``np.empty`` -- the textbook's Adam started from garbage),
scratch arrays, and ``state()`` / ``set_state()`` for checkpoints. A subclass
lists its options, its state arrays and how many scratch arrays it needs, and
writes the update with ``out=`` arguments so a training step allocates
nothing. Every update equation is in the class docstring and pinned by golden
trajectories in ``tests/test_optimizers.py``.
"""
import numpy as np

from .enums import OptimizerName
from .registry import Registry, class_decorator, fold
from .infra.validation import check_number

OPTIMIZERS = Registry("optimizer")


def parse_optimizer_name(value):
    """An ``OptimizerName`` for the textbook's optimizers (and their aliases), else
    the folded name of a registered one; ValueError naming the choices otherwise."""
    try:
        return OptimizerName.parse(value, "optimizer_name")
    except ValueError:
        if isinstance(value, str) and value in OPTIMIZERS:
            return fold(value)
        raise ValueError(f"optimizer_name: expected one of {OPTIMIZERS.names()}, "
                         f"got {value!r}") from None

_multiply, _subtract, _add = np.multiply, np.subtract, np.add


class Optimizer:
    """Base class: ``Optimizer(shape, dtype, **options)``.

    ``step(theta, grad, lr)`` updates ``theta`` in place. ``look_ahead(theta)``
    is called before the forward pass; only NAG uses it.
    """

    name = None
    defaults = {}          # option name -> default value
    state_names = ()       # arrays saved in checkpoints, allocated as zeros
    counter = False        # True: an integer step count ``t`` is part of the state
    num_scratch = 0        # work arrays, not saved
    uses_look_ahead = False  # True: the net calls look_ahead before each forward pass
    _DECAYS = ("mu", "rho", "beta1", "beta2")   # decay rates must lie in [0, 1)

    def __init__(self, shape, dtype=np.float32, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(f"{self.name} optimizer: unknown option(s) {unknown}; "
                             f"accepted: {sorted(self.defaults)}")
        for key, default in self.defaults.items():
            value = options.get(key, default)
            maximum = 1 if key in self._DECAYS else None
            setattr(self, key, check_number(f"{self.name} optimizer {key}", value, 0,
                                            maximum, below=True))
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._state = {key: np.zeros(self.shape, self.dtype) for key in self.state_names}
        self._scratch = [np.zeros(self.shape, self.dtype) for _ in range(self.num_scratch)]
        self.t = 0

    def look_ahead(self, theta):
        """Move ``theta`` to where the gradient should be taken (no-op by default)."""

    def step(self, theta, grad, lr):
        """Update ``theta`` in place from its gradient ``grad`` at learning rate ``lr``."""
        raise NotImplementedError

    def step_discarding_grad(self, theta, grad, lr):
        """``step``, allowed to overwrite ``grad`` (its owner refills it before the
        next step): WeightsBias uses it so SGD needs no scratch pass."""
        self.step(theta, grad, lr)

    def state(self):
        """A copy of the saved state: ``{name: array}`` plus ``"t"`` if counted."""
        state = {key: value.copy() for key, value in self._state.items()}
        if self.counter:
            state["t"] = self.t
        return state

    def set_state(self, state):
        """Restore from ``state()`` output; keys and shapes must match exactly."""
        expected = set(self._state) | ({"t"} if self.counter else set())
        if set(state) != expected:
            raise ValueError(f"{self.name} optimizer state: expected keys {sorted(expected)}, "
                             f"got {sorted(state)}")
        for key, target in self._state.items():
            value = np.asarray(state[key])
            if value.shape != target.shape:
                raise ValueError(f"{self.name} optimizer state {key!r}: expected shape "
                                 f"{target.shape}, got {value.shape}")
            np.copyto(target, value, casting="same_kind")
        if self.counter:
            self.t = int(state["t"])

    def __repr__(self):
        options = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.defaults)
        return f"{type(self).__name__}(shape={self.shape}, {options})"


register_optimizer = class_decorator(OPTIMIZERS, Optimizer)


@register_optimizer
class SGD(Optimizer):
    """theta <- theta - lr * g"""

    name = "sgd"
    num_scratch = 1

    def step(self, theta, grad, lr):
        s = self._scratch[0]
        _multiply(grad, lr, out=s)          # lr is a Python float: stays float32
        _subtract(theta, s, out=theta)

    def step_discarding_grad(self, theta, grad, lr):
        # (-lr) * g == -(lr * g) and t + (-v) == t - v exactly: same bits as step,
        # one pass over a cache-hot grad instead of a write and a read of scratch
        _multiply(grad, -lr, out=grad)
        _add(theta, grad, out=theta)


@register_optimizer
class Momentum(Optimizer):
    """v <- mu * v - lr * g;  theta <- theta + v"""

    name = "momentum"
    defaults = {"mu": 0.9}
    state_names = ("v",)
    num_scratch = 1

    def step(self, theta, grad, lr):
        v, (s,) = self._state["v"], self._scratch
        v *= self.mu
        np.multiply(grad, lr, out=s)
        v -= s
        theta += v


@register_optimizer
class NAG(Optimizer):
    """Nesterov accelerated gradient in the look-ahead form of Sutskever et al. (2013).

    look_ahead:  saved <- theta;  theta <- theta + mu * v
    step (g taken at the look-ahead point):
                 v <- mu * v - lr * g;  theta <- saved + v

    If ``step`` runs without a preceding ``look_ahead`` the gradient was taken
    at theta itself, and the update degrades gracefully to classical momentum.
    """

    name = "nag"
    uses_look_ahead = True
    defaults = {"mu": 0.9}
    state_names = ("v",)
    num_scratch = 2            # [saved theta, work]

    def __init__(self, shape, dtype=np.float32, **options):
        super().__init__(shape, dtype, **options)
        self._looked_ahead = False

    def look_ahead(self, theta):
        saved, s = self._scratch
        np.copyto(saved, theta)
        np.multiply(self._state["v"], self.mu, out=s)
        theta += s
        self._looked_ahead = True

    def step(self, theta, grad, lr):
        v, (saved, s) = self._state["v"], self._scratch
        if not self._looked_ahead:
            np.copyto(saved, theta)
        v *= self.mu
        np.multiply(grad, lr, out=s)
        v -= s
        np.add(saved, v, out=theta)
        self._looked_ahead = False


@register_optimizer
class AdaGrad(Optimizer):
    """r <- r + g*g;  theta <- theta - lr * g / (sqrt(r) + eps)"""

    name = "adagrad"
    defaults = {"eps": 1e-6}
    state_names = ("r",)
    num_scratch = 1

    def step(self, theta, grad, lr):
        r, (s,) = self._state["r"], self._scratch
        np.multiply(grad, grad, out=s)
        r += s
        np.sqrt(r, out=s)
        s += self.eps
        np.divide(grad, s, out=s)
        s *= lr
        theta -= s


@register_optimizer
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler 2012): steps from running means of g^2 and dx^2; ``lr`` unused.

    Eg  <- rho * Eg + (1 - rho) * g^2
    dx  <- -sqrt(Edx + eps) / sqrt(Eg + eps) * g
    Edx <- rho * Edx + (1 - rho) * dx^2
    theta <- theta + dx

    ``lr`` is ignored, as in the paper and the textbook: AdaDelta's point is
    that the ratio of running RMS values carries the units of theta, so it
    needs no learning rate. (Schedules therefore have no effect on it.)
    """

    name = "adadelta"
    defaults = {"rho": 0.95, "eps": 1e-6}
    state_names = ("Eg", "Edx")
    num_scratch = 2

    def step(self, theta, grad, lr):
        eg, edx = self._state["Eg"], self._state["Edx"]
        dx, s = self._scratch
        rho = self.rho
        np.multiply(grad, grad, out=s)
        s *= 1.0 - rho
        eg *= rho
        eg += s
        np.add(edx, self.eps, out=dx)
        np.sqrt(dx, out=dx)
        np.add(eg, self.eps, out=s)
        np.sqrt(s, out=s)
        dx /= s
        dx *= grad
        np.negative(dx, out=dx)
        np.multiply(dx, dx, out=s)
        s *= 1.0 - rho
        edx *= rho
        edx += s
        theta += dx


@register_optimizer
class RMSProp(Optimizer):
    """r <- rho * r + (1 - rho) * g^2;  theta <- theta - lr * g / sqrt(r + eps)"""

    name = "rmsprop"
    defaults = {"rho": 0.9, "eps": 1e-6}
    state_names = ("r",)
    num_scratch = 1

    def step(self, theta, grad, lr):
        r, (s,) = self._state["r"], self._scratch
        np.multiply(grad, grad, out=s)
        s *= 1.0 - self.rho
        r *= self.rho
        r += s
        np.add(r, self.eps, out=s)
        np.sqrt(s, out=s)
        np.divide(grad, s, out=s)
        s *= lr
        theta -= s


@register_optimizer
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1): running means of g and g^2, bias-corrected.

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    """

    name = "adam"
    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    state_names = ("m", "v")
    counter = True
    num_scratch = 1

    def step(self, theta, grad, lr):
        m, v, (s,) = self._state["m"], self._state["v"], self._scratch
        b1, b2 = self.beta1, self.beta2
        self.t += 1
        np.multiply(grad, 1.0 - b1, out=s)
        m *= b1
        m += s
        np.multiply(grad, grad, out=s)
        s *= 1.0 - b2
        v *= b2
        v += s
        np.multiply(v, 1.0 / (1.0 - b2 ** self.t), out=s)
        np.sqrt(s, out=s)
        s += self.eps
        np.divide(m, s, out=s)
        s *= lr / (1.0 - b1 ** self.t)
        theta -= s


def make_optimizer(name, shape, dtype=np.float32, **options):
    """Build the optimizer named by an ``OptimizerName`` or a registered name."""
    return OPTIMIZERS.get(str(parse_optimizer_name(name)))(shape, dtype, **options)
