"""The data sources a comparison config may name, registered into the framework.

``framework.infra.compare`` knows no data set and never imports this package; it
looks a config's ``{"source": "mnist"}`` up in its registry, which
``import datareaders`` fills with the sources below. A source reads its set
(``options`` are its reader's keyword arguments) and then prepares it the
same way for every run:

- ``train_size`` rows (default: all but the validation rows) are drawn from
  the training file by the *data* seed (``seed``, never the run's: repeats
  differ in weights and batches, not in which samples they see);
- ``val_size`` further training rows are held out for validation, or, without
  it, one fold in ``val_k`` (10) is split off; the test set is never used;
- ``test_size`` keeps a seeded subset of the test set (evaluated only if a run
  asks for ``evaluate_test``);
- x and y are normalized with statistics of the training rows only
  (``per_feature`` for x), then cast to the net's dtype.

Your own data joins the same way; the function must be at the top level of
an importable module or script so that workers find it::

    from datareaders.sources import reader_source

    @reader_source("my_data")
    def my_data(path):
        return MyReader(path).read_data()
"""
import inspect

import numpy as np

from framework.infra.compare.sources import register_source
from framework.infra.validation import check_flag, check_integer

from .base import ArrayDataReader
from .breast_cancer import BreastCancerReader
from .clusters import GaussianClustersReader
from .cifar import CifarImageReader
from .curve import CurveFittingReader
from .double_arc import DoubleArcReader
from .house import HousePriceReader
from .mnist import MnistImageDataReader
from .npzfile import read_npz_pair

SPLIT_KEYS = ("seed", "train_size", "val_size", "test_size", "val_k", "per_feature")


class ReaderSource:
    """A data source from ``make_reader(**options) -> read DataReader``, prepared
    as the module docstring says. With ``builds=True`` the function only builds
    the reader (its constructor checks the options, reads nothing): the source
    reads it, and ``check`` builds one to check the options before any run."""

    def __init__(self, make_reader, name, builds=False):
        self.make_reader, self.name, self.builds = make_reader, name, builds
        # the framework's registry tells a re-registration from a clash by these
        self.__module__, self.__qualname__ = make_reader.__module__, make_reader.__qualname__
        self.__doc__ = make_reader.__doc__

    def check(self, data):
        """Refuse unknown keys, split keys of the wrong type and reader options the
        source does not take (or, where it says how, of the wrong type) before any run
        starts."""
        unknown = set(data) - set(SPLIT_KEYS) - {"source", "options"}
        if unknown:
            raise ValueError(f"data source {self.name!r}: unknown key(s) {sorted(unknown)}; "
                             f"expected 'options' (for the reader) or {list(SPLIT_KEYS)}")
        split_options(data)
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError(f"data source {self.name!r}: options: expected a dict of the "
                             f"reader's arguments, got {options!r}")
        try:
            inspect.signature(self.make_reader).bind(**options)
        except TypeError as error:
            raise ValueError(f"data source {self.name!r}: bad options {options!r} "
                             f"({error})") from None
        if self.builds:
            try:
                self.make_reader(**options)
            except ValueError as error:
                raise ValueError(f"data source {self.name!r}: {error}") from None

    def __call__(self, data, net_type, dtype):
        self.check(data)
        reader = self.make_reader(**(data.get("options") or {}))
        if self.builds and reader.x_train is None:
            reader.read_data()
        return prepare(reader, data, net_type, dtype)

    def __repr__(self):
        return f"ReaderSource({self.name!r})"


def reader_source(name, *aliases, builds=False):
    """Decorator: register ``make_reader(**options)`` as the data source ``name``
    (``builds``: the function returns the reader unread; see ``ReaderSource``)."""
    def register(make_reader):
        register_source(name, *aliases)(ReaderSource(make_reader, name, builds))
        return make_reader
    return register


def split_options(data):
    """The split keys of ``data``, checked: ``seed`` an integer >= 0, ``train_size`` a
    positive integer, ``val_size`` / ``test_size`` integers >= 0 (0: not given),
    ``val_k`` an integer >= 2, ``per_feature`` a boolean. None (or absent) takes the
    default. NumPy integers are integers; 2.5, "3" and True are refused."""
    checks = {"seed": (check_integer, 0), "train_size": (check_integer, 1),
              "val_size": (check_integer, 0), "test_size": (check_integer, 0),
              "val_k": (check_integer, 2)}
    found = {"seed": 0, "train_size": None, "val_size": 0, "test_size": 0, "val_k": 10,
             "per_feature": False}
    for key, (check, minimum) in checks.items():
        if data.get(key) is not None:
            found[key] = check(f"data.{key}", data[key], minimum=minimum)
    if data.get("per_feature") is not None:
        found["per_feature"] = check_flag("data.per_feature", data["per_feature"])
    return found


def prepare(raw, data, net_type, dtype):
    """Subset, split off validation, normalize on train rows, cast (module doc)."""
    split = split_options(data)
    seed = split["seed"]
    x_all, y_all = raw.x_train, raw.y_train_raw
    order = np.random.default_rng([seed, 1]).permutation(x_all.shape[0])
    val_size = split["val_size"]
    train_size = split["train_size"] or x_all.shape[0] - val_size
    if train_size + val_size > x_all.shape[0]:
        raise ValueError(f"data: {train_size} train + {val_size} validation rows exceed the "
                         f"{x_all.shape[0]} available")
    train_rows = np.sort(order[:train_size])
    x_test, y_test = raw.x_test, raw.y_test_raw
    if split["test_size"]:
        keep = np.random.default_rng([seed, 2]).permutation(x_test.shape[0])
        keep = np.sort(keep[:split["test_size"]])
        x_test, y_test = x_test[keep], y_test[keep]
    reader = ArrayDataReader(x_all[train_rows], y_all[train_rows], x_test, y_test)
    if val_size:
        val_rows = np.sort(order[train_size:train_size + val_size])
        _set_validation(reader, x_all[val_rows], y_all[val_rows])
    else:
        reader.generate_validation_set(k=split["val_k"], seed=seed)
    reader.normalize_x(fit_on="train", per_feature=split["per_feature"])
    reader.normalize_y(net_type, fit_on="train")
    return reader.astype(dtype)


def _set_validation(reader, x_val, y_val):
    """Validation rows held out of the training pool (before any normalization)."""
    reader.x_val = np.asarray(x_val, dtype=reader.dtype)
    reader.y_val_raw = np.asarray(y_val).reshape(len(y_val), -1)
    reader.y_val = reader.y_val_raw.copy()


# ----------------------------------------------------------------- the sources
# Each built-in source only builds its reader (``builds=True``): the reader's
# constructor checks every option (types, ranges, the memory a generated set
# needs) without reading, so a sweep refuses a bad option before any run.
@reader_source("mnist", builds=True)
def mnist(data_dir=None, mode="vector", download=False):
    """MNIST digits (``$MINIFRAMEWORK_DATA/mnist`` unless ``data_dir``)."""
    return MnistImageDataReader(data_dir=data_dir, mode=mode, download=download,
                                dataset="mnist", progress=False)


@reader_source("fashion", "fashion_mnist", builds=True)
def fashion(data_dir=None, mode="vector", download=False):
    """Fashion-MNIST (``$MINIFRAMEWORK_DATA/fashion`` unless ``data_dir``)."""
    return MnistImageDataReader(data_dir=data_dir, mode=mode, download=download,
                                dataset="fashion", progress=False)


@reader_source("cifar", "cifar10", builds=True)
def cifar(data_dir=None, mode="vector", download=False):
    """CIFAR-10 (``$MINIFRAMEWORK_DATA/cifar10`` unless ``data_dir``)."""
    return CifarImageReader(data_dir=data_dir, mode=mode, download=download, progress=False)


@reader_source("house", builds=True)
def house(data_dir=None, seed=0, log_price=False, train_file=None, test_file=None):
    """King County house prices: the CSV, or the textbook's ch14 npz pair."""
    return HousePriceReader(data_dir=data_dir, seed=seed, log_price=log_price,
                            train_file=train_file, test_file=test_file, progress=False)


@reader_source("curve", builds=True)
def curve(train_file=None, test_file=None, n_train=1000, n_test=200, seed=0, noise=0.05):
    """The textbook's ch09 curve: generated from ``seed``, or read from npz files."""
    return CurveFittingReader(train_file, test_file, n_train, n_test, seed, noise)


@reader_source("double_arc", "double-arc", builds=True)
def double_arc(n_train=200, n_test=50, seed=0, noise=0.25, gap=0.65):
    """The textbook's two noisy sine arcs (binary), generated from ``seed``."""
    return DoubleArcReader(n_train, n_test, seed, noise, gap)


@reader_source("breast_cancer", "breast-cancer", builds=True)
def breast_cancer(data_dir=None, path=None, test_fraction=0.2, seed=0):
    """Wisconsin diagnostic breast cancer (binary), a stratified split by ``seed``; its
    30 features span different scales, so give the data ``"per_feature": true``."""
    return BreastCancerReader(data_dir, path, test_fraction, seed)


@reader_source("npz")
def npz(train_file, test_file):
    """Any pair of textbook npz files (keys ``data`` and ``label``; no pickles)."""
    return ArrayDataReader(*read_npz_pair(train_file), *read_npz_pair(test_file))


@reader_source("arrays", builds=True)
def arrays(x_train, y_train, x_test, y_test):
    """Small sets written out in the config itself (lists of numbers)."""
    return ArrayDataReader(x_train, y_train, x_test, y_test)


@reader_source("clusters", builds=True)
def clusters(n_train=600, n_test=200, features=20, classes=3, noise=1.0, seed=0):
    """Gaussian clusters: a seeded classification set that trains in milliseconds."""
    return GaussianClustersReader(n_train, n_test, features, classes, noise, seed)
