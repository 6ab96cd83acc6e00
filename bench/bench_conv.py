"""One training epoch of a small CNN on MNIST: MiniFramework against PyTorch.

    python bench/bench_conv.py [--rounds 5] [--threads 1 2] [--data-dir DIR]
                               [--contenders ours torch numpy-ref] [--no-torch]
                               [--batches N | --epochs-fraction F] [--json PATH]
    python bench/bench_conv.py --profile ours --batches 200     # cProfile, by tottime
    python bench/bench_conv.py --gemm-only                      # just the GEMM table
    python bench/bench_conv.py --mlp-compare OLD_ROOT NEW_ROOT --threads 1   # MLP, 2 trees

The net (float32, batch 64, plain SGD, lr ``LEARNING_RATE``):
conv 1->16 5x5 pad 2, ReLU, max pool 2/2, conv 16->32 5x5 pad 2, ReLU,
max pool 2/2, flatten, FC 1568->10, softmax (cross-entropy).

Contenders, each in its own worker process started once (it loads the data,
builds its net and trains one warm-up epoch; the warm-ups overlap and are not
timed), then ``--rounds`` interleaved rounds, each asking every worker for one
timed epoch in a rotated order (like bench_train.py):

* ``ours``: the framework through its public API, ``NeuralNet.from_specs`` +
  ``net.train(reader, epochs=1, checkpoint=1, need_test=False,
  restore_best=False, verbose=0)`` (``common.train_one_epoch``), threads via
  ``framework.threads.set_num_threads`` (conv / pooling worker threads, BLAS
  held at one thread: see docs/performance.md);
* ``torch``: the same net in PyTorch (``torch.set_num_threads``), the minimal
  idiomatic loop (randperm, index_select, forward, cross-entropy, backward,
  SGD step);
* ``numpy-ref``: a private plain-NumPy im2col implementation in this file
  (NHWC, one GEMM per conv pass, ``threadpool_limits``): a second baseline
  for what NumPy + OpenBLAS does without any framework around it.

Reported: median and min epoch time per contender, the ratio to PyTorch's best
(the faster median of its thread counts), achieved GFLOP/s from the analytic
GEMM FLOPs of an epoch against this machine's measured NumPy float32 GEMM peak
(a 2048^3 sgemm, and every GEMM of each layout at its real shape: the
framework's chunk products run side by side on the threads, as it runs them;
their sum is the GEMM floor of an epoch), the time of ``predict`` of the
10,000 test images (interleaved rounds after the training rounds), test
accuracy after the rounds (a check that every contender really trained), the
thread scaling, and each worker's peak RSS against the data set + 300 MB.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import numpy as np  # noqa: E402

from common import (WorkerProcess, blas_info, host_cpu, interleaved_rounds,  # noqa: E402
                    send, serve, timed, torch_epoch, train_one_epoch)

PAUSE = 0.3                 # seconds between workers: let the previous one's threads go idle
BATCH = 64
LEARNING_RATE = 0.01
NUM_TRAIN, NUM_TEST = 60000, 10000
RSS_SLACK_MB = 300
SPECS = [{"type": "conv", "filters": 16, "kernel": 5, "padding": 2}, {"type": "relu"},
         {"type": "pooling", "size": 2, "stride": 2},
         {"type": "conv", "filters": 32, "kernel": 5, "padding": 2}, {"type": "relu"},
         {"type": "pooling", "size": 2, "stride": 2}, {"type": "flatten"},
         {"type": "fc", "size": 10}, {"type": "softmax"}]
INPUT_SHAPE = (1, 28, 28)


# =================================================================== FLOP count
def gemm_layers():
    """The GEMM-carrying layers as (name, C, F, k, OH, OW, first) with 'same' padding.

    An FC layer is a 1x1 'conv' on a 1x1 image with C inputs."""
    c, h, w = INPUT_SHAPE
    layers = []
    first = True
    for spec in SPECS:
        if spec["type"] == "conv":
            k, f = spec["kernel"], spec["filters"]
            oh = h + 2 * spec["padding"] - k + 1
            ow = w + 2 * spec["padding"] - k + 1
            layers.append((f"conv {c}->{f} {k}x{k}", c, f, k, oh, ow, first))
            c, h, w, first = f, oh, ow, False
        elif spec["type"] == "pooling":
            h, w = h // spec["stride"], w // spec["stride"]
        elif spec["type"] == "fc":
            layers.append((f"fc {c * h * w}->{spec['size']}", c * h * w, spec["size"], 1, 1, 1,
                           first))
            c, h, w, first = spec["size"], 1, 1, False
    return layers


def flops_per_sample():
    """{layer: (forward, dW, dx)} GEMM FLOPs per sample: 2*OH*OW*F*C*k*k each,
    no dx for the first layer (nobody needs the gradient of the data)."""
    out = {}
    for name, c, f, k, oh, ow, first in gemm_layers():
        one = 2 * oh * ow * f * c * k * k
        out[name] = (one, one, 0 if first else one)
    return out


def samples_per_chunk(oh, ow, batch=BATCH):
    """Samples per chunk (the most common size) of the framework's ConvLayer for an
    OH x OW output, and the number of chunks of a batch."""
    from framework.layers.conv_kernels import ConvGeometry
    geometry = ConvGeometry((1, oh, ow), (1, oh, ow), (1, 1), (1, 1), (0, 0))
    sizes = [stop - start for start, stop in geometry.chunk_bounds(batch)]
    return max(set(sizes), key=sizes.count), len(sizes)


def gemm_shapes(batch=BATCH):
    """The GEMMs of one training step at batch ``batch``, in both layouts:
    [(label, MFLOP, {"framework": (shape, calls), "numpy-ref": (shape, calls)})],
    each shape ``(M, K, N, ta, tb)`` for ``A(MxK) @ B(KxN)``, ``ta``/``tb`` true when
    the operand is a transposed view of a C-contiguous array (as in the code), and
    ``calls`` how many such products a step makes (its MFLOP is the step's total).

    framework (``ConvLayer``, chunks of b samples, m = b*OH*OW columns): forward
    ``W2 @ cols`` (F x K x m), dW.T ``cols @ D.T`` (K x m x F), and (stride 1) dx
    ``W_flip2 @ cols(q)`` (C x F*k*k x b*H*W), once per chunk.
    numpy-ref (NHWC, whole batch): col ``(batch*OH*OW, k*k*C)``; forward ``col @ W``,
    dW ``col.T @ dY``, dcol ``dY @ W.T``. FC layers (both): ``x @ W``, ``x.T @ delta``,
    ``delta @ W.T``."""
    rows = []
    for name, c, f, k, oh, ow, first in gemm_layers():
        m, inner = batch * oh * ow, c * k * k
        mflop = 2 * m * inner * f / 1e6
        if k == 1 and oh == 1:           # FC: the same code in both
            fc = {"fwd": (batch, c, f, 0, 0), "dW": (c, batch, f, 1, 0),
                  "dx": (batch, f, c, 0, 1)}
            passes = {p: {"framework": (v, 1), "numpy-ref": (v, 1)} for p, v in fc.items()}
        else:
            b, calls = samples_per_chunk(oh, ow, batch)
            chunk = b * oh * ow
            passes = {"fwd": {"framework": ((f, inner, chunk, 0, 0), calls),
                              "numpy-ref": ((m, inner, f, 0, 0), 1)},
                      "dW": {"framework": ((inner, chunk, f, 0, 1), calls),
                             "numpy-ref": ((inner, m, f, 1, 0), 1)},
                      "dx": {"framework": ((c, f * k * k, chunk, 0, 0), calls),
                             "numpy-ref": ((m, f, inner, 0, 1), 1)}}
        for p, layouts in passes.items():
            if p == "dx" and first:
                continue
            rows.append((f"{name} {p}", mflop, layouts))
    return rows


# ============================================================== GEMM measurement
GEMM_CODE = r"""
import json, sys, threading, time
import numpy as np
from threadpoolctl import threadpool_limits
threads, jobs, calls = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
limits = threadpool_limits(threads)
rng = np.random.default_rng(0)
clock = time.perf_counter
def operand(rows, cols, transposed):
    if transposed:
        return rng.random((cols, rows), dtype=np.float32).T
    return rng.random((rows, cols), dtype=np.float32)
def best(m, k, n, ta, tb, calls):
    a, b = operand(m, k, ta), operand(k, n, tb)
    c = np.empty((m, n), np.float32)
    times = []
    for _ in range(calls + 2):
        t = clock(); np.dot(a, b, out=c); times.append(clock() - t)
    return min(times[2:])
def side_by_side(m, k, n, ta, tb, calls):
    # one BLAS thread per Python thread, all running the product at once (how the
    # framework's worker threads run a layer's chunks): seconds per product, each
    # thread running ~20 ms so that starting the threads does not count
    with threadpool_limits(1):
        calls = max(calls, int(0.02 / best(m, k, n, ta, tb, 3)))
    operands = [(operand(m, k, ta), operand(k, n, tb), np.empty((m, n), np.float32))
                for _ in range(threads)]
    def loop(a, b, c):
        for _ in range(calls):
            np.dot(a, b, out=c)
    fastest = None
    with threadpool_limits(1):
        for _ in range(3):
            workers = [threading.Thread(target=loop, args=ops) for ops in operands]
            t = clock()
            for w in workers: w.start()
            for w in workers: w.join()
            spent = (clock() - t) / (calls * threads)
            fastest = spent if fastest is None else min(fastest, spent)
    return fastest
out = {"square": 2 * 2048**3 / best(2048, 2048, 2048, 0, 0, 6) / 1e9, "shapes": []}
for (m, k, n, ta, tb), split in jobs:
    s = side_by_side(m, k, n, ta, tb, 4) if split and threads > 1 \
        else best(m, k, n, ta, tb, calls)
    out["shapes"].append({"shape": [m, k, n, ta, tb], "seconds": s,
                          "gflops": 2 * m * k * n / s / 1e9})
print(json.dumps(out))
"""


def measure_gemm(threads, calls=40):
    """{square: GFLOP/s of a 2048^3 sgemm (best of 6), shapes: {layout: [per GEMM of
    ``gemm_shapes()``: seconds and GFLOP/s, the fastest of ``calls`` single calls]}}.

    The framework's conv products run one per worker thread (one BLAS thread each),
    so with ``threads`` > 1 they are measured that way: ``threads`` Python threads
    running the chunk product at once, seconds per product = wall / products (all
    threads together). The others use ``threads`` BLAS threads per call."""
    rows = gemm_shapes()
    jobs = [(list(layouts[lay][0]), lay == "framework" and layouts[lay][1] != 1)
            for _, _, layouts in rows for lay in ("framework", "numpy-ref")]
    args = [sys.executable, "-c", GEMM_CODE, str(threads), json.dumps(jobs), str(calls)]
    out = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    shapes = iter(out["shapes"])
    out["shapes"] = {"framework": [], "numpy-ref": []}
    for _ in rows:
        for lay in ("framework", "numpy-ref"):
            out["shapes"][lay].append(next(shapes))
    return out


def best_of(one, two):
    """The faster of two ``measure_gemm`` results, entry by entry."""
    shapes = {lay: [min(a, b, key=lambda g: g["seconds"])
                    for a, b in zip(one["shapes"][lay], two["shapes"][lay])]
              for lay in one["shapes"]}
    return {"square": max(one["square"], two["square"]), "shapes": shapes,
            "square_before_after": [one["square"], two["square"]]}


# ==================================================================== data
def load_reader(data_dir, rows=None, seed=0):
    """(reader with one-hot float32 y and (N,1,28,28) x, int labels of the train rows,
    int labels of the test rows, description, MB of the full train+test set). Random data of the same shape without
    MNIST files; ``rows`` keeps only the first rows of the training set (views)."""
    data_dir = data_dir or os.environ.get("MINIFRAMEWORK_DATA")
    if data_dir and os.path.isdir(os.path.join(data_dir, "mnist")):
        from datareaders import MnistImageDataReader
        reader = MnistImageDataReader(data_dir=data_dir, mode="image")
        reader.read_data()
        source = f"MNIST ({reader.num_train:,} train images 1x28x28, float32)"
    else:
        from datareaders.base import ArrayDataReader
        rng = np.random.default_rng(seed)
        reader = ArrayDataReader(rng.random((NUM_TRAIN,) + INPUT_SHAPE, dtype=np.float32),
                                 rng.integers(0, 10, NUM_TRAIN),
                                 rng.random((NUM_TEST,) + INPUT_SHAPE, dtype=np.float32),
                                 rng.integers(0, 10, NUM_TEST))
        source = f"random ({NUM_TRAIN:,} images 1x28x28, float32; no MNIST files found)"
    labels = np.asarray(reader.y_train_raw).reshape(-1).astype(np.int64)
    test_labels = np.asarray(reader.y_test_raw).reshape(-1).astype(np.int64)
    reader.normalize_y("multiple_classifier", num_category=10)
    full_mb = data_bytes(reader) / 2**20
    if rows is not None and rows < reader.num_train:
        reader.x_train, reader.y_train = reader.x_train[:rows], reader.y_train[:rows]
        labels = labels[:rows]
    return reader, labels, test_labels, source, full_mb


def data_bytes(reader):
    return sum(a.nbytes for a in (reader.x_train, reader.y_train, reader.x_test,
                                  reader.y_test) if a is not None)


# ================================================================ contenders
class Ours:
    def __init__(self, threads, reader, labels):
        import framework as fw
        fw.threads.set_num_threads(threads)
        params = fw.HyperParameters(learning_rate=LEARNING_RATE, max_epoch=0,
                                    batch_size=BATCH, net_type="multiple_classifier",
                                    init_method="msra", optimizer_name="sgd", seed=0,
                                    dtype=np.float32)
        self.fw, self.reader, self.threads = fw, reader, threads
        self.net = fw.NeuralNet.from_specs(params, SPECS, input_shape=INPUT_SHAPE,
                                           name="bench_conv")

    def epoch(self):
        train_one_epoch(self.net, self.reader)

    def predict(self, x):
        with self.fw.threads.blas_threads(self.threads):
            return np.concatenate([self.net.inference(x[i:i + 1000])
                                   for i in range(0, x.shape[0], 1000)])


class Torch:
    def __init__(self, threads, reader, labels):
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        nn = torch.nn
        self.torch = torch
        self.model = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten(), nn.Linear(1568, 10))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.loss = nn.CrossEntropyLoss()
        self.x = torch.from_numpy(reader.x_train)
        self.y = torch.from_numpy(labels)

    def epoch(self):
        torch_epoch(self.torch, self.model, self.opt, self.loss, self.x, self.y, BATCH)

    def predict(self, x):
        torch = self.torch
        with torch.inference_mode():
            xt = torch.from_numpy(x)
            return torch.cat([self.model(xt[i:i + 1000])
                              for i in range(0, xt.shape[0], 1000)]).numpy()


# ------------------------------------------- the plain-NumPy im2col reference
class _RefConv:
    """'same' conv on NHWC via im2col: col (B*OH*OW, k*k*C) @ W (k*k*C, F)."""

    def __init__(self, c, f, k, pad, rng, need_dx):
        self.c, self.f, self.k, self.pad, self.need_dx = c, f, k, pad, need_dx
        self.W = (rng.standard_normal((k * k * c, f)) * math.sqrt(2.0 / (k * k * c))
                  ).astype(np.float32)
        self.b = np.zeros(f, np.float32)
        self.shape = None

    def _buffers(self, x):
        b, h, w, c = x.shape
        if self.shape != x.shape:
            k, p = self.k, self.pad
            oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1
            self.xp = np.zeros((b, h + 2 * p, w + 2 * p, c), np.float32)
            self.col = np.empty((b, oh, ow, k, k, c), np.float32)
            self.out = np.empty((b * oh * ow, self.f), np.float32)
            self.dcol = np.empty((b * oh * ow, k * k * c), np.float32)
            self.dxp = np.empty_like(self.xp)
            self.shape, self.oshape = x.shape, (b, oh, ow, self.f)

    def forward(self, x):
        self._buffers(x)
        b, h, w, c = x.shape
        k, p = self.k, self.pad
        _, oh, ow, _ = self.oshape
        xp, col = self.xp, self.col
        xp[:, p:p + h, p:p + w, :] = x                   # the border stays zero
        for i in range(k):
            for j in range(k):
                col[:, :, :, i, j, :] = xp[:, i:i + oh, j:j + ow, :]
        self.col2 = col.reshape(b * oh * ow, k * k * c)
        np.dot(self.col2, self.W, out=self.out)
        self.out += self.b
        return self.out.reshape(self.oshape)

    def backward(self, dy):
        b, oh, ow, f = dy.shape
        dy2 = dy.reshape(b * oh * ow, f)
        self.dW = self.col2.T @ dy2
        self.db = dy2.sum(axis=0)
        if not self.need_dx:
            return None
        k, p = self.k, self.pad
        _, h, w, c = self.shape
        np.dot(dy2, self.W.T, out=self.dcol)
        dcol = self.dcol.reshape(b, oh, ow, k, k, c)
        dxp = self.dxp
        dxp.fill(0)
        for i in range(k):
            for j in range(k):
                dxp[:, i:i + oh, j:j + ow, :] += dcol[:, :, :, i, j, :]
        return dxp[:, p:p + h, p:p + w, :]

    def update(self, lr):
        self.W -= lr * self.dW
        self.b -= lr * self.db


class _RefPool:
    """2x2 max pool, stride 2, NHWC; the gradient goes to every maximum of a window."""

    def forward(self, x):
        b, h, w, c = x.shape
        self.v = x.reshape(b, h // 2, 2, w // 2, 2, c)
        self.y = self.v.max(axis=(2, 4))
        return self.y

    def backward(self, dy):
        mask = self.v == self.y[:, :, None, :, None, :]
        dx = mask * dy[:, :, None, :, None, :]
        return dx.reshape(self.v.shape[0], self.v.shape[1] * 2, self.v.shape[3] * 2, -1)


class _RefRelu:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.x > 0)


class NumpyRef:
    """The reference CNN in plain NumPy (NHWC; the flatten order differs from
    PyTorch's NCHW one, which is the same net up to a permutation of FC rows)."""

    def __init__(self, threads, reader, labels):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits(threads)           # for the worker's lifetime
        rng = np.random.default_rng(0)
        self.conv1 = _RefConv(1, 16, 5, 2, rng, need_dx=False)
        self.conv2 = _RefConv(16, 32, 5, 2, rng, need_dx=True)
        self.layers = [self.conv1, _RefRelu(), _RefPool(), self.conv2, _RefRelu(), _RefPool()]
        self.W = (rng.standard_normal((1568, 10)) * math.sqrt(2.0 / 1568)).astype(np.float32)
        self.b = np.zeros(10, np.float32)
        self.x, self.y = reader.x_train, reader.y_train
        self.rng = np.random.default_rng(1)
        self.xb = np.empty((BATCH,) + self.x.shape[1:], np.float32)
        self.yb = np.empty((BATCH,) + self.y.shape[1:], np.float32)

    def _forward(self, x):
        a = x.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1])  # C=1: NCHW == NHWC
        for layer in self.layers:
            a = layer.forward(a)
        self.flat = a.reshape(a.shape[0], -1)
        z = self.flat @ self.W + self.b
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def epoch(self):
        n = self.x.shape[0]
        perm = self.rng.permutation(n)
        for start in range(0, n, BATCH):
            idx = perm[start:start + BATCH]
            m = idx.shape[0]
            xb, yb = self.xb[:m], self.yb[:m]
            np.take(self.x, idx, axis=0, out=xb, mode="clip")
            np.take(self.y, idx, axis=0, out=yb, mode="clip")
            p = self._forward(xb)
            delta = (p - yb) * (1.0 / m)
            dW, db = self.flat.T @ delta, delta.sum(axis=0)
            d = (delta @ self.W.T).reshape(self.layers[-1].y.shape)
            for layer in reversed(self.layers):
                d = layer.backward(d)
            self.W -= LEARNING_RATE * dW
            self.b -= LEARNING_RATE * db
            self.conv1.update(LEARNING_RATE)
            self.conv2.update(LEARNING_RATE)

    def predict(self, x):
        return np.concatenate([self._forward(x[i:i + BATCH]).copy()
                               for i in range(0, x.shape[0], BATCH)])


LAYOUT = {"ours": "framework", "torch": "framework", "numpy-ref": "numpy-ref"}
KINDS = {"ours": Ours, "torch": Torch, "numpy-ref": NumpyRef}
LABELS = {"ours": "MiniFramework", "torch": "PyTorch 2.13 CPU", "numpy-ref": "NumPy im2col ref"}


def ours_available():
    """None if the framework can build the net, else the reason it cannot."""
    code = ("import framework, framework.layers.conv, framework.layers.pooling; "
            "framework.NeuralNet.from_specs")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT)
    return None if out.returncode == 0 else (out.stderr.strip().splitlines() or ["?"])[-1]


# ==================================================================== worker
def worker(kind, threads, data_dir, rows):
    """Serve 'epoch' / 'accuracy' / 'rss' / 'quit' lines on stdin, answer JSON lines."""
    reader, labels, test_labels, source, data_mb = load_reader(data_dir, rows)
    contender = KINDS[kind](threads, reader, labels)
    t = time.perf_counter()
    contender.epoch()                                  # warm-up: buffers, caches, pages
    send({"ready": True, "source": source, "data_mb": data_mb,
          "rows": reader.num_train, "warmup_s": time.perf_counter() - t})
    def accuracy():
        scores = contender.predict(reader.x_test)
        return {"test_accuracy": float(np.mean(np.argmax(scores, axis=1) == test_labels))}

    serve({"epoch": lambda: timed(contender.epoch), "accuracy": accuracy,
           "predict": lambda: timed(lambda: contender.predict(reader.x_test))})


class Worker(WorkerProcess):
    def __init__(self, kind, threads, data_dir, rows):
        self.kind, self.threads = kind, threads
        args = [sys.executable, os.path.abspath(__file__), "--worker", kind, str(threads)]
        args += ["--data-dir", data_dir] if data_dir else []
        args += ["--rows", str(rows)] if rows else []
        super().__init__(args)

    @property
    def label(self):
        return f"{LABELS[self.kind]} ({self.threads} thr)"

    @property
    def key(self):
        return f"{self.kind}{self.threads}"


# ==================================================================== parent
def gemm_report(peaks, rows):
    """Print the GEMM table; return {layout: {threads: s per timed unit its GEMMs need}}."""
    steps = rows / BATCH
    counts = sorted(peaks)
    layouts = ("framework", "numpy-ref")
    print(f"GEMMs of one step at their real shapes (batch {BATCH}; fastest of 40 calls; "
          f"'T' = a transposed view; 'x n' = calls per step, the framework's chunks; with n "
          f"threads those run n at a time, one BLAS thread each, and the time is per "
          f"product, all threads together), us per call and GFLOP/s:\n")
    print("| GEMM | MFLOP/step | " + " | ".join(
        f"{lay} shape | " + " | ".join(f"{t} thr" for t in counts) for lay in layouts) + " |")
    print("|---|---:|" + ("---|" + "---:|" * len(counts)) * len(layouts))
    limit = {lay: {t: 0.0 for t in counts} for lay in layouts}
    for i, (label, mflop, shapes) in enumerate(gemm_shapes()):
        cells = []
        for lay in layouts:
            (m, k, n, ta, tb), calls = shapes[lay]
            times = f" x {calls:g}" if calls != 1 else ""
            cells.append(f"{m}{'T' if ta else ''} x {k} x {n}{'T' if tb else ''}{times}")
            for t in counts:
                g = peaks[t]["shapes"][lay][i]
                cells.append(f"{g['seconds'] * 1e6:.0f} us, {g['gflops']:.0f}")
                limit[lay][t] += g["seconds"] * calls * steps
        print(f"| {label} | {mflop:.1f} | " + " | ".join(cells) + " |")
    print("| **all GEMMs of the timed unit, s** | | " + " | ".join(
        "| " + " | ".join(f"**{limit[lay][t]:.2f}**" for t in counts) for lay in layouts)
        + " |\n")
    return limit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                        help="thread counts for ours and PyTorch")
    parser.add_argument("--ref-threads", nargs="+", type=int, default=[1],
                        help="thread counts for numpy-ref (default 1: it is a baseline)")
    parser.add_argument("--data-dir", default=None, help="default: $MINIFRAMEWORK_DATA")
    parser.add_argument("--contenders", "--contender", nargs="+", default=None,
                        choices=sorted(KINDS),
                        help="default: ours (if the framework has conv layers), torch, "
                             "numpy-ref")
    parser.add_argument("--no-torch", action="store_true")
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--batches", type=int, default=None,
                      help="time this many batches (the first N*64 training images) "
                           "instead of a full epoch")
    part.add_argument("--epochs-fraction", type=float, default=None)
    parser.add_argument("--json", default=None, help="dump the results to this file")
    parser.add_argument("--profile", choices=sorted(KINDS), default=None,
                        help="cProfile one contender's training in this process")
    parser.add_argument("--gemm-only", action="store_true")
    parser.add_argument("--mlp-compare", nargs=2, metavar=("OLD_ROOT", "NEW_ROOT"),
                        help="instead: bench_train.py's MLP nets, ours only, from two source "
                             "trees interleaved (uses --rounds, the first --threads value)")
    parser.add_argument("--mlp-nets", nargs="+", default=["A", "B"])
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), args.data_dir, args.rows)

    rows = NUM_TRAIN
    if args.batches:
        rows = min(NUM_TRAIN, args.batches * BATCH)
    elif args.epochs_fraction:
        rows = min(NUM_TRAIN, max(BATCH, round(args.epochs_fraction * NUM_TRAIN)))
    if args.mlp_compare:
        return mlp_compare(args.mlp_compare, args.mlp_nets, args.rounds, args.threads[0],
                           args.data_dir, args.json)
    if args.profile:
        return profile(args.profile, args.threads[0], args.data_dir, rows)

    unit = "epoch" if rows == NUM_TRAIN else f"{math.ceil(rows / BATCH)} batches"
    print(f"# bench_conv  {time.strftime('%Y-%m-%d %H:%M')}  load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"# host CPU: {host_cpu()}")
    print(f"# NumPy {np.__version__} BLAS: {blas_info()}; OPENBLAS_* env: "
          f"{ {k: v for k, v in os.environ.items() if k.startswith('OPENBLAS')} or 'none'}")
    per_sample = flops_per_sample()
    flops = sum(map(sum, per_sample.values())) * rows
    print(f"# GEMM FLOPs per {unit} ({rows:,} images): {flops / 1e9:.1f} GFLOP = " + " + ".join(
        f"{name} {sum(v) * rows / 1e9:.1f}" for name, v in per_sample.items()))
    peaks = {t: measure_gemm(t) for t in sorted(set(args.threads) | set(args.ref_threads))}
    print("# measured NumPy float32 GEMM peak (2048^3), before the rounds: " + ", ".join(
        f"{t} thr {p['square']:.0f} GFLOP/s" for t, p in peaks.items()), flush=True)
    if args.gemm_only:
        gemm_report(peaks, rows)
        return None

    kinds = args.contenders
    if kinds is None:
        reason = ours_available()
        kinds = ["ours", "torch", "numpy-ref"]
        if reason:
            print(f"# ours skipped: the framework cannot build the net yet ({reason})")
            kinds.remove("ours")
    if args.no_torch and "torch" in kinds:
        kinds.remove("torch")
    workers = [Worker(kind, t, args.data_dir, rows if rows < NUM_TRAIN else None)
               for kind in kinds
               for t in (args.ref_threads if kind == "numpy-ref" else args.threads)]
    for w in workers:            # warm-ups overlap: they are not timed
        w.wait_ready()
    data_mb = workers[0].info["data_mb"]
    print(f"# data: {workers[0].info['source']}; timed unit: one {unit} ({rows:,} images); "
          f"train+test set {data_mb:.0f} MB (RSS budget {data_mb + RSS_SLACK_MB:.0f} MB); "
          f"{args.rounds} interleaved rounds", flush=True)
    interleaved_rounds(workers, args.rounds, lambda w: w.key, PAUSE)
    predict_rounds(workers, args.rounds)
    for w in workers:
        w.accuracy = w.ask("accuracy")["test_accuracy"]
        w.rss = w.ask("rss")["peak_rss_mb"]
        w.close()
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    after = {t: measure_gemm(t) for t in peaks}
    print("# measured NumPy float32 GEMM peak (2048^3), after the rounds: " + ", ".join(
        f"{t} thr {p['square']:.0f} GFLOP/s" for t, p in after.items())
        + "; the tables use the better of the two measurements of each GEMM\n")
    peaks = {t: best_of(peaks[t], after[t]) for t in peaks}
    limits = gemm_report(peaks, rows)
    results = report(workers, peaks, limits, flops, data_mb, unit)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d %H:%M"), "host_cpu": host_cpu(),
                       "blas": blas_info(), "rows": rows, "unit": unit, "gflop": flops / 1e9,
                       "flops_per_sample": per_sample, "gemm": peaks,
                       "gemm_limit_s": limits, "data_mb": data_mb, "contenders": results},
                      f, indent=1)
    return results


def predict_rounds(workers, rounds):
    """Interleaved rounds of inference: ``predict`` of the 10,000 test images."""
    for w in workers:
        w.predict_times = []
    for r in range(rounds):
        shift = r % len(workers)
        for w in workers[shift:] + workers[:shift]:
            time.sleep(PAUSE)
            w.predict_times.append(w.ask("predict")["seconds"])
        print("#   predict round " + f"{r + 1}: " + ", ".join(
            f"{w.key}={w.predict_times[-1]:.2f}" for w in workers), flush=True)


def report(workers, peaks, limits, flops, data_mb, unit):
    for w in workers:
        w.median = statistics.median(w.times)
    torch_best = min((w.median for w in workers if w.kind == "torch"), default=None)
    print(f"### Reference CNN, batch {BATCH}, SGD lr {LEARNING_RATE}, float32: seconds per "
          f"{unit} ({flops / 1e9:.0f} GFLOP)\n")
    print(f"| contender | threads | median s | min s | CPU s | vs PyTorch best | GFLOP/s | "
          f"% of 2048^3 peak | % of GEMM limit | predict 10k s | test acc | peak RSS MB "
          f"(budget {data_mb + RSS_SLACK_MB:.0f}) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for w in workers:
        rate = flops / w.median / 1e9
        peak = peaks[w.threads]["square"]
        ratio = f"{w.median / torch_best:.2f}x" if torch_best else "-"
        print(f"| {LABELS[w.kind]} | {w.threads} | {w.median:.2f} | {min(w.times):.2f} | "
              f"{statistics.median(w.cpu):.2f} | {ratio} | {rate:.0f} | "
              f"{100 * rate / peak:.0f}% | "
              f"{100 * limits[LAYOUT[w.kind]][w.threads] / w.median:.0f}% | "
              f"{statistics.median(w.predict_times):.2f} | "
              f"{100 * w.accuracy:.2f}% | {w.rss:.0f} |")
        results.append({"kind": w.kind, "threads": w.threads, "times": w.times, "cpu": w.cpu,
                        "median": w.median, "min": min(w.times), "gflops": rate,
                        "predict_s": w.predict_times, "test_accuracy": w.accuracy,
                        "peak_rss_mb": w.rss, "warmup_s": w.info["warmup_s"]})
    print()
    torch_predict = min((statistics.median(w.predict_times) for w in workers
                         if w.kind == "torch"), default=None)
    for kind in ("ours", "numpy-ref"):
        group = [w for w in workers if w.kind == kind]
        if group and torch_best:
            best = min(group, key=lambda w: w.median)
            fastest = min(statistics.median(w.predict_times) for w in group)
            print(f"{LABELS[kind]} best {best.median:.2f} s ({best.threads} thr) / PyTorch best "
                  f"{torch_best:.2f} s = **{best.median / torch_best:.2f}x**; predict of the "
                  f"test set {fastest:.2f} s / {torch_predict:.2f} s = "
                  f"{fastest / torch_predict:.2f}x")
    for kind in ("ours", "torch"):
        by_threads = {w.threads: w.median for w in workers if w.kind == kind}
        if 1 in by_threads and len(by_threads) > 1:
            print(f"{LABELS[kind]} thread scaling: " + ", ".join(
                f"{t} thr {by_threads[1] / m:.2f}x" for t, m in sorted(by_threads.items())
                if t != 1) + " (median epoch, 1 thread / n threads)")
    for w in workers:
        if w.rss > data_mb + RSS_SLACK_MB:
            print(f"peak RSS of {w.label}: {w.rss:.0f} MB, over the budget of "
                  f"{data_mb + RSS_SLACK_MB:.0f} MB (data set + {RSS_SLACK_MB} MB)")
    return results


# =================================================================== profile
def profile(kind, threads, data_dir, rows):
    """cProfile ``kind``'s training on the first ``rows`` images (after a warm-up
    pass and an unprofiled timed pass); for ours also a phase table: every layer's
    forward / backward and the updates timed in place, with the BLAS calls inside
    them timed too (wrappers around the layers' module-level GEMM functions),
    against the same GEMMs in isolation. Meant for one thread (with more, the
    BLAS calls of the worker threads add up to more than the wall time);
    ``bench/profile_conv.py`` has the finer kernel-by-kernel table."""
    import cProfile
    import pstats
    reader, labels, _, source, _ = load_reader(data_dir, rows)
    contender = KINDS[kind](threads, reader, labels)
    contender.epoch()
    t = time.perf_counter()
    contender.epoch()
    plain = time.perf_counter() - t
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    contender.epoch()
    prof.disable()
    profiled = time.perf_counter() - t
    steps = math.ceil(rows / BATCH)
    print(f"# {LABELS[kind]} ({threads} thr), {steps} steps on {source}; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"# {plain:.3f} s unprofiled ({plain / steps * 1e6:.0f} us/step), "
          f"{profiled:.3f} s under cProfile\n")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    if kind == "ours":
        phase_table(contender, steps, threads, plain)


def phase_table(contender, steps, threads, plain):
    from collections import defaultdict

    import framework.layers.conv as conv_mod
    import framework.layers.fc as fc_mod
    clock = time.perf_counter
    net = contender.net
    spent, blas, blas_shapes = defaultdict(float), defaultdict(float), defaultdict(float)
    current = ["other"]

    def timed_blas(fn):
        def call(a, b, *rest, **kw):
            t = clock()
            out = fn(a, b, *rest, **kw)
            d = clock() - t
            blas[current[0]] += d
            key = (a.shape, b.shape)
            blas_shapes[key] += d
            return out
        return call

    def timed(name, fn):
        def call(*a):
            outer, current[0] = current[0], name
            t = clock()
            out = fn(*a)
            spent[name] += clock() - t
            current[0] = outer
            return out
        return call

    patches = [(conv_mod, "dot"), (fc_mod, "dot")]
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr in patches]
    for mod, attr, fn in saved:
        setattr(mod, attr, timed_blas(fn))
    names = net.layer_names if hasattr(net, "layer_names") else [
        f"{i}" for i in range(len(net.layers))]
    for name, layer in zip(names, net.layers):
        layer.forward = timed(f"{name} forward", layer.forward)
        layer.backward = timed(f"{name} backward", layer.backward)
    for i, wb in enumerate(net.weights()):
        wb.update = timed(f"update W{i} {wb.W.shape}", wb.update)
    t = clock()
    contender.epoch()
    total = clock() - t
    for mod, attr, fn in saved:
        setattr(mod, attr, fn)
    for layer in net.layers:
        del layer.forward, layer.backward
    for wb in net.weights():
        del wb.update
    print(f"\n## Phases of one pass of {steps} steps with timers ({total:.3f} s; "
          f"{plain:.3f} s without them)\n")
    print("| phase | ms total | us/step | share | of which BLAS us/step |")
    print("|---|---:|---:|---:|---:|")
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {s * 1e3:.0f} | {s / steps * 1e6:.0f} | {100 * s / total:.1f}% | "
              f"{blas.get(name, 0) / steps * 1e6:.0f} |")
    rest = total - sum(spent.values())
    print(f"| rest (batch gather, loss/accuracy, delta, loop) | {rest * 1e3:.0f} | "
          f"{rest / steps * 1e6:.0f} | {100 * rest / total:.1f}% | |")
    all_blas = sum(blas.values())
    print(f"| **all BLAS calls in place** | {all_blas * 1e3:.0f} | {all_blas / steps * 1e6:.0f} "
          f"| {100 * all_blas / total:.1f}% | |\n")
    iso = measure_gemm(threads)["shapes"]["framework"]
    print("BLAS calls by operand shapes, in place vs the same GEMM in isolation "
          f"(framework layout, {threads} thr, fastest of 40 calls):\n")
    print("| A shape @ B shape | in place us/step | isolated us | in place / isolated |")
    print("|---|---:|---:|---:|")
    iso_by_shape = {}
    for (label, mflop, layouts), g in zip(gemm_shapes(), iso):
        m, k, n, _, _ = layouts["framework"][0]
        iso_by_shape[((m, k), (k, n))] = g["seconds"]
    for key, s in sorted(blas_shapes.items(), key=lambda kv: -kv[1]):
        per = s / steps
        ref = iso_by_shape.get((tuple(key[0]), tuple(key[1])))
        cell = f"{ref * 1e6:.0f} | {per / ref:.2f}" if ref else "- | -"
        print(f"| {key[0]} @ {key[1]} | {per * 1e6:.0f} | {cell} |")


# ============================================ MLP: this tree against another one
def mlp_compare(roots, nets, rounds, threads, data_dir, json_path=None):
    """Interleave bench_train.py's framework workers from two source trees.

    Each (net, tree) pair is one worker process running ``ROOT/bench/bench_train.py
    --worker ours NET THREADS`` (so it imports that tree's framework and
    datareaders); after the warm-ups, every round asks each worker for one epoch
    in a rotated order, as above."""
    labels = ["old", "new"]
    workers = []
    for net in nets:
        for label, root in zip(labels, roots):
            script = os.path.join(os.path.abspath(root), "bench", "bench_train.py")
            args = [sys.executable, script, "--worker", "ours", net, str(threads)]
            args += ["--data-dir", data_dir] if data_dir else []
            w = WorkerProcess(args)
            w.kind, w.threads, w.net, w.tree, w.root = "ours", threads, net, label, root
            w.label = f"MiniFramework {net}/{label}"
            workers.append(w)
    print(f"# MLP benchmark, old tree {roots[0]} vs new tree {roots[1]}, nets {nets}, "
          f"{threads} BLAS thread(s), {rounds} interleaved rounds; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for root in roots:
        head = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--short", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        print(f"#   {root}: HEAD {head}{' + uncommitted changes' if dirty else ''}")
    for w in workers:
        w.info = w._read()
    interleaved_rounds(workers, rounds, lambda w: f"{w.net}/{w.tree}", PAUSE, digits=3)
    for w in workers:
        w.rss = w.ask("rss")["peak_rss_mb"]
        w.close()
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| net | tree | median s/epoch | min | CPU s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|")
    out = []
    for w in workers:
        w.median = statistics.median(w.times)
        print(f"| {w.net} | {w.tree} | {w.median:.3f} | {min(w.times):.3f} | "
              f"{statistics.median(w.cpu):.3f} | {w.rss:.0f} |")
        out.append({"net": w.net, "tree": w.tree, "root": w.root, "times": w.times,
                    "cpu": w.cpu, "median": w.median, "peak_rss_mb": w.rss})
    print()
    for net in nets:
        old, new = (next(w for w in workers if w.net == net and w.tree == t) for t in labels)
        print(f"Net {net}: new / old = {new.median / old.median:.3f} (median), "
              f"{min(new.times) / min(old.times):.3f} (min)")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"roots": roots, "threads": threads, "workers": out}, f, indent=1)


if __name__ == "__main__":
    main()
