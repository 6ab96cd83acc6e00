"""Image mode: MNIST, Fashion-MNIST, CIFAR-10 and 4-D ArrayDataReader give
(N, C, H, W) sets and batches that are the vector mode's rows, reshaped.

Every file-based case writes tiny files in the published formats (idx, CIFAR
binary records) and reads them with both modes; what differs between the two
modes must be the shape of a row and nothing else.
"""
import tracemalloc

import numpy as np
import pytest
from reader_files import real_data_dir, write_bytes, write_cifar_set, write_mnist_set

from datareaders import (ArrayDataReader, CifarImageReader, FashionMnistDataReader,
                         MnistImageDataReader)
from datareaders import arrays
from framework.infra import batches

KINDS = ("mnist", "fashion", "fashion_class", "cifar", "array")
SHAPES = {"mnist": (1, 28, 28), "fashion": (1, 28, 28), "fashion_class": (1, 28, 28),
          "cifar": (3, 32, 32), "array": (3, 5, 4)}


class Case:
    """Files (or arrays) for one kind of reader, and readers over them in either mode."""

    def __init__(self, kind, folder):
        self.kind, self.folder = kind, folder
        self.shape = SHAPES[kind]
        if kind in ("mnist", "fashion", "fashion_class"):
            sub = "mnist" if kind == "mnist" else "fashion-mnist"
            tx, ty, vx, vy = write_mnist_set(folder / sub, n_train=13, n_test=5, seed=3)
            self.x_train, self.x_test = tx[:, None] / 255.0, vx[:, None] / 255.0
        elif kind == "cifar":
            tx, ty, vx, vy = write_cifar_set(folder / "cifar10", per_file=3, n_test=4,
                                             seed=3)
            self.x_train, self.x_test = tx / 255.0, vx / 255.0
        else:
            rng = np.random.default_rng(3)
            self.x_train = rng.random((11,) + self.shape)
            self.x_test = rng.random((4,) + self.shape)
            ty, vy = rng.integers(0, 10, 11), rng.integers(0, 10, 4)
            ty[:10] = np.arange(10)           # every class present: one-hot width 10
        self.y_train, self.y_test = ty.astype(np.int64), vy.astype(np.int64)

    def reader(self, mode="image", dtype=np.float32):
        kind, folder = self.kind, self.folder
        if kind == "mnist":
            return MnistImageDataReader(folder, mode=mode, dtype=dtype).read_data()
        if kind == "fashion":
            return MnistImageDataReader(folder, dataset="fashion", mode=mode,
                                        dtype=dtype).read_data()
        if kind == "fashion_class":
            return FashionMnistDataReader(folder, mode=mode, dtype=dtype).read_data()
        if kind == "cifar":
            return CifarImageReader(folder, mode=mode, dtype=dtype).read_data()
        flat = (lambda a: a.reshape(a.shape[0], -1)) if mode == "vector" else (lambda a: a)
        return ArrayDataReader(flat(self.x_train), self.y_train, flat(self.x_test),
                               self.y_test, dtype=dtype)


@pytest.fixture(params=KINDS)
def case(request, tmp_path):
    return Case(request.param, tmp_path)


def assert_image_set(x, n, shape, dtype):
    assert x.shape == (n,) + shape
    assert x.dtype == dtype
    assert x.flags.c_contiguous
    assert x.min() >= 0 and x.max() <= 1


def vector_of(x):
    return x.reshape(x.shape[0], -1)


# ------------------------------------------------------------------ read_data
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_data_gives_nchw_sets(case, dtype):
    r = case.reader("image", dtype)
    assert_image_set(r.x_train, case.x_train.shape[0], case.shape, dtype)
    assert_image_set(r.x_test, case.x_test.shape[0], case.shape, dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(r.x_train, case.x_train, rtol=rtol)
    np.testing.assert_allclose(r.x_test, case.x_test, rtol=rtol)
    np.testing.assert_array_equal(r.y_train.ravel(), case.y_train)
    np.testing.assert_array_equal(r.y_test.ravel(), case.y_test)
    assert r.num_feature == int(np.prod(case.shape))
    v = case.reader("vector", dtype)
    assert v.x_train.shape == (case.x_train.shape[0], int(np.prod(case.shape)))
    np.testing.assert_array_equal(vector_of(r.x_train), v.x_train)
    np.testing.assert_array_equal(vector_of(r.x_test), v.x_test)


def cifar_record(label, pixels):
    """One 3,073-byte record built byte by byte: pixels maps (c, row, col) -> value."""
    record = bytearray(3073)
    record[0] = label
    for (c, row, col), value in pixels.items():
        record[1 + c * 1024 + row * 32 + col] = value
    return bytes(record)


def test_cifar_record_pixel_lands_at_channel_row_col(tmp_path):
    """Red, green, blue planes in that order, each 32x32 row-major."""
    folder = tmp_path / "cifar10"
    write_cifar_set(folder, per_file=2, n_test=2)
    pixels = {(0, 2, 5): 10, (1, 5, 2): 20, (2, 31, 0): 30, (2, 0, 31): 40, (0, 0, 1): 50}
    blank = cifar_record(0, {})
    (folder / "data_batch_1.bin").write_bytes(blank + cifar_record(7, pixels))
    (folder / "test_batch.bin").write_bytes(cifar_record(3, pixels) + blank)
    r = CifarImageReader(tmp_path, mode="image").read_data()
    v = CifarImageReader(tmp_path, mode="vector").read_data()
    for x, xv, n in ((r.x_train, v.x_train, 1), (r.x_test, v.x_test, 0)):
        expected = np.zeros((3, 32, 32), np.float32)
        for (c, row, col), value in pixels.items():
            assert x[n, c, row, col] == np.float32(value) / 255
            assert xv[n, c * 1024 + row * 32 + col] == np.float32(value) / 255
            expected[c, row, col] = np.float32(value) / 255
        np.testing.assert_array_equal(x[n], expected)
        np.testing.assert_array_equal(x[1 - n], 0)
    assert r.y_train[1, 0] == 7 and r.y_test[0, 0] == 3


def test_idx_pixel_lands_at_row_col(tmp_path):
    """idx images are 28x28 row-major after the 16-byte header: one channel."""
    folder = tmp_path / "mnist"
    write_mnist_set(folder, n_train=3, n_test=2)
    payload = bytearray(3 * 784)
    for n, row, col, value in ((1, 3, 20, 255), (1, 20, 3, 128), (2, 27, 0, 7)):
        payload[n * 784 + row * 28 + col] = value
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (3, 28, 28))
    write_bytes(folder / "train-images-idx3-ubyte", header + bytes(payload), gz=True)
    x = MnistImageDataReader(tmp_path, mode="image").read_data().x_train
    assert x[1, 0, 3, 20] == 1 and x[1, 0, 20, 3] == np.float32(128) / 255
    assert x[2, 0, 27, 0] == np.float32(7) / 255
    assert np.count_nonzero(x) == 3


@pytest.mark.parametrize("make", [
    lambda m: MnistImageDataReader(mode=m), lambda m: FashionMnistDataReader(mode=m),
    lambda m: MnistImageDataReader(dataset="fashion", mode=m),
    lambda m: CifarImageReader(mode=m)])
@pytest.mark.parametrize("mode", ["images", "Image", "", None])
def test_wrong_mode_is_named(make, mode):
    with pytest.raises(ValueError, match=f"mode.*{mode!r}"):
        make(mode)


# -------------------------------------------------------------------- batches
def collect(reader, batch_size, seed):
    rng = None if seed is None else np.random.default_rng(seed)
    out = []
    for x, y in reader.batches(batch_size, rng):
        assert x.flags.c_contiguous and y.flags.c_contiguous
        out.append((x.copy(), y.copy()))
    return out


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("seed", [7, None])
def test_batches_are_vector_batches_reshaped(case, monkeypatch, prefetch, seed):
    if prefetch:                      # take the background-gather path whatever the machine
        monkeypatch.setattr(batches, "PREFETCH_BYTES", 0)
        monkeypatch.setattr(batches, "_prefetch_pays", lambda: True)
    r, v = case.reader("image"), case.reader("vector")
    for reader in (r, v):
        reader.normalize_y("multiple_classifier")
    n, batch = r.num_train, 4
    sizes = [min(batch, n - s) for s in range(0, n, batch)]
    assert sizes[-1] < batch                             # a partial last batch exists
    for epoch in range(2):                               # buffers reused across epochs
        image = collect(r, batch, seed)
        vector = collect(v, batch, seed)
        assert [x.shape[0] for x, _ in image] == sizes
        for (xi, yi), (xv, yv) in zip(image, vector, strict=True):
            assert xi.shape == (xi.shape[0],) + case.shape and xi.dtype == np.float32
            assert yi.shape == (xi.shape[0], 10) and yi.dtype == np.float32
            np.testing.assert_array_equal(vector_of(xi), xv)
            np.testing.assert_array_equal(yi, yv)
    # together the batches are the training set, each row once, labels attached
    xs = np.concatenate([x for x, _ in image])
    ys = np.concatenate([y for _, y in image])
    order = np.array([np.flatnonzero((vector_of(r.x_train) == row).all(axis=1))[0]
                      for row in vector_of(xs)])
    if seed is None:
        np.testing.assert_array_equal(order, np.arange(n))
    else:
        np.testing.assert_array_equal(order, np.random.default_rng(seed).permutation(n))
    np.testing.assert_array_equal(ys, r.y_train[order])


def test_batch_larger_than_training_set(case):
    r = case.reader("image")
    r.normalize_y("multiple_classifier")
    batches = collect(r, 1000, 1)
    assert len(batches) == 1 and batches[0][0].shape == (r.num_train,) + case.shape


# --------------------------------------------- preprocessing keeps 4-D rows
@pytest.mark.parametrize("stratify", [None, False])
def test_validation_split_takes_the_same_rows_as_vector_mode(case, stratify):
    r, v = case.reader("image"), case.reader("vector")
    n = r.num_train
    for reader in (r, v):
        reader.generate_validation_set(k=4, seed=5, stratify=stratify)
    assert r.x_val.shape == (n // 4,) + case.shape and r.x_val.flags.c_contiguous
    assert r.x_train.shape == (n - n // 4,) + case.shape and r.x_train.flags.c_contiguous
    np.testing.assert_array_equal(vector_of(r.x_val), v.x_val)
    np.testing.assert_array_equal(vector_of(r.x_train), v.x_train)
    np.testing.assert_array_equal(r.y_val_raw, v.y_val_raw)
    # disjoint, and together the original training rows
    rows = np.concatenate([vector_of(r.x_train), vector_of(r.x_val)])
    original = vector_of(case.reader("image").x_train)
    assert sorted(map(bytes, rows)) == sorted(map(bytes, original))
    r.normalize_y("multiple_classifier")
    assert r.y_val.shape == (n // 4, 10)


def test_shuffle_and_astype_keep_nchw(case):
    r, v = case.reader("image"), case.reader("vector")
    r.shuffle(np.random.default_rng(2))
    v.shuffle(np.random.default_rng(2))
    assert r.x_train.shape == (case.x_train.shape[0],) + case.shape
    assert r.x_train.flags.c_contiguous
    np.testing.assert_array_equal(vector_of(r.x_train), v.x_train)
    np.testing.assert_array_equal(r.y_train_raw, v.y_train_raw)
    r.generate_validation_set(k=3)
    r.astype(np.float64)
    for x in (r.x_train, r.x_val, r.x_test):
        assert x.dtype == np.float64 and x.shape[1:] == case.shape and x.flags.c_contiguous
    r.normalize_y("multiple_classifier")
    x, y = next(iter(r.batches(4, np.random.default_rng(0))))
    assert x.shape == (4,) + case.shape and x.dtype == np.float64
    assert y.shape == (4, 10) and y.dtype == np.float64


@pytest.mark.parametrize("per_feature", [True, False])
def test_normalize_and_transform_x_keep_nchw(case, per_feature):
    r, v = case.reader("image"), case.reader("vector")
    for reader in (r, v):
        reader.generate_validation_set(k=4)
        reader.normalize_x(per_feature=per_feature)
    width = int(np.prod(case.shape))
    assert r.x_min.shape == ((width,) if per_feature else ())
    for xi, xv in ((r.x_train, v.x_train), (r.x_val, v.x_val), (r.x_test, v.x_test)):
        assert xi.shape[1:] == case.shape and xi.dtype == np.float32
        assert xi.flags.c_contiguous and xi.min() >= 0 and xi.max() <= 1
        np.testing.assert_array_equal(vector_of(xi), xv)
    if not per_feature:              # one min and range: the pixel extremes map to 0 and 1
        everything = np.concatenate([vector_of(x) for x in (r.x_train, r.x_val, r.x_test)])
        assert everything.min() == 0 and everything.max() == 1
    new = np.random.default_rng(4).random((3,) + case.shape)
    out = r.transform_x(new)
    assert out.shape == (3,) + case.shape and out.dtype == np.float32
    np.testing.assert_array_equal(vector_of(out), v.transform_x(vector_of(new)))
    assert r.num_feature == width


def test_transform_x_names_a_wrong_row_shape(tmp_path):
    r = Case("array", tmp_path).reader("image")
    r.normalize_x()
    with pytest.raises(ValueError, match=r"transform_x: rows of shape \(3, 5\) have 15 "
                                         "values, but normalize_x fitted 60 features"):
        r.transform_x(np.zeros((2, 3, 5)))


# ------------------------------------------ contiguity: no whole-set copies
def channels_last_view(n=4000, seed=0):
    """(N, C, H, W) as a transposed (N, H, W, C) array: not C-contiguous."""
    x = np.random.default_rng(seed).random((n, 8, 8, 3), dtype=np.float32)
    return x.transpose(0, 3, 1, 2)


def peak_bytes_of_one_epoch(reader, batch_size=64):
    list(reader.batches(batch_size, np.random.default_rng(0)))   # allocate the buffers
    tracemalloc.start()
    try:
        for _ in reader.batches(batch_size, np.random.default_rng(1)):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("layout", ["transposed", "fortran"])
def test_array_reader_stores_non_contiguous_images_contiguous(layout):
    x = channels_last_view()
    x = x if layout == "transposed" else np.asfortranarray(x)
    assert not x.flags.c_contiguous
    y = np.arange(x.shape[0]) % 10
    r = ArrayDataReader(x, y, x[:7], y[:7])
    assert r.x_train.flags.c_contiguous and r.x_test.flags.c_contiguous
    np.testing.assert_array_equal(r.x_train, x)
    r.normalize_y("multiple_classifier")
    first = next(iter(r.batches(64)))[0]
    assert first.flags.c_contiguous and first.shape == (64, 3, 8, 8)
    # np.take copies a non-contiguous source whole for every call: the gather
    # of one epoch must stay far below one copy of the training set
    assert peak_bytes_of_one_epoch(r) < r.x_train.nbytes // 8


def test_batches_copy_a_non_contiguous_x_train_once():
    """x_train set from outside as a view: the first epoch makes it contiguous
    and keeps it, later epochs gather without whole-set copies."""
    y = np.arange(4000) % 10
    r = ArrayDataReader(np.zeros((4000, 3, 8, 8)), y, np.zeros((2, 3, 8, 8)), y[:2])
    r.normalize_y("multiple_classifier")
    x = channels_last_view()
    r.x_train = x
    expected = [(bx.copy(), by.copy()) for bx, by in
                arrays.iter_batches(np.ascontiguousarray(x), r.y_train, 64,
                                    np.random.default_rng(3), (np.empty((128, 3, 8, 8),
                                                               np.float32),
                                                               np.empty((128, 10),
                                                                        np.float32)))]
    got = collect(r, 64, 3)
    assert r.x_train.flags.c_contiguous
    for (xa, ya), (xb, yb) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert peak_bytes_of_one_epoch(r) < r.x_train.nbytes // 8


def test_read_data_restores_arrays_after_in_place_edits():
    x = np.random.default_rng(0).random((6, 3, 2, 2), dtype=np.float32)
    y = np.arange(6)
    r = ArrayDataReader(x, y, x[:2], y[:2])
    r.x_train[:] = 9
    r.y_train[:] = 1
    r.read_data()
    np.testing.assert_array_equal(r.x_train, x)
    np.testing.assert_array_equal(r.y_train.ravel(), y)


def test_iter_batches_checks_row_counts():
    with pytest.raises(ValueError, match="x has 5 rows but y has 4"):
        next(arrays.iter_batches(np.zeros((5, 1, 2, 2)), np.zeros((4, 1)), 2, None, None))


# ------------------------------------------------------------------ real data
@pytest.mark.parametrize("dataset, folder", [("mnist", "mnist"),
                                             ("fashion", "fashion-mnist")])
def test_real_set_in_image_mode(dataset, folder):
    data = real_data_dir(folder)
    r = MnistImageDataReader(data, dataset=dataset, mode="image").read_data()
    assert r.x_train.shape == (60000, 1, 28, 28) and r.x_test.shape == (10000, 1, 28, 28)
    assert r.x_train.dtype == np.float32 and r.x_train.flags.c_contiguous
    assert r.x_train.min() == 0 and r.x_train.max() == 1 and r.num_feature == 784
    r.normalize_y("multiple_classifier")
    r.generate_validation_set(k=12)
    assert r.x_val.shape == (5000, 1, 28, 28) and r.x_train.shape == (55000, 1, 28, 28)
    x, y = next(iter(r.batches(64, np.random.default_rng(0))))
    assert x.shape == (64, 1, 28, 28) and x.dtype == np.float32 and y.shape == (64, 10)
