"""Where one training epoch spends its time, phase by phase.

    python bench/profile_train.py [--net A] [--data-dir DIR] [--threads 1]
    python bench/profile_train.py --net A --cprofile        # cProfile, top functions
    python bench/profile_train.py --net A --pyinstrument    # call tree (pyinstrument)

The phase table replays ``training.make_step`` by hand with a timer around
every layer's forward and backward, the loss metrics, the delta, each
WeightsBias update and the batch gather, so the numbers add up to the epoch.
The timers cost ~0.1 us each (a few ms per epoch). ``--cprofile`` and
``--pyinstrument`` profile a plain ``net.train`` epoch instead.
"""
import argparse
import os
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import numpy as np  # noqa: E402

from common import (NETS, build_ours, gemm_flops_per_epoch, load_reader,  # noqa: E402
                    train_one_epoch)


def phases(net, reader, batch):
    from framework.training import _batch_metrics
    layers, wbs = net.layers, net.weights()
    metrics = _batch_metrics(net.params.net_type)
    clock = time.perf_counter
    spent = defaultdict(float)
    start = clock()
    mark = clock()
    for x, y in reader.batches(batch, net.streams.shuffle):
        spent["batch gather (reader.batches)"] += clock() - mark
        a = x
        for i, layer in enumerate(layers):
            t = clock()
            a = layer.forward(a, True)
            spent[f"forward  {i} {type(layer).__name__}"] += clock() - t
        t = clock()
        metrics(a, y)
        spent["train loss + accuracy"] += clock() - t
        t = clock()
        delta = np.subtract(a, y)
        delta *= 1.0 / a.shape[0]
        spent["fused delta (a - y) / m"] += clock() - t
        for i in range(len(layers) - 2, -1, -1):
            t = clock()
            delta = layers[i].backward(delta)
            spent[f"backward {i} {type(layers[i]).__name__}"] += clock() - t
        for i, wb in enumerate(wbs):
            t = clock()
            wb.update(net.params.learning_rate)
            spent[f"update   W{i + 1} {wb.W.shape}"] += clock() - t
        mark = clock()
    return clock() - start, spent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="A", choices=sorted(NETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args(argv)
    import framework as fw
    fw.threads.set_num_threads(args.threads)
    reader, _, source = load_reader(args.data_dir)
    cfg = NETS[args.net]
    net = build_ours(cfg["sizes"], cfg["batch"], epochs=0)
    train_one_epoch(net, reader)                    # warm-up

    def one_epoch():
        train_one_epoch(net, reader)

    print(f"net {args.net} {cfg['sizes']} batch {cfg['batch']}, {args.threads} BLAS thread(s), "
          f"{source}")
    if args.cprofile:
        import cProfile
        import pstats
        profile = cProfile.Profile()
        profile.runcall(one_epoch)
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
        return
    if args.pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            sys.exit("profile_train.py: --pyinstrument needs pyinstrument: "
                     "pip install -e '.[bench]'")
        profiler = Profiler(interval=0.0002)
        profiler.start()
        one_epoch()
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        return
    with fw.threads.limit():
        phases(net, reader, cfg["batch"])                   # warm
        total, spent = phases(net, reader, cfg["batch"])
    steps = -(-reader.num_train // cfg["batch"])
    gemm = gemm_flops_per_epoch(cfg["sizes"]) / 1e9
    print(f"epoch {total:.3f} s, {steps} steps, {total / steps * 1e6:.0f} us/step, "
          f"{gemm / total:.0f} GFLOP/s overall\n")
    print("| phase | ms/epoch | us/step | share |")
    print("|---|---:|---:|---:|")
    for name, seconds in spent.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / steps * 1e6:.1f} | "
              f"{100 * seconds / total:.0f}% |")
    rest = total - sum(spent.values())
    print(f"| loop and timers | {rest * 1e3:.1f} | {rest / steps * 1e6:.1f} | "
          f"{100 * rest / total:.0f}% |")


if __name__ == "__main__":
    main()
