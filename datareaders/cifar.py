"""CIFAR-10, binary version (the textbook's CifarImageReader, minus pickle).

The Python version of CIFAR-10 is a set of pickles, and unpickling runs code,
so this reader uses the binary version: ``data_batch_1..5.bin`` and
``test_batch.bin``, each a sequence of 3,073-byte records (1 label byte, then
1,024 red, 1,024 green and 1,024 blue bytes, 32x32 row-major), plus
``batches.meta.txt`` with the class names one a line.
"""
from pathlib import Path

import numpy as np

from framework.infra.validation import check_flag

from .base import DataReader
from .download import RemoteFile, ensure_file, resolve_data_dir, safe_extract_tar
from .errors import DataFileError

RECORD = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
INNER_DIR = "cifar-10-batches-bin"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
ARCHIVE = RemoteFile("cifar-10-binary.tar.gz",
                     ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
                     md5="c32a1d4ab5d03f1284b67883e8d87530")


def read_records(path):
    """Return (images (N, 3, 32, 32) uint8, labels (N,) uint8) from one batch file."""
    raw = Path(path).read_bytes()
    if len(raw) == 0 or len(raw) % RECORD:
        raise DataFileError(path, f"size {len(raw)} bytes is not a whole number of "
                            f"{RECORD}-byte records (truncated or not a CIFAR-10 "
                            "binary batch)")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    if labels.max() >= len(CLASS_NAMES):
        row = int(np.argmax(labels >= len(CLASS_NAMES)))
        raise DataFileError(path, f"record {row} has label {labels[row]}, "
                            "expected 0..9 (wrong record layout?)")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def read_class_names(path):
    """The class names of ``batches.meta.txt``, one a line (a byte-order mark is dropped)."""
    try:
        text = Path(path).read_text("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
                            f"cannot be decoded ({exc.reason})") from None
    names = [line.strip() for line in text.splitlines()]
    names = [n for n in names if n]
    if len(names) != len(CLASS_NAMES):
        raise DataFileError(path, f"expected {len(CLASS_NAMES)} class names, "
                            f"found {len(names)}")
    return tuple(names)


class CifarImageReader(DataReader):
    """CIFAR-10: x as (N, 3072) (``mode="vector"``) or (N, 3, 32, 32) in [0, 1].

    Files are looked for in ``<data>/cifar10/cifar-10-batches-bin/`` (as the
    archive unpacks) or directly in ``<data>/cifar10/``. With ``download=True``
    a missing set is fetched as the MD5-checked archive and safely extracted.
    """

    archive = ARCHIVE

    def __init__(self, data_dir=None, mode="vector", download=False, dtype=np.float32,
                 progress=True):
        super().__init__(dtype)
        if not isinstance(mode, str) or mode not in ("vector", "image"):
            raise ValueError(f"mode: expected 'vector' or 'image', got {mode!r}")
        self.mode = mode
        self.folder = resolve_data_dir(data_dir, "cifar10")
        self.download = check_flag(f"{type(self).__name__}: download", download)
        self.progress = check_flag(f"{type(self).__name__}: progress", progress)
        self.class_names = CLASS_NAMES

    def batch_folder(self):
        """The folder holding the five training batches and the test batch (the
        archive's inner folder, or the data folder itself); with ``download`` the
        archive is fetched first, else a missing set is a ``DataFileError``."""
        for folder in (self.folder / INNER_DIR, self.folder):
            if all((folder / n).is_file() for n in TRAIN_FILES + (TEST_FILE,)):
                return folder
        if not self.download:
            raise DataFileError(self.folder / INNER_DIR, "CIFAR-10 binary batches not "
                                f"found. Download {self.archive.describe()} and "
                                f"extract it into {self.folder}, or pass download=True")
        archive = ensure_file(self.archive, self.folder, True, self.progress)
        safe_extract_tar(archive, self.folder)
        for folder in (self.folder / INNER_DIR, self.folder):
            if all((folder / n).is_file() for n in TRAIN_FILES + (TEST_FILE,)):
                archive.unlink()
                return folder
        # the checksum matched, so downloading again would fetch the same bytes
        missing = [n for n in TRAIN_FILES + (TEST_FILE,)
                   if not (self.folder / INNER_DIR / n).is_file()]
        raise DataFileError(archive, f"the archive matches its checksum but does not hold "
                            f"{INNER_DIR}/{missing[0]} (and {len(missing) - 1} more missing "
                            f"batch files); not downloading it again. Check "
                            f"{self.archive.urls[0]}, or delete {archive} to retry")

    def _load(self):
        folder = self.batch_folder()
        if (folder / META_FILE).is_file():
            self.class_names = read_class_names(folder / META_FILE)
        train = [read_records(folder / n) for n in TRAIN_FILES]
        x_train = np.concatenate([t[0] for t in train])
        y_train = np.concatenate([t[1] for t in train])
        x_test, y_test = read_records(folder / TEST_FILE)
        return (self._pixels(x_train), y_train.reshape(-1, 1).astype(np.int64),
                self._pixels(x_test), y_test.reshape(-1, 1).astype(np.int64))

    def _pixels(self, images):
        if self.mode == "vector":
            images = images.reshape(images.shape[0], -1)
        x = images.astype(self.dtype)
        x /= 255
        return x
