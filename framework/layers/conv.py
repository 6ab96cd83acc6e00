"""ConvLayer: 2-D convolution as matrix products over im2col columns.

Like PyTorch's ``Conv2d`` (and the textbook's ConvLayer) it computes the
cross-correlation ``y[n, f] = B[f] + sum_c W[f, c] * x[n, c]`` over every
``kh x kw`` window of the zero-padded input, with W in the layout
``(num_filters, C, kh, kw)``. With ``cols`` the im2col matrix of the input
windows (one column per output position, rows ordered (c, i, j) like a row
of ``W2 = W.reshape(F, C*kh*kw)``) and ``D`` the delta as an ``(F,
positions)`` matrix, one training step is three matrix products:

forward     ``Y = W2 @ cols + B``
backward    ``dB = D @ 1``,  ``dW2 = D @ cols.T``  and, unless this is the
            net's first layer, ``dx = col2im(W2.T @ D)``; with stride 1 that
            is the convolution of the zero-padded delta with the flipped
            kernel, ``dx = W_flip2 @ im2col(delta_padded)``.

The products run chunk by chunk (a few samples at a time, so each chunk's
columns stay in the CPU cache) on ``framework.infra.workers``' threads, each
chunk summing into its own partial ``dW`` / ``dB``, added up in chunk order.
How the chunks are cut and laid out, and why, is ``conv_kernels.py``; the
windows themselves are views (``im2col.py``). All work arrays are cached per
batch shape and reused: a steady-state step allocates no array (NumPy's
ufuncs over strided views use a transient iterator buffer of at most 8192
elements per operand, whatever the batch). ``backward`` uses the input of
the last ``forward`` (kept in the padded buffer).
"""
import numpy as np

from ..infra import workers
from ..infra.blas import dot
from ..weights_bias import WeightsBias
from .base import Layer, as_shape, check_input, check_positive_int, check_real
from .conv_kernels import (ConvGeometry, ConvPlan, col2im, frame_delta, im2col, load_delta,
                           load_input, store_dx, store_output)
from .im2col import as_pair, output_size
from .registry import register_layer

KEPT_PLANS = 3


@register_layer(name="conv")
class ConvLayer(Layer):
    """``ConvLayer(input_shape, kernel_shape, stride=1, padding=0, params=None)``.

    ``input_shape`` is ``(C, H, W)`` (None: taken from the previous layer when
    the net builds it); ``kernel_shape`` is the textbook's ``(num_filters, kh,
    kw)`` (or ``(num_filters, C, kh, kw)``, C checked against the input);
    ``stride`` and ``padding`` are ints or ``(h, w)`` pairs. ``params`` (a
    HyperParameters) gives dtype, initializer, optimizer and penalty; without
    it the weights are made when the net attaches its own.
    """

    def __init__(self, input_shape, kernel_shape, stride=1, padding=0, params=None):
        super().__init__(params)
        self.filters, self.kernel_channels, self.kernel_hw = _kernel(kernel_shape)
        self.stride = as_pair(stride, "ConvLayer stride", 1)
        self.padding = as_pair(padding, "ConvLayer padding", 0)
        self.wb = None
        self._plan_shape = self._plan = self._geometry = self._w_flip2 = None
        self._plans = {}                    # batch size -> ConvPlan, most recent last
        self._has_input = False
        self._input_dtype = None
        if input_shape is not None:
            self.build(input_shape)

    # ----- shapes and weights -------------------------------------------------
    def compute_output_shape(self, input_shape):
        shape = as_shape(input_shape, "ConvLayer input_shape")
        if len(shape) != 3:
            raise ValueError(f"ConvLayer input_shape: expected (C, H, W), got {input_shape!r}")
        if self.kernel_channels not in (None, shape[0]):
            raise ValueError(f"ConvLayer: kernel has {self.kernel_channels} channels, "
                             f"input_shape {shape} has {shape[0]}")
        sizes = []
        for axis, size, k, s, p in zip("HW", shape[1:], self.kernel_hw, self.stride,
                                       self.padding):
            if k > size + 2 * p:
                raise ValueError(f"ConvLayer: kernel {axis} {k} is larger than the padded "
                                 f"input {axis} {size} + 2*{p}")
            sizes.append(output_size(size, k, s, p))
        return (self.filters, sizes[0], sizes[1])

    def build(self, input_shape):
        output_shape = super().build(input_shape)
        self._make_weights()
        return output_shape

    def attach(self, params):
        """Adopt the net's HyperParameters if none were given (weights allocated now)."""
        super().attach(params)
        # the arrays may be new (and the work arrays of another dtype): plans made again
        self._plan_shape = self._plan = self._w_flip2 = None
        self._plans = {}

    def _make_weights(self):
        """Declare W (F, C, kh, kw) and B (F,) once the input shape is known."""
        if self.wb is not None or self.input_shape is None:
            return
        f, c, (kh, kw) = self.filters, self.input_shape[0], self.kernel_hw
        self.wb = WeightsBias(
            self.add_parameter("W", (f, c, kh, kw), fans=(c * kh * kw, f * kh * kw)),
            self.add_parameter("B", (f,), init="zeros", decay=False))

    def _matrix_views(self):
        """W, dW as (F, C*kh*kw) matrices and B as an (F, 1) column: views for the GEMMs."""
        f = self.filters
        self._w2 = self.wb.W.reshape(f, -1)
        self._dw2 = self.wb.dW.reshape(f, -1)
        self._bias = self.wb.B.reshape(f, 1)              # per row of (F, M)

    def initialize(self, streams):
        self._require_weights()
        super().initialize(streams)

    def _require_weights(self):
        if self.wb is None:
            raise ValueError("ConvLayer: no weights yet (no input_shape); give input_shape "
                             "or add the layer to a NeuralNet")

    def weights(self):
        self._require_weights()
        return [self.wb]

    # ----- computing ------------------------------------------------------------
    def forward(self, x, train):
        plan = self._plan
        if x.shape != self._plan_shape:
            plan = self._plan_for(x)
        elif x.dtype != self._input_dtype:      # a known shape, numbers not yet checked
            check_real("ConvLayer", x)
        self._input_dtype = x.dtype
        bias = self._bias.reshape(1, -1, 1, 1)
        plan.prepare(workers.slots(len(plan.chunks)))
        workers.run(len(plan.chunks),
                    lambda index, slot: self._forward_chunk(plan, x, bias, index, slot))
        self._has_input = True
        return plan.out

    def _forward_chunk(self, plan, x, bias, index, slot):
        """``Y = W2 @ cols + B`` for one chunk of samples."""
        chunk, work = plan.chunks[index], plan.scratch(plan.chunks[index], slot)
        load_input(chunk, x)                            # into the zero-framed padded image
        im2col(chunk.windows, work.cols_images)
        dot(self._w2, work.cols, work.matrix)           # (F, K) @ (K, M)
        store_output(work, bias, plan.out, chunk)       # + B, as (b, F, OH, OW) images

    def backward(self, delta):
        plan = self._plan
        if not self._has_input or delta.shape != plan.out.shape:
            self._check_backward(delta)
        dx = None
        if self.need_input_grad:
            dx = plan.dx()
            if plan.geometry.transposed_dx:
                self._flip_kernel()
        plan.prepare(workers.slots(len(plan.chunks)))
        workers.run(len(plan.chunks),
                    lambda index, slot: self._backward_chunk(plan, delta, dx, index, slot))
        plan.sum_parts(self._dw2, self.wb.dB)           # the chunks' partials, in order
        return dx

    def _backward_chunk(self, plan, delta, dx, index, slot):
        """Partial ``dB`` and ``dW`` of one chunk, and its rows of ``dx``."""
        chunk, work = plan.chunks[index], plan.scratch(plan.chunks[index], slot)
        d = load_delta(work, delta, chunk)                      # D: (F, M)
        dot(d, work.ones, plan.db_parts[index])                 # dB = D @ 1
        im2col(chunk.windows, work.cols_images)                 # the forward's columns again
        dot(work.cols, d.T, plan.dw_parts[index])               # dW2.T = cols @ D.T
        if dx is None:
            return
        if plan.geometry.transposed_dx:
            frame_delta(work)                                   # the delta, zero-padded
            im2col(work.q_windows, work.q_cols_images)
            dot(self._w_flip2, work.q_cols, work.dx_matrix)     # dx = W_flip2 @ cols(q)
            store_dx(work.dx_images, dx, chunk)
        else:
            dot(self._w2.T, d, work.cols)                       # dcols = W2.T @ D
            col2im(work)
            store_dx(work.grad_interior, dx, chunk)

    def _flip_kernel(self):
        """``W_flip[c, f, i, j] = W[f, c, kh-1-i, kw-1-j]``, as ``(C, F*kh*kw)`` rows."""
        f, c, kh, kw = self.wb.W.shape
        if self._w_flip2 is None:
            self._w_flip2 = self.buffer("W flip", (c, f * kh * kw), self.dtype)
        np.copyto(self._w_flip2.reshape(c, f, kh, kw),
                  self.wb.W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])

    def _plan_for(self, x):
        """The plan of this batch size: kept for the last few sizes (the batch, the
        last partial batch, an inference chunk), as the buffer cache keeps their arrays."""
        self._require_weights()
        check_input("ConvLayer", x, self.input_shape)
        self.require_arrays()
        self._matrix_views()
        if self._geometry is None:
            self._geometry = ConvGeometry(self.input_shape, self.output_shape, self.kernel_hw,
                                          self.stride, self.padding)
        plan = self._plans.pop(x.shape[0], None)
        if plan is None:
            plan = ConvPlan(self, self._geometry, x.shape[0], self.dtype)
            if len(self._plans) >= KEPT_PLANS:
                del self._plans[next(iter(self._plans))]
        self._plans[x.shape[0]] = self._plan = plan
        self._plan_shape = x.shape
        self._has_input = False
        return plan

    def _check_backward(self, delta):
        if self._plan is None or not self._has_input:
            raise ValueError("ConvLayer: backward needs a forward pass first")
        if delta.shape != self._plan.out.shape:
            raise ValueError(f"ConvLayer: expected delta of shape {self._plan.out.shape}, "
                             f"got {delta.shape}")

    # ----- description ------------------------------------------------------------
    def get_config(self):
        kernel = (self.filters,) + self.kernel_hw
        return {"input_shape": None if self.input_shape is None else list(self.input_shape),
                "kernel_shape": list(kernel), "stride": list(self.stride),
                "padding": list(self.padding)}

    @classmethod
    def from_config(cls, config, input_shape=None, params=None):
        """Also takes a spec's short keys: ``filters`` and ``kernel`` (int or pair)."""
        config = dict(config)
        if "filters" in config or "kernel" in config:
            if "kernel_shape" in config:
                raise ValueError(f"ConvLayer config {config!r}: give kernel_shape or "
                                 f"filters + kernel, not both")
            filters, kernel = config.pop("filters", None), config.pop("kernel", None)
            kh, kw = as_pair(kernel, "ConvLayer kernel", 1)
            config["kernel_shape"] = (check_positive_int("ConvLayer", "filters", filters),
                                      kh, kw)
        return super().from_config(config, input_shape, params)


def _kernel(kernel_shape):
    """``(F, kh, kw)`` or ``(F, C, kh, kw)`` -> (F, C or None, (kh, kw))."""
    try:
        shape = as_shape(kernel_shape, "ConvLayer kernel_shape")
    except ValueError:
        shape = ()
    if len(shape) not in (3, 4):
        raise ValueError(f"ConvLayer kernel_shape: expected (num_filters, kh, kw) or "
                         f"(num_filters, C, kh, kw) of positive integers, "
                         f"got {kernel_shape!r}")
    channels = shape[1] if len(shape) == 4 else None
    return shape[0], channels, shape[-2:]
