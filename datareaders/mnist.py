"""MNIST and Fashion-MNIST from their idx files (``.gz`` or raw).

The textbook unpacks one image at a time with ``struct``; here each file is
decompressed in one call and viewed with ``np.frombuffer``, which loads all
70,000 images in well under a second. Every header is checked (magic number,
count, 28x28) and the payload must have exactly the size the header implies,
so a truncated or mislabeled file is an error naming the file, never a
silently short or shifted array.
"""
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from framework.infra.validation import check_flag

from .base import DataReader
from .download import RemoteFile, ensure_file, resolve_data_dir
from .errors import DataFileError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
MAX_DEFLATE_RATIO = 1032    # deflate never expands a byte into more than this
ROWS = COLS = 28

_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                  "https://storage.googleapis.com/cvdf-datasets/mnist/",
                  "http://yann.lecun.com/exdb/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
                    "master/data/fashion/")
_PARTS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_SHA256 = {
    "mnist": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    "fashion": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}
_MD5 = {
    "mnist": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    "fashion": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
}
DATASETS = {
    "mnist": {"folder": "mnist", "mirrors": _MNIST_MIRRORS,
              "classes": tuple(str(d) for d in range(10))},
    "fashion": {"folder": "fashion-mnist", "mirrors": _FASHION_MIRRORS,
                "classes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")},
}


def remote_files(dataset):
    """The four RemoteFile records (train images/labels, test images/labels)."""
    info = DATASETS[dataset]
    return tuple(RemoteFile(f"{part}.gz", tuple(m + f"{part}.gz" for m in info["mirrors"]),
                            md5=md5, sha256=sha)
                 for part, md5, sha in zip(_PARTS, _MD5[dataset], _SHA256[dataset]))


def read_idx(path, magic):
    """Return the uint8 payload of an idx file: (N, 28, 28) images or (N,) labels.

    The header is read first and the size it declares is checked against what
    the file holds (a raw file's size, a gzip's size record) before the payload
    is allocated, so a small file that claims billions of images is refused at
    once; the payload is then read straight into its array.
    """
    path = Path(path)
    gz = path.suffix == ".gz"
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            if not gz:
                return _read_idx_stream(path, raw, magic, _RawSize(size))
            limits = _GzipSize(size, _gzip_size_record(raw, size))
            with gzip.GzipFile(fileobj=raw) as stream:
                return _read_idx_stream(path, stream, magic, limits)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise DataFileError(path, "file not found") from None
        if gz and not isinstance(exc, PermissionError):
            raise DataFileError(path, f"not a valid gzip file (truncated?): {exc}") from exc
        raise DataFileError(path, f"cannot read: {exc.strerror or exc}") from None


class _RawSize:
    """What an uncompressed idx file can hold: exactly its size."""

    def __init__(self, size):
        self.size = size

    def problem(self, header_size, payload):
        """None if a payload of ``payload`` bytes fits exactly, else what is wrong."""
        held = self.size - header_size
        if held == payload:
            return None
        word = "truncated" if held < payload else "has trailing bytes"
        return f"{word}: the file holds {held} bytes after the header"


class _GzipSize:
    """What a gzip can hold: at most MAX_DEFLATE_RATIO times its size, and exactly the
    size its last 4 bytes record (mod 2**32, for a single-member gzip)."""

    def __init__(self, size, record):
        self.size, self.record = size, record

    def problem(self, header_size, payload):
        if payload > MAX_DEFLATE_RATIO * self.size:
            return (f"truncated: a {self.size}-byte gzip cannot hold more than "
                    f"{MAX_DEFLATE_RATIO * self.size} bytes")
        expected = (header_size + payload) % 2 ** 32
        if self.record is None or self.record == expected:
            return None
        word = "truncated" if self.record < expected else "has trailing bytes"
        return f"{word}: the gzip's size record says {self.record} bytes in all"


def _gzip_size_record(raw, size):
    """The uncompressed size a single-member gzip records in its last 4 bytes (mod 2**32);
    None for a file too short to hold one."""
    if size < 18:
        return None
    raw.seek(size - 4)
    record = int.from_bytes(raw.read(4), "little")
    raw.seek(0)
    return record


def _read_idx_stream(path, stream, magic, limits):
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header_size = 4 + 4 * ndim
    header = stream.read(header_size)
    if len(header) < header_size:
        raise DataFileError(path, f"truncated: {len(header)} bytes, shorter than the "
                            f"{header_size}-byte idx header")
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        kind = "image (idx3)" if magic == IMAGE_MAGIC else "label (idx1)"
        raise DataFileError(path, f"magic number {found}, expected {magic} for an "
                            f"{kind} file")
    dims = [int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if ndim == 3 and dims[1:] != [ROWS, COLS]:
        raise DataFileError(path, f"images are {dims[1]}x{dims[2]}, expected 28x28")
    size = math.prod(dims)
    promise = f"header promises {dims[0]} items ({size} bytes)"
    problem = limits.problem(header_size, size)
    if problem:
        word, detail = problem.split(": ", 1)
        raise DataFileError(path, f"{word}: {promise} but {detail}; refused before "
                            "reading it")
    payload = np.empty(size, np.uint8)
    done = _read_into(stream, payload)
    if done < size:
        raise DataFileError(path, f"truncated: {promise} but {done} bytes follow it")
    if stream.read(1):
        raise DataFileError(path, f"has trailing bytes: {promise} but more bytes follow it")
    return payload.reshape(dims)


def _read_into(stream, array):
    """Fill ``array`` from ``stream``; return how many bytes arrived."""
    view, done = memoryview(array), 0
    while done < len(view):
        count = stream.readinto(view[done:])
        if not count:
            break
        done += count
    return done


class MnistImageDataReader(DataReader):
    """MNIST (``dataset="mnist"``) or Fashion-MNIST (``dataset="fashion"``).

    ``mode="vector"`` gives x as (N, 784), ``"image"`` as (N, 1, 28, 28);
    pixels are ``dtype`` in [0, 1] (so ``normalize_x`` is not needed); y is
    the (N, 1) int label until ``normalize_y``. Each file may be ``.gz`` or
    already decompressed; with ``download=True`` a missing one is fetched.
    """

    def __init__(self, data_dir=None, mode="vector", download=False, dtype=np.float32,
                 dataset="mnist", progress=True):
        super().__init__(dtype)
        if not isinstance(mode, str) or mode not in ("vector", "image"):
            raise ValueError(f"mode: expected 'vector' or 'image', got {mode!r}")
        if dataset not in DATASETS:
            raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {dataset!r}")
        self.mode, self.dataset = mode, dataset
        self.class_names = DATASETS[dataset]["classes"]
        self.folder = resolve_data_dir(data_dir, DATASETS[dataset]["folder"])
        self.download = check_flag(f"{type(self).__name__}: download", download)
        self.progress = check_flag(f"{type(self).__name__}: progress", progress)

    def files(self):
        """Paths of the four idx files: a raw copy wins over the ``.gz``."""
        paths = []
        for remote in remote_files(self.dataset):
            raw = self.folder / remote.name[:-3]
            paths.append(raw if raw.is_file() else
                         ensure_file(remote, self.folder, self.download, self.progress))
        return paths

    def _load(self):
        train_img, train_lab, test_img, test_lab = self.files()
        return (*self._pair(train_img, train_lab), *self._pair(test_img, test_lab))

    def _pair(self, image_path, label_path):
        images = read_idx(image_path, IMAGE_MAGIC)
        labels = read_idx(label_path, LABEL_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise DataFileError(image_path, f"{images.shape[0]} images but "
                                f"{label_path.name} has {labels.shape[0]} labels")
        if labels.size and labels.max() >= len(self.class_names):
            raise DataFileError(label_path, f"label {labels.max()} is outside 0..9")
        shape = (-1, ROWS * COLS) if self.mode == "vector" else (-1, 1, ROWS, COLS)
        x = images.reshape(shape).astype(self.dtype)
        x /= 255
        return x, labels.reshape(-1, 1).astype(np.int64)


class FashionMnistDataReader(MnistImageDataReader):
    """Fashion-MNIST: the same idx format, its own folder and class names."""

    def __init__(self, data_dir=None, mode="vector", download=False, dtype=np.float32,
                 progress=True):
        super().__init__(data_dir, mode, download, dtype, dataset="fashion",
                         progress=progress)
