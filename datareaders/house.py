"""King County house sales (Kaggle ``kc_house_data.csv``), parsed without pandas.

Features, chosen as a house-price practitioner would:

- kept as they are: bedrooms, bathrooms, sqft_living, sqft_lot, floors,
  waterfront, view, condition, grade, sqft_above, sqft_basement, lat, long,
  sqft_living15, sqft_lot15;
- from the sale date: ``sale_date`` as a decimal year (2014.78), which
  captures the market trend over the 13 months of sales;
- from the years: ``age`` at sale, ``years_since_renovation`` (since the later
  of building and renovation) and ``renovated`` (0/1). The raw yr_renovated
  is mostly 0, which a min-max scale turns into a meaningless gap;
- dropped: ``id`` (an identifier) and ``zipcode`` (a number whose order means
  nothing; lat/long already locate the house, and one-hot would add 70
  sparse columns).

The split is a seeded 4:1 shuffle; X and Y are normalized jointly on train +
test by the base class, and ``de_normalize_y`` returns dollars, also with
``log_price=True`` (the net then fits log(price), as practitioners do).
"""
import datetime
import math
import re

import numpy as np

from framework.infra.validation import check_flag, check_integer

from . import csvfile
from .base import DataReader
from .download import RemoteFile, ensure_file, resolve_data_dir
from .errors import DataFileError
from .npzfile import read_npz_pair

CSV_FILE = RemoteFile(
    "kc_house_data.csv",
    ("https://raw.githubusercontent.com/karan-shah/usa-housing-dataset/"
     "1d2975926d8a2f66340c704ecab7486a5c86e6e4/kc_house_data.csv",),
    md5="b1e7bdf4f3e61792c0979a5697dc7145",
    sha256="d0875baa0251b21d4bdc9d2ae940a4fe0bb6009824f23dd0e2a5b2bf04557b7e")
DIRECT = ("bedrooms", "bathrooms", "sqft_living", "sqft_lot", "floors", "waterfront",
          "view", "condition", "grade", "sqft_above", "sqft_basement", "lat", "long",
          "sqft_living15", "sqft_lot15")
FEATURES = DIRECT + ("sale_date", "age", "years_since_renovation", "renovated")
NPZ_FEATURES = ("bedrooms", "bathrooms", "sqft_living", "sqft_lot", "floors",
                "waterfront", "condition", "grade", "sqft_above", "sqft_basement",
                "yr_built_or_renovated", "lat", "long")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(T\d{6})?$")


def _decimal_year(text):
    match = _DATE.match(text)
    if not match:
        raise ValueError("expected a date like 20141013T000000")
    day = datetime.date(*(int(g) for g in match.groups()[:3]))
    start = datetime.date(day.year, 1, 1)
    length = (datetime.date(day.year + 1, 1, 1) - start).days
    return day.year + (day - start).days / length


def read_house_csv(path, dtype=np.float32):
    """Return (x (N, 19) float64, price (N,) float64) and check every cell.

    A bad cell (not a number, or a feature ``dtype`` cannot hold) is a
    ``DataFileError`` naming the line, the column and the value; a short or
    long row, or a line the CSV parser cannot read, names its line too. A
    byte-order mark (Excel writes one) is dropped, so the first column keeps
    its name; bytes that are not UTF-8 are an error naming the file.
    """
    try:
        return _read_house_rows(path, dtype)
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
                            f"cannot be decoded ({exc.reason}); save the CSV as UTF-8") \
            from None
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    except OSError as exc:
        raise DataFileError(path, f"cannot read: {exc.strerror or exc}") from None


def _read_house_rows(path, dtype):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csvfile.records(path, f)
        _, header = next(reader, (0, None))
        if header is None:
            raise DataFileError(path, "empty file")
        need = ("date", "price", "yr_built", "yr_renovated") + DIRECT
        missing = [c for c in need if c not in header]
        if missing:
            raise DataFileError(path, f"line 1: header lacks column(s) {missing}")
        col = {name: header.index(name) for name in need}
        rows, prices = [], []
        for line, fields in reader:
            if len(fields) != len(header):
                raise DataFileError(path, f"line {line}: {len(fields)} fields, "
                                    f"expected {len(header)}")
            rows.append(_parse_row(path, line, fields, col, dtype))
            prices.append(rows[-1].pop())
    if not rows:
        raise DataFileError(path, "no data rows")
    return np.array(rows, dtype=np.float64), np.array(prices, dtype=np.float64)


def _parse_row(path, line, fields, col, dtype):
    def number(name):
        text = fields[col[name]]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataFileError(path, f"line {line}: column {name!r}: bad value {text!r}")
        return csvfile.check_in_range(path, f"line {line}: column {name!r}", text, value,
                                      dtype)

    try:
        sold = _decimal_year(fields[col["date"]])
    except ValueError as exc:
        raise DataFileError(path, f"line {line}: column 'date': bad value "
                            f"{fields[col['date']]!r} ({exc})") from None
    built, renovated = number("yr_built"), number("yr_renovated")
    row = [number(name) for name in DIRECT]
    row += [sold, sold - built, sold - max(built, renovated), float(renovated > 0)]
    row.append(number("price"))
    return row


class HousePriceReader(DataReader):
    """King County prices: the CSV with a seeded 4:1 split, or the ch14 npz files.

    ``HousePriceReader(data_dir)`` reads ``<data>/house/kc_house_data.csv``;
    ``HousePriceReader.from_npz(train, test)`` reads the textbook's 13-feature
    files. y is the price in dollars until ``normalize_y(NetType.FITTING)``.
    """

    def __init__(self, data_dir=None, seed=0, log_price=False, download=False,
                 dtype=np.float32, csv_path=None, train_file=None, test_file=None,
                 progress=True):
        super().__init__(dtype)
        owner = type(self).__name__
        self.seed = check_integer(f"{owner}: seed", seed, minimum=0)
        self.log_price = check_flag(f"{owner}: log_price", log_price)
        self.download = check_flag(f"{owner}: download", download)
        self.progress = check_flag(f"{owner}: progress", progress)
        self.csv_path = csv_path
        self.folder = resolve_data_dir(data_dir, "house")
        self.train_file, self.test_file = train_file, test_file
        self.feature_names = NPZ_FEATURES if train_file is not None else FEATURES

    @classmethod
    def from_npz(cls, train_file, test_file, **kwargs):
        """The textbook's own house files (train and test .npz) instead of the Kaggle CSV."""
        return cls(train_file=train_file, test_file=test_file, **kwargs)

    def _load(self):
        if self.train_file is not None:
            n = len(NPZ_FEATURES)
            return (*read_npz_pair(self.train_file, num_feature=n),
                    *read_npz_pair(self.test_file, num_feature=n))
        path = self.csv_path or ensure_file(CSV_FILE, self.folder, self.download,
                                            self.progress)
        x, price = read_house_csv(path, self.dtype)
        perm = np.random.default_rng(self.seed).permutation(x.shape[0])
        test, train = perm[:x.shape[0] // 5], perm[x.shape[0] // 5:]
        return x[train], price[train], x[test], price[test]

    def _y_forward(self, y):
        if self.log_price:
            if np.any(y <= 0):
                raise ValueError("log_price needs positive prices")
            return np.log(y)
        return y

    def _y_inverse(self, y):
        return np.exp(y) if self.log_price else y
