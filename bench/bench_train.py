"""Epoch time of ``NeuralNet.train`` against PyTorch (CPU) and scikit-learn, in one run.

    python bench/bench_train.py [--nets A B] [--rounds 5] [--threads 1 2]
                                [--data-dir DIR] [--no-torch] [--no-sklearn]

Every contender (framework, PyTorch, scikit-learn's MLPClassifier; per net
and BLAS/OpenMP thread count) lives in its own worker process, started once:
it loads the same data, builds its net and trains one warm-up epoch. Then the
rounds are interleaved: each round asks every worker for one timed epoch, in
a rotated order, with a short pause between workers (idle BLAS threads stop
spinning), so a burst of load elsewhere on the machine hits every contender
alike. Reported: the median (and min) epoch time over the rounds, ratios, the
achieved GEMM rate against this machine's measured NumPy float32 GEMM peak,
inference throughput, each worker's peak RSS, and ``import framework`` time.

The framework is timed through its public API: ``net.train(reader,
epochs=1, checkpoint=1, need_test=False, restore_best=False, verbose=0)`` with no
validation set, so a timed epoch is the mini-batch steps (including the train
loss/accuracy bookkeeping) plus one checkpoint record. PyTorch runs the
minimal idiomatic loop (randperm, index_select, forward, cross-entropy,
backward, SGD step) with ``torch.set_num_threads``; scikit-learn runs one
``partial_fit`` epoch (solver sgd, same batch size and learning rate, momentum
0, shuffle, alpha 1e-8) under ``threadpool_limits``. Needs the ``bench`` extra:
``pip install -e ".[bench]"`` (scikit-learn, torch==2.13.0 CPU).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

from common import (NETS, WorkerProcess, blas_info, gemm_flops_per_epoch,  # noqa: E402
                    interleaved_rounds, send, serve, timed, torch_epoch,
                    train_one_epoch)

PAUSE = 0.3     # seconds between workers: let the previous one's threads go idle


# ====================================================================== workers
class Ours:
    def __init__(self, net_name, threads, reader, labels):
        import framework as fw
        from common import build_ours
        cfg = NETS[net_name]
        fw.threads.set_num_threads(threads)
        self.fw, self.reader = fw, reader
        self.net = build_ours(cfg["sizes"], cfg["batch"], epochs=0)
        self.threads = threads

    def epoch(self):
        train_one_epoch(self.net, self.reader)

    def infer(self, x):
        with self.fw.threads.blas_threads(self.threads):
            return self.net.inference(x)


class Torch:
    def __init__(self, net_name, threads, reader, labels):
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        cfg = NETS[net_name]
        sizes = cfg["sizes"]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.torch = torch
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.loss = torch.nn.CrossEntropyLoss()
        self.x = torch.from_numpy(reader.x_train)
        self.y = torch.from_numpy(labels)
        self.batch = cfg["batch"]

    def epoch(self):
        torch_epoch(self.torch, self.model, self.opt, self.loss, self.x, self.y, self.batch)

    def infer(self, x):
        torch = self.torch
        with torch.inference_mode():
            xt = torch.from_numpy(x)
            return torch.cat([torch.softmax(self.model(xt[i:i + 4096]), 1)
                              for i in range(0, xt.shape[0], 4096)]).numpy()


class Sklearn:
    def __init__(self, net_name, threads, reader, labels):
        import warnings

        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits
        warnings.filterwarnings("ignore")
        self.limits = lambda: threadpool_limits(threads)
        cfg = NETS[net_name]
        self.model = MLPClassifier(
            hidden_layer_sizes=cfg["sizes"][1:-1], activation="relu", solver="sgd",
            alpha=1e-8, batch_size=cfg["batch"], learning_rate="constant",
            learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False,
            shuffle=True, random_state=0, tol=0.0, n_iter_no_change=10**9,
            early_stopping=False, max_iter=1)
        self.x, self.y = reader.x_train, labels
        self.classes = list(range(10))

    def epoch(self):
        with self.limits():
            self.model.partial_fit(self.x, self.y, classes=self.classes)

    def infer(self, x):
        with self.limits():
            return self.model.predict_proba(x)


KINDS = {"ours": Ours, "torch": Torch, "sklearn": Sklearn}


def worker(kind, net_name, threads, data_dir):
    """Serve 'epoch' / 'infer' / 'rss' / 'quit' lines on stdin, answer JSON lines."""
    from common import load_reader
    reader, labels, source = load_reader(data_dir)
    contender = KINDS[kind](net_name, threads, reader, labels)
    contender.epoch()                                  # warm-up: buffers, caches, pages
    data_mb = sum(a.nbytes for a in (reader.x_train, reader.y_train, reader.x_test,
                                     reader.y_test)) / 2**20
    send({"ready": True, "source": source, "data_mb": data_mb})
    def infer():
        x = reader.x_train
        seconds = [timed(lambda: contender.infer(x))["seconds"] for _ in range(3)]
        return {"samples_per_s": x.shape[0] / statistics.median(seconds)}

    serve({"epoch": lambda: timed(contender.epoch), "infer": infer})


# ======================================================================= parent
class Worker(WorkerProcess):
    def __init__(self, kind, net_name, threads, data_dir):
        self.kind, self.net, self.threads = kind, net_name, threads
        super().__init__([sys.executable, os.path.abspath(__file__), "--worker", kind,
                          net_name, str(threads)] + (["--data-dir", data_dir] if data_dir
                                                     else []))

    @property
    def label(self):
        name = {"ours": "MiniFramework", "torch": "PyTorch 2.13 CPU",
                "sklearn": "scikit-learn MLP"}[self.kind]
        return f"{name} ({self.threads} thr)"


def gemm_peak(threads):
    """Best float32 GEMM rate of NumPy's BLAS (2048^3, best of 5), in GFLOP/s."""
    code = (
        "import time, numpy as np\n"
        "from threadpoolctl import threadpool_limits\n"
        f"threadpool_limits({threads})\n"
        "a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)\n"
        "c = np.empty_like(a); best = 1e9\n"
        "for _ in range(6):\n"
        "    t = time.perf_counter(); np.matmul(a, a, out=c); best = min(best, time.perf_counter() - t)\n"
        "print(2 * 2048**3 / best / 1e9)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


def import_time(repeat=7):
    """Median seconds of ``import framework`` in a fresh interpreter, and heavy imports seen."""
    code = ("import sys, time; t = time.perf_counter(); import framework; "
            "d = time.perf_counter() - t; "
            "print(d, [m for m in ('matplotlib', 'h5py', 'threadpoolctl', 'scipy') "
            "if m in sys.modules])")
    times, heavy = [], None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.split(" ", 1)
        times.append(float(out[0]))
        heavy = out[1].strip()
    return statistics.median(times), heavy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["A", "B"], choices=sorted(NETS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                        help="thread counts for the framework and PyTorch")
    parser.add_argument("--sklearn-threads", nargs="+", type=int, default=[1])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "NET", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, net_name, threads = args.worker
        return worker(kind, net_name, int(threads), args.data_dir)

    print(f"# bench_train  {time.strftime('%Y-%m-%d %H:%M')}  load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}  cores: {os.cpu_count()}")
    print(f"# NumPy BLAS: {blas_info()}; OPENBLAS_* env: "
          f"{ {k: v for k, v in os.environ.items() if k.startswith('OPENBLAS')} or 'none'}")
    peaks = {t: gemm_peak(t) for t in sorted(set(args.threads) | {1})}
    print("# measured NumPy float32 GEMM peak (2048^3): "
          + ", ".join(f"{t} thr {p:.0f} GFLOP/s" for t, p in peaks.items()))
    seconds, heavy = import_time()
    print(f"# import framework: {seconds * 1000:.0f} ms (median of 7 fresh interpreters); "
          f"heavy modules loaded by it: {heavy}")

    workers = []
    for net_name in args.nets:
        for t in args.threads:
            workers.append(Worker("ours", net_name, t, args.data_dir))
        if not args.no_torch:
            workers += [Worker("torch", net_name, t, args.data_dir) for t in args.threads]
        if not args.no_sklearn:
            workers += [Worker("sklearn", net_name, t, args.data_dir)
                        for t in args.sklearn_threads]
    for w in workers:          # warm-ups overlap: they are not timed
        w.wait_ready()
    data_mb = workers[0].info["data_mb"]
    print(f"# data: {workers[0].info['source']}, train+test set as the framework holds it "
          f"{data_mb:.0f} MB (RSS budget {data_mb + 150:.0f} MB); {args.rounds} interleaved "
          f"rounds")
    interleaved_rounds(workers, args.rounds, lambda w: f"{w.net}/{w.kind}{w.threads}", PAUSE)
    for w in workers:
        time.sleep(PAUSE)
        w.throughput = w.ask("infer")["samples_per_s"]
        w.rss = w.ask("rss")["peak_rss_mb"]
        w.close()
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    report(args.nets, workers, peaks)


def report(nets, workers, peaks):
    summary = []
    for net_name in nets:
        group = [w for w in workers if w.net == net_name]
        cfg = NETS[net_name]
        flops = gemm_flops_per_epoch(cfg["sizes"])
        gemm_limit = flops / (max(peaks.values()) * 1e9)
        for w in group:
            w.median = statistics.median(w.times)
        ours = min((w for w in group if w.kind == "ours"), key=lambda w: w.median)
        sizes = "-".join(map(str, cfg["sizes"]))
        print(f"### Net {net_name}: {sizes}, batch {cfg['batch']}, SGD, float32 "
              f"({flops / 1e9:.1f} GFLOP/epoch; GEMM limit {gemm_limit:.2f} s at "
              f"{max(peaks.values()):.0f} GFLOP/s)\n")
        print("| contender | epoch s (median) | min | CPU s | vs best MiniFramework | "
              "GFLOP/s | % of GEMM peak | inference samples/s | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w in group:
            rate = flops / w.median / 1e9
            peak = peaks.get(w.threads, max(peaks.values()))
            print(f"| {w.label} | {w.median:.3f} | {min(w.times):.3f} | "
                  f"{statistics.median(w.cpu):.3f} | {w.median / ours.median:.2f}x | "
                  f"{rate:.0f} | {100 * rate / peak:.0f}% | {w.throughput:,.0f} | "
                  f"{w.rss:.0f} |")
        print()
        torch_best = min((w.median for w in group if w.kind == "torch"), default=None)
        sk_best = min((w.median for w in group if w.kind == "sklearn"), default=None)
        line = f"Net {net_name}: MiniFramework best {ours.median:.3f} s ({ours.threads} thr)"
        if torch_best:
            line += f"; / PyTorch best = {ours.median / torch_best:.2f}"
        if sk_best:
            line += f"; scikit-learn / MiniFramework = {sk_best / ours.median:.1f}x"
        line += f"; GEMM limit / MiniFramework = {100 * gemm_limit / ours.median:.0f}%"
        summary.append(line)
    print("\n".join(summary))


if __name__ == "__main__":
    main()
