"""im2col / col2im kernels shared by ConvLayer (and the pair / shape helpers).

Layout (chosen by measurement, see ``bench/profile_conv.py``): the columns
of a batch are one C-contiguous matrix ``cols`` of shape ``(C*kh*kw, M)``,
rows ordered (c, i, j) like a row of ``W.reshape(F, C*kh*kw)``, so the
forward GEMM ``W2 @ cols`` is ``(F, M)``. The block of kernel offset
``(i, j)`` is ``cols`` seen as ``(C, kh, kw, ...)`` at ``[:, i, j]``, and a
Python loop over the ``kh*kw`` offsets (never over samples or pixels) fills
it from the strided window of the zero-padded input (im2col) or adds it back
(col2im). The columns M can be ordered two ways:

``(N, OH, OW)``, batch first
    The padded input is NCHW like the layer's input and the GEMM output
    ``(F, N, OH, OW)`` needs only a copy of contiguous OH*OW planes to become
    ``(N, F, OH, OW)``; but every copy in im2col/col2im runs along one output
    row, OW values long, and NumPy's per-run overhead dominates when OW is
    small (14 values: col2im of the second reference conv took 11 ms).
``(OH, OW, N)``, batch last
    The padded input and its gradient are kept CHWN, so an output row of
    every sample, OW*N values, is one contiguous run: im2col ~3x and col2im
    ~4x faster there, at the price of real transposes when entering and
    leaving NCHW (the input, the output, delta and dx).

``ConvLayer`` takes batch last when its output rows are short, which is
when the runs matter; the views below hide the choice: every
block and window is presented as a logical ``(N, C, OH, OW)`` view and
NumPy's iterator walks it in memory order.

The views are built once per batch shape over persistent buffers and reused
every step, so a step only runs the copies.
"""
import numpy as np


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


def image_buffer(layer, name, batch, chw, batch_last, dtype):
    """The layer's cached ``(N, C, H, W)`` work image, stored CHWN if ``batch_last``."""
    if not batch_last:
        return layer.buffer(name, (batch,) + tuple(chw), dtype)
    return layer.buffer(name, tuple(chw) + (batch,), dtype).transpose(3, 0, 1, 2)


def column_blocks(cols, channels, kernel_hw, batch, out_hw, batch_last):
    """``cols`` seen as ``(C, kh, kw, N, OH, OW)``: the block of offset (i, j) is ``[:, i, j]``."""
    if not batch_last:
        return cols.reshape((channels,) + tuple(kernel_hw) + (batch,) + tuple(out_hw))
    blocks = cols.reshape((channels,) + tuple(kernel_hw) + tuple(out_hw) + (batch,))
    return blocks.transpose(0, 1, 2, 5, 3, 4)


def matrix_images(matrix, batch, out_hw, batch_last):
    """A ``(rows, M)`` matrix over the columns seen as ``(N, rows, OH, OW)`` images."""
    rows, (oh, ow) = matrix.shape[0], out_hw
    if not batch_last:
        return matrix.reshape(rows, batch, oh, ow).transpose(1, 0, 2, 3)
    return matrix.reshape(rows, oh, ow, batch).transpose(3, 0, 1, 2)


def offset_pairs(padded, blocks, kernel_hw, out_hw, stride):
    """[(column block, window of the padded input)] for every kernel offset, both
    ``(N, C, OH, OW)`` views (the block transposed), for im2col and col2im."""
    kh, kw = kernel_hw
    return [(blocks[:, i, j].transpose(1, 0, 2, 3), window(padded, i, j, out_hw, stride))
            for i in range(kh) for j in range(kw)]


def im2col(pairs):
    """Fill the columns: one strided copy per kernel offset."""
    copy = np.copyto
    for block, win in pairs:
        copy(block, win)


def col2im(pairs, padded_grad):
    """Sum the column gradients back onto the (zeroed) padded input gradient.

    Offsets overlap whenever the stride is smaller than the kernel, so each
    offset's block is added, never assigned.
    """
    padded_grad.fill(0)
    add = np.add
    for block, win in pairs:
        add(win, block, out=win)
