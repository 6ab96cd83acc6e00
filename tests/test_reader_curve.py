"""Curve-fitting reader: seeded generation, npz files, round trip."""
import numpy as np
import pytest
from reader_files import real_data_dir

from datareaders import CurveFittingReader, DataFileError
from datareaders.curve import curve
from framework.enums import NetType


def test_generated_set_follows_the_textbook():
    r = CurveFittingReader(seed=3).read_data()
    assert (r.num_train, r.num_test, r.num_feature) == (1000, 200, 1)
    assert r.x_train.dtype == np.float32 and r.y_train.shape == (1000, 1)
    x = r.x_train.astype(np.float64)
    assert 0 <= x.min() and x.max() <= 1
    residual = r.y_train - curve(x)
    assert np.abs(residual).max() <= 0.05 + 1e-6 and residual.std() > 0.02
    np.testing.assert_allclose(r.x_test.ravel(), np.linspace(0, 1, 200), atol=1e-7)
    np.testing.assert_allclose(r.y_test, curve(np.linspace(0, 1, 200)).reshape(-1, 1),
                               atol=1e-6)


def test_seed_reproducible():
    a = CurveFittingReader(seed=5, n_train=50).read_data()
    b = CurveFittingReader(seed=5, n_train=50).read_data()
    c = CurveFittingReader(seed=6, n_train=50).read_data()
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_round_trip_and_batches():
    r = CurveFittingReader(n_train=64, dtype=np.float64).read_data()
    r.normalize_x()
    r.normalize_y(NetType.FITTING)
    assert r.y_train.min() >= 0 and r.y_train.max() <= 1
    np.testing.assert_allclose(r.de_normalize_y(r.y_train), r.y_train_raw, rtol=1e-6)
    np.testing.assert_allclose(r.de_normalize_y(r.y_test), r.y_test_raw, rtol=1e-6)
    assert [x.shape[0] for x, _ in r.batches(30, np.random.default_rng(0))] == [30, 30, 4]


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_reads_npz_files(tmp_path):
    x = np.linspace(0, 1, 7).reshape(-1, 1)
    train = write_npz(tmp_path / "train.npz", data=x, label=curve(x))
    test = write_npz(tmp_path / "test.npz", data=x[:3].ravel(), label=curve(x[:3]).ravel())
    r = CurveFittingReader(train, test, dtype=np.float64).read_data()
    np.testing.assert_array_equal(r.x_train, x)
    assert r.x_test.shape == (3, 1) and r.y_test.shape == (3, 1)


@pytest.mark.parametrize("arrays, message", [
    ({"data": np.ones((3, 1)), "y": np.ones((3, 1))}, "missing key.*label"),
    ({"data": np.ones((3, 1)), "label": np.ones((2, 1))}, "matching rows"),
    ({"data": np.ones((3, 2)), "label": np.ones((3, 1))}, "expected 1 feature"),
    ({"data": np.array([[1.0], [np.nan]]), "label": np.ones((2, 1))}, "NaN"),
    ({"data": np.array([{"a": 1}], dtype=object), "label": np.ones(1)}, "npz"),
])
def test_bad_npz_files(tmp_path, arrays, message):
    train = write_npz(tmp_path / "train.npz", **arrays)
    ok = write_npz(tmp_path / "ok.npz", data=np.ones((2, 1)), label=np.ones((2, 1)))
    with pytest.raises(DataFileError, match=message):
        CurveFittingReader(train, ok).read_data()


def test_not_a_zip_and_missing_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataFileError, match="bad.npz"):
        CurveFittingReader(bad, bad).read_data()
    with pytest.raises(DataFileError, match="not found"):
        CurveFittingReader(tmp_path / "none.npz", bad).read_data()
    with pytest.raises(ValueError, match="both"):
        CurveFittingReader(train_file=bad)


def test_real_textbook_files():
    folder = real_data_dir("aiedu")
    r = CurveFittingReader(folder / "ch09_2.train.npz", folder / "ch09_2.test.npz").read_data()
    assert (r.num_train, r.num_test) == (1000, 200)
    residual = r.y_train - curve(r.x_train.astype(np.float64))
    assert np.abs(residual).max() <= 0.05 + 1e-6
    np.testing.assert_allclose(r.y_test, curve(r.x_test.astype(np.float64)), atol=1e-6)
