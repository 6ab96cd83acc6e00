"""The comparison runner: fairness is asserted from what the runs actually saw.

Every run reports a hash of its initial weights (taken from the built net)
and of the first mini-batches training drew (taken from the batches the
training loop received), so these tests check the method rather than trust
the seeding code.
"""
import json
import os

import pytest

from framework.compare import apply_overrides, compare, make_variants
from framework.compare_report import format_markdown, mean_std

BASE = {"data": {"reader": "toy", "n_train": 330, "n_test": 60, "features": 12,
                 "classes": 3, "noise": 2.5, "seed": 0, "train_size": 300, "val_size": 30},
        "net": {"hidden": [16, 16], "activation": "relu"},
        "params": {"learning_rate": 0.05, "max_epoch": 3, "batch_size": 32,
                   "net_type": "multiple_classifier", "init_method": "msra"},
        "train": {"checkpoint": 1.0}}
OPTIMIZERS = {"optimizer_name": ["sgd", "momentum", "adam"]}


def numbers(results):
    """Everything a run computed, without its wall-clock time."""
    return [json.dumps({k: v for k, v in r.items() if k not in ("seconds", "weights_path")},
                       sort_keys=True) for r in results]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5, out_dir=str(out),
                   workers=0, verbose=False)


def by_repeat(sweep, repeat):
    return [r for r in sweep.results if r["repeat"] == repeat]


def test_variants_share_initial_weights_and_batch_order(sweep):
    for repeat in (0, 1):
        runs = by_repeat(sweep, repeat)
        assert [r["variant"] for r in runs] == ["sgd", "momentum", "adam"]
        assert all(r["status"] == "ok" and r["seed"] == 5 + repeat for r in runs)
        assert len({r["init_fingerprint"]["all"] for r in runs}) == 1
        assert len(runs[0]["batch_fingerprint"]) == 3
        assert len({tuple(r["batch_fingerprint"]) for r in runs}) == 1
        # same start, same data: only the optimizer made the histories differ
        assert len({json.dumps(r["history"]["records"]) for r in runs}) == 3


def test_repeats_differ_by_seed(sweep):
    first, second = by_repeat(sweep, 0)[0], by_repeat(sweep, 1)[0]
    assert first["init_fingerprint"]["all"] != second["init_fingerprint"]["all"]
    assert set(first["batch_fingerprint"]).isdisjoint(second["batch_fingerprint"])
    assert first["final"]["val_loss"] != second["final"]["val_loss"]


def test_batch_norm_variant_shares_the_fc_weights():
    """Where the architecture allows: the fc layers match with or without BN."""
    sweep = compare("bn", BASE, axes={"net.batch_norm": [False, True]}, repeats=1,
                    workers=0, verbose=False)
    fc = [[h for name, h in r["init_fingerprint"]["layers"].items() if name.startswith("fc")]
          for r in sweep.results]
    assert len(fc[0]) == 3 and fc[0] == fc[1]
    assert sweep.results[0]["batch_fingerprint"] == sweep.results[1]["batch_fingerprint"]


def test_rerun_gives_identical_numbers(sweep, tmp_path):
    again = compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5,
                    out_dir=str(tmp_path), workers=0, verbose=False)
    assert numbers(again.results) == numbers(sweep.results)
    for spec in again.specs:
        name = os.path.join(spec["variant"], f"repeat_{spec['repeat']}.json")
        with open(os.path.join(sweep.out_dir, name)) as a, \
                open(os.path.join(again.out_dir, name)) as b:
            old, new = json.load(a)["result"], json.load(b)["result"]
        old.pop("seconds"), new.pop("seconds")
        assert old == new
    assert again.table() == sweep.table()


def test_outputs_are_written(sweep):
    files = set(os.listdir(sweep.out_dir))
    assert {"summary.json", "table.txt", "table.md", "curves.png"} <= files
    assert sorted(os.listdir(os.path.join(sweep.out_dir, "adam"))) == \
        ["repeat_0.json", "repeat_1.json"]
    with open(os.path.join(sweep.out_dir, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["variants"] == ["sgd", "momentum", "adam"]
    assert summary["rows"][0]["ok"] == 2


def test_a_failing_variant_does_not_stop_the_sweep(tmp_path):
    variants = {"good": {}, "bad": {"net.activation": "no_such_activation"},
                "also good": {"optimizer_name": "adam"}}
    sweep = compare("fail", BASE, variants=variants, repeats=2, out_dir=str(tmp_path),
                    workers=0, verbose=False)
    status = {(r["variant"], r["repeat"]): r["status"] for r in sweep.results}
    assert status == {(v, k): ("failed" if v == "bad" else "ok")
                      for v in variants for k in (0, 1)}
    bad = [r for r in sweep.results if r["variant"] == "bad"][0]
    assert "no_such_activation" in bad["error"]
    table = sweep.table()
    assert "0/2" in table and "FAILED bad" in table
    assert (tmp_path / "fail" / "curves.png").exists()


def test_process_pool_gives_the_inline_numbers(sweep):
    pooled = compare("opt", BASE, axes=OPTIMIZERS, repeats=2, base_seed=5, workers=2,
                     verbose=False)
    assert numbers(pooled.results) == numbers(sweep.results)


def test_dask_local_cluster_gives_the_local_numbers():
    distributed = pytest.importorskip("distributed", reason="needs the 'cluster' extra")
    axes = {"optimizer_name": ["sgd", "adam"]}
    local = compare("dask", BASE, axes=axes, repeats=2, workers=0, verbose=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  processes=True, dashboard_address=None) as cluster:
        remote = compare("dask", BASE, axes=axes, repeats=2,
                         scheduler=cluster.scheduler_address, verbose=False)
    assert len(remote.results) == 4
    assert all(r["status"] == "ok" for r in remote.results)
    assert numbers(remote.results) == numbers(local.results)


def test_saved_weights_reload(tmp_path):
    from framework.net import NeuralNet
    sweep = compare("w", BASE, repeats=1, out_dir=str(tmp_path), workers=0,
                    save_weights=True, verbose=False)
    path = sweep.results[0]["weights_path"]
    assert path.endswith(os.path.join("w", "base", "repeat_0.h5"))
    net = NeuralNet.load(path)
    assert net.params.seed == 0


def test_variants_from_axes_and_overrides():
    named = make_variants({"plain": {}}, {"optimizer_name": ["sgd", "adam"],
                                          "net.batch_norm": [False, True]})
    assert list(named) == ["plain", "optimizer_name=sgd,batch_norm=False",
                           "optimizer_name=sgd,batch_norm=True",
                           "optimizer_name=adam,batch_norm=False",
                           "optimizer_name=adam,batch_norm=True"]
    spec = apply_overrides(BASE, named["optimizer_name=adam,batch_norm=True"])
    assert spec["params"]["optimizer_name"] == "adam" and spec["net"]["batch_norm"] is True
    assert BASE["params"].get("optimizer_name") is None      # the base is not modified
    assert apply_overrides(BASE, {"data": {"seed": 3}})["data"]["train_size"] == 300


def test_mean_std_and_table_format():
    assert mean_std([1.0, 3.0, None]) == [2.0, pytest.approx(2 ** 0.5)]
    assert mean_std([None]) == [None, None]
    row = {"variant": "v", "ok": 0, "failed": 1, "errors": ["ValueError: x"],
           **{k: [None, None] for k in ("final_val_loss", "final_val_accuracy",
                                        "best_val_loss", "best_val_accuracy", "best_epoch")}}
    text = format_markdown([row])
    assert "| v | 0/1 | failed |" in text and "FAILED v: ValueError: x" in text
