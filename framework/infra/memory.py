"""How much memory a training run will need, estimated before anything is allocated.

``--hidden 100000,100000`` asks for two 40 GB weight matrices; without an
estimate the run dies with a MemoryError traceback (or the machine swaps)
after the data has been read. ``estimate_training_bytes`` adds up, from the
architecture alone, what training will hold at its peak:

parameters
    every trainable value with its gradient, its optimizer's state and
    scratch arrays (``Optimizer.state_names`` / ``num_scratch``), the L1/L2
    penalty's work array, and the copies the training loop keeps (the
    starting weights and the best so far); batch-norm running statistics.
activations
    the work arrays of one training step at ``batch_size`` (outputs, input
    gradients, im2col columns, masks), one function per layer class below,
    plus the reader's two gather batches and the loss delta.
inference
    the arrays of one inference pass at the net's chunk size and the padded
    copy of a short last chunk (validation runs at every checkpoint while the
    training arrays stay allocated).

Weight initialization draws each array in float64 before casting, a
transient that is compared with the step's arrays (the larger counts). The
result is an estimate, good to within a factor of two (``tests/
test_config_checks.py`` compares it with what NumPy really allocates);
``check_memory`` refuses a configuration that exceeds the memory available
with a one-line error instead of a traceback. A new layer class gets its own
estimate with ``@register_layer_cost(MyLayer)``; without one it is costed
from what it declares: its parameters' and buffers' shapes, plus an output
and an input gradient per sample. A layer whose description fails is
counted that way with a warning naming it, never a traceback.
"""
import math
from dataclasses import dataclass

import numpy as np

import warnings

from ..enums import RegularMethod
from ..layers.activation import ActivationLayer
from ..layers.base import Layer, as_shape
from ..layers.batch_norm import BatchNormLayer
from ..layers.builder import make_layer, parse_spec
from ..layers.classification import ClassificationLayer
from ..layers.conv import ConvLayer
from ..layers.dropout import DropoutLayer
from ..layers.fc import FcLayer
from ..layers.flatten import FlattenLayer
from ..layers.layer_norm import LayerNormLayer
from ..layers.pooling import PoolingLayer, PoolType
from ..layers.residual import ResidualLayer
from ..optimizers import OPTIMIZERS, parse_optimizer_name
from . import machine
from .machine import available_bytes, format_bytes  # noqa: F401  (the public names)
from .validation import check_integer

WEIGHT_COPIES = 2       # the training loop keeps the starting weights and the best so far
GATHER_BATCHES = 2      # the reader gathers the next batch while the current one trains
PREDICT_CHUNK = 4096        # most samples per inference pass
PREDICT_VALUES = 2 ** 20    # ... and at most about this many values in its widest layer


@dataclass(frozen=True)
class LayerCost:
    """Bytes one layer holds: fixed (weights aside) and per sample of a pass."""

    params: int = 0             # trainable values (each has a gradient and optimizer state)
    largest_param: int = 0      # values of its largest trainable array (init draws it in float64)
    persistent: int = 0         # bytes kept for the run that are not trained (BN statistics)
    train_per_sample: float = 0.0   # work bytes per sample of a training step
    infer_per_sample: float = 0.0   # work bytes per sample of an inference pass
    fixed: int = 0              # work bytes that do not scale with the batch


@dataclass(frozen=True)
class MemoryEstimate:
    """The bytes a training run needs at its peak, by part (``total`` is what counts)."""

    parameters: int
    activations: int
    inference: int
    init_transient: int
    batch_size: int

    @property
    def total(self):
        """Parameters plus the larger of the step's work arrays and the init transient."""
        return self.parameters + max(self.activations + self.inference, self.init_transient)

    def __int__(self):
        return self.total

    def describe(self):
        """``"about 1.2 GB for training with batch 64"``."""
        return f"about {format_bytes(self.total)} for training with batch {self.batch_size}"


# ----- per-layer costs -------------------------------------------------------
_COSTS = {}


def register_layer_cost(layer_type):
    """Decorator: ``cost(layer, itemsize) -> LayerCost`` for ``layer_type`` and subclasses."""
    def add(function):
        _COSTS[layer_type] = function
        return function
    return add


def layer_cost(layer, itemsize):
    """The ``LayerCost`` of a built layer (its input and output shapes known)."""
    for cls in type(layer).__mro__:
        if cls in _COSTS:
            return _COSTS[cls](layer, itemsize)
    try:
        return _declared_cost(layer, itemsize)
    except Exception as error:     # a user's layer must never crash the estimate
        warnings.warn(f"memory estimate: {type(layer).__name__} could not describe its "
                      f"parameters ({type(error).__name__}: {error}); counted as an "
                      f"element-wise layer", RuntimeWarning, stacklevel=2)
        return _element_wise_cost(layer, itemsize)


def _values(shape):
    return math.prod(shape) if shape is not None else 0


def _element_wise_cost(layer, itemsize):
    """An output and an input gradient per sample."""
    return LayerCost(
        train_per_sample=(_values(layer.input_shape) + _values(layer.output_shape)) * itemsize,
        infer_per_sample=_values(layer.output_shape) * itemsize)


def _declared_cost(layer, itemsize):
    """A layer without a cost function: what it declares (parameters and buffers, by
    shape, allocated or not) plus an output and an input gradient per sample."""
    sizes = [p.size for p in layer.parameters().values()]
    buffers = [math.prod(value.shape) if value is not None else 0
               for value in layer.buffers().values()]
    base = _element_wise_cost(layer, itemsize)
    return LayerCost(params=sum(sizes), largest_param=max(sizes or [0]),
                     persistent=sum(buffers) * itemsize,
                     train_per_sample=base.train_per_sample,
                     infer_per_sample=base.infer_per_sample)


@register_layer_cost(FcLayer)
def _fc_cost(layer, itemsize):
    """out and dx per sample, the (1, batch) ones row; W (in, out) and B (1, out)."""
    n_in, n_out = _values(layer.input_shape), _values(layer.output_shape)
    return LayerCost(params=n_in * n_out + n_out, largest_param=n_in * n_out,
                     train_per_sample=(n_out + n_in + 1) * itemsize,
                     infer_per_sample=n_out * itemsize)


@register_layer_cost(ConvLayer)
def _conv_cost(layer, itemsize):
    """The padded input and its gradient, im2col columns, GEMM output, output,
    delta, dx, ones; W (F, C, kh, kw) and B (F,). See ``conv.py``'s ``_Plan``."""
    (c, h, w), (f, oh, ow) = layer.input_shape, layer.output_shape
    (kh, kw), (ph, pw) = layer.kernel_hw, layer.padding
    padded, positions, k = c * (h + 2 * ph) * (w + 2 * pw), oh * ow, c * kh * kw
    forward = padded + k * positions + 2 * f * positions        # padded, cols, gemm_out, out
    backward = f * positions + positions + padded + c * h * w   # delta, ones, padded grad, dx
    return LayerCost(params=f * k + f, largest_param=f * k,
                     train_per_sample=(forward + backward) * itemsize,
                     infer_per_sample=forward * itemsize, fixed=k * f * itemsize)


@register_layer_cost(PoolingLayer)
def _pooling_cost(layer, itemsize):
    """out and dx; max pooling's two bool masks (and a sum array when windows overlap),
    mean pooling's share array."""
    n_in, n_out = _values(layer.input_shape), _values(layer.output_shape)
    if layer.pool_type is PoolType.MAX:
        extra = 2 * n_out + (0 if layer._disjoint else n_out * itemsize)
    else:
        extra = n_out * itemsize
    return LayerCost(train_per_sample=(n_out + n_in) * itemsize + extra,
                     infer_per_sample=n_out * itemsize)


@register_layer_cost(BatchNormLayer)
def _batch_norm_cost(layer, itemsize):
    """out, xhat, work and dx per sample; gamma and beta; running mean and variance
    and four per-statistic rows."""
    n, stats = _values(layer.input_shape), layer.input_shape[0]
    return LayerCost(params=2 * stats, largest_param=stats, persistent=6 * stats * itemsize,
                     train_per_sample=4 * n * itemsize, infer_per_sample=n * itemsize)


@register_layer_cost(LayerNormLayer)
def _layer_norm_cost(layer, itemsize):
    """out, xhat, work and dx per sample, and four per-sample statistics; gamma and
    beta, one of each per value of a sample."""
    n = _values(layer.input_shape)
    return LayerCost(params=2 * n, largest_param=n, train_per_sample=(4 * n + 4) * itemsize,
                     infer_per_sample=(2 * n + 2) * itemsize)


@register_layer_cost(ResidualLayer)
def _residual_cost(layer, itemsize):
    """Its layers' costs (F's and the shortcut's) added up, plus the sum y = x + F(x)
    and the input gradient per sample."""
    costs = [layer_cost(inner, itemsize) for _, inner in layer.inner_layers()]
    n_in, n_out = _values(layer.input_shape), _values(layer.output_shape)
    return LayerCost(params=sum(c.params for c in costs),
                     largest_param=max(c.largest_param for c in costs),
                     persistent=sum(c.persistent for c in costs),
                     train_per_sample=sum(c.train_per_sample for c in costs)
                     + (n_out + n_in) * itemsize,
                     infer_per_sample=sum(c.infer_per_sample for c in costs) + n_out * itemsize,
                     fixed=sum(c.fixed for c in costs))


@register_layer_cost(ActivationLayer)
def _activation_cost(layer, itemsize):
    """out and dz, plus the activator's scratch (a mask, zeros or a derivative array)."""
    n = _values(layer.input_shape)
    return LayerCost(train_per_sample=3 * n * itemsize, infer_per_sample=2 * n * itemsize)


@register_layer_cost(ClassificationLayer)
def _classification_cost(layer, itemsize):
    """out, plus the loss delta and the metrics' work arrays of the step."""
    n = _values(layer.input_shape)
    return LayerCost(train_per_sample=3 * n * itemsize, infer_per_sample=n * itemsize)


@register_layer_cost(DropoutLayer)
def _dropout_cost(layer, itemsize):
    """The scale mask, the bool keep mask, out and dx; inference returns its input."""
    n = _values(layer.input_shape)
    return LayerCost(train_per_sample=3 * n * itemsize + n)


@register_layer_cost(FlattenLayer)
def _flatten_cost(layer, itemsize):
    """A view of a contiguous input: nothing."""
    return LayerCost()


# ----- the whole net -----------------------------------------------------------
def estimate_training_bytes(model, input_shape=None, batch_size=None, dtype=None,
                            optimizer=None, regularized=None, params=None):
    """A ``MemoryEstimate`` for training ``model``: a ``NeuralNet`` or a list of layer specs.

    ``batch_size``, ``dtype``, ``optimizer`` and ``regularized`` (L1/L2 on)
    default to those of ``params`` (a HyperParameters; a net's own if not
    given), else to float32, SGD and no penalty; ``batch_size`` is needed
    one way or the other. A net's ``input_shape`` defaults to its own.
    Specs are costed without making any layer's weights, so a net far too
    large for the machine is estimated in microseconds.
    """
    params = getattr(model, "params", None) if params is None else params
    if params is not None:
        dtype = params.dtype if dtype is None else dtype
        batch_size = params.batch_size if batch_size is None else batch_size
        optimizer = params.optimizer_name if optimizer is None else optimizer
        if regularized is None:
            regularized = params.regular_name in (RegularMethod.L1, RegularMethod.L2)
    if hasattr(model, "layers") and hasattr(model, "params"):
        input_shape = model.input_shape if input_shape is None else input_shape
        layers = list(model.layers)
    else:
        layers = _layers_from_specs(model, input_shape)
    batch_size = check_integer("memory estimate batch_size", batch_size)
    itemsize = np.dtype(np.float32 if dtype is None else dtype).itemsize
    costs = [layer_cost(layer, itemsize) for layer in layers]
    shape = as_shape(input_shape, "input_shape") if input_shape is not None \
        else layers[0].input_shape if layers else None
    return _sum_costs(costs, _values(shape), batch_size, itemsize,
                      _arrays_per_param(optimizer or "sgd", bool(regularized)), layers)


def _arrays_per_param(optimizer, regularized):
    """Arrays of a parameter's size: itself, its gradient, optimizer state and
    scratch, the penalty's work array, the loop's copies."""
    cls = OPTIMIZERS.get(str(parse_optimizer_name(optimizer)))
    return 2 + len(cls.state_names) + cls.num_scratch + int(regularized) + WEIGHT_COPIES


def _sum_costs(costs, input_values, batch, itemsize, per_param, layers):
    widest = max([input_values] + [_values(layer.output_shape) for layer in layers] + [1])
    chunk = max(1, min(PREDICT_CHUNK, PREDICT_VALUES // widest))
    parameters = sum(c.params for c in costs) * per_param * itemsize \
        + sum(c.persistent for c in costs)
    gather = GATHER_BATCHES * batch * input_values * itemsize
    activations = sum(c.train_per_sample * batch + c.fixed for c in costs) + gather
    # the layers' inference arrays, and the zero-padded copy of a short last chunk
    inference = (sum(c.infer_per_sample for c in costs) + input_values * itemsize) * chunk
    init = 8 * max([c.largest_param for c in costs] or [0])
    return MemoryEstimate(int(parameters), int(activations), int(inference), int(init), batch)


def _layers_from_specs(specs, input_shape):
    """Built layers for ``specs`` without params: their parameters are declared (by
    shape) but not allocated, so a net far too large is costed, not made."""
    if isinstance(specs, (str, bytes, dict)) or not hasattr(specs, "__iter__"):
        raise ValueError(f"memory estimate: expected a NeuralNet or a list of layer specs, "
                         f"got {specs!r}")
    shape = None if input_shape is None else as_shape(input_shape, "input_shape")
    layers = []
    for index, spec in enumerate(specs):
        layer = spec if isinstance(spec, Layer) else _spec_layer(spec, index, shape)
        if layer.input_shape is None:
            if shape is None:
                raise ValueError(f"memory estimate: layer spec {index} needs an input shape; "
                                 f"give input_shape")
            layer.build(shape)
        layers.append(layer)
        shape = layer.output_shape
    return layers


def _spec_layer(spec, index, shape):
    kind, options, _ = parse_spec(spec, index)
    try:
        return make_layer(kind, options, shape, None)
    except ValueError as error:
        raise ValueError(f"layer spec {index} ({kind!r}): {error}") from None


# ----- the machine -------------------------------------------------------------
def check_memory(estimate, available=None, what="this net"):
    """Raise ValueError (one line) if ``estimate`` (a MemoryEstimate or bytes) exceeds
    ``available`` bytes (default: ``available_bytes()``); returns the estimate's total."""
    total = int(estimate)
    if available is None:
        available = machine.available_bytes()
    if available is not None and total > available:
        needs = estimate.describe() if isinstance(estimate, MemoryEstimate) \
            else f"about {format_bytes(total)}"
        raise ValueError(f"{what} needs {needs}; this machine has {format_bytes(available)} "
                         f"available")
    return total


def inference_bytes(net):
    """Bytes one inference pass of ``net`` needs beyond its weights: every layer's work
    arrays at the chunk size ``predict`` uses, and the zero-padded copy of a short chunk."""
    itemsize = np.dtype(net.params.dtype).itemsize
    layers = net.layers
    costs = [layer_cost(layer, itemsize) for layer in layers]
    input_values = _values(net.input_shape)
    widest = max([input_values] + [_values(layer.output_shape) for layer in layers] + [1])
    chunk = max(1, min(PREDICT_CHUNK, PREDICT_VALUES // widest))
    return int((sum(c.infer_per_sample for c in costs) + input_values * itemsize) * chunk)


def training_growth_bytes(net):
    """Bytes a ``train`` call of ``net`` will add to what is already allocated: the
    estimate of ``estimate_training_bytes`` less the parameters' arrays (value,
    gradient, optimizer state) that exist already."""
    allocated = 0
    for parameter in net.parameters().values():
        if parameter.value is not None:
            allocated += 2 * parameter.value.nbytes + sum(
                a.nbytes for a in parameter.optimizer.state_arrays().values()) + sum(
                a.nbytes for a in parameter.optimizer._scratch)
    return max(0, estimate_training_bytes(net).total - allocated)


def check_net_memory(nbytes, what):
    """Refuse (ValueError) ``what`` when ``nbytes`` more cannot fit; a need under 64 MB is
    not checked (reading the machine's memory costs more than it saves there)."""
    from .machine import SMALL_ALLOCATION
    if nbytes >= SMALL_ALLOCATION:
        check_memory(nbytes, what=what)
