"""Data options read from a weights file are checked before they size or seed any data.

A weights file is outside data: ``binary_classify --load`` of a file saying
``arc_points: 10**9`` asked NumPy for 7.45 GiB; ``data_seed: "abc"``,
``split_seed: "x"`` and ``dataset: 5`` gave tracebacks; ``split_seed: -1`` a
NumPy message naming neither the file nor the option. Each is now one line,
exit status 1, naming the file and the option, refused in well under a second
with almost nothing allocated. ``house_price.predict_prices`` refuses rows of
the wrong width (one column was broadcast over all 19 features).
"""
import contextlib
import io
import re
import time
import tracemalloc

import numpy as np
import pytest
from reader_files import house_rows, write_house_csv

from apps import binary_classify, house_price
from framework import NeuralNet

MAINS = {"binary_classify": binary_classify.main, "house_price": house_price.main}


def call(app, argv):
    """(exit status, stdout, stderr, CPU seconds, peak bytes traced) of ``main(argv)``."""
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    start = time.process_time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = MAINS[app]([str(a) for a in argv])
        seconds = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return status, out.getvalue(), err.getvalue(), seconds, peak


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A double-arc net and a house net, each trained for one epoch and saved."""
    root = tmp_path_factory.mktemp("saved")
    write_house_csv(root / "data" / "house" / "kc_house_data.csv", house_rows(120, seed=0))
    common = ["--epochs", 1, "--no-plots", "--quiet"]
    arcs = call("binary_classify", ["--arc-points", 20, "--save", root / "arcs.h5", *common])
    house = call("house_price", ["--data-dir", root / "data", "--save", root / "house.h5",
                                 *common])
    assert arcs[0] == 0 and house[0] == 0, arcs[2] + house[2]
    return root


def with_data_option(saved, source, name, value, target):
    """A copy of ``source`` whose saved data option ``name`` is ``value`` (a file that
    saves and loads cleanly: its checksums are right, only the option is hostile)."""
    net = NeuralNet.load(saved / source)
    metadata = dict(net.metadata)
    metadata["data"] = {**metadata["data"], name: value}
    net.save(target, metadata=metadata)
    return target


@pytest.mark.parametrize("app, source, name, value, problem", [
    ("binary_classify", "arcs.h5", "arc_points", 10 ** 9,
     r"arc_points 1000000000: DoubleArcReader\(n_train=1000000000, n_test=250000000\) "
     r"needs about .* available"),
    ("binary_classify", "arcs.h5", "arc_points", "200", "arc_points: expected a positive "
                                                        "integer, got '200'"),
    ("binary_classify", "arcs.h5", "arc_points", 0, "arc_points: expected a positive "
                                                    "integer, got 0"),
    ("binary_classify", "arcs.h5", "data_seed", "abc", "data_seed: expected an integer >= 0, "
                                                       "got 'abc'"),
    ("binary_classify", "arcs.h5", "data_seed", -1, "data_seed: expected an integer >= 0, "
                                                    "got -1"),
    ("binary_classify", "arcs.h5", "data_seed", 1.5, "data_seed: expected an integer >= 0"),
    ("binary_classify", "arcs.h5", "test_fraction", 2, r"test_fraction: expected a number in "
                                                       r"\(0, 1\), got 2"),
    ("binary_classify", "arcs.h5", "dataset", "mnist", r"dataset: expected one of "
                                                       r"\['double-arc', 'breast-cancer'\], "
                                                       r"got 'mnist'"),
    ("house_price", "house.h5", "split_seed", "x", "split_seed: expected an integer >= 0, "
                                                   "got 'x'"),
    ("house_price", "house.h5", "split_seed", -1, "split_seed: expected an integer >= 0, "
                                                  "got -1"),
    ("house_price", "house.h5", "split_seed", True, "split_seed: expected an integer >= 0, "
                                                    "got True"),
    ("house_price", "house.h5", "dataset", 5, r"dataset: expected one of \['kc-house', "
                                              r"'textbook'\], got 5"),
    ("house_price", "house.h5", "price_scale", "cubic", r"price_scale: expected one of "
                                                        r"\['log', 'linear'\], got 'cubic'"),
])
def test_a_hostile_data_option_in_the_file_is_one_line_naming_file_and_option(
        saved, tmp_path, app, source, name, value, problem):
    path = with_data_option(saved, source, name, value, tmp_path / "hostile.h5")
    status, out, err, seconds, peak = call(app, ["--load", path, "--data-dir",
                                                 saved / "data", "--no-plots"])
    assert status == 1 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1
    assert err.startswith(f"{app}: error: {path}: data option ")
    assert re.search(problem, err), err
    assert seconds < 1.0 and peak < 50 * 2 ** 20, (seconds, peak)


def test_a_good_file_still_loads_and_numpy_integers_pass(saved):
    from apps.support.weights import check_data_options
    status, out, err, _, _ = call("binary_classify", ["--load", saved / "arcs.h5",
                                                      "--no-plots", "--quiet"])
    assert status == 0, err
    check_data_options("f.h5", "binary_classify", {
        "dataset": "double-arc", "data_seed": np.int64(2), "arc_points": np.int32(20),
        "test_fraction": np.float32(0.2)})


def test_arc_points_from_the_command_line_are_sized_before_drawing(tmp_path):
    status, out, err, seconds, peak = call("binary_classify", [
        "--arc-points", 10 ** 10, "--no-save", "--no-plots", "--epochs", 1])
    assert status == 1 and "Traceback" not in err and err.count("\n") == 1
    assert "DoubleArcReader(n_train=10000000000, n_test=2500000000) needs about" in err
    assert seconds < 1.0 and peak < 50 * 2 ** 20


@pytest.mark.parametrize("features, problem", [
    ([[3.0], [4.0]], r"got shape \(2, 1\)"),
    (np.ones(19), r"got shape \(19,\)"),
    (np.ones((2, 20)), r"got shape \(2, 20\)"),
    (np.full((2, 19), np.nan), "got NaN or inf"),
])
def test_predict_prices_refuses_rows_of_the_wrong_width(saved, features, problem):
    """[[3.0], [4.0]] was broadcast over the 19 features and priced at zero dollars."""
    with pytest.raises(ValueError, match=r"predict_prices: expected rows of 19 finite raw "
                                         r"features \(bedrooms, bathrooms, .*renovated\), "
                                         + problem):
        house_price.predict_prices(saved / "house.h5", features)
    with pytest.raises(ValueError, match=r"predict_prices: features: complex values"):
        house_price.predict_prices(saved / "house.h5", np.ones((1, 19)) * 1j)
    from datareaders.house import HousePriceReader
    raw = HousePriceReader(saved / "data", seed=2019).read_data().x_test[:3]
    prices = house_price.predict_prices(saved / "house.h5", raw.astype(np.float64))
    assert prices.shape == (3, 1) and np.all(prices > 1000)      # dollars


def test_predict_prices_checks_the_options_and_statistics_in_the_file(saved, tmp_path):
    path = with_data_option(saved, "house.h5", "price_scale", "cubic", tmp_path / "p.h5")
    with pytest.raises(ValueError, match=r"p\.h5: data option price_scale: expected one of"):
        house_price.predict_prices(path, np.ones((1, 19)))
    net = NeuralNet.load(saved / "house.h5")
    metadata = dict(net.metadata)
    metadata["preprocessing"] = {**metadata["preprocessing"], "x_range": None}
    net.save(tmp_path / "s.h5", metadata=metadata)
    with pytest.raises(ValueError, match=r"s\.h5: x_min and x_range must be saved together"):
        house_price.predict_prices(tmp_path / "s.h5", np.ones((1, 19)))
