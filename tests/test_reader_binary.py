"""The binary-classification readers: the generated double arc and the breast-cancer files.

The breast-cancer tests write tiny files in both real layouts (scikit-learn's
CSV with its ``count,30,malignant,benign`` header, and UCI's ``wdbc.data``
with id and M/B diagnosis) holding the same values, so a parser that passes
here reads the real files; the real file is checked too when it is present.
"""
import numpy as np
import pytest
from reader_files import real_data_dir

from datareaders.breast_cancer import (BreastCancerReader, read_breast_cancer,
                                       stratified_split)
from datareaders.double_arc import DoubleArcReader, double_arc
from datareaders.errors import DataFileError
from framework.enums import NetType


# ------------------------------------------------------------------ double arc
def test_double_arc_is_float32_balanced_and_repeatable():
    reader = DoubleArcReader(n_train=30, n_test=10, seed=4).read_data()
    assert reader.x_train.shape == (60, 2) and reader.x_test.shape == (20, 2)
    assert reader.x_train.dtype == np.float32
    assert np.bincount(reader.y_train_raw.ravel()).tolist() == [30, 30]
    assert np.bincount(reader.y_test_raw.ravel()).tolist() == [10, 10]
    again = DoubleArcReader(n_train=30, n_test=10, seed=4).read_data()
    np.testing.assert_array_equal(reader.x_train, again.x_train)
    other = DoubleArcReader(n_train=30, n_test=10, seed=5).read_data()
    assert not np.array_equal(reader.x_train, other.x_train)


def test_double_arc_follows_the_textbook_formula():
    rng = np.random.default_rng(0)
    x, labels = double_arc(50, rng, noise=0.25, gap=0.65)
    t = np.linspace(0, np.pi, 50)
    lower, upper = x[labels.ravel() == 0], x[labels.ravel() == 1]
    np.testing.assert_allclose(lower[:, 0], t)
    np.testing.assert_allclose(upper[:, 0], t)
    # each y is sin(x) (+ gap) plus noise within +-noise/2
    assert np.all(np.abs(lower[:, 1] - np.sin(t)) <= 0.125)
    assert np.all(np.abs(upper[:, 1] - np.sin(t) - 0.65) <= 0.125)
    # so the arcs are at least gap - noise apart at every x
    assert np.min(upper[:, 1] - lower[:, 1]) >= 0.65 - 0.25
    noiseless, _ = double_arc(5, rng, noise=0.0, gap=1.0)
    np.testing.assert_allclose(noiseless[5:, 1] - noiseless[:5, 1], 1.0)


def test_double_arc_prepares_for_a_binary_net():
    reader = DoubleArcReader(n_train=20, n_test=5).read_data()
    reader.normalize_x()
    reader.normalize_y(NetType.BINARY_CLASSIFIER)
    assert reader.y_train.shape == (40, 1) and set(np.unique(reader.y_train)) == {0.0, 1.0}
    assert reader.x_train.min() >= 0 and reader.x_train.max() <= 1


@pytest.mark.parametrize("kwargs, match", [({"n_train": 0}, "n_train"),
                                            ({"n_test": 2.5}, "n_test"),
                                            ({"noise": -1.0}, "noise"),
                                            ({"gap": float("nan")}, "gap")])
def test_double_arc_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DoubleArcReader(**kwargs)


# --------------------------------------------------------------- breast cancer
def _samples(n_malignant=8, n_benign=12, seed=0):
    """Distinct float features (30 per row) and labels 0 (malignant) / 1 (benign)."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * n_malignant + [1] * n_benign)
    x = np.round(rng.uniform(0.01, 30.0, (labels.size, 30)) + labels[:, None] * 5, 4)
    return x, labels


def write_sklearn_csv(path, x, labels, header=None):
    rows = [header or f"{len(x)},30,malignant,benign"]
    rows += [",".join(repr(float(v)) for v in row) + f",{label}" for row, label in zip(x, labels)]
    path.write_text("\n".join(rows) + "\n")
    return path


def write_wdbc(path, x, labels):
    rows = [f"{842300 + i},{'MB'[label]}," + ",".join(repr(float(v)) for v in row)
            for i, (row, label) in enumerate(zip(x, labels))]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_both_layouts_read_to_the_same_arrays(tmp_path):
    x, labels = _samples()
    a = read_breast_cancer(write_sklearn_csv(tmp_path / "breast_cancer.csv", x, labels))
    b = read_breast_cancer(write_wdbc(tmp_path / "wdbc.data", x, labels))
    for got in (a, b):
        np.testing.assert_array_equal(got[0], x)
        assert got[1].shape == (20, 1) and got[1].ravel().tolist() == labels.tolist()


def test_split_is_stratified_seeded_and_disjoint(tmp_path):
    x, labels = _samples(n_malignant=20, n_benign=30)
    (tmp_path / "breast-cancer").mkdir()
    write_sklearn_csv(tmp_path / "breast-cancer" / "breast_cancer.csv", x, labels)
    reader = BreastCancerReader(tmp_path, test_fraction=0.2, seed=3).read_data()
    assert np.bincount(reader.y_test_raw.ravel()).tolist() == [4, 6]
    assert np.bincount(reader.y_train_raw.ravel()).tolist() == [16, 24]
    assert reader.x_train.dtype == np.float32
    rows = np.concatenate((reader.x_train, reader.x_test))
    assert len({tuple(r) for r in rows}) == 50          # every sample once
    again = BreastCancerReader(tmp_path, seed=3).read_data()
    np.testing.assert_array_equal(again.x_test, reader.x_test)
    other = BreastCancerReader(tmp_path, seed=4).read_data()
    assert not np.array_equal(other.x_test, reader.x_test)


def test_stratified_split_rounds_per_class():
    labels = np.array([0] * 212 + [1] * 357)
    train, test = stratified_split(labels, 0.2, np.random.default_rng(0))
    assert np.bincount(labels[test]).tolist() == [42, 71]
    assert np.array_equal(np.sort(np.concatenate((train, test))), np.arange(569))
    with pytest.raises(ValueError, match="empty test set"):
        stratified_split(np.array([0, 1]), 0.1, np.random.default_rng(0))


def test_the_file_is_found_by_argument_environment_and_fallback(tmp_path, monkeypatch):
    x, labels = _samples()
    folder = tmp_path / "breast-cancer"
    folder.mkdir()
    write_wdbc(folder / "wdbc.data", x, labels)            # only the UCI file
    monkeypatch.setenv("MINIFRAMEWORK_DATA", str(tmp_path))
    assert BreastCancerReader().file() == folder / "wdbc.data"
    assert BreastCancerReader(folder).file() == folder / "wdbc.data"
    write_sklearn_csv(folder / "breast_cancer.csv", x, labels)
    assert BreastCancerReader(tmp_path).file() == folder / "breast_cancer.csv"
    explicit = write_wdbc(tmp_path / "mine.data", x, labels)
    assert BreastCancerReader(path=explicit).file() == explicit
    monkeypatch.setenv("MINIFRAMEWORK_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataFileError, match=r"nowhere.*breast_cancer\.csv: file not found "
                                            r"\(nor wdbc\.data"):
        BreastCancerReader().read_data()


def _break(path, line, text):
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("layout, line, edit, match", [
    ("sklearn", 3, lambda f: f[:5] + ["abc"] + f[6:], r"line 3, column 6: cannot read 'abc'"),
    ("sklearn", 4, lambda f: f[:-2] + f[-1:], r"line 4: expected 31 fields .* found 30"),
    ("sklearn", 2, lambda f: f[:-1] + ["2"], r"line 2: unknown label '2', expected 0"),
    ("sklearn", 5, lambda f: f[:3] + ["inf"] + f[4:], r"line 5, column 4: .*'inf'"),
    ("wdbc", 2, lambda f: f[:1] + ["X"] + f[2:], r"line 2: unknown diagnosis 'X', expected M"),
    ("wdbc", 6, lambda f: f + ["1.0"], r"line 6: expected 32 fields .* found 33"),
    ("wdbc", 1, lambda f: f[:10] + [""] + f[11:], r"line 1, column 11: cannot read ''"),
])
def test_a_bad_row_names_the_file_and_line(tmp_path, layout, line, edit, match):
    x, labels = _samples()
    writer = write_sklearn_csv if layout == "sklearn" else write_wdbc
    path = writer(tmp_path / "data.csv", x, labels)
    fields = path.read_text().splitlines()[line - 1].split(",")
    _break(path, line, ",".join(edit(fields)))
    with pytest.raises(DataFileError, match=match) as error:
        read_breast_cancer(path)
    assert str(path) in str(error.value)


def test_a_header_that_does_not_match_is_refused(tmp_path):
    x, labels = _samples()
    path = write_sklearn_csv(tmp_path / "a.csv", x, labels, header="25,30,malignant,benign")
    with pytest.raises(DataFileError, match="header promises 25 samples but 20 follow"):
        read_breast_cancer(path)
    path = write_sklearn_csv(tmp_path / "b.csv", x, labels, header="20,30,benign,malignant")
    with pytest.raises(DataFileError, match="line 1: header"):
        read_breast_cancer(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataFileError, match="empty file"):
        read_breast_cancer(tmp_path / "empty.csv")


def test_z_score_uses_the_training_rows_and_transforms_new_samples(tmp_path):
    x, labels = _samples(n_malignant=20, n_benign=30)
    path = write_wdbc(tmp_path / "wdbc.data", x, labels)
    reader = BreastCancerReader(path=path, seed=1).read_data()
    raw_train, raw_test = reader.x_train.astype(np.float64), reader.x_test.copy()
    reader.normalize_x(fit_on="train", method="z_score")
    np.testing.assert_allclose(reader.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(reader.x_train.std(axis=0), 1, atol=1e-5)
    expected = (raw_test - raw_train.mean(axis=0)) / raw_train.std(axis=0)
    np.testing.assert_allclose(reader.x_test, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reader.transform_x(raw_test), expected, rtol=1e-5, atol=1e-5)


def test_bad_test_fraction_is_refused():
    with pytest.raises(ValueError, match="test_fraction"):
        BreastCancerReader(test_fraction=1.0)


def test_the_real_file_has_569_samples_in_two_classes():
    folder = real_data_dir("breast-cancer")
    x, labels = read_breast_cancer(folder / "breast_cancer.csv")
    assert x.shape == (569, 30)
    assert np.bincount(labels.ravel()).tolist() == [212, 357]
    assert x[0, 0] == 17.99 and x[0, 29] == 0.1189        # first row, as published
    reader = BreastCancerReader(folder.parent, seed=1).read_data()
    assert reader.num_test == 113 and reader.num_train == 456
