"""Parameter and Buffer: the named arrays a layer declares.

A layer says what it learns and what it keeps, by name and shape::

    self.W = self.add_parameter("W", (n_in, n_out))                  # the net's init method
    self.B = self.add_parameter("B", (1, n_out), init="zeros", decay=False)
    self.running_var = self.add_buffer("running_var", (1, n), fill=1.0, non_negative=True)

and the net does the rest: it names them by layer (``"fc1/W"``, ``"bn1/running_var"``),
allocates them in its dtype, gives every parameter its own optimizer state and penalty,
initializes them from its seeded stream, and saves and restores them (``framework.state``).

A ``Parameter`` is trained: ``value`` is the array the layer computes with, ``grad``
the gradient its backward pass writes, ``optimizer`` the update rule with this array's
state (momentum, Adam's moments...). A ``Buffer`` is kept but never trained (batch-norm
running statistics). Both are allocated once and only ever written in place, so a layer
may hold on to ``value`` and views of it.
"""
import contextlib
import contextvars
import math

import numpy as np

from .infra.machine import check_allocation
from .initializers import make_initializer
from .optimizers import OPTIMIZERS, make_optimizer
from .regularizers import make_regularizer


class Parameter:
    """``Parameter(shape, init=None, decay=True, fans=None)``: one trainable array.

    ``init``: how it starts. None takes the net's ``init_method`` and ``init_scale``;
    otherwise a registered initializer name (``"zeros"``, ``"ones"``, ``"xavier"``, ...),
    a number (every value) or an ``Initializer``. ``fans`` = ``(fan_in, fan_out)`` for
    the variance-scaling rules (default: the shape itself, an ``(in, out)`` matrix).
    ``decay``: whether L1/L2 penalties and decoupled weight decay (AdamW) apply: yes for
    weights, no for biases and batch-norm gamma/beta unless the net asks
    (``HyperParameters(decay_all_parameters=True)``).
    """

    def __init__(self, shape, init=None, decay=True, fans=None):
        self.shape = tuple(int(n) for n in shape)
        self.init, self.decay = init, bool(decay)
        self.fans = self.shape if fans is None else tuple(int(n) for n in fans)
        self.value = self.grad = None       # allocated by configure
        self.optimizer = self.regularizer = None
        self.scale, self.standalone = 1.0, False
        self.name = None                    # what its layer calls it (add_parameter sets it)

    @property
    def size(self):
        """Number of values."""
        return math.prod(self.shape)

    @property
    def configured(self):
        """True once ``configure`` has allocated the arrays and the optimizer."""
        return self.value is not None

    # ----- made once ---------------------------------------------------------
    def configure(self, params=None, replace=False):
        """Allocate value and grad in ``params.dtype`` and make this array's optimizer and
        penalty from ``params`` (a HyperParameters; None: float32, plain SGD, no penalty,
        what a layer used on its own gets). A configured parameter keeps what it has
        unless ``replace`` (a layer used alone, then added to a net, takes the net's).
        A constant initializer (zeros, ones, a number) fills the value at once."""
        if self.configured and not replace:
            return self
        dtype = np.float32 if params is None else params.dtype
        charge_parameter_budget(self.shape, name=self.name)
        self._check_memory(params, dtype)
        self.value, self.grad = np.zeros(self.shape, dtype), np.zeros(self.shape, dtype)
        self.standalone = params is None
        decays = self.decay or (params is not None and params.decay_all_parameters)
        if params is None:
            self.optimizer = make_optimizer("sgd", self.shape, dtype)
            self.regularizer = make_regularizer()
        else:
            self.optimizer = make_optimizer(params.optimizer_name, self.shape, dtype,
                                            decay=decays, **params.optimizer_options)
            self.regularizer = make_regularizer(params.regular_name, params.regular_value) \
                if decays else make_regularizer()
        init = self.init
        if init is None:
            init = "xavier" if params is None else params.init_method
            self.scale = 1.0 if params is None else params.init_scale
        self._initializer = make_initializer(init)
        if self._initializer.deterministic:
            self.initialize(None)
        return self

    def _check_memory(self, params, dtype):
        """Refuse, before allocating, a parameter whose value, gradient, optimizer state
        and float64 starting draw cannot fit in the memory available."""
        optimizer = OPTIMIZERS.get("sgd" if params is None else params.optimizer_name)
        arrays = 2 + len(optimizer.state_names) + optimizer.num_scratch
        nbytes = self.size * (np.dtype(dtype).itemsize * arrays + 8)
        name = "a parameter" if self.name is None else f"parameter {self.name!r}"
        check_allocation(nbytes, f"{name} of shape {self.shape} (its value, gradient and "
                                 f"optimizer state)")

    def initialize(self, rng):
        """Draw the starting values from ``rng`` (a ``numpy.random.Generator``); inside
        ``values_replaced_next()`` leave them at zero (the caller sets them all)."""
        if _VALUES_REPLACED_NEXT.get():
            return
        np.copyto(self.value, self._initializer(self.shape, self.fans, rng, self.scale))

    # ----- every step --------------------------------------------------------
    def look_ahead(self):
        """Before the forward pass: NAG moves the value to its look-ahead point."""
        self.optimizer.look_ahead(self.value)

    def update(self, learning_rate):
        """Add the penalty's gradient, then let the optimizer step the value in place
        (it may use ``grad`` as scratch: afterwards it no longer holds the gradient)."""
        if self.regularizer.lam:
            self.regularizer.add_gradient(self.value, self.grad)
        self.optimizer.step_discarding_grad(self.value, self.grad, learning_rate)

    def penalty(self):
        """What the L1/L2 penalty adds to the loss for this array (0.0 without one)."""
        return self.regularizer.penalty(self.value)

    def __repr__(self):
        dtype = "unallocated" if self.value is None else self.value.dtype.name
        return f"Parameter({self.shape}, init={self.init!r}, decay={self.decay}, {dtype})"


class Buffer:
    """``Buffer(shape, fill=0.0, non_negative=False)``: an array that is saved and
    restored with the net but never trained (batch-norm running statistics).
    ``non_negative`` arrays (a variance) are refused by save and load when negative."""

    def __init__(self, shape, fill=0.0, non_negative=False):
        self.shape = tuple(int(n) for n in shape)
        self.fill, self.non_negative = float(fill), bool(non_negative)
        self.value = None

    standalone = False

    @property
    def configured(self):
        """True once ``configure`` has allocated the array."""
        return self.value is not None

    def configure(self, params=None, replace=False):
        """Allocate the array in ``params.dtype`` (float32 without params), filled."""
        if self.value is None or replace:
            dtype = np.float32 if params is None else params.dtype
            self.value = np.full(self.shape, self.fill, dtype)
            self.standalone = params is None
        return self

    def reset(self):
        """Back to the starting fill (a new training run)."""
        self.value.fill(self.fill)

    def __repr__(self):
        return f"Buffer({self.shape}, fill={self.fill})"


# ----- the load budget ---------------------------------------------------------------
# Values parameters may still take while a parameter_budget is active (None: no budget).
_BUDGET = contextvars.ContextVar("parameter_budget", default=None)


@contextlib.contextmanager
def parameter_budget(values, source):
    """Inside the block, the parameters allocated may hold at most ``values`` values in
    total; one more raises ValueError before anything is allocated.

    A loader sets it from the number of values its file holds: a 55 KB file whose
    config declares a 100000x100000 layer is then refused at once, instead of
    allocating W, its gradient and its optimizer state (tens of GB) first.
    """
    token = _BUDGET.set({"left": int(values), "total": int(values), "source": source})
    try:
        yield
    finally:
        _BUDGET.reset(token)


def charge_parameter_budget(shape, name=None):
    """Count an array of ``shape`` against the active ``parameter_budget`` (no-op without one)."""
    budget = _BUDGET.get()
    if budget is None:
        return
    need = math.prod(shape)
    if need > budget["left"]:
        what = "a parameter" if name is None else f"parameter {name!r}"
        raise ValueError(f"{what} of shape {tuple(shape)} needs {need:,} values, but only "
                         f"{budget['left']:,} of the {budget['total']:,} parameter values "
                         f"allowed by {budget['source']} are left; refused before allocating")
    budget["left"] -= need


# ----- loading ----------------------------------------------------------------------
_VALUES_REPLACED_NEXT = contextvars.ContextVar("values_replaced_next", default=False)


@contextlib.contextmanager
def values_replaced_next():
    """Inside the block, parameters skip their random starting draws and stay at zero.

    For a loader that sets every value from a file right after building the net
    and restores the random streams too: the draws would only be overwritten, and
    for an MLP they are ~10 % of a load (a float64 array per weight matrix).
    """
    token = _VALUES_REPLACED_NEXT.set(True)
    try:
        yield
    finally:
        _VALUES_REPLACED_NEXT.reset(token)
