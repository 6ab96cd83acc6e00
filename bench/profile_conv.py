"""Per-layer and whole-step timings of the conv layers against PyTorch (CPU).

    python bench/profile_conv.py [--rounds 5] [--steps 30]

The reference net (float32, batch 64, MNIST-shaped random input, plain SGD):
conv 1->16 5x5 pad 2, ReLU, max pool 2, conv 16->32 5x5 pad 2, ReLU, max pool 2,
flatten, FC 1568->10, softmax + cross-entropy. Ours chains ConvLayer,
PoolingLayer and FlattenLayer by hand with a minimal NumPy ReLU / FC /
softmax (the rest of the framework is not involved), so the numbers are
the conv layers' own. Every contender (ours with 1 and 2 BLAS threads,
torch with 1 and 2 threads) runs ``--steps`` steps per round; rounds are
interleaved and rotated, and the medians over rounds are reported, because
a shared two-core machine varies by 1.5x from one second to the next.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from framework import HyperParameters, RandomStreams  # noqa: E402
from framework.layers.conv import ConvLayer  # noqa: E402
from framework.layers.flatten import FlattenLayer  # noqa: E402
from framework.layers.pooling import PoolingLayer  # noqa: E402

BATCH, LR = 64, 0.01


class Relu:
    """y = max(x, 0); backward delta * (y > 0), in reused buffers."""

    def forward(self, x, train):
        if getattr(self, "y", None) is None or self.y.shape != x.shape:
            self.y = np.empty(x.shape, x.dtype)
            self.mask = np.empty(x.shape, np.bool_)
            self.dx = np.empty(x.shape, x.dtype)
        return np.maximum(x, 0, out=self.y)

    def backward(self, delta):
        np.greater(self.y, 0, out=self.mask)
        return np.multiply(delta, self.mask, out=self.dx)


class FcSoftmax:
    """FC 1568->10 and the softmax cross-entropy gradient (p - y) / N."""

    def __init__(self, rng, n_in, n_out, batch):
        self.W = (rng.normal(0, np.sqrt(2 / n_in), (n_in, n_out))).astype(np.float32)
        self.B = np.zeros(n_out, np.float32)
        self.z = np.empty((batch, n_out), np.float32)
        self.dx = np.empty((batch, n_in), np.float32)
        self.dW, self.dB = np.empty_like(self.W), np.empty_like(self.B)

    def step(self, x, onehot):
        z = np.dot(x, self.W, self.z)
        z += self.B
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        z -= onehot
        z *= 1.0 / x.shape[0]
        np.dot(x.T, z, self.dW)
        z.sum(axis=0, out=self.dB)
        np.dot(z, self.W.T, self.dx)
        self.W -= LR * self.dW
        self.B -= LR * self.dB
        return self.dx


def build_ours():
    params = HyperParameters(learning_rate=LR, max_epoch=1, batch_size=BATCH,
                             init_method="msra", optimizer_name="sgd", dtype=np.float32)
    layers = [ConvLayer((1, 28, 28), (16, 5, 5), padding=2, params=params), Relu(),
              PoolingLayer((16, 28, 28)),
              ConvLayer((16, 14, 14), (32, 5, 5), padding=2, params=params), Relu(),
              PoolingLayer((32, 14, 14)), FlattenLayer((32, 7, 7))]
    streams = RandomStreams(0)
    for layer in (layers[0], layers[3]):
        layer.initialize(streams)
    layers[0].need_input_grad = False
    return layers, FcSoftmax(streams.init, 1568, 10, BATCH)


def ours_step(layers, head, x, onehot, times=None):
    """One SGD step; with ``times`` (a dict) record each layer's forward / backward."""
    for k, layer in enumerate(layers):
        t = time.perf_counter()
        x = layer.forward(x, True)
        if times is not None:
            times.setdefault(("fwd", k), []).append(time.perf_counter() - t)
    delta = head.step(x, onehot)
    for k in range(len(layers) - 1, -1, -1):
        t = time.perf_counter()
        delta = layers[k].backward(delta)
        if times is not None:
            times.setdefault(("bwd", k), []).append(time.perf_counter() - t)
    for k in (0, 3):
        layers[k].wb.update(LR)


def build_torch():
    import torch
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(1568, 10))
    return model, torch.optim.SGD(model.parameters(), lr=LR), nn.CrossEntropyLoss()


def torch_step(model, opt, lossf, x, y):
    opt.zero_grad()
    lossf(model(x), y).backward()
    opt.step()


def torch_layer_times(model, x, steps):
    """Per-layer forward and backward (autograd of that layer alone) times in torch."""
    import torch
    times = {}
    with torch.no_grad():
        inputs = [x]
        for layer in list(model)[:7]:
            inputs.append(layer(inputs[-1]))
    for k, layer in enumerate(list(model)[:7]):
        xin = inputs[k].clone().requires_grad_(k > 0)
        grad = torch.randn_like(inputs[k + 1])
        for _ in range(steps + 2):
            t = time.perf_counter()
            out = layer(xin)
            t1 = time.perf_counter()
            out.backward(grad)
            t2 = time.perf_counter()
            times.setdefault(("fwd", k), []).append(t1 - t)
            times.setdefault(("bwd", k), []).append(t2 - t1)
            xin.grad = None
    return times


def timed(step, steps):
    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def worker(kind, threads, steps):
    """One contender in a fresh process: whole-step and per-layer medians (ms) as JSON.

    A process of its own, because torch's OpenMP threads keep spinning after
    each parallel region and would steal the cores from OpenBLAS's (and the
    other way round) if both ran in one process.
    """
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    if kind == "ours":
        onehot = np.eye(10, dtype=np.float32)[labels]
        layers, head = build_ours()
        with threadpool_limits(threads):
            for _ in range(5):
                ours_step(layers, head, x, onehot)
            step = timed(lambda: ours_step(layers, head, x, onehot), steps)
            times = {}
            for _ in range(steps):
                ours_step(layers, head, x, onehot, times)
    else:
        import torch
        torch.set_num_threads(threads)
        model, opt, lossf = build_torch()
        xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
        for _ in range(5):
            torch_step(model, opt, lossf, xt, yt)
        step = timed(lambda: torch_step(model, opt, lossf, xt, yt), steps)
        times = torch_layer_times(model, xt, steps)
    layers_ms = {f"{p}{k}": statistics.median(v) * 1e3 for (p, k), v in times.items()}
    print(json.dumps({"step": step * 1e3, "layers": layers_ms}))


CONTENDERS = [("ours", 1), ("ours", 2), ("torch", 1), ("torch", 2)]
NAMES = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten"]


def run_worker(kind, threads, steps):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", kind,
                          "--threads", str(threads), "--steps", str(steps)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--worker", choices=["ours", "torch"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.steps)
    results = {c: [] for c in CONTENDERS}
    for r in range(args.rounds):                  # interleaved, rotated rounds
        for c in CONTENDERS[r % 4:] + CONTENDERS[:r % 4]:
            results[c].append(run_worker(*c, args.steps))
    report(results, args)


def report(results, args):
    med = {c: statistics.median(res["step"] for res in results[c]) for c in CONTENDERS}
    best = min(med[c] for c in CONTENDERS if c[0] == "torch")
    print(f"whole step (forward + backward + SGD), batch {BATCH}, ms: median over "
          f"{args.rounds} rounds of {args.steps} steps")
    for c in CONTENDERS:
        steps = [res["step"] for res in results[c]]
        print(f"  {c[0]:5s} {c[1]} thread(s)  median {med[c]:7.2f}  min {min(steps):7.2f}"
              f"  / torch best {med[c] / best:5.2f}")
    print("per layer, ms (median over rounds of per-step medians), fwd | bwd")
    print("  layer     " + "  ".join(f"{c[0]}@{c[1]:<9d}" for c in CONTENDERS))
    for k, name in enumerate(NAMES):
        for phase in ("fwd", "bwd"):
            cells = [statistics.median(res["layers"][f"{phase}{k}"] for res in results[c])
                     for c in CONTENDERS]
            print(f"  {name:7s} {phase} " + "  ".join(f"{v:12.3f}" for v in cells))


if __name__ == "__main__":
    main()
