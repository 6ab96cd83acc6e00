"""One comparison run: a RunSpec and its data source in, a JSON-able result out.

``run_task`` is a top-level function of an importable module, so a local
process pool and a Dask cluster both ship it to a worker by reference; the
spec is plain data and the source travels by reference to its module, so the
worker builds the reader and the net itself and no data moves with a task.

Fairness is built in: the batches come from a ``BatchOrder`` made from the
run's seed alone, so within a repeat every variant trains on the same rows in
the same batches, whatever its optimizer or architecture, and the net's
initial weights come from the same seed. The result carries hashes of both
(``init_fingerprint`` of the built net's arrays, ``batch_fingerprint`` of the
first batches' rows), so this is shown, not assumed.
"""
import hashlib
import math
import os
import time
import traceback

import numpy as np

from .. import threads
from ...batch_order import BatchOrder
from ...hyper_parameters import HyperParameters
from ...stopping import INTERRUPTED_REASON
from .nets import build_net, expand_net, fingerprint
from .sources import load_reader

RECORDED_BATCHES = 3


def run_one(spec, source):
    """Train the run ``spec`` describes on ``source``'s data; its result dict.

    Raises on failure, and ``KeyboardInterrupt`` if training was interrupted:
    a cut-short run is not a finished one, so it must not be recorded.
    """
    start = time.perf_counter()
    params = HyperParameters.from_dict({**spec.params, "seed": int(spec.seed)})
    reader = load_reader(source, spec.data, params.net_type, params.dtype)
    layers = spec.layers or expand_net(spec.net, params.net_type, reader.num_output)
    net = build_net(params, layers, reader.x_train.shape[1:], name=net_name(spec))
    initial = fingerprint(net)
    order = BatchOrder(reader.num_train, params.batch_size, int(spec.seed))
    options = {"checkpoint": 1.0, "restore_best": True, **spec.train}
    history = net.train(reader, need_test=False, verbose=0, batch_order=order, **options)
    if history.stop_reason == INTERRUPTED_REASON:
        raise KeyboardInterrupt(f"run {spec.variant!r} repeat {spec.repeat} interrupted")
    result = _summarize(history)
    result.update(status="ok", init_fingerprint=initial, epochs=net.epoch,
                  batch_fingerprint=batch_fingerprint(reader, order.epoch(0)))
    if spec.evaluate_test:
        loss, accuracy = net.test(reader)
        result["test"] = {"loss": _num(loss), "accuracy": _num(accuracy)}
    if spec.weights_path:
        os.makedirs(os.path.dirname(spec.weights_path) or ".", exist_ok=True)
        net.save(spec.weights_path, include_optimizer=False)
        result["weights_path"] = spec.weights_path
        result["weights_sha256"] = file_sha256(spec.weights_path)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def run_task(spec, source):
    """``run_one`` with the spec's BLAS threads; an exception becomes a failed result.

    One BLAS thread by default: the same arithmetic in every kind of worker
    (hence the same numbers inline, in a pool or on Dask) and no
    oversubscription of the cores. ``KeyboardInterrupt`` is not caught: it
    ends the sweep, not just the run.
    """
    key = spec.key()
    try:
        with threads.blas_threads(int(spec.blas_threads)):
            result = run_one(spec, source)
    except Exception as error:  # a sweep reports a failed run and goes on
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc(limit=8)}
    result.update(key=key, name=spec.name, variant=spec.variant,
                  repeat=spec.repeat, seed=spec.seed)
    return result


def file_sha256(path):
    """The SHA-256 of a file's bytes: a resumed sweep knows its own weights file by it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def batch_fingerprint(reader, batches, count=RECORDED_BATCHES):
    """Short SHA-256 digests of the first ``count`` batches' rows (x and y)."""
    digests = []
    for rows in batches[:count]:
        digest = hashlib.sha256(np.ascontiguousarray(reader.x_train[rows]).tobytes())
        digest.update(np.ascontiguousarray(reader.y_train[rows]).tobytes())
        digests.append(digest.hexdigest()[:16])
    return digests


def _summarize(history):
    """The history as a dict plus the final and best validation metrics."""
    data = history.as_dict()
    records = data["records"]
    last = records[-1] if records else {}
    best = records[data["best_index"]] if data["best_index"] is not None else {}
    final = {key: last.get(key) for key in
             ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")}
    best = {key: best.get(key) for key in ("epoch", "val_loss", "val_accuracy")}
    return {"history": data, "final": final, "best": best}


def _num(value):
    value = float(value)
    return value if math.isfinite(value) else None


def net_name(spec):
    """The run's net name (in its weights file): variant and repeat, file-name safe."""
    text = f"{spec.variant}_r{spec.repeat}"
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in text)[:64] or "net"
