"""What LayerMonitor costs per epoch when it is on: one reading per epoch, off vs on.

    python bench/layer_monitor_cost.py [--nets A B] [--rounds 5] [--data-dir DIR]

For each net (``common.NETS``: A the textbook's MNIST MLP, B a wide one) two
workers train the same net one epoch at a time on the 60,000 MNIST rows
(plain SGD, one BLAS thread, no validation, one checkpoint per epoch): ``off``
with no callback, ``on`` with a ``LayerMonitor(reader)`` reading at that
checkpoint (a probe on a fixed batch of the net's batch size: a forward and
backward pass, the update, and the snapshot that undoes it). The timed epochs
are interleaved round by round (``common.interleaved_rounds``), so load
elsewhere on the machine hits both alike.

Printed: the median epoch time of each, the ratio on/off, and the monitor's
own seconds per reading (``monitor.seconds``), which is what "on" adds.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAUSE = 0.3


def worker(net_name, mode, data_dir):
    """Answer "epoch" lines with the seconds one epoch took (``common.serve``)."""
    sys.path[:0] = [ROOT, HERE]
    import framework as fw
    from common import NETS, build_ours, load_reader, send, serve, timed
    fw.threads.set_num_threads(1)
    reader, _, source = load_reader(data_dir)
    cfg = NETS[net_name]
    net = build_ours(cfg["sizes"], cfg["batch"], epochs=0)
    monitor = fw.callbacks.LayerMonitor(reader, at_start=False) if mode == "on" else None
    callbacks = [monitor] if monitor else []

    def epoch():
        net.train(reader, epochs=1, checkpoint=1, need_test=False, restore_best=False,
                  verbose=0, callbacks=callbacks)

    epoch()                                   # warm-up: buffers, caches, page faults
    send({"ready": True, "source": source, "framework": os.path.dirname(fw.__file__)})
    serve({"epoch": lambda: timed(epoch),
           "monitor": lambda: {"seconds": monitor.seconds if monitor else 0.0,
                               "readings": len(monitor.reading_epochs) if monitor else 0}})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["A", "B"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get("MINIFRAMEWORK_DATA"))
    parser.add_argument("--worker", nargs=2, metavar=("NET", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.data_dir)
        return
    sys.path[:0] = [HERE]
    from common import WorkerProcess, blas_info, host_cpu, interleaved_rounds
    workers = []
    for net_name in args.nets:
        for mode in ("off", "on"):
            command = [sys.executable, os.path.abspath(__file__), "--worker", net_name, mode]
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            w = WorkerProcess(command)
            w.label = f"{net_name}:{mode}"
            workers.append(w)
    for w in workers:
        w.wait_ready()
    print(f"# host CPU: {host_cpu()}; NumPy BLAS: {blas_info()}; one BLAS thread")
    print(f"# data: {workers[0].info['source']}; framework from {workers[0].info['framework']}")
    interleaved_rounds(workers, args.rounds, lambda w: w.label, PAUSE, digits=3)
    costs = {w.label: w.ask("monitor") for w in workers}
    for w in workers:
        w.close()
    for net_name in args.nets:
        off = statistics.median(next(w.times for w in workers if w.label == f"{net_name}:off"))
        on = statistics.median(next(w.times for w in workers if w.label == f"{net_name}:on"))
        cost = costs[f"{net_name}:on"]
        per_reading = cost["seconds"] / max(cost["readings"], 1)
        print(f"net {net_name}: off {off:.3f} s/epoch, on {on:.3f} s/epoch, on/off "
              f"{on / off:.3f}; the monitor: {1000 * per_reading:.1f} ms per reading "
              f"({100 * per_reading / off:.2f} % of an epoch, {cost['readings']} readings)")


if __name__ == "__main__":
    main()
