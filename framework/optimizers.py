"""Gradient-descent update rules, one small class per algorithm.

An optimizer object serves one parameter array (``Parameter.optimizer``) and keeps
that array's state. A subclass writes only its rule: the update in ``step`` (with
``out=`` arguments, so a training step allocates nothing), its options and their
defaults (``defaults``: numbers, or booleans for switches such as Adam's ``amsgrad``),
the state arrays it keeps between steps (``state_names``, allocated as zeros, never
``np.empty`` -- the textbook's Adam started from garbage -- and saved in checkpoints),
which of them can never be negative (``non_negative``: save and load refuse a negative
second moment), and how many scratch arrays it needs. The base class does the rest:
options are checked when the optimizer is made (``HyperParameters`` checks them
already, naming the optimizer), state is allocated, copied out and put back. Every
update equation is in the class docstring and pinned by golden trajectories in
``tests/test_optimizers.py``.

``decay`` tells an optimizer with decoupled weight decay (AdamW) whether this array
is decayed: weights are, biases and batch-norm parameters are not (see ``Parameter``).
"""
import numpy as np

from .registry import Registry, class_decorator
from .infra.validation import check_number

OPTIMIZERS = Registry("optimizer")


def parse_optimizer_name(value):
    """The canonical registered name of an optimizer (``"nesterov"`` -> ``"nag"``; an
    ``OptimizerName`` counts as its name); ValueError listing the choices otherwise."""
    return OPTIMIZERS.canonical(value, "optimizer_name")


_multiply, _subtract, _add = np.multiply, np.subtract, np.add


class Optimizer:
    """Base class: ``Optimizer(shape, dtype, decay=True, **options)``.

    ``step(theta, grad, lr)`` updates ``theta`` in place. ``look_ahead(theta)``
    is called before the forward pass; only NAG uses it.
    """

    name = None
    defaults = {}          # option name -> default value (a number, or a bool switch)
    state_names = ()       # arrays saved in checkpoints, allocated as zeros
    non_negative = ()      # state arrays that must never be negative (second moments)
    counter = False        # True: an integer step count ``t`` is part of the state
    num_scratch = 0        # work arrays, not saved
    uses_look_ahead = False  # True: the net calls look_ahead before each forward pass
    _DECAYS = ("mu", "rho", "beta1", "beta2")   # decay rates must lie in [0, 1)

    def __init__(self, shape, dtype=np.float32, decay=True, **options):
        for key, value in self.check_options(options).items():
            setattr(self, key, value)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.decay = bool(decay)
        self._state = {key: np.zeros(self.shape, self.dtype) for key in self.state_names}
        self._scratch = [np.zeros(self.shape, self.dtype) for _ in range(self.num_scratch)]
        self.t = 0

    @classmethod
    def check_options(cls, options):
        """``options`` with defaults filled in, each checked; ValueError naming the
        optimizer and the option otherwise (an unknown name lists the accepted ones)."""
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            raise ValueError(f"{cls.name} optimizer: unknown option(s) {unknown}; "
                             f"accepted: {sorted(cls.defaults) or 'none'}")
        checked = {}
        for key, default in cls.defaults.items():
            value = options.get(key, default)
            if isinstance(default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"{cls.name} optimizer {key}: expected True or False, "
                                     f"got {value!r}")
                checked[key] = bool(value)
            else:
                maximum = 1 if key in cls._DECAYS else None
                checked[key] = check_number(f"{cls.name} optimizer {key}", value, 0,
                                            maximum, below=True)
        return checked

    def look_ahead(self, theta):
        """Move ``theta`` to where the gradient should be taken (no-op by default)."""

    def step(self, theta, grad, lr):
        """Update ``theta`` in place from its gradient ``grad`` at learning rate ``lr``."""
        raise NotImplementedError

    def step_discarding_grad(self, theta, grad, lr):
        """``step``, allowed to overwrite ``grad`` (its owner refills it before the
        next step): a Parameter uses it so SGD needs no scratch pass."""
        self.step(theta, grad, lr)

    def state(self):
        """A copy of the saved state: ``{name: array}`` plus ``"t"`` if counted."""
        state = {key: value.copy() for key, value in self._state.items()}
        if self.counter:
            state["t"] = self.t
        return state

    def state_arrays(self):
        """The live state arrays ``{name: array}`` (no copies; ``t`` excluded)."""
        return dict(self._state)

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

    def options(self):
        """``{option: value}`` this optimizer was made with."""
        return {key: getattr(self, key) for key in self.defaults}

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}(shape={self.shape}{', ' if options else ''}{options})"


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
    aliases = ("nesterov",)
    uses_look_ahead = True
    defaults = {"mu": 0.9}
    state_names = ("v",)
    num_scratch = 2            # [saved theta, work]

    def __init__(self, shape, dtype=np.float32, decay=True, **options):
        super().__init__(shape, dtype, decay, **options)
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
    non_negative = ("r",)
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
    non_negative = ("Eg", "Edx")
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
    non_negative = ("r",)
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

    ``amsgrad=True`` (Reddi et al. 2018) divides by the largest v seen so far instead,
    ``v_max <- max(v_max, v)``, so the step size never grows back.
    """

    name = "adam"
    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False}
    state_names = ("m", "v")
    non_negative = ("v",)
    counter = True
    num_scratch = 1

    def __init__(self, shape, dtype=np.float32, decay=True, **options):
        if options.get("amsgrad"):
            self.state_names = self.state_names + ("v_max",)
            self.non_negative = self.non_negative + ("v_max",)
        super().__init__(shape, dtype, decay, **options)

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
        if self.amsgrad:
            v = np.maximum(self._state["v_max"], v, out=self._state["v_max"])
        np.multiply(v, 1.0 / (1.0 - b2 ** self.t), out=s)
        np.sqrt(s, out=s)
        s += self.eps
        np.divide(m, s, out=s)
        s *= lr / (1.0 - b1 ** self.t)
        theta -= s


@register_optimizer
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as PyTorch's AdamW:

    theta <- theta * (1 - lr * weight_decay)     (only where the parameter decays)
    then Adam's step (``amsgrad`` too).

    The decay shrinks the weights directly instead of adding ``weight_decay * theta``
    to the gradient, so Adam's per-coordinate scaling does not weaken it. Biases and
    batch-norm parameters do not decay unless the net asks
    (``HyperParameters(decay_all_parameters=True)``).
    """

    name = "adamw"
    defaults = {**Adam.defaults, "weight_decay": 0.01}

    def step(self, theta, grad, lr):
        if self.decay and self.weight_decay:
            theta *= 1.0 - lr * self.weight_decay
        super().step(theta, grad, lr)


def make_optimizer(name, shape, dtype=np.float32, decay=True, **options):
    """Build the optimizer registered as ``name`` (an ``OptimizerName`` works too)."""
    return OPTIMIZERS.get(parse_optimizer_name(name))(shape, dtype, decay, **options)
