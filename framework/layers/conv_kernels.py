"""The speed machinery behind ConvLayer: chunks of samples, working layouts, threads.

``ConvLayer`` states its arithmetic as matrix products over the im2col
columns of a batch (``Y = W2 @ cols + B`` and so on); this module decides
how those products are cut up and laid out, measured on the reference CNN
(``bench/profile_conv.py``, ``docs/performance.md``):

Chunks of samples
    A batch is cut into chunks of about ``CHUNK_COLUMNS`` output positions
    (8 MNIST images of 14x14, 2 or 3 of 28x28), and each chunk goes through its
    whole pass at once: copy in, im2col, the products, copy out. The chunk's
    columns (~1-3 MB) stay in the CPU's cache between the copy that writes
    them and the product that reads them; whole-batch columns (20 MB for the
    reference net's second conv) went to memory and back, and OpenBLAS ran
    the products at 62-79 GFLOP/s instead of the ~90 it reaches on chunks.
Threads
    The chunks are shared out by ``framework.infra.workers`` (one chunk at a
    time to whichever thread is free). Each chunk writes its own slice of the
    output and its own partial ``dW`` / ``dB``; the partials are summed in
    chunk order afterwards, so the result is the same bits for any number of
    threads (the chunk size depends only on the layer's shapes).
Two working layouts
    Inside a chunk, images are kept either like the input, ``(b, C, H, W)``
    ("batch first"), or with the samples innermost, ``(C, H, W, b)``
    ("batch last"). im2col and its inverse copy one output row at a time, a
    run of OW values batch first but OW*b batch last; NumPy's fixed cost per
    run dominates when OW is short (14 values: im2col 2.8 / 1.4 ms, col2im
    7.7 / 3.1 ms per step batch first / batch last), while the transposes
    into and out of batch last cost more than they save on long rows.
    ``batch_last`` is chosen from the output row length (``SHORT_ROW``).
The input gradient
    With stride 1, ``dx`` is itself a convolution: the delta, zero-padded by
    ``k - 1 - p``, correlated with the kernel turned by 180 degrees and its
    two channel axes swapped (``dx = W_flip2 @ im2col(delta_padded)``). That
    is one copy and one product per chunk, where col2im (``W2.T @ delta``,
    then one add per kernel offset into overlapping windows) takes 25 small
    NumPy calls per chunk, which contend for the GIL between threads. The
    copy is of F*kh*kw rows where col2im adds C*kh*kw, so the transposed
    convolution is used up to F = 2C: for the reference net's second conv
    (16 -> 32) both take the same time on one thread (one step 22.5 / 23.0
    ms); a 3 -> 32 conv took 56 ms against col2im's 25, a 32 -> 32 one 15
    against 17. Strided convolutions keep col2im.
Memory
    The padded input of the whole batch is kept (the backward pass rebuilds
    each chunk's columns from it, cheaper than keeping 20 MB of columns);
    everything else is per thread and per chunk size, allocated once per
    batch shape and reused, so a steady-state step allocates no array.
"""
import math

import numpy as np

from .im2col import offset_windows

CHUNK_COLUMNS = 1600    # output positions per chunk (b * OH * OW); see the module docstring
SHORT_ROW = 24          # output rows shorter than this (in values) run batch last

_add, _copyto = np.add, np.copyto


class ConvGeometry:
    """The shapes of one ConvLayer (fixed when it is built)."""

    def __init__(self, input_shape, output_shape, kernel_hw, stride, padding):
        (self.c, self.h, self.w), (self.f, self.oh, self.ow) = input_shape, output_shape
        self.kernel_hw, self.stride, self.padding = tuple(kernel_hw), tuple(stride), \
            tuple(padding)
        kh, kw = self.kernel_hw
        self.k = self.c * kh * kw                       # rows of the columns
        self.positions = self.oh * self.ow              # columns per sample
        self.padded_hw = (self.h + 2 * self.padding[0], self.w + 2 * self.padding[1])
        self.batch_last = self.ow < SHORT_ROW
        # the transposed convolution copies F*kh*kw rows of columns where col2im
        # adds C*kh*kw: worth it up to F = 2C (see the module docstring)
        self.transposed_dx = self.stride == (1, 1) and self.f <= 2 * self.c
        self.samples_per_chunk = None       # None: from CHUNK_COLUMNS (tests pin it)

    def chunk_bounds(self, batch):
        """``[(start, stop)]``: about ``CHUNK_COLUMNS`` output positions per chunk, the
        sizes as equal as possible (so that threads share them out evenly: 8 chunks
        of 8 samples for the reference net's second conv, 31 of 2 or 3 for its first)."""
        if self.samples_per_chunk is not None:
            size = self.samples_per_chunk
            return [(start, min(start + size, batch)) for start in range(0, batch, size)]
        count = min(batch, max(1, round(batch * self.positions / CHUNK_COLUMNS)))
        edges = [batch * k // count for k in range(count + 1)]
        return list(zip(edges, edges[1:]))


class Chunk:
    """Samples ``start:stop`` of the batch: their padded input and their views."""

    def __init__(self, geometry, start, stop, padded_input):
        self.start, self.stop, self.size = start, stop, stop - start
        g = geometry
        ph, pw = g.padding
        self.interior = padded_input[:, :, ph:ph + g.h, pw:pw + g.w]    # (b, C, H, W)
        self.windows = offset_windows(padded_input, g.kernel_hw, g.stride, (g.oh, g.ow))


class Scratch:
    """One thread's work arrays for chunks of ``size`` samples (reused every chunk).

    ``cols`` (K, M) holds a chunk's columns, and in the backward pass, once
    they are spent, the columns of the padded delta or the column gradient;
    ``matrix`` (F, M) is the product's output forward and the delta backward.
    """

    def __init__(self, layer, geometry, size, slot, dtype):
        g = self.geometry = geometry
        m = size * g.positions
        kh, kw = g.kernel_hw
        name = f"{slot}:{size}"
        dx_rows = g.f * kh * kw if g.transposed_dx else g.k
        dx_cols = size * g.h * g.w if g.transposed_dx else m
        flat = layer.buffer(f"cols {name}", (max(g.k * m, dx_rows * dx_cols),), dtype)
        self.cols = flat[:g.k * m].reshape(g.k, m)
        self.cols_images = column_images(self.cols, g, size)
        self.matrix = layer.buffer(f"matrix {name}", (g.f, m), dtype)
        self.matrix_images = matrix_images(self.matrix, size, (g.oh, g.ow), g.batch_last)
        self.ones = layer.buffer(f"ones {name}", (m,), dtype)
        self.ones.fill(1)
        if g.transposed_dx:
            self._transposed_dx(layer, name, size, flat, dtype)
        else:
            self._col2im(layer, name, size, dtype)

    def _transposed_dx(self, layer, name, size, flat, dtype):
        """dx = W_flip2 @ im2col(q): q is the delta in a zero frame of k - 1 - p."""
        g = self.geometry
        (kh, kw), (ph, pw) = g.kernel_hw, g.padding
        qh, qw = g.h + kh - 1, g.w + kw - 1
        q = image_buffer(layer, f"q {name}", size, (g.f, qh, qw), g.batch_last, dtype)
        # delta row r lands on q row r + kh-1-ph; rows that fall outside q only
        # ever met zero padding and carry nothing to dx
        rows = _placed(g.oh, kh - 1 - ph, qh)
        cols = _placed(g.ow, kw - 1 - pw, qw)
        self.q_target = q[:, :, rows[1], cols[1]]
        self.q_source = self.matrix_images[:, :, rows[0], cols[0]]
        self.q_windows = offset_windows(q, (kh, kw), (1, 1), (g.h, g.w))
        rows_q, m_in = g.f * kh * kw, size * g.h * g.w
        self.q_cols = flat[:rows_q * m_in].reshape(rows_q, m_in)
        self.q_cols_images = column_images(self.q_cols, g, size, channels=g.f,
                                           out_hw=(g.h, g.w))
        self.dx_matrix = layer.buffer(f"dx {name}", (g.c, m_in), dtype)
        self.dx_images = matrix_images(self.dx_matrix, size, (g.h, g.w), g.batch_last)

    def _col2im(self, layer, name, size, dtype):
        """dx by col2im: the column gradient added back, offset by offset."""
        g = self.geometry
        (ph, pw), (hp, wp) = g.padding, g.padded_hw
        self.padded_grad = image_buffer(layer, f"padded grad {name}", size, (g.c, hp, wp),
                                        g.batch_last, dtype)
        self.grad_interior = self.padded_grad[:, :, ph:ph + g.h, pw:pw + g.w]
        self.grad_windows = offset_windows(self.padded_grad, g.kernel_hw, g.stride,
                                           (g.oh, g.ow), writeable=True)


def _placed(length, shift, limit):
    """(source slice, target slice) of ``length`` values moved by ``shift`` into
    ``[0, limit)``, dropping what falls outside."""
    first, last = max(0, -shift), min(length, limit - shift)
    return slice(first, last), slice(first + shift, last + shift)


class ConvPlan:
    """Everything one batch shape needs: chunks, padded input, per-thread scratch,
    per-chunk partial gradients, the output and dx arrays."""

    def __init__(self, layer, geometry, batch, dtype):
        self.layer, self.geometry, self.dtype, self.batch = layer, geometry, dtype, batch
        g = geometry
        bounds = g.chunk_bounds(batch)
        padded = padded_input(layer, batch, g, bounds, dtype)
        self.chunks = [Chunk(g, start, stop, view) for (start, stop), view in
                       zip(bounds, padded)]
        self.sizes = sorted({chunk.size for chunk in self.chunks})
        self.out = layer.buffer("out", (batch, g.f, g.oh, g.ow), dtype)
        count = len(self.chunks)
        self.dw_parts = layer.buffer("dW parts", (count, g.k, g.f), dtype)
        self.db_parts = layer.buffer("dB parts", (count, g.f), dtype)
        self.dw_t = layer.buffer("dW sum", (g.k, g.f), dtype)
        self._dx = None
        self._scratch = {}

    def prepare(self, slots):
        """Make the work arrays of threads ``0 .. slots-1`` for every chunk size, here,
        before the parts run: the layer's buffer cache is not thread-safe, and a
        thread's first chunk must not allocate in the middle of training."""
        for slot in range(slots):
            for size in self.sizes:
                if (slot, size) not in self._scratch:
                    self._scratch[(slot, size)] = Scratch(self.layer, self.geometry, size,
                                                          slot, self.dtype)

    def scratch(self, chunk, slot):
        """The work arrays of thread ``slot`` for chunks of this chunk's size."""
        return self._scratch[(slot, chunk.size)]

    def dx(self):
        """The (N, C, H, W) input-gradient array (made on first need)."""
        if self._dx is None:
            g = self.geometry
            self._dx = self.layer.buffer("dx", (self.batch, g.c, g.h, g.w), self.dtype)
        return self._dx

    def sum_parts(self, dw2, db):
        """``dW2 = (sum of the chunks' dW.T parts).T`` and ``dB`` likewise, in chunk order."""
        _add.reduce(self.dw_parts, axis=0, out=self.dw_t)
        _copyto(dw2, self.dw_t.T)
        _add.reduce(self.db_parts, axis=0, out=db)


# ----- layouts ------------------------------------------------------------------
def image_buffer(layer, name, batch, chw, batch_last, dtype):
    """The layer's cached work image, seen as ``(N, C, H, W)``, stored CHWN if ``batch_last``."""
    if not batch_last:
        return layer.buffer(name, (batch,) + tuple(chw), dtype)
    return layer.buffer(name, tuple(chw) + (batch,), dtype).transpose(3, 0, 1, 2)


def padded_input(layer, batch, geometry, bounds, dtype):
    """One zero-framed padded image per chunk, each contiguous in the chunk's layout,
    carved from one buffer (the frame is written once, when it is allocated)."""
    g = geometry
    chw = (g.c,) + g.padded_hw
    flat = layer.buffer("padded", (batch * math.prod(chw),), dtype)
    views, offset = [], 0
    for start, stop in bounds:
        size = (stop - start) * math.prod(chw)
        block = flat[offset:offset + size]
        offset += size
        if g.batch_last:
            views.append(block.reshape(chw + (stop - start,)).transpose(3, 0, 1, 2))
        else:
            views.append(block.reshape((stop - start,) + chw))
    return views


def column_images(cols, geometry, size, channels=None, out_hw=None):
    """``cols`` (channels*kh*kw, M) seen as ``(channels, kh, kw, b, OH, OW)``: the
    destination of one im2col copy."""
    g = geometry
    channels = g.c if channels is None else channels
    oh, ow = (g.oh, g.ow) if out_hw is None else out_hw
    kh, kw = g.kernel_hw
    if not g.batch_last:
        return cols.reshape(channels, kh, kw, size, oh, ow)
    return cols.reshape(channels, kh, kw, oh, ow, size).transpose(0, 1, 2, 5, 3, 4)


def matrix_images(matrix, size, out_hw, batch_last):
    """A ``(rows, M)`` matrix over a chunk's columns seen as ``(b, rows, OH, OW)`` images."""
    rows, (oh, ow) = matrix.shape[0], out_hw
    if not batch_last:
        return matrix.reshape(rows, size, oh, ow).transpose(1, 0, 2, 3)
    return matrix.reshape(rows, oh, ow, size).transpose(3, 0, 1, 2)


# ----- the per-chunk steps ----------------------------------------------------------
def load_input(chunk, x):
    """The chunk's samples into the interior of its zero-framed padded image."""
    _copyto(chunk.interior, x[chunk.start:chunk.stop])


def im2col(windows, cols_images):
    """Every kernel window of the padded images, as columns: one strided copy."""
    _copyto(cols_images, windows)


def store_output(scratch, bias, out, chunk):
    """``out[chunk] = Y + B`` from the product's ``(F, M)`` matrix."""
    _add(scratch.matrix_images, bias, out=out[chunk.start:chunk.stop])


def load_delta(scratch, delta, chunk):
    """The chunk's delta as the ``(F, M)`` matrix of the products."""
    _copyto(scratch.matrix_images, delta[chunk.start:chunk.stop])
    return scratch.matrix


def frame_delta(scratch):
    """The delta (already in ``matrix``) into the zero frame ``q`` of the transposed conv."""
    _copyto(scratch.q_target, scratch.q_source)


def col2im(scratch):
    """Sum the column gradient (in ``cols``) back onto the zeroed padded gradient.

    Kernel offsets overlap whenever the stride is smaller than the kernel, so
    each offset's block is added, never assigned (one NumPy call per offset).
    """
    padded = scratch.padded_grad
    padded.fill(0)
    blocks = scratch.cols_images
    kh, kw = scratch.geometry.kernel_hw
    for i in range(kh):
        for j in range(kw):
            window = scratch.grad_windows[:, i, j]
            _add(window, blocks[:, i, j], out=window)


def store_dx(images, dx, chunk):
    """The chunk's input gradient (``images``, in its working layout) into ``dx``."""
    _copyto(dx[chunk.start:chunk.stop], images)
