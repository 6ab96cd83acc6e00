"""Where a training step of the reference CNN spends its time: per layer, per kernel.

    python bench/profile_conv.py [--rounds 5] [--steps 30]        # layers, ours vs PyTorch
    python bench/profile_conv.py --kernels [--threads 1] [--steps 40]   # ours, kernel by kernel
    python bench/profile_conv.py --pyinstrument [--threads 1]     # ours, the call tree

The reference net (float32, batch 64, MNIST-shaped random input, plain SGD):
conv 1->16 5x5 pad 2, ReLU, max pool 2, conv 16->32 5x5 pad 2, ReLU, max pool 2,
flatten, FC 1568->10, softmax + cross-entropy. Ours is the framework's own net
(``NeuralNet.from_specs``) stepping through ``framework.step.Step``, the step
``train`` runs, inside ``framework.threads.blas_threads(n)``.

Layers (default): every contender (ours and PyTorch, 1 and 2 threads) runs in a
fresh process per round, ``--steps`` steps, rounds interleaved and rotated;
medians over rounds of the whole step and of each layer's forward and backward
(PyTorch's layers timed one by one with autograd of that layer alone).

Kernels (``--kernels``): one process, ours only; every step of the conv layers
(``conv_kernels``: copies in and out, im2col, each matrix product by shape),
of the pooling layers (``pool_kernels``) and the other layers, as time per
training step. With one thread the rows add up to the step; with more, they
are the busy time of all threads together (thread CPU time), and the step's
wall time says how much of it ran side by side.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

BATCH, LR = 64, 0.01
SPECS = [{"type": "conv", "filters": 16, "kernel": 5, "padding": 2}, {"type": "relu"},
         {"type": "pooling", "size": 2, "stride": 2},
         {"type": "conv", "filters": 32, "kernel": 5, "padding": 2}, {"type": "relu"},
         {"type": "pooling", "size": 2, "stride": 2}, {"type": "flatten"},
         {"type": "fc", "size": 10}, {"type": "softmax"}]
NAMES = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc"]


def batch_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    return x, labels, np.eye(10, dtype=np.float32)[labels]


def build_ours():
    import framework as fw
    params = fw.HyperParameters(learning_rate=LR, max_epoch=1, batch_size=BATCH,
                                net_type="multiple_classifier", init_method="msra",
                                optimizer_name="sgd", seed=0, dtype=np.float32)
    net = fw.NeuralNet.from_specs(params, SPECS, input_shape=(1, 28, 28), name="profile")
    return fw, net


def training_step(net):
    """The step closure ``train`` runs (built after any timers are wrapped around
    the layers: it binds their methods once)."""
    from framework.step import Step
    return Step(net)


def time_layers(net, clock):
    """Wrap every layer's forward / backward with a timer; returns the dict it fills."""
    spent = defaultdict(list)

    def timed(key, function):
        def call(*args):
            start = clock()
            out = function(*args)
            spent[key].append(clock() - start)
            return out
        return call

    for k, layer in enumerate(net.layers[:len(NAMES)]):
        layer.forward = timed(("fwd", k), layer.forward)
        layer.backward = timed(("bwd", k), layer.backward)
    return spent


def timed(step, steps):
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


# ======================================================== layers: ours vs PyTorch
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
        for layer in list(model):
            inputs.append(layer(inputs[-1]))
    for k, layer in enumerate(list(model)):
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


def worker(kind, threads, steps):
    """One contender in a fresh process: whole-step and per-layer medians (ms) as JSON."""
    x, labels, onehot = batch_data()
    if kind == "ours":
        fw, net = build_ours()
        step = training_step(net)
        with fw.threads.blas_threads(threads):
            for _ in range(5):
                step(x, onehot, LR)
            seconds = timed(lambda: step(x, onehot, LR), steps)
            times = time_layers(net, time.perf_counter)
            step = training_step(net)
            for _ in range(steps):
                step(x, onehot, LR)
    else:
        import torch
        torch.set_num_threads(threads)
        model, opt, lossf = build_torch()
        xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
        for _ in range(5):
            torch_step(model, opt, lossf, xt, yt)
        seconds = timed(lambda: torch_step(model, opt, lossf, xt, yt), steps)
        times = torch_layer_times(model, xt, steps)
    layers_ms = {f"{p}{k}": statistics.median(v) * 1e3 for (p, k), v in times.items()}
    print(json.dumps({"step": seconds * 1e3, "layers": layers_ms}))


CONTENDERS = [("ours", 1), ("ours", 2), ("torch", 1), ("torch", 2)]


def run_worker(kind, threads, steps):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", kind,
                          "--threads", str(threads), "--steps", str(steps)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def layers_report(results, args):
    med = {c: statistics.median(res["step"] for res in results[c]) for c in CONTENDERS}
    best = min(med[c] for c in CONTENDERS if c[0] == "torch")
    print(f"whole step (forward + backward + SGD), batch {BATCH}, ms: median over "
          f"{args.rounds} rounds of {args.steps} steps; load average "
          f"{os.getloadavg()[0]:.2f}")
    for c in CONTENDERS:
        steps = [res["step"] for res in results[c]]
        print(f"  {c[0]:5s} {c[1]} thread(s)  median {med[c]:7.2f}  min {min(steps):7.2f}"
              f"  / torch best {med[c] / best:5.2f}")
    print("per layer, ms (median over rounds of per-step medians), fwd | bwd")
    print("  layer        " + "  ".join(f"{c[0]}@{c[1]:<7d}" for c in CONTENDERS))
    for k, name in enumerate(NAMES):
        for phase in ("fwd", "bwd"):
            cells = [statistics.median(res["layers"].get(f"{phase}{k}", float("nan"))
                                       for res in results[c]) for c in CONTENDERS]
            print(f"  {name:7s} {phase} " + "  ".join(f"{v:10.3f}" for v in cells))


# ============================================================ kernels: ours only
def kernels(threads, steps):
    """Kernel-by-kernel time per step of ours (thread CPU time, all threads)."""
    import framework.layers.conv as conv
    import framework.layers.pool_kernels as pool_kernels
    fw, net = build_ours()
    x, _, onehot = batch_data()
    clock = time.thread_time
    spent, calls = defaultdict(float), defaultdict(int)

    def wrap(name, function, key=None):
        def call(*args, **kwargs):
            start = clock()
            out = function(*args, **kwargs)
            label = name if key is None else f"{name} {key(*args)}"
            spent[label] += clock() - start
            calls[label] += 1
            return out
        return call

    for name in ("load_input", "store_output", "load_delta", "frame_delta", "col2im",
                 "store_dx"):
        setattr(conv, name, wrap(f"conv {name}", getattr(conv, name)))
    conv.im2col = wrap("conv im2col", conv.im2col, lambda windows, cols: "x".join(
        map(str, cols.shape)))
    conv.dot = wrap("BLAS", conv.dot, lambda a, b, out: f"{a.shape} @ {b.shape}")
    for name in ("max_pool", "mean_pool", "route_max", "spread_mean"):    # looked up per call
        setattr(pool_kernels, name, wrap(f"pool {name}", getattr(pool_kernels, name),
                                         lambda plan, *rest: str(plan.x_shape[1:])))
    layer_times = time_layers(net, time.perf_counter)
    step = training_step(net)
    with fw.threads.blas_threads(threads):
        for _ in range(5):
            step(x, onehot, LR)
        spent.clear(), calls.clear(), layer_times.clear()
        walls = []
        for _ in range(steps):
            start = time.perf_counter()
            step(x, onehot, LR)
            walls.append(time.perf_counter() - start)
    wall = statistics.median(walls)
    print(f"# ours, {threads} thread(s), {steps} steps; median step {wall * 1e3:.2f} ms wall; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("\n| kernel | calls/step | us/step | share of all kernels |")
    print("|---|---:|---:|---:|")
    total = sum(spent.values())
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {calls[label] / steps:g} | {seconds / steps * 1e6:.0f} | "
              f"{100 * seconds / total:.1f}% |")
    blas = sum(v for k, v in spent.items() if k.startswith("BLAS"))
    print(f"| **all kernels** | | **{total / steps * 1e6:.0f}** | |")
    print(f"| of which BLAS | | {blas / steps * 1e6:.0f} | {100 * blas / total:.1f}% |")
    print("\n| layer | fwd us (wall) | bwd us (wall) |\n|---|---:|---:|")
    for k, name in enumerate(NAMES):
        fwd = statistics.median(layer_times[("fwd", k)]) * 1e6
        bwd = statistics.median(layer_times[("bwd", k)]) * 1e6
        print(f"| {name} | {fwd:.0f} | {bwd:.0f} |")


def call_tree(threads, steps):
    from pyinstrument import Profiler
    fw, net = build_ours()
    step = training_step(net)
    x, _, onehot = batch_data()
    with fw.threads.blas_threads(threads):
        for _ in range(5):
            step(x, onehot, LR)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(steps):
            step(x, onehot, LR)
        profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kernels", action="store_true")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--worker", choices=["ours", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.steps)
    if args.kernels:
        return kernels(args.threads, args.steps)
    if args.pyinstrument:
        return call_tree(args.threads, args.steps)
    results = {c: [] for c in CONTENDERS}
    for r in range(args.rounds):                  # interleaved, rotated rounds
        for c in CONTENDERS[r % 4:] + CONTENDERS[:r % 4]:
            results[c].append(run_worker(*c, args.steps))
    layers_report(results, args)


if __name__ == "__main__":
    main()
