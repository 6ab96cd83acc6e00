"""Layer: the contract every layer follows, plus its buffer cache.

Shapes
    A layer is described by per-sample shapes: ``input_shape`` and
    ``output_shape`` are tuples without the batch axis, ``(784,)`` for a
    vector and ``(C, H, W)`` for an image (channels first, as the textbook
    and PyTorch do). A layer that fixes its input (``FcLayer(784, 128)``,
    ``ConvLayer((1, 28, 28), ...)``) knows both shapes when it is made; an
    element-wise one (activation, dropout) takes any shape and learns it when
    ``NeuralNet.add_layer`` calls ``build(input_shape)``. Either way
    ``compute_output_shape(input_shape)`` says what comes out, and
    ``add_layer`` checks every layer's input against the previous output.

Computing
    ``forward(x, train)`` and ``backward(delta)`` see batches: ``x.shape ==
    (batch,) + input_shape``. A layer never updates itself: it declares its
    trainable arrays with ``add_parameter`` (a ``Parameter``: value, grad,
    initializer, whether weight decay applies) and its persistent untrained
    arrays with ``add_buffer`` (batch-norm running statistics: saved, never
    optimized); the net names them (``"fc1/W"``), allocates them in its dtype,
    gives each parameter its optimizer state, initializes and updates them.

Work arrays
    Arrays returned by ``forward`` / ``backward`` belong to the layer and are
    overwritten by its next call with the same shape; callers that keep one
    must copy it. ``self.work(name, shape)`` is the one helper behind that: an
    array from the layer's cache, reused while the shape holds, shared with
    the layer's activator, so a training step allocates nothing.

Building and saving
    ``get_config()`` returns the JSON-able keyword arguments that rebuild the
    layer (``params`` aside); ``from_config(config, input_shape, params)``
    does the rebuilding. A class becomes buildable from specs, saveable and
    loadable by decorating it with ``@register_layer`` (see ``registry.py``).
"""
import inspect
import math
import re

import numpy as np

from ..infra.buffers import BufferCache
from ..hyper_parameters import HyperParameters
from ..infra.validation import check_integer
from ..parameter import Buffer, Parameter

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Layer:
    """Base layer: no parameters, no buffers, output shape = input shape."""

    input_shape = None      # per-sample input shape (tuple), None until known
    output_shape = None     # per-sample output shape (tuple), None until known
    need_input_grad = True  # the net sets False on the first layer to skip dx
    params = None           # the HyperParameters its arrays are made from (attach sets it)
    dtype = np.dtype(np.float32)    # the dtype it computes in (the params' once attached)

    def __init__(self, params=None):
        self._cache = BufferCache()
        self._parameters = {}       # name -> Parameter, in declaration order
        self._buffers = {}          # name -> Buffer
        self._checked = None        # (shape, dtype) of the last batch whose shape was checked
        if params is not None:
            self._adopt(params)

    # ----- shapes -----------------------------------------------------------
    def compute_output_shape(self, input_shape):
        """The per-sample output shape for ``input_shape`` (element-wise: the same)."""
        return tuple(input_shape)

    def build(self, input_shape):
        """Fix the input shape (``add_layer`` calls this); returns the output shape.

        A layer that already has an input shape refuses a different one with
        a message naming both; subclasses that size arrays by the shape
        extend this and call ``super().build``.
        """
        shape = as_shape(input_shape, f"{type(self).__name__} input_shape")
        if self.input_shape is not None and tuple(self.input_shape) != shape:
            raise ValueError(f"{type(self).__name__}: expects input shape "
                             f"{tuple(self.input_shape)}, received {shape}")
        self.input_shape = shape
        self.output_shape = tuple(self.compute_output_shape(shape))
        return self.output_shape

    @property
    def input_size(self):
        """Values per input sample (the product of ``input_shape``), None if unknown."""
        return None if self.input_shape is None else math.prod(self.input_shape)

    @property
    def output_size(self):
        """Values per output sample (the product of ``output_shape``), None if unknown."""
        return None if self.output_shape is None else math.prod(self.output_shape)

    # ----- parameters and buffers ---------------------------------------------
    def add_parameter(self, name, shape, init=None, decay=True, fans=None):
        """Declare the trainable array ``name`` (see ``Parameter``); returns it.

        Allocated now if the layer has its params, else when the net attaches
        its own. ``init`` None: the net's init method; ``decay``: whether L1/L2
        and decoupled weight decay apply (False for biases and normalization).
        """
        self._check_new_name(name)
        parameter = self._parameters[name] = Parameter(shape, init, decay, fans)
        parameter.name = name
        if self.params is not None:
            parameter.configure(self.params)
        return parameter

    def add_buffer(self, name, shape, fill=0.0, non_negative=False):
        """Declare the persistent, untrained array ``name`` (see ``Buffer``); returns it."""
        self._check_new_name(name)
        buffer = self._buffers[name] = Buffer(shape, fill, non_negative)
        if self.params is not None:
            buffer.configure(self.params)
        return buffer

    def _check_new_name(self, name):
        if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
            raise ValueError(f"{type(self).__name__}: a parameter or buffer name must be an "
                             f"identifier (letters, digits, '_'), got {name!r}")
        if name in self._parameters or name in self._buffers:
            raise ValueError(f"{type(self).__name__}: {name!r} is declared twice")

    def parameters(self):
        """``{name: Parameter}`` of this layer's trainable arrays, in declaration order.

        A layer written before parameters had names (its ``weights()`` returning
        WeightsBias pairs) gets "W" and "B" for its first pair, "W1", "B1", ...
        """
        if self._parameters or type(self).weights is Layer.weights:
            return dict(self._parameters)
        found = {}
        for index, wb in enumerate(self.weights()):
            suffix = "" if index == 0 else str(index)
            found[f"W{suffix}"], found[f"B{suffix}"] = wb.weight, wb.bias
        return found

    def buffers(self):
        """``{name: array}`` of the persistent arrays that are saved but never optimized."""
        return {name: buffer.value for name, buffer in self._buffers.items()}

    def non_negative_buffers(self):
        """Names of the buffers that may never be negative (a running variance)."""
        declared = [name for name, buffer in self._buffers.items() if buffer.non_negative]
        return tuple(declared) + tuple(getattr(self, "non_negative", ()))

    # ----- life cycle -------------------------------------------------------
    def attach(self, params):
        """Called by ``NeuralNet.add_layer`` with the net's HyperParameters, after
        ``build`` and before ``initialize``: a layer made without params adopts the
        net's, and its declared arrays are allocated from them (replacing the float32
        ones it may have made when used on its own)."""
        if self.params is None:
            self._adopt(params)
            self._cache.clear()             # work arrays of the dtype it had on its own
        for array in self._declared():
            if not array.configured or array.standalone:
                array.configure(self.params, replace=True)

    def _declared(self):
        return list(self._parameters.values()) + list(self._buffers.values())

    def _adopt(self, params):
        if not isinstance(params, HyperParameters):
            raise ValueError(f"{type(self).__name__} params: expected HyperParameters, "
                             f"got {params!r}")
        self.params, self.dtype = params, params.dtype

    def initialize(self, streams):
        """Start every parameter from ``streams.init`` (in declaration order) and every
        buffer from its fill; a layer that draws noise keeps ``streams.noise``."""
        self.require_arrays()
        for parameter in self._parameters.values():
            parameter.initialize(streams.init)
        for buffer in self._buffers.values():
            buffer.reset()

    def forward(self, x, train):
        """Output for the batch ``x``; ``train`` selects training behaviour (dropout, BN)."""
        raise NotImplementedError

    def backward(self, delta):
        """d(loss)/d(input) from d(loss)/d(output); fills the weights' gradients."""
        raise NotImplementedError

    def min_training_batch(self):
        """Fewest samples a training batch may have (batch norm needs 2 to normalize);
        a training loop can check its batch and its last, partial batch up front."""
        return 1

    def weights(self):
        """The textbook's view: the ``WeightsBias`` pairs this layer holds (``[]`` if none)."""
        return []

    def inner_layers(self):
        """``[(name, layer)]`` a block holds (a ``ResidualLayer``'s); ``[]`` for a layer.
        A block's parameters and buffers are theirs, named ``"<inner>/<name>"``."""
        return []

    def set_buffers(self, buffers):
        """Copy saved buffers into this layer's own arrays (names and shapes must match)."""
        own = self.buffers()
        if set(buffers) != set(own):
            raise ValueError(f"{type(self).__name__} buffers: expected {sorted(own)}, "
                             f"got {sorted(buffers)}")
        for name, target in own.items():
            value = np.asarray(buffers[name])
            if value.shape != target.shape:
                raise ValueError(f"{type(self).__name__} buffer {name!r}: expected shape "
                                 f"{target.shape}, got {value.shape}")
            np.copyto(target, value, casting="same_kind")

    # ----- work arrays --------------------------------------------------------
    def work(self, name, shape, dtype=None):
        """This layer's reusable work array ``name`` of ``shape`` (default dtype: the
        layer's), from its ``BufferCache``: the same array while the shape holds (the
        steady-state hit is looked up here, one call less per array and step)."""
        array = self._cache.hot.get(name)
        if array is not None and array.shape == shape and (dtype is None or
                                                           array.dtype == dtype):
            return array
        return self._cache.get(name, shape, self.dtype if dtype is None else dtype)

    def buffer(self, name, shape, dtype):
        """The earlier name of ``work`` (layers written before it keep working)."""
        return self._cache.get(name, shape, dtype)

    def checked(self, x):
        """``x`` after ``check_input`` against ``input_shape``, done once per new batch
        shape and dtype (a steady-state step pays one comparison)."""
        key = (x.shape, x.dtype)
        if key != self._checked:
            check_input(type(self).__name__, x, self.input_shape)
            self.require_arrays()
            self._checked = key
        return x

    def require_arrays(self):
        """Allocate the declared arrays of a layer used on its own, outside a net and
        without params: float32, plain SGD (a net's params replace them on attach)."""
        for array in self._declared():
            if not array.configured:
                array.configure(self.params)

    # ----- description ------------------------------------------------------
    def get_config(self):
        """JSON-able constructor keyword arguments (without ``params``)."""
        return {}

    @classmethod
    def from_config(cls, config, input_shape=None, params=None):
        """A new layer from ``get_config()`` output (or a spec's options).

        ``input_shape`` is passed to a constructor that takes one when the
        config does not say it; ``params`` to one that takes ``params``.
        """
        kwargs = dict(config)
        accepted = inspect.signature(cls.__init__).parameters
        if "size" in kwargs and "input_shape" in accepted and "size" not in accepted:
            kwargs["input_shape"] = kwargs.pop("size")      # format-1 files said "size"
        if "input_shape" in accepted and kwargs.get("input_shape") is None \
                and input_shape is not None:
            kwargs["input_shape"] = tuple(input_shape)
        if "params" in accepted and "params" not in kwargs:
            kwargs["params"] = params
        try:
            return cls(**kwargs)
        except TypeError as error:
            raise ValueError(f"{cls.__name__} config {config!r} does not match its "
                             f"constructor: {error}") from None

    def name_hint(self):
        """The stem of this layer's default name in a net (``fc`` -> fc1, fc2, ...): the
        short name its class is registered under, else its class name in lower case."""
        return type(self).__dict__.get("registered_name") or type(self).__name__.lower()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def as_shape(value, field):
    """A per-sample shape as a tuple of positive ints (an int ``n`` means ``(n,)``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        raise ValueError(f"{field}: expected a positive integer or a tuple of them, "
                         f"got {value!r}") from None
    if not shape or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                        for n in shape):
        raise ValueError(f"{field}: expected a positive integer or a tuple of them, "
                         f"got {value!r}")
    return tuple(int(n) for n in shape)


def check_positive_int(owner, field, value):
    """Constructor validation: a ValueError that quotes the value received."""
    return check_integer(f"{owner} {field}", value)


def check_input(owner, x, shape):
    """Per-call check: a batch of real numbers, samples of ``shape`` (None: any shape)."""
    check_real(owner, x)
    if shape is None:
        if x.ndim < 2:
            raise ValueError(f"{owner}: expected a batch (samples first, at least 2-D), "
                             f"got shape {x.shape}")
        return
    shape = tuple(shape)
    if x.shape[1:] != shape or x.ndim != len(shape) + 1:
        raise ValueError(f"{owner}: expected input of shape (batch, "
                         f"{', '.join(map(str, shape))}), got {x.shape}")


def check_real(owner, x):
    """Refuse complex (and non-numeric) arrays before NumPy casts them.

    Casting a complex array into a float layer keeps the real part and drops
    the imaginary one, with at most a warning, so the layer would train on
    data other than what it was given.
    """
    kind = x.dtype.kind
    if kind == "c":
        raise ValueError(f"{owner}: expected real numbers, got a complex array (dtype "
                         f"{x.dtype}, shape {x.shape}); the imaginary part would be dropped. "
                         f"Pass x.real or np.abs(x) if that is what you mean")
    if kind not in "fiub":
        raise ValueError(f"{owner}: expected an array of real numbers, got dtype {x.dtype} "
                         f"(shape {x.shape})")
