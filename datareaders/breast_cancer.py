"""Breast cancer Wisconsin (diagnostic): 569 samples, 30 features, malignant or benign.

Two file layouts hold the same values, and both are read:

- ``breast_cancer.csv``, the layout scikit-learn ships: a header line
  ``569,30,malignant,benign`` (sample count, feature count, class names in
  label order), then per sample 30 floats and the label, 0 = malignant,
  1 = benign;
- ``wdbc.data``, the UCI original: no header; per sample an id, the
  diagnosis ``M`` or ``B``, then the 30 floats.

Labels follow the first layout in both (malignant 0, benign 1), so a net
trained on one file can be evaluated on the other. The features are the mean,
standard error and "worst" value of ten measurements of cell nuclei.

The set has no official split. ``test_fraction`` of each class (20 % by
default, rounded per class) is drawn for the test set by a generator seeded
with ``seed``: stratified, so both sets keep the 37 % / 63 % class mix, which
matters with 113 test samples, where one malignant sample is almost 1 %.
"""
import numpy as np

from framework.infra.validation import check_integer, check_number

from . import csvfile
from .base import DataReader
from .download import resolve_data_dir
from .errors import DataFileError

FOLDER = "breast-cancer"
FILE_NAMES = ("breast_cancer.csv", "wdbc.data")
CLASS_NAMES = ("malignant", "benign")
NUM_FEATURES = 30
DIAGNOSIS = {"M": 0, "B": 1}
_SOURCES = ("scikit-learn ships breast_cancer.csv in sklearn/datasets/data/; the UCI "
            "Machine Learning Repository has wdbc.data (data set 17, 'Breast Cancer "
            "Wisconsin (Diagnostic)')")


def read_breast_cancer(path, dtype=np.float32):
    """Return (x (N, 30) float64, labels (N, 1) int64) from either layout.

    The layout is told by the first line: four fields of which the first two
    are integers is the scikit-learn header; anything else is read as
    ``wdbc.data``. Every cell is checked (a number ``dtype`` can hold); a bad
    one is a ``DataFileError`` naming the line (and the column). So is a line
    the CSV parser cannot read, a repeated sample (the same id in
    ``wdbc.data``, or the same 30 features in either layout) and a file with
    samples of one class only.

    A repeated sample is refused, not dropped: the split could put one copy in
    the training set and the other in the test set, which then scores the net
    on a sample it has seen; and when the copies disagree (another diagnosis)
    the reader cannot know which one is right. Removing the line is the
    user's decision.
    """
    try:
        with open(path, newline="", encoding="ascii") as handle:
            rows = list(csvfile.records(path, handle))
    except FileNotFoundError as error:
        raise DataFileError(path, "file not found") from error
    except UnicodeDecodeError as error:
        raise DataFileError(path, f"not a plain ASCII CSV file ({error})") from error
    except OSError as error:
        raise DataFileError(path, f"cannot read: {error.strerror or error}") from None
    if not rows:
        raise DataFileError(path, "empty file")
    if _is_sklearn_header(rows[0][1]):
        x, labels, lines = _read_sklearn(path, rows, dtype)
    else:
        x, labels, lines = _read_wdbc(path, rows, dtype)
    _refuse_repeated_samples(path, x, lines)
    _refuse_one_class(path, labels)
    return _arrays(x, labels)


def _is_sklearn_header(fields):
    return len(fields) == 4 and all(f.strip().isdigit() for f in fields[:2])


def _read_sklearn(path, rows, dtype):
    header = rows[0][1]
    count, width = int(header[0]), int(header[1])
    names = tuple(f.strip() for f in header[2:])
    if width != NUM_FEATURES or names != CLASS_NAMES:
        raise DataFileError(path, f"line 1: header {','.join(header)!r}, expected "
                            f"'<count>,{NUM_FEATURES},{','.join(CLASS_NAMES)}'")
    x, labels, lines = [], [], []
    for number, fields in rows[1:]:
        _check_width(path, number, fields, NUM_FEATURES + 1,
                     f"{NUM_FEATURES} features and the label")
        x.append(_floats(path, number, fields[:NUM_FEATURES], 1, dtype))
        text = fields[NUM_FEATURES].strip()
        if text not in ("0", "1"):
            raise DataFileError(path, f"line {number}: unknown label {text!r}, expected "
                                "0 (malignant) or 1 (benign)")
        labels.append(int(text))
        lines.append(number)
    if len(x) != count:
        raise DataFileError(path, f"the header promises {count} samples but "
                            f"{len(x)} follow it")
    return x, labels, lines


def _read_wdbc(path, rows, dtype):
    x, labels, lines, ids = [], [], [], {}
    for number, fields in rows:
        _check_width(path, number, fields, NUM_FEATURES + 2,
                     f"an id, the diagnosis and {NUM_FEATURES} features")
        sample = fields[0].strip()
        if sample in ids:
            raise DataFileError(path, f"line {number}: the id {sample} repeats line "
                                f"{ids[sample]}'s; {_REPEATED}")
        ids[sample] = number
        diagnosis = fields[1].strip()
        if diagnosis not in DIAGNOSIS:
            raise DataFileError(path, f"line {number}: unknown diagnosis {diagnosis!r}, "
                                "expected M (malignant) or B (benign)")
        labels.append(DIAGNOSIS[diagnosis])
        x.append(_floats(path, number, fields[2:], 3, dtype))
        lines.append(number)
    return x, labels, lines


_REPEATED = ("a sample twice could be split into both the training and the test set (a "
             "test score on seen data); remove one of the two lines")


def _refuse_repeated_samples(path, x, lines):
    seen = {}
    for row, number in zip(x, lines):
        key = tuple(row)
        if key in seen:
            raise DataFileError(path, f"line {number}: the same {NUM_FEATURES} features as "
                                f"line {seen[key]}; {_REPEATED}")
        seen[key] = number


def _refuse_one_class(path, labels):
    found = sorted(set(labels))
    if len(found) < 2:
        only = CLASS_NAMES[found[0]] if found else "no"
        raise DataFileError(path, f"only {only} samples; a binary classifier needs "
                            f"samples of both classes ({' and '.join(CLASS_NAMES)})")


def _check_width(path, number, fields, expected, what):
    if len(fields) != expected:
        raise DataFileError(path, f"line {number}: expected {expected} fields ({what}), "
                            f"found {len(fields)}")


def _floats(path, number, cells, first_column, dtype):
    values = []
    for column, cell in enumerate(cells, first_column):
        try:
            value = float(cell)
        except ValueError:
            value = None
        if value is None or not np.isfinite(value):
            raise DataFileError(path, f"line {number}, column {column}: cannot read "
                                f"{cell!r} as a finite number")
        values.append(csvfile.check_in_range(path, f"line {number}, column {column}", cell,
                                             value, dtype))
    return values


def _arrays(x, labels):
    return (np.array(x, dtype=np.float64).reshape(-1, NUM_FEATURES),
            np.array(labels, dtype=np.int64).reshape(-1, 1))


def stratified_split(labels, test_fraction, rng):
    """(train indices, test indices), both sorted: ``round(test_fraction * n_c)``
    rows of every class c go to the test set, picked by ``rng``."""
    labels = np.ravel(labels)
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        quota = int(round(test_fraction * members.size))
        test.append(rng.choice(members, size=quota, replace=False))
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(labels.size), test)
    if test.size == 0 or train.size == 0:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty "
                         f"{'test' if test.size == 0 else 'training'} set out of "
                         f"{labels.size} samples")
    return train, test


class BreastCancerReader(DataReader):
    """The Wisconsin diagnostic set with a stratified, seeded train/test split.

    The file is ``path`` if given, else ``breast_cancer.csv`` or ``wdbc.data``
    (in that order) in the ``breast-cancer`` folder of the data root
    (``data_dir``, else ``$MINIFRAMEWORK_DATA``, else
    ``~/.cache/miniframework``). x is (N, 30) float, y the (N, 1) int label
    (0 malignant, 1 benign) until ``normalize_y``.
    """

    class_names = CLASS_NAMES

    def __init__(self, data_dir=None, path=None, test_fraction=0.2, seed=0,
                 dtype=np.float32):
        super().__init__(dtype)
        owner = type(self).__name__
        self.test_fraction = check_number(f"{owner}: test_fraction", test_fraction, 0, 1,
                                          above=True, below=True)
        self.seed = check_integer(f"{owner}: seed", seed, minimum=0)
        self.folder = resolve_data_dir(data_dir, FOLDER)
        self.path = path

    def file(self):
        """The data file to read: ``path``, or the first of FILE_NAMES in the folder."""
        if self.path is not None:
            return self.path
        for name in FILE_NAMES:
            if (self.folder / name).is_file():
                return self.folder / name
        raise DataFileError(self.folder / FILE_NAMES[0],
                            f"file not found (nor {FILE_NAMES[1]} beside it); "
                            f"{_SOURCES}")

    def _load(self):
        x, labels = read_breast_cancer(self.file(), self.dtype)
        train, test = stratified_split(labels, self.test_fraction,
                                       np.random.default_rng(self.seed))
        return x[train], labels[train], x[test], labels[test]
