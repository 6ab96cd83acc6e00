"""DataReader / ArrayDataReader: checks, normalization, one-hot, split, batches."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datareaders import ArrayDataReader
from framework.enums import NetType


def classification_reader(n=200, n_test=40, classes=3, seed=0, **kw):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.arange(n), rng.normal(size=(n, 2))])  # column 0 = row id
    y = rng.integers(0, classes, n)
    xt = rng.normal(size=(n_test, 3))
    yt = rng.integers(0, classes, n_test)
    return ArrayDataReader(x, y, xt, yt, **kw)


def test_array_reader_shapes_and_dtypes():
    r = classification_reader()
    assert r.x_train.dtype == np.float32 and r.x_train.shape == (200, 3)
    assert r.y_train.shape == (200, 1) and r.y_train.dtype.kind == "i"
    assert (r.num_train, r.num_validation, r.num_test, r.num_feature) == (200, 0, 40, 3)
    assert r.get_validation_set() is None
    assert r.get_test_set()[0].shape == (40, 3)


def test_array_reader_copies_user_arrays():
    x = np.ones((4, 2))
    r = ArrayDataReader(x, np.zeros(4), x[:2], np.zeros(2), dtype=np.float64)
    x[:] = 5
    assert np.all(r.x_train == 1)


@pytest.mark.parametrize("args, message", [
    ((np.ones((5, 2)), np.ones(4), np.ones((2, 2)), np.ones(2)), "y_train has 4"),
    ((np.ones(5), np.ones(5), np.ones((2, 1)), np.ones(2)), "at least 2-D"),
    ((np.ones((0, 2)), np.ones(0), np.ones((2, 2)), np.ones(2)), "empty"),
    ((np.ones((5, 2)), np.ones(5), np.ones((2, 3)), np.ones(2)), "x_test rows"),
])
def test_array_reader_rejects_bad_shapes(args, message):
    with pytest.raises(ValueError, match=message):
        ArrayDataReader(*args)


@pytest.mark.parametrize("which", ["x_train", "y_train", "x_test", "y_test"])
def test_array_reader_names_array_with_nan(which):
    arrays = {"x_train": np.ones((5, 2)), "y_train": np.ones((5, 1)),
              "x_test": np.ones((3, 2)), "y_test": np.ones((3, 1))}
    arrays[which][2, 0] = np.inf if which.startswith("y") else np.nan
    with pytest.raises(ValueError, match=f"{which} contains NaN or inf .*row 2"):
        ArrayDataReader(**arrays)


def test_joint_normalization_maps_train_and_test_to_one_scale():
    # the notes' example: 150-220 m² in train, 160-230 m² in test
    train = np.linspace(150, 220, 8).reshape(-1, 1)
    test = np.linspace(160, 230, 4).reshape(-1, 1)
    r = ArrayDataReader(train, train, test, test, dtype=np.float64)
    r.normalize_x()
    assert r.x_train.min() == 0 and r.x_test.max() == 1
    np.testing.assert_allclose(r.x_train.max(), 70 / 80)
    r = ArrayDataReader(train, train, test, test, dtype=np.float64)
    r.normalize_x(fit_on="train")
    assert r.x_train.max() == 1 and r.x_test.max() > 1
    np.testing.assert_allclose(r.transform_x([[185.0]]), [[0.5]])
    with pytest.raises(ValueError, match="fit_on"):
        r.normalize_x(fit_on="test")


def test_normalize_x_constant_column_and_global_mode():
    x = np.array([[1.0, 7.0], [3.0, 7.0]])
    r = ArrayDataReader(x, [0, 1], x, [0, 1])
    r.normalize_x()
    assert np.isfinite(r.x_train).all() and np.all(r.x_train[:, 1] == 0)
    r = ArrayDataReader(x, [0, 1], x, [0, 1])
    r.normalize_x(per_feature=False)
    np.testing.assert_allclose(r.x_train, [[0, 1], [1 / 3, 1]])


def test_normalize_includes_validation_set_made_earlier():
    r = classification_reader(dtype=np.float64)
    r.generate_validation_set(k=5)
    r.normalize_x()
    everything = np.vstack([r.x_train, r.x_val, r.x_test])
    assert everything.min(axis=0).tolist() == [0, 0, 0]
    assert everything.max(axis=0).tolist() == [1, 1, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitting_round_trip(dtype):
    rng = np.random.default_rng(1)
    y = rng.uniform(75_000, 7_700_000, size=(50, 2))
    yt = rng.uniform(80_000, 5_000_000, size=(10, 2))
    r = ArrayDataReader(rng.normal(size=(50, 3)), y, rng.normal(size=(10, 3)), yt, dtype=dtype)
    r.normalize_y(NetType.FITTING)
    assert 0 <= r.y_train.min() and r.y_train.max() <= 1 and r.y_train.dtype == dtype
    np.testing.assert_allclose(r.de_normalize_y(r.y_train), r.y_train_raw, rtol=1e-6)
    np.testing.assert_allclose(r.de_normalize_y(r.y_test), yt.astype(dtype), rtol=1e-6)
    assert r.num_category == 2 and r.num_output == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30),
       st.sampled_from(["all", "train"]))
def test_fitting_round_trip_property(values, fit_on):
    y = np.array(values).reshape(-1, 1)
    r = ArrayDataReader(np.zeros((len(y), 1)), y, np.zeros((1, 1)), y[:1], dtype=np.float64)
    r.normalize_y("fitting", fit_on=fit_on)
    np.testing.assert_allclose(r.de_normalize_y(r.y_train), y, rtol=1e-6,
                               atol=1e-9 * (np.abs(y).max() + 1))


def test_one_hot_and_labels():
    r = classification_reader(classes=3)
    r.normalize_y(NetType.MULTIPLE_CLASSIFIER)
    assert r.num_category == 3 and r.y_train.shape == (200, 3)
    assert r.y_train.dtype == np.float32
    np.testing.assert_array_equal(r.y_train.argmax(axis=1), r.y_train_raw.ravel())
    assert np.all(r.y_train.sum(axis=1) == 1)
    np.testing.assert_array_equal(r.de_normalize_y(r.y_test), r.y_test_raw)
    r.normalize_y("multiple", num_category=5)
    assert r.y_train.shape == (200, 5) and r.num_category == 5


def test_one_hot_input_and_float_labels_accepted():
    y = np.eye(3)[[0, 2, 1, 2]]
    r = ArrayDataReader(np.ones((4, 1)), y, np.ones((2, 1)), np.array([0.0, 2.0]))
    r.normalize_y("multiple")
    np.testing.assert_array_equal(r.y_train, y)


def test_labels_out_of_range_are_named():
    r = ArrayDataReader(np.ones((4, 1)), [0, 1, 7, -1], np.ones((1, 1)), [0])
    with pytest.raises(ValueError, match=r"y_train: labels \[-1, 7\].*0\.\.2"):
        r.normalize_y("multiple", num_category=3)
    r = ArrayDataReader(np.ones((3, 1)), [0.5, 1, 0], np.ones((1, 1)), [0])
    with pytest.raises(ValueError, match="whole numbers"):
        r.normalize_y("multiple")


def test_binary_labels():
    r = ArrayDataReader(np.ones((4, 1)), [0, 1, 1, 0], np.ones((2, 1)), [1, 0])
    r.normalize_y(NetType.BINARY_CLASSIFIER)
    assert r.y_train.shape == (4, 1) and r.y_train.dtype == np.float32
    np.testing.assert_array_equal(r.y_train.ravel(), [0, 1, 1, 0])
    assert r.num_category == 2
    np.testing.assert_array_equal(r.de_normalize_y([[0.2], [0.9]]), [[0], [1]])
    r = ArrayDataReader(np.ones((3, 1)), [0, 2, 1], np.ones((1, 1)), [0])
    with pytest.raises(ValueError, match=r"labels \[2\].*0\.\.1"):
        r.normalize_y("binary")


@pytest.mark.parametrize("normalize_first", [False, True])
def test_validation_split_sizes_disjoint_and_stratified(normalize_first):
    n = 1000
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    x = np.arange(n, dtype=float).reshape(-1, 1)
    r = ArrayDataReader(x, y, x[:10], y[:10], dtype=np.float64)
    if normalize_first:
        r.normalize_y("multiple")
    r.generate_validation_set(k=10, seed=3)
    assert (r.num_train, r.num_validation) == (900, 100)
    ids_train, ids_val = r.x_train.ravel(), r.x_val.ravel()
    assert not set(ids_train) & set(ids_val)
    assert sorted(np.r_[ids_train, ids_val]) == list(range(n))
    # stratified: the 10 % minority class is 10 % of validation
    assert int(r.y_val_raw.sum()) == 10
    np.testing.assert_array_equal(r.y_train_raw.ravel(), y[ids_train.astype(int)])
    np.testing.assert_array_equal(r.y_val_raw.ravel(), y[ids_val.astype(int)])
    assert r.get_validation_set()[1].shape[0] == 100


def test_validation_split_is_reproducible():
    def split(seed):
        r = classification_reader()
        r.generate_validation_set(k=10, seed=seed)
        return r.x_val[:, 0].copy()

    np.testing.assert_array_equal(split(7), split(7))
    assert not np.array_equal(split(7), split(8))


def test_validation_split_errors():
    r = classification_reader(n=5)
    with pytest.raises(ValueError, match="no validation rows"):
        r.generate_validation_set(k=10)
    with pytest.raises(ValueError, match="k must be"):
        r.generate_validation_set(k=1)
    r = classification_reader()
    r.generate_validation_set()
    with pytest.raises(RuntimeError, match="already"):
        r.generate_validation_set()
    r.read_data()
    r.generate_validation_set()


def test_regression_split_is_unstratified():
    rng = np.random.default_rng(0)
    r = ArrayDataReader(rng.normal(size=(95, 2)), rng.normal(size=95), np.ones((2, 2)),
                        np.ones(2))
    r.generate_validation_set(k=10)
    assert (r.num_train, r.num_validation) == (86, 9)


def collect(reader, batch_size, rng):
    return [(x.copy(), y.copy()) for x, y in reader.batches(batch_size, rng)]


def test_batches_same_seed_same_order():
    r = classification_reader(n=103)
    r.normalize_y("multiple")
    a = collect(r, 10, np.random.default_rng(42))
    b = collect(r, 10, np.random.default_rng(42))
    c = collect(r, 10, np.random.default_rng(43))
    assert len(a) == 11 and a[-1][0].shape == (3, 3)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    ids = np.concatenate([x[:, 0] for x, _ in a])
    assert sorted(ids) == list(range(103))  # every row exactly once
    # x and y stay paired
    for x, y in a:
        np.testing.assert_array_equal(y.argmax(axis=1), r.y_train_raw[x[:, 0].astype(int), 0])


def test_batches_are_views_of_one_buffer():
    r = classification_reader(n=50)
    rng = np.random.default_rng(0)
    first = [x for x, _ in r.batches(16, rng)]
    base = first[0].base
    # one buffer of two batches (the second half takes prefetched batches);
    # the training set is never copied whole
    assert all(x.base is base for x in first) and base.shape == (32, 3)
    second = [x for x, _ in r.batches(16, rng)]
    assert second[0].base is base  # no reallocation from one epoch to the next
    ordered = np.concatenate([x for x, _ in r.batches(50, None)])
    np.testing.assert_array_equal(ordered, r.x_train)


@pytest.mark.parametrize("size", [0, -3, 2.5, None])
def test_batches_reject_bad_size(size):
    with pytest.raises(ValueError, match="batch_size"):
        classification_reader().batches(size, None)


def test_astype_and_shuffle():
    r = classification_reader()
    r.normalize_y("multiple")
    x_before = r.x_train
    assert r.astype(np.float32).x_train is x_before  # no-op
    r.astype(np.float64)
    assert r.x_train.dtype == r.y_train.dtype == r.x_test.dtype == np.float64
    assert r.y_train_raw.dtype.kind == "i"
    r.shuffle(np.random.default_rng(0))
    ids = r.x_train[:, 0].astype(int)
    assert sorted(ids) == list(range(200)) and not np.array_equal(ids, np.arange(200))
    np.testing.assert_array_equal(r.y_train.argmax(axis=1), r.y_train_raw.ravel())


def test_empty_test_set_and_reread_resets_state():
    rng = np.random.default_rng(0)
    r = ArrayDataReader(rng.random((10, 2)), np.arange(10) % 2, np.zeros((0, 2)),
                        np.zeros(0, int))
    r.normalize_x()
    r.normalize_y("binary")
    assert r.get_test_set()[0].shape == (0, 2) and r.y_test.shape == (0, 1)
    r.generate_validation_set(k=5)
    r.read_data()
    assert r.net_type is None and r.x_val is None and r.num_train == 10
    assert r.y_train.dtype.kind == "i"
    with pytest.raises(RuntimeError, match="normalize_y"):
        r.de_normalize_y([[0.5]])


def test_reader_needs_read_data_first():
    from datareaders import CurveFittingReader
    r = CurveFittingReader()
    with pytest.raises(RuntimeError, match="read_data"):
        r.batches(4, None)
    assert r.get_validation_set() is None and r.num_train == 0


@pytest.mark.parametrize("blas_threads", [1, 2])
def test_prefetched_batches_equal_in_line_batches(monkeypatch, blas_threads):
    """With one BLAS thread the next batch is gathered on a background thread:
    same batches, same order; an epoch cut short leaves no gather running."""
    from framework import threads
    from framework.infra import batches
    r = classification_reader(n=103)
    r.normalize_y("multiple")
    monkeypatch.setattr(batches, "PREFETCH_BYTES", 1 << 40)
    expected = collect(r, 10, np.random.default_rng(7))
    monkeypatch.setattr(batches, "PREFETCH_BYTES", 0)
    with threads.limit(blas_threads):
        assert batches._prefetch_pays() == (blas_threads == 1 and len(os.sched_getaffinity(0)) > 1)
        got = collect(r, 10, np.random.default_rng(7))
        for i, (x, _) in enumerate(r.batches(10, np.random.default_rng(1))):
            if i == 2:
                break
        again = collect(r, 10, np.random.default_rng(7))
    for batches in (got, again):
        assert len(batches) == len(expected)
        for (xa, ya), (xb, yb) in zip(batches, expected):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_normalize_x_refuses_an_unknown_method():
    reader = ArrayDataReader(np.ones((4, 2)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"method: expected one of \['min_max', 'z_score'\], "
                                         r"got 'zscore'"):
        reader.normalize_x(method="zscore")
