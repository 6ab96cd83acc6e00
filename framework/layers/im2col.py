"""Windows of images as strided views: what im2col copies and col2im adds back.

A convolution (and a pooling layer) reads, for every kernel offset ``(i,
j)``, the input pixels ``x[n, c, r*sh + i, s*sw + j]`` over the output
positions ``(r, s)``. Both are views of the (padded) images, never copies:

``window(x, i, j, out_hw, stride)``
    offset ``(i, j)`` alone: ``(N, C, OH, OW)``, the strided slice
    ``x[:, :, i::sh, j::sw]`` cut to the output size;
``offset_windows(x, kernel_hw, stride, out_hw)``
    every offset at once: ``(C, kh, kw, N, OH, OW)``, in the order of the
    rows of the im2col matrix (c, i, j) and of ``W.reshape(F, C*kh*kw)``.
    im2col is a single copy of it into the columns (NumPy walks the six
    axes in C, with the output row as the inner run).

The images may be any strided view, e.g. channels-first arrays stored with
the samples innermost (``conv_kernels.py``'s "batch last" layout): the
views follow the strides, so the same code serves every layout.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def as_pair(value, field, minimum):
    """``value`` as an ``(h, w)`` pair of ints >= ``minimum`` (an int means both)."""
    pair = (value, value) if _is_int(value) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_int(n) and n >= minimum for n in pair):
        raise ValueError(f"{field}: expected an integer >= {minimum} or an (h, w) pair "
                         f"of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def output_size(size, kernel, stride, padding):
    """PyTorch's floor rule: ``(size + 2*padding - kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def window(x, i, j, out_hw, stride):
    """The ``(N, C, OH, OW)`` strided view of ``x`` read by kernel offset ``(i, j)``."""
    (oh, ow), (sh, sw) = out_hw, stride
    return x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def offset_windows(x, kernel_hw, stride, out_hw, writeable=False):
    """Every kernel offset's window of ``(N, C, H, W)`` images, as one
    ``(C, kh, kw, N, OH, OW)`` view: ``[c, i, j, n, r, s] = x[n, c, r*sh + i, s*sw + j]``.

    ``writeable`` only for code that writes one offset ``[:, i, j]`` at a
    time: different offsets share pixels whenever the stride is smaller than
    the kernel.
    """
    (kh, kw), (sh, sw), (oh, ow) = kernel_hw, stride, out_hw
    view = sliding_window_view(x, (kh, kw), axis=(2, 3), writeable=writeable)
    view = view[:, :, :sh * (oh - 1) + 1:sh, :sw * (ow - 1) + 1:sw]
    return view.transpose(1, 4, 5, 0, 2, 3)
