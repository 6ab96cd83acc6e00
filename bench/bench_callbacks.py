"""What the callbacks and the public step API cost: this tree against an older one.

    python bench/bench_callbacks.py OLD_TREE [--nets A B] [--rounds 5] [--data-dir DIR]

OLD_TREE is a checkout of the framework from before the callbacks (make one
with ``git worktree add ../old-tree <rev>``). Every contender lives in its own
worker process, started once, and the timed epochs are interleaved round by
round (see ``common.interleaved_rounds``), so load elsewhere on the machine
hits all of them alike:

- ``old/train``: the old tree's ``net.train`` for one epoch;
- ``new/train``: this tree's ``net.train(reader, epochs=1)`` with its default
  callbacks (``TerminateOnNaN`` is always on);
- ``new/step``: this tree's ``net.train_step(x, y)`` called from a Python loop
  over ``reader.batches`` inside ``framework.infra.threads.limit()`` (net A only), the
  learner's way of training by hand.

Printed: the median epoch time of each, and the ratios new/old and step/train.
Both trees train the same nets (``common.NETS``) with one BLAS thread, no
validation set, one checkpoint per epoch and no test pass.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PAUSE = 0.3


def worker(tree, net_name, mode, data_dir):
    """Answer "epoch" lines with the seconds one epoch took, until "quit" (``common.serve``)."""
    sys.path[:0] = [tree, HERE]
    import numpy as np

    import framework as fw
    from common import NETS, build_ours, load_reader, send, serve, timed
    fw.threads.set_num_threads(1)
    reader, _, source = load_reader(data_dir)
    cfg = NETS[net_name]
    net = build_ours(cfg["sizes"], cfg["batch"], epochs=0)
    epoch = _epoch_function(net, reader, cfg["batch"], mode, np)
    epoch()                                   # warm-up: buffers, caches, page faults
    send({"ready": True, "source": source, "framework": os.path.dirname(fw.__file__)})
    serve({"epoch": lambda: timed(epoch)})


def _epoch_function(net, reader, batch, mode, np):
    """One epoch of training in the given mode, for this tree's API."""
    from common import train_one_epoch

    from framework import threads
    if mode == "step":
        rng = np.random.default_rng(0)

        def by_hand():
            # the documented way: the caller sets the BLAS threads for its loop, as
            # train does for its own (framework.infra.threads; one thread here)
            with threads.limit():
                for x, y in reader.batches(batch, rng):
                    net.train_step(x, y)
        return by_hand
    return lambda: train_one_epoch(net, reader)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_tree")
    parser.add_argument("--nets", nargs="+", default=["A", "B"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get("MINIFRAMEWORK_DATA"))
    parser.add_argument("--worker", nargs=3, metavar=("TREE", "NET", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.data_dir)
        return
    _compare(args)


def _compare(args):
    sys.path[:0] = [HERE]
    from common import WorkerProcess, blas_info, host_cpu, interleaved_rounds
    contenders = []
    for net_name in args.nets:
        contenders += [(net_name, "old", "train"), (net_name, "new", "train")]
        if net_name == "A":
            contenders.append((net_name, "new", "step"))
    workers = []
    for net_name, tree, mode in contenders:
        path = os.path.abspath(args.old_tree) if tree == "old" else ROOT
        command = [sys.executable, os.path.abspath(__file__), args.old_tree,
                   "--worker", path, net_name, mode]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        w = WorkerProcess(command)
        w.label = f"{net_name}:{tree}/{mode}"
        workers.append(w)
    for w in workers:
        w.wait_ready()
    print(f"# host CPU: {host_cpu()}; NumPy BLAS: {blas_info()}; one BLAS thread")
    print(f"# data: {workers[0].info['source']}")
    for w in workers:
        print(f"# {w.label}: framework from {w.info['framework']}")
    interleaved_rounds(workers, args.rounds, lambda w: w.label, PAUSE, digits=3)
    for w in workers:
        w.close()
    medians = {w.label: statistics.median(w.times) for w in workers}
    for label, seconds in medians.items():
        print(f"{label:14s} median {seconds:.3f} s/epoch")
    for net_name in args.nets:
        old, new = medians[f"{net_name}:old/train"], medians[f"{net_name}:new/train"]
        print(f"net {net_name}: new/old = {new / old:.3f}")
    if "A" in args.nets:
        print(f"net A: train_step loop / train = "
              f"{medians['A:new/step'] / medians['A:new/train']:.3f}")


if __name__ == "__main__":
    main()
