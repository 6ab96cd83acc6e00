"""WeightsBias: one layer's trainable W and B, their gradients and optimizers.

Mirrors the textbook's WeightsBias_2_1 minus its file caching of initial
weights (initial weights come from a seeded ``RandomStreams.init`` instead).
It is the single owner of the update path: the layer's backward pass fills
``dW`` / ``dB``; ``update`` adds the L1/L2 gradient to ``dW`` (never ``dB``)
and then lets one optimizer per array step in place (which may use ``dW`` / ``dB``
as scratch: after ``update`` they no longer hold the gradient). Arrays are allocated
once and only ever written in place, so references held by a layer stay valid.
"""
import contextlib
import contextvars
import math

import numpy as np

from .enums import InitMethod, RegularMethod
from .initializers import initialize
from .optimizers import make_optimizer, parse_optimizer_name
from .regularizers import make_regularizer


class WeightsBias:
    """``WeightsBias(input_size, output_size, init_method, optimizer_name, dtype, ...)``.

    By default W is the (input_size, output_size) matrix of a fully connected
    layer and B its (1, output_size) row. ``w_shape`` / ``b_shape`` give
    other layouts (a convolution kernel ``(F, C, kh, kw)`` with one bias per
    filter, ``(F,)``); ``input_size`` and ``output_size`` are then the fans
    the initializer uses (``C*kh*kw`` and ``F*kh*kw``).
    """

    def __init__(self, input_size, output_size, init_method, optimizer_name, dtype,
                 regular_name=RegularMethod.NOTHING, regular_value=0.0, init_scale=1.0,
                 optimizer_options=None, *, w_shape=None, b_shape=None):
        for field, value in (("input_size", input_size), ("output_size", output_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"WeightsBias {field}: expected a positive integer, got {value!r}")
        self.input_size, self.output_size = int(input_size), int(output_size)
        self.init_method = InitMethod.parse(init_method, "init_method")
        self.optimizer_name = parse_optimizer_name(optimizer_name)
        self.dtype = np.dtype(dtype)
        self.init_scale = float(init_scale)
        self.regularizer = make_regularizer(regular_name, regular_value)
        self.optimizer_options = dict(optimizer_options or {})
        w_shape = (self.input_size, self.output_size) if w_shape is None else tuple(w_shape)
        b_shape = (1, self.output_size) if b_shape is None else tuple(b_shape)
        charge_parameter_budget(w_shape, b_shape)
        self.W = np.zeros(w_shape, self.dtype)
        self.B = np.zeros(b_shape, self.dtype)
        self.dW = np.zeros(w_shape, self.dtype)
        self.dB = np.zeros(b_shape, self.dtype)
        self.optimizer_W = make_optimizer(self.optimizer_name, w_shape, self.dtype,
                                          **self.optimizer_options)
        self.optimizer_B = make_optimizer(self.optimizer_name, b_shape, self.dtype,
                                          **self.optimizer_options)
        self._ones_weights = False

    @classmethod
    def from_params(cls, params, input_size, output_size, w_shape=None, b_shape=None):
        """The one place a layer's weights read the net's HyperParameters: init
        method and scale, optimizer and its options, dtype, L1/L2 penalty."""
        return cls(input_size, output_size, params.init_method, params.optimizer_name,
                   params.dtype, regular_name=params.regular_name,
                   regular_value=params.regular_value, init_scale=params.init_scale,
                   optimizer_options=params.optimizer_options, w_shape=w_shape,
                   b_shape=b_shape)

    @property
    def look_ahead_needed(self):
        """True if the optimizer wants ``pre_update`` before each forward pass (NAG)."""
        return self.optimizer_W.uses_look_ahead

    @classmethod
    def for_batch_norm(cls, size, optimizer_name, dtype, optimizer_options=None, shape=None):
        """gamma as W = ones, beta as B = zeros, no penalty; both ``(1, size)`` or
        ``shape`` (``(1, C, 1, 1)`` for spatial batch norm)."""
        shape = (1, size) if shape is None else tuple(shape)
        wb = cls(1, size, InitMethod.ZERO, optimizer_name, dtype,
                 optimizer_options=optimizer_options, w_shape=shape, b_shape=shape)
        wb._ones_weights = True
        wb.W.fill(1)
        return wb

    def initialize(self, rng):
        """W by ``init_method`` drawn from ``rng`` (batch-norm gamma: ones), B zeros."""
        if self._ones_weights:
            self.W.fill(1)
        else:
            np.copyto(self.W, initialize(self.init_method, self.W.shape, rng, self.dtype,
                                         self.init_scale,
                                         fans=(self.input_size, self.output_size)))
        self.B.fill(0)

    def pre_update(self):
        """Before the forward pass: NAG moves W and B to the look-ahead point."""
        self.optimizer_W.look_ahead(self.W)
        self.optimizer_B.look_ahead(self.B)

    def update(self, learning_rate):
        """Add the regularization gradient to dW, then step W and B in place."""
        if self.regularizer.lam:
            self.regularizer.add_gradient(self.W, self.dW)
        self.optimizer_W.step_discarding_grad(self.W, self.dW, learning_rate)
        self.optimizer_B.step_discarding_grad(self.B, self.dB, learning_rate)

    def regular_loss(self):
        """L1: lam * sum|W|;  L2: lam/2 * sum(W**2);  otherwise 0."""
        return self.regularizer.penalty(self.W)

    def arrays(self):
        """Copies of the parameters, ``{"W": ..., "B": ...}`` (safe to keep)."""
        return {"W": self.W.copy(), "B": self.B.copy()}

    def set_arrays(self, arrays):
        """Copy ``{"W", "B"}`` into the existing arrays; shapes must match."""
        _check_keys("parameters", arrays, {"W", "B"})
        for key, target in (("W", self.W), ("B", self.B)):
            value = np.asarray(arrays[key])
            if value.shape != target.shape:
                raise ValueError(f"{key}: expected shape {target.shape}, got {value.shape}")
            np.copyto(target, value, casting="same_kind")

    def optimizer_state(self):
        """Copies of both optimizers' state, keyed ``"W/<name>"`` and ``"B/<name>"``."""
        state = {f"W/{k}": v for k, v in self.optimizer_W.state().items()}
        state.update({f"B/{k}": v for k, v in self.optimizer_B.state().items()})
        return state

    def set_optimizer_state(self, state):
        """Put back the state optimizer_state returned (the keys must match exactly)."""
        expected = set(self.optimizer_state())
        _check_keys("optimizer state", state, expected)
        for prefix, optimizer in (("W/", self.optimizer_W), ("B/", self.optimizer_B)):
            optimizer.set_state({k[len(prefix):]: v for k, v in state.items()
                                 if k.startswith(prefix)})

    def __repr__(self):
        return (f"WeightsBias(W{self.W.shape}, B{self.B.shape}, "
                f"{self.init_method.value}, {self.optimizer_name}, {self.dtype.name})")


# Values W and B may still take while a parameter_budget is active (None: no budget).
_BUDGET = contextvars.ContextVar("parameter_budget", default=None)


@contextlib.contextmanager
def parameter_budget(values, source):
    """Inside the block, the WeightsBias objects made may hold at most ``values`` values
    of W and B in total; one more raises ValueError before anything is allocated.

    A loader sets it from the number of values its file holds: a 55 KB file whose
    config declares a 100000x100000 layer is then refused at once, instead of
    allocating W, its gradient and its optimizer state (tens of GB) first.
    """
    token = _BUDGET.set({"left": int(values), "total": int(values), "source": source})
    try:
        yield
    finally:
        _BUDGET.reset(token)


def charge_parameter_budget(w_shape, b_shape):
    """Count W and B against the active ``parameter_budget`` (no-op without one)."""
    budget = _BUDGET.get()
    if budget is None:
        return
    need = math.prod(w_shape) + math.prod(b_shape)
    if need > budget["left"]:
        raise ValueError(f"W{tuple(w_shape)} and B{tuple(b_shape)} need {need:,} values, "
                         f"but only {budget['left']:,} of the {budget['total']:,} parameter "
                         f"values allowed by {budget['source']} are left; refused before "
                         "allocating")
    budget["left"] -= need


def _check_keys(what, given, expected):
    if set(given) != set(expected):
        raise ValueError(f"{what}: expected keys {sorted(expected)}, got {sorted(given)}")
