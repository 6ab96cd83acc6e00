"""One comparison run: a JSON-able spec in, a JSON-able result dict out.

``run_one`` is a top-level function of an importable module, so a local
process pool and a Dask cluster can both ship it to a worker by reference;
the spec is plain data, and the worker builds the reader and the net itself.
``run_safe`` is what executors call: it pins BLAS to one thread (the same
arithmetic in every kind of worker, hence the same numbers, and no
oversubscription of the 2 cores) and turns an exception into a ``failed``
result so one bad variant cannot stop a sweep.

A spec holds: ``name``, ``variant``, ``repeat``, ``seed``; ``data`` (see
``compare_data``); ``net`` (compact) or ``layers`` (see ``compare_net``);
``params`` (HyperParameters fields; ``seed`` is overwritten by the spec's);
``train`` (``checkpoint``, ``restore_best``); optional ``weights_path``,
``evaluate_test`` (off by default: the test set is not for comparisons).
"""
import math
import os
import time
import traceback

from . import threads
from .compare_data import RecordingReader, load_reader
from .compare_net import build_net, expand_net, fingerprint
from .hyper_parameters import HyperParameters

RECORDED_BATCHES = 3


def run_one(spec):
    """Train one run and return its result dict (raises on failure)."""
    start = time.perf_counter()
    params = HyperParameters.from_dict({**spec["params"], "seed": int(spec["seed"])})
    reader = load_reader(spec["data"], params.net_type, params.dtype)
    layers = spec.get("layers") or expand_net(spec.get("net", {}), params.net_type,
                                              reader.num_output)
    net = build_net(params, layers, reader.x_train.shape[1:], name=_net_name(spec))
    initial = fingerprint(net)
    recorder = RecordingReader(reader, RECORDED_BATCHES)
    train = {"checkpoint": 1.0, "restore_best": True, **spec.get("train", {})}
    history = net.train(recorder, need_test=False, verbose=False, **train)
    result = _summarize(history)
    result.update(status="ok", init_fingerprint=initial,
                  batch_fingerprint=recorder.batch_digests, epochs=net.epoch)
    if spec.get("evaluate_test"):
        loss, accuracy = net.test(reader)
        result["test"] = {"loss": _num(loss), "accuracy": _num(accuracy)}
    if spec.get("weights_path"):
        os.makedirs(os.path.dirname(spec["weights_path"]) or ".", exist_ok=True)
        net.save(spec["weights_path"], include_optimizer=False)
        result["weights_path"] = spec["weights_path"]
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def run_safe(spec):
    """``run_one`` with one BLAS thread; an exception becomes a failed result."""
    try:
        with threads.blas_threads(int(spec.get("blas_threads", 1))):
            result = run_one(spec)
    except Exception as error:  # a sweep reports a failed run and goes on
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc(limit=8)}
    result.update(name=spec.get("name"), variant=spec.get("variant"),
                  repeat=spec.get("repeat"), seed=spec.get("seed"))
    return result


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


def _net_name(spec):
    text = f"{spec.get('variant', 'net')}_r{spec.get('repeat', 0)}"
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in text)[:64] or "net"
