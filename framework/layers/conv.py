"""ConvLayer: 2-D convolution by im2col and one GEMM per pass.

Like PyTorch's ``Conv2d`` (and the textbook's ConvLayer) it computes the
cross-correlation ``y[n, f] = B[f] + sum_c W[f, c] * x[n, c]`` over every
``kh x kw`` window of the zero-padded input, with W in the layout
``(num_filters, C, kh, kw)``. One training step costs three matrix products
(forward; ``dW``; the column gradient) and memory-bound copies around them:

forward
    copy the input into the interior of a padded buffer whose zero border is
    written once; im2col into ``cols`` ``(C*kh*kw, N*OH*OW)`` (see
    ``im2col.py``); ``W2 @ cols`` gives ``(F, N*OH*OW)``; the bias is added
    there and one copy turns it into the ``(N, F, OH, OW)`` output.
backward
    ``delta`` copied to ``(F, N*OH*OW)``; ``dB`` its row sums; ``dW`` the
    transpose of ``cols @ delta2.T`` (OpenBLAS runs that orientation faster);
    then, unless this is the net's first layer, the column gradient ``W2.T @ delta2`` is written over ``cols`` (no longer needed) and
    col2im sums it into the padded input gradient, whose interior is ``dx``.

All work arrays are cached per batch shape and reused: a steady-state step
allocates no array (NumPy's ufuncs over strided views use a transient
iterator buffer of at most 8192 elements per operand, whatever the batch). A backward pass consumes the forward pass's columns, so
each backward needs its own forward.
"""
import numpy as np

from ..weights_bias import WeightsBias
from .base import Layer, as_shape, check_input, check_positive_int, check_real
from .im2col import (as_pair, col2im, column_blocks, im2col, image_buffer, matrix_images,
                     offset_pairs, output_size)
from .registry import register_layer

_dot, _matmul, _add = np.dot, np.matmul, np.add
SHORT_ROW = 24      # output rows shorter than this (in values) make im2col per-run bound


def _product(a, b, out):
    """``out = a @ b`` by BLAS; ``np.dot`` wants an exact-dtype C-contiguous
    ``out`` (ours always are) and mixed dtypes go through ``matmul``."""
    try:
        return _dot(a, b, out)
    except ValueError:
        return _matmul(a, b, out=out)


class _Plan:
    """The work arrays and views of one batch shape (built once, reused)."""

    def __init__(self, layer, batch, batch_last):
        (c, h, w), (f, oh, ow) = layer.input_shape, layer.output_shape
        (kh, kw), (ph, pw), dtype = layer.kernel_hw, layer.padding, layer.dtype
        self.batch_last, out_hw = batch_last, (oh, ow)
        padded_chw = (c, h + 2 * ph, w + 2 * pw)
        self.padded = image_buffer(layer, "padded", batch, padded_chw, batch_last, dtype)
        self.interior = self.padded[:, :, ph:ph + h, pw:pw + w]
        self.cols = layer.buffer("cols", (c * kh * kw, batch * oh * ow), dtype)
        blocks = column_blocks(self.cols, c, (kh, kw), batch, out_hw, batch_last)
        self.im2col = offset_pairs(self.padded, blocks, (kh, kw), out_hw, layer.stride)
        self.gemm_out = layer.buffer("gemm_out", (f, batch * oh * ow), dtype)
        self.gemm_view = matrix_images(self.gemm_out, batch, out_hw, batch_last)
        self.out = layer.buffer("out", (batch, f, oh, ow), dtype)
        self.delta = layer.buffer("delta", self.gemm_out.shape, dtype)
        self.delta_view = matrix_images(self.delta, batch, out_hw, batch_last)
        self.dw_t = layer.buffer("dw_t", (c * kh * kw, f), dtype)
        self.ones = layer.buffer("ones", (batch * oh * ow,), dtype)
        self.ones.fill(1)
        self._layer, self._blocks, self._batch = layer, blocks, batch
        self._padded_chw, self.col2im = padded_chw, None

    def input_grad(self):
        """(col2im pairs, padded gradient, its interior, dx): made on first need."""
        if self.col2im is None:
            layer, batch = self._layer, self._batch
            (c, h, w), (ph, pw) = layer.input_shape, layer.padding
            padded = image_buffer(layer, "padded_grad", batch, self._padded_chw,
                                  self.batch_last, layer.dtype)
            pairs = offset_pairs(padded, self._blocks, layer.kernel_hw,
                                 layer.output_shape[1:], layer.stride)
            dx = padded if ph == pw == 0 and not self.batch_last else \
                layer.buffer("dx", (batch, c, h, w), layer.dtype)
            self.col2im = (pairs, padded, padded[:, :, ph:ph + h, pw:pw + w], dx)
        return self.col2im


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
        self._plan_shape = self._plan = None
        self._cols_ready = False
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
        self._plan_shape = None             # the arrays may be new: views made again

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
        try:
            np.copyto(plan.interior, x)         # the zero border is never written
        except TypeError:                       # a complex batch of a known shape
            check_real("ConvLayer", x)
            raise
        im2col(plan.im2col)
        _product(self._w2, plan.cols, plan.gemm_out)
        # bias on the contiguous GEMM output, then a plain copy: NumPy buffers a
        # ufunc over a transposed view, which measured 1.1-1.8x slower
        _add(plan.gemm_out, self._bias, out=plan.gemm_out)
        np.copyto(plan.out, plan.gemm_view)
        self._cols_ready = True
        return plan.out

    def _plan_for(self, x):
        self._require_weights()
        check_input("ConvLayer", x, self.input_shape)
        self.require_arrays()
        self._matrix_views()
        self._plan = _Plan(self, x.shape[0], self._batch_last())
        self._plan_shape = x.shape
        return self._plan

    def _batch_last(self):
        """Columns ordered (OH, OW, N) when output rows are short (see im2col.py).

        Measured at batch 64, one thread, batch first / batch last, ms per
        step: the reference net's second conv (14-wide rows) 26.0 / 20.9
        (im2col 2.8 / 1.4, col2im 7.7 / 3.1); its first conv (28-wide rows,
        one channel in, 16 out) 5.8 / 6.8, where the transposes of the
        output and delta into and out of CHWN cost more than the runs save.
        """
        return self.output_shape[2] < SHORT_ROW

    def backward(self, delta):
        plan = self._plan
        if not self._cols_ready or delta.shape != (plan.out.shape):
            self._check_backward(delta)
        np.copyto(plan.delta_view, delta)
        _product(plan.delta, plan.ones, self.wb.dB)
        _product(plan.cols, plan.delta.T, plan.dw_t)   # (K, F): 13% faster than (F, K)
        np.copyto(self._dw2, plan.dw_t.T)
        if not self.need_input_grad:
            return None
        pairs, padded, interior, dx = plan.input_grad()
        _product(self._w2.T, plan.delta, plan.cols)     # the columns are spent: reuse them
        self._cols_ready = False
        col2im(pairs, padded)
        if dx is not padded:
            np.copyto(dx, interior)
        return dx

    def _check_backward(self, delta):
        if self._plan is None or not self._cols_ready:
            raise ValueError("ConvLayer: backward needs a forward pass first (each backward "
                             "consumes the columns of one forward)")
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
