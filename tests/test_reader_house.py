"""King County house-price reader: CSV parsing, split, normalization, npz, bad rows."""
import numpy as np
import pytest
from reader_files import house_rows, real_data_dir, row_price, write_house_csv

from datareaders import DataFileError, HousePriceReader
from datareaders.download import file_digest
from datareaders.house import CSV_FILE, FEATURES, read_house_csv
from framework.enums import NetType


@pytest.fixture
def rows():
    return house_rows(50)


@pytest.fixture
def csv_dir(tmp_path, rows):
    write_house_csv(tmp_path / "house" / "kc_house_data.csv", rows)
    return tmp_path


def test_parses_kaggle_format(tmp_path):
    rows = house_rows(3)
    rows[0][2] = "1.225e+006"
    rows[0][1] = '"20141013T000000"'
    rows[0][14], rows[0][15] = "1955", "0"
    rows[1][14], rows[1][15] = "1950", "1991"
    rows[1][1] = '"20150101T000000"'
    x, price = read_house_csv(write_house_csv(tmp_path / "h.csv", rows))
    assert x.shape == (3, len(FEATURES)) == (3, 19) and price[0] == 1_225_000
    col = {name: i for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(x[0, col["sale_date"]], 2014 + 285 / 365)
    np.testing.assert_allclose(x[0, col["age"]], 2014 + 285 / 365 - 1955)
    assert x[0, col["renovated"]] == 0 and x[1, col["renovated"]] == 1
    np.testing.assert_allclose(x[1, col["years_since_renovation"]], 2015 - 1991)
    assert x[0, col["floors"]] == float(rows[0][7].strip('"'))  # quoted field


def test_split_is_seeded_four_to_one_and_disjoint(csv_dir, rows):
    r = HousePriceReader(csv_dir, seed=1).read_data()
    assert (r.num_train, r.num_test, r.num_feature) == (40, 10, 19)
    prices = sorted(row_price(row) for row in rows)
    assert sorted(np.r_[r.y_train.ravel(), r.y_test.ravel()]) == pytest.approx(prices)
    same = HousePriceReader(csv_dir, seed=1).read_data()
    other = HousePriceReader(csv_dir, seed=2).read_data()
    np.testing.assert_array_equal(r.x_test, same.x_test)
    assert not np.array_equal(r.x_test, other.x_test)
    lat = FEATURES.index("lat")
    keys = lambda x: {tuple(row) for row in x[:, [lat, 2]]}  # noqa: E731
    assert not keys(r.x_train) & keys(r.x_test)


@pytest.mark.parametrize("log_price", [False, True])
def test_joint_normalization_round_trips_to_dollars(csv_dir, log_price):
    r = HousePriceReader(csv_dir, log_price=log_price).read_data()
    r.normalize_x()
    r.normalize_y(NetType.FITTING)
    both_x = np.vstack([r.x_train, r.x_test])
    assert both_x.min() == 0 and both_x.max() == 1
    both_y = np.vstack([r.y_train, r.y_test])
    assert both_y.min() == 0 and both_y.max() == 1
    np.testing.assert_allclose(r.de_normalize_y(r.y_train), r.y_train_raw, rtol=1e-6)
    np.testing.assert_allclose(r.de_normalize_y(r.y_test), r.y_test_raw, rtol=1e-6)
    assert r.y_test_raw.min() >= 80_000  # raw labels stay in dollars


@pytest.mark.parametrize("column, value, name", [
    (2, "12O000", "price"), (5, "", "sqft_living"), (17, "nan", "lat"),
    (1, '"2014-10-13"', "date"), (1, '"20141399T000000"', "date"),
])
def test_bad_value_names_line_and_column(tmp_path, column, value, name):
    rows = house_rows(6)
    rows[3][column] = value
    path = write_house_csv(tmp_path / "h.csv", rows)
    with pytest.raises(DataFileError, match=f"h.csv: line 5: column '{name}': bad value"):
        HousePriceReader(csv_path=path).read_data()


def test_bad_row_length_and_header(tmp_path):
    rows = house_rows(4)
    rows[1] = rows[1][:-2]
    path = write_house_csv(tmp_path / "h.csv", rows)
    with pytest.raises(DataFileError, match="line 3: 19 fields, expected 21"):
        read_house_csv(path)
    path.write_text("id,date,price\n1,2,3\n")
    with pytest.raises(DataFileError, match="line 1: header lacks"):
        read_house_csv(path)
    path.write_text("")
    with pytest.raises(DataFileError, match="empty"):
        read_house_csv(path)


def test_missing_csv_gives_url_checksum_and_path(tmp_path):
    with pytest.raises(DataFileError) as info:
        HousePriceReader(tmp_path).read_data()
    message = str(info.value)
    assert CSV_FILE.urls[0] in message and CSV_FILE.sha256 in message
    assert str(tmp_path / "house" / "kc_house_data.csv") in message


def test_npz_files(tmp_path):
    rng = np.random.default_rng(0)
    train, test = tmp_path / "train.npz", tmp_path / "test.npz"
    np.savez(train, data=rng.random((8, 13)), label=rng.uniform(1e5, 1e6, (8, 1)))
    np.savez(test, data=rng.random((2, 13)), label=rng.uniform(1e5, 1e6, (2, 1)))
    r = HousePriceReader.from_npz(train, test).read_data()
    assert (r.num_train, r.num_test, r.num_feature) == (8, 2, 13)
    assert len(r.feature_names) == 13
    np.savez(test, data=rng.random((2, 12)), label=rng.random((2, 1)))
    with pytest.raises(DataFileError, match="expected 13 feature columns"):
        HousePriceReader.from_npz(train, test).read_data()


def test_real_csv():
    folder = real_data_dir("house")
    assert file_digest(folder / "kc_house_data.csv") == CSV_FILE.sha256
    r = HousePriceReader(folder.parent).read_data()
    assert r.num_train + r.num_test == 21_613 and r.num_test == 4322
    prices = np.r_[r.y_train_raw.ravel(), r.y_test_raw.ravel()]
    assert prices.max() == 7_700_000 and prices.min() == 75_000
    r.normalize_x()
    r.normalize_y("fitting")
    r.generate_validation_set()
    assert (r.num_train, r.num_validation) == (15_562, 1729)
    np.testing.assert_allclose(r.de_normalize_y(r.y_test), r.y_test_raw, rtol=1e-6)


def test_real_textbook_npz():
    folder = real_data_dir("aiedu")
    r = HousePriceReader.from_npz(folder / "ch14.house.train.npz",
                                  folder / "ch14.house.test.npz").read_data()
    assert (r.num_train, r.num_test, r.num_feature) == (17_291, 4322, 13)
