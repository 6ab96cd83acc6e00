"""Instructions one training epoch costs, this tree against another, under callgrind.

    python bench/count_instructions.py OLD_TREE [NEW_TREE=.] [--nets A B CNN]
                                       [--rows 3200] [--more-rows 9600]

Wall-clock time on a shared 2-core machine varies by 1.5x between runs; an
instruction count does not: ``valgrind --tool=callgrind`` counts every
instruction a process executes, the same number each time for the same code and
input, whatever else the machine is doing. So a change of a few percent in the
Python around the matrix products (what a refactor of the layers and the
training step can cost) shows up exactly here, where timed runs drown it in
noise. Each tree trains each net (``common.NETS`` A and B, and the reference CNN
of bench_conv.py) for one epoch on ``--rows`` random training rows (MNIST-shaped,
so every GEMM has its real shape), one BLAS thread, inside
``CALLGRIND_START/STOP``-free whole-process counting: the same import and set-up
cost is paid by both trees, and a second run with ``--rows 0`` can subtract it.

Printed per net: instructions of old and new, their ratio, and the ratio of the
epoch alone (total minus the set-up-only run); with ``--more-rows``, also the ratio of
the steps alone (the difference between the two epoch sizes: what every further step
costs, without the fixed cost of a ``train`` call). Needs valgrind (Debian's package).
What it cannot see: memory stalls and cache effects (a count is not a time),
so large layout changes still need the interleaved timings of bench_train.py /
bench_conv.py.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

WORKER = r'''
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import numpy as np
import framework as fw
from datareaders.base import ArrayDataReader
from common import NETS, build_ours, train_one_epoch
net_name, rows = sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(0)
if net_name == "CNN":
    params = fw.HyperParameters(learning_rate=0.01, max_epoch=0, batch_size=64,
                                net_type="multiple_classifier", optimizer_name="sgd", seed=0)
    specs = [{"type": "conv", "filters": 16, "kernel": 5, "padding": 2}, {"type": "relu"},
             {"type": "pooling", "size": 2},
             {"type": "conv", "filters": 32, "kernel": 5, "padding": 2}, {"type": "relu"},
             {"type": "pooling", "size": 2}, {"type": "flatten"},
             {"type": "fc", "size": 10}, {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(params, specs, (1, 28, 28), "cnn")
    shape = (1, 28, 28)
else:
    cfg = NETS[net_name]
    net = build_ours(cfg["sizes"], cfg["batch"], epochs=0)
    shape = (cfg["sizes"][0],)
n = max(rows, 64)
reader = ArrayDataReader(rng.random((n,) + shape, dtype=np.float32), rng.integers(0, 10, n))
reader.normalize_y("multiple_classifier")
if rows:
    train_one_epoch(net, reader)
'''


def count(tree, net, rows):
    """Instructions (Ir) of one worker process under callgrind."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MINIFRAMEWORK_NUM_THREADS="1", PYTHONPATH="")
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "callgrind.out")
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-c", WORKER, os.path.abspath(tree), HERE, net, str(rows)],
            capture_output=True, text=True, env=env, cwd=tree)
        if done.returncode:
            sys.exit(f"{tree} {net}: worker failed:\n{done.stderr[-3000:]}")
        match = re.search(r"Collected : (\d+)", done.stderr)
        if not match:
            sys.exit(f"no instruction count in callgrind's output:\n{done.stderr[-2000:]}")
        return int(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_tree")
    parser.add_argument("new_tree", nargs="?", default=".")
    parser.add_argument("--nets", nargs="+", default=["A", "B", "CNN"])
    parser.add_argument("--rows", type=int, default=3200)
    parser.add_argument("--more-rows", type=int, default=None)
    args = parser.parse_args()
    print(f"# instructions (callgrind Ir), one epoch of {args.rows} rows, one BLAS thread")
    for net in args.nets:
        base = {tree: count(tree, net, 0) for tree in (args.old_tree, args.new_tree)}
        full = {tree: count(tree, net, args.rows) for tree in (args.old_tree, args.new_tree)}
        old, new = full[args.old_tree], full[args.new_tree]
        old_epoch = old - base[args.old_tree]
        new_epoch = new - base[args.new_tree]
        print(f"net {net}: old {old:,}  new {new:,}  new/old {new / old:.4f};  "
              f"epoch alone: old {old_epoch:,}  new {new_epoch:,}  "
              f"new/old {new_epoch / old_epoch:.4f}")
        if args.more_rows:
            more = {tree: count(tree, net, args.more_rows)
                    for tree in (args.old_tree, args.new_tree)}
            old_steps = more[args.old_tree] - old
            new_steps = more[args.new_tree] - new
            print(f"net {net}: the steps of {args.more_rows - args.rows} more rows: "
                  f"old {old_steps:,}  new {new_steps:,}  new/old {new_steps / old_steps:.4f}")


if __name__ == "__main__":
    main()
