"""Save and load the MNIST app's net in two source trees, interleaved: the cost of the
reliability work (atomic in-memory saves, checksums, validation) against a baseline.

    python bench/bench_save.py BASE_TREE [NEW_TREE=.] [--rounds 7] [--reps 20]
                               [--hidden 128,64,32,16] [--optimizer momentum]

BASE_TREE is a checkout of the revision to compare with, e.g. the one before the
save changes: ``git worktree add --detach ../base-tree 3c43d2f`` (remove it afterwards
with ``git worktree remove ../base-tree``). Each round runs one fresh process per tree
(alternating which goes first), which builds the app's default net (784-128-64-32-16-10,
ReLU, softmax, momentum state filled in) with the calls every release has had, then
times ``reps`` saves and ``reps`` loads of it and reports the median of each, in wall
and CPU (process) time. The figures printed are the medians over rounds and their
ratio new / base; on a busy machine the CPU times are the steadier ones.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

WORKER = r'''
import json, os, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import framework as fw
hidden = [int(n) for n in sys.argv[3].split(",")]
params = fw.HyperParameters(learning_rate=0.05, max_epoch=10, batch_size=64,
                            net_type="multiple_classifier", init_method="msra",
                            optimizer_name=sys.argv[4], seed=1)
net = fw.NeuralNet.from_specs(params, fw.mlp_specs(hidden, 10, "relu", classifier="softmax"),
                              784, "mnist")
rng = np.random.default_rng(0)
def filled(v):      # optimizer state as after some training: non-negative arrays, counts 7
    return np.abs(rng.normal(size=v.shape)).astype(v.dtype) if isinstance(v, np.ndarray) else 7
if hasattr(net, "load_state_dict"):      # since the one state layout (issue 24)
    state = net.state_dict()
    net.load_state_dict({k: filled(v) if k.startswith("optimizer/") else v
                         for k, v in state.items()})
else:                                    # the releases before it
    for layer in net.layers:
        for wb in layer.weights():
            wb.set_optimizer_state({k: filled(v) for k, v in wb.optimizer_state().items()})
net.epoch, net.iteration = 3, 2811
path = os.path.join(sys.argv[2], "net.h5")
reps = int(sys.argv[5])
out = {}
for name, action in (("save", lambda: net.save(path)), ("load", lambda: fw.NeuralNet.load(path))):
    action()                                   # warm up: imports, page cache
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        action()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    out[name] = {"wall_ms": 1e3 * statistics.median(wall), "cpu_ms": 1e3 * statistics.median(cpu)}
out["bytes"] = os.path.getsize(path)
print(json.dumps(out))
'''


def run(tree, args):
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1")
        done = subprocess.run([sys.executable, "-c", WORKER, os.path.abspath(tree), folder,
                               args.hidden, args.optimizer, str(args.reps)],
                              capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        sys.exit(f"{tree}: the worker failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("new", nargs="?", default=".")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--hidden", default="128,64,32,16")
    parser.add_argument("--optimizer", default="momentum")
    args = parser.parse_args(argv)
    results = {"base": [], "new": []}
    for index in range(args.rounds):
        order = ("base", "new") if index % 2 == 0 else ("new", "base")
        for which in order:
            results[which].append(run(getattr(args, which), args))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; load average "
          f"{' '.join(f'{x:.1f}' for x in load) if load else 'n/a'}; "
          f"net 784-{args.hidden.replace(',', '-')}-10, {args.optimizer}; "
          f"{args.rounds} rounds x {args.reps} reps, medians")
    print(f"file size: base {results['base'][0]['bytes']:,} bytes, "
          f"new {results['new'][0]['bytes']:,} bytes")
    summary = {}
    for op in ("save", "load"):
        for clock in ("wall_ms", "cpu_ms"):
            base = statistics.median(r[op][clock] for r in results["base"])
            new = statistics.median(r[op][clock] for r in results["new"])
            summary[f"{op}_{clock}"] = {"base": round(base, 2), "new": round(new, 2),
                                        "ratio": round(new / base, 2)}
            print(f"{op} {clock[:-3]:>4}: base {base:7.2f} ms   new {new:7.2f} ms   "
                  f"ratio {new / base:.2f}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
