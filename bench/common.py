"""Shared pieces of the training benchmarks: the nets, the data, the FLOP count.

Net A is the textbook's MNIST net (784-128-64-32-16-10, ReLU, softmax,
batch 64); net B is a wide one (784-512-512-10, batch 128). Every contender
trains with plain SGD (lr 0.1, no momentum, no weight decay) in float32 on
the 60,000 MNIST training images, read with ``MnistImageDataReader`` from
``--data-dir`` / ``$MINIFRAMEWORK_DATA``; without the files, 60,000 rows of
uniform noise with random labels stand in (time per epoch does not depend on
the values, only on the shapes).
"""
import os

import numpy as np

NETS = {
    "A": {"sizes": (784, 128, 64, 32, 16, 10), "batch": 64},
    "B": {"sizes": (784, 512, 512, 10), "batch": 128},
}
LEARNING_RATE = 0.1
NUM_TRAIN = 60000


def gemm_flops_per_epoch(sizes, n=NUM_TRAIN):
    """Matrix-product FLOPs of one epoch: forward and dW for every layer, dx for
    all but the first (nobody needs the gradient with respect to the data)."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    per_sample = 2 * sum(2 * i * o for i, o in layers) + sum(2 * i * o for i, o in layers[1:])
    return per_sample * n


def load_reader(data_dir=None, seed=0):
    """(reader with one-hot float32 y, int labels of the training rows, description)."""
    data_dir = data_dir or os.environ.get("MINIFRAMEWORK_DATA")
    if data_dir and os.path.isdir(os.path.join(data_dir, "mnist")):
        from datareaders import MnistImageDataReader
        reader = MnistImageDataReader(data_dir=data_dir)   # float32 pixels in [0, 1]
        reader.read_data()
        source = f"MNIST ({reader.num_train:,} train rows, float32)"
    else:
        from datareaders.base import ArrayDataReader
        rng = np.random.default_rng(seed)
        reader = ArrayDataReader(rng.random((NUM_TRAIN, 784), dtype=np.float32),
                                 rng.integers(0, 10, NUM_TRAIN),
                                 rng.random((10000, 784), dtype=np.float32),
                                 rng.integers(0, 10, 10000))
        source = f"random ({NUM_TRAIN:,} rows, float32; no MNIST files found)"
    labels = np.asarray(reader.y_train_raw).reshape(-1).astype(np.int64)
    reader.normalize_y("multiple_classifier", num_category=10)
    return reader, labels, source


def build_ours(sizes, batch, epochs=1, seed=0):
    """The framework's net: FcLayer + ReLU blocks, softmax output, SGD."""
    import framework as fw
    params = fw.HyperParameters(learning_rate=LEARNING_RATE, max_epoch=epochs,
                                batch_size=batch, net_type="multiple_classifier",
                                init_method="msra", optimizer_name="sgd", seed=seed,
                                dtype=np.float32)
    specs = fw.mlp_specs(sizes[1:-1], sizes[-1], "relu", classifier="softmax")
    return fw.NeuralNet.from_specs(params, specs, sizes[0], "bench")


def train_one_epoch(net, reader):
    """One more epoch of ``net.train`` with no validation, test or restore: what every
    benchmark times. Works with the ``epochs=`` API and with older trees (which
    train up to a mutable ``params.max_epoch``), so two versions can be compared."""
    import inspect
    options = dict(checkpoint=1, need_test=False, restore_best=False)
    if "epochs" in inspect.signature(net.train).parameters:
        return net.train(reader, epochs=1, verbose=0, **options)
    net.params.max_epoch = net.epoch + 1
    return net.train(reader, verbose=False, **options)


def host_cpu():
    """The CPU model, vCPU count and vector extensions, for every benchmark's header."""
    import platform
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        for line in info.splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = next((ln for ln in info.splitlines() if ln.startswith("flags")), "")
        isa = [x for x in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f" {x}" in flags]
        model += f" ({os.cpu_count()} vCPUs; {' '.join(isa) or 'no AVX2'})"
    except OSError:
        pass
    return model


def blas_info():
    """NumPy's BLAS library, version and kernel (e.g. ``openblas 0.3.27 (Haswell)``)."""
    from threadpoolctl import threadpool_info
    return "; ".join(f"{lib['internal_api']} {lib['version']} ({lib.get('architecture')})"
                     for lib in threadpool_info() if lib["user_api"] == "blas")


# ------------------------------------------------ worker processes, interleaved rounds
def send(obj):
    """A worker's answer: one JSON line on stdout."""
    import json
    import sys
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def timed(function):
    """``{"seconds", "cpu"}`` of one call of ``function()``: a worker's answer to "epoch"."""
    import time
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return {"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def serve(handlers):
    """A worker's loop: answer each command line on stdin with one JSON line made by
    ``handlers[command]()``, until "quit". "rss" (the peak resident memory) is built in."""
    import resource
    import sys
    handlers = {"rss": lambda: {"peak_rss_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024}, **handlers}
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return
        send(handlers[command]())


class WorkerProcess:
    """One contender in its own process, answering one JSON line per command line.

    Subclasses give ``label``; ``times`` / ``cpu`` collect the timed epochs.
    """

    def __init__(self, args):
        import subprocess
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.times, self.cpu, self.info = [], [], None

    label = "worker"

    def ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self):
        import json
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label} died (exit {self.proc.wait()})")
        return json.loads(line)

    def wait_ready(self):
        self.info = self._read()

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def interleaved_rounds(workers, rounds, name, pause, digits=2):
    """Each round asks every worker for one timed epoch, in an order rotated by one
    per round, with ``pause`` seconds between workers; prints a line per round."""
    import time
    for r in range(rounds):
        shift = r % len(workers)
        for w in workers[shift:] + workers[:shift]:
            time.sleep(pause)
            result = w.ask("epoch")
            w.times.append(result["seconds"])
            w.cpu.append(result["cpu"])
        print(f"#   round {r + 1}: " + ", ".join(
            f"{name(w)}={w.times[-1]:.{digits}f}" for w in workers), flush=True)


def torch_epoch(torch, model, opt, loss_fn, x, y, batch):
    """One PyTorch epoch, the minimal idiomatic loop every benchmark times:
    randperm, index_select, forward, cross-entropy, backward, SGD step."""
    perm = torch.randperm(x.shape[0])
    for start in range(0, x.shape[0], batch):
        idx = perm[start:start + batch]
        loss = loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
