"""MNIST / Fashion-MNIST idx reader: tiny generated files, bad files, real data."""
import gzip

import numpy as np
import pytest
from reader_files import idx_bytes, real_data_dir, write_bytes, write_mnist_set

from datareaders import DataFileError, FashionMnistDataReader, MnistImageDataReader
from datareaders.download import file_digest
from datareaders.mnist import DATASETS, remote_files


@pytest.mark.parametrize("gz", [True, False])
def test_reads_generated_idx_files(tmp_path, gz):
    train_x, train_y, test_x, test_y = write_mnist_set(tmp_path / "mnist", gz=gz)
    r = MnistImageDataReader(tmp_path).read_data()
    assert r.x_train.shape == (12, 784) and r.x_test.shape == (5, 784)
    assert r.x_train.dtype == np.float32 and r.y_train.shape == (12, 1)
    np.testing.assert_allclose(r.x_train, train_x.reshape(12, -1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(r.y_test.ravel(), test_y)
    assert 0 <= r.x_train.min() and r.x_train.max() <= 1
    assert r.num_feature == 784 and r.num_category == 10


def test_image_mode_and_one_hot(tmp_path):
    train_x, train_y, _, _ = write_mnist_set(tmp_path / "mnist")
    r = MnistImageDataReader(tmp_path, mode="image", dtype=np.float64).read_data()
    assert r.x_train.shape == (12, 1, 28, 28) and r.x_train.dtype == np.float64
    np.testing.assert_allclose(r.x_train[3, 0], train_x[3] / 255)
    r.normalize_y("multiple")
    assert r.y_train.shape == (12, 10)
    np.testing.assert_array_equal(r.y_train.argmax(axis=1), train_y)
    r.generate_validation_set(k=4)
    assert r.num_validation == 3 and r.num_train == 9
    assert r.num_feature == 784


def test_raw_file_wins_and_data_dir_may_name_the_subfolder(tmp_path):
    write_mnist_set(tmp_path / "mnist", gz=True, seed=0)
    _, train_y, _, _ = write_mnist_set(tmp_path / "mnist", gz=False, seed=1)
    r = MnistImageDataReader(tmp_path / "mnist").read_data()
    np.testing.assert_array_equal(r.y_train.ravel(), train_y)


def test_environment_variable_sets_the_data_root(tmp_path, monkeypatch):
    write_mnist_set(tmp_path / "fashion-mnist")
    monkeypatch.setenv("MINIFRAMEWORK_DATA", str(tmp_path))
    r = FashionMnistDataReader().read_data()
    assert r.folder == tmp_path / "fashion-mnist" and r.num_train == 12
    assert r.class_names[9] == "Ankle boot"


def test_rejects_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        MnistImageDataReader(mode="matrix")


def corrupt(tmp_path, name, data, gz=True):
    write_mnist_set(tmp_path / "mnist")
    write_bytes(tmp_path / "mnist" / name, data, gz)
    if not gz:
        (tmp_path / "mnist" / f"{name}.gz").unlink()
    return MnistImageDataReader(tmp_path)


def test_wrong_magic_number(tmp_path):
    images = np.zeros((12, 28, 28), np.uint8)
    r = corrupt(tmp_path, "train-images-idx3-ubyte", idx_bytes(images, 2049))
    with pytest.raises(DataFileError, match="train-images.*magic number 2049, expected 2051"):
        r.read_data()


def test_truncated_payload(tmp_path):
    data = idx_bytes(np.zeros((12, 28, 28), np.uint8), 2051)[:-100]
    r = corrupt(tmp_path, "train-images-idx3-ubyte", data, gz=False)
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte: truncated"):
        r.read_data()


def test_truncated_gzip_stream(tmp_path):
    write_mnist_set(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataFileError, match="t10k-images.*gzip"):
        MnistImageDataReader(tmp_path).read_data()


def test_header_shorter_than_itself(tmp_path):
    r = corrupt(tmp_path, "train-labels-idx1-ubyte", b"\x00\x00\x08")
    with pytest.raises(DataFileError, match="train-labels.*truncated"):
        r.read_data()


def test_trailing_bytes(tmp_path):
    data = idx_bytes(np.zeros(12, np.uint8), 2049) + b"\x01"
    r = corrupt(tmp_path, "train-labels-idx1-ubyte", data)
    with pytest.raises(DataFileError, match="trailing"):
        r.read_data()


def test_image_label_count_mismatch(tmp_path):
    r = corrupt(tmp_path, "train-labels-idx1-ubyte", idx_bytes(np.zeros(11, np.uint8), 2049))
    with pytest.raises(DataFileError, match="12 images but train-labels.* 11 labels"):
        r.read_data()


def test_wrong_image_size(tmp_path):
    r = corrupt(tmp_path, "t10k-images-idx3-ubyte",
                idx_bytes(np.zeros((5, 27, 28), np.uint8), 2051))
    with pytest.raises(DataFileError, match="27x28, expected 28x28"):
        r.read_data()


def test_label_out_of_range(tmp_path):
    r = corrupt(tmp_path, "t10k-labels-idx1-ubyte", idx_bytes([1, 2, 10, 0, 0], 2049))
    with pytest.raises(DataFileError, match="label 10"):
        r.read_data()


def test_missing_file_gives_url_checksum_and_path(tmp_path):
    with pytest.raises(DataFileError) as info:
        MnistImageDataReader(tmp_path).read_data()
    message = str(info.value)
    remote = remote_files("mnist")[0]
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert remote.urls[0] in message and remote.sha256 in message
    assert "download=True" in message


# ---------------------------------------------------------------- real data
def check_real(dataset, first_labels):
    folder = real_data_dir(DATASETS[dataset]["folder"])
    for remote in remote_files(dataset):
        path = folder / remote.name
        assert file_digest(path, "sha256") == remote.sha256, path
        assert file_digest(path, "md5") == remote.md5, path
    r = MnistImageDataReader(folder.parent, dataset=dataset).read_data()
    assert (r.num_train, r.num_test, r.num_feature) == (60_000, 10_000, 784)
    assert r.x_train.dtype == np.float32
    assert r.x_train.min() == 0 and r.x_train.max() == 1
    assert set(np.unique(r.y_train)) == set(range(10)) == set(np.unique(r.y_test))
    np.testing.assert_array_equal(r.y_train[:10].ravel(), first_labels)
    return r


def test_real_mnist():
    r = check_real("mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    r.normalize_y("multiple")
    r.generate_validation_set(k=10)
    assert (r.num_train, r.num_validation) == (54_000, 6_000)
    counts = np.bincount(r.y_val_raw.ravel(), minlength=10)
    totals = np.bincount(np.r_[r.y_train_raw.ravel(), r.y_val_raw.ravel()])
    assert np.all(np.abs(counts - totals / 10) <= 1)  # stratified


def test_real_fashion_mnist():
    with gzip.open(real_data_dir("fashion-mnist") / "train-labels-idx1-ubyte.gz") as f:
        first = np.frombuffer(f.read()[8:18], np.uint8)
    r = check_real("fashion", first)
    assert r.class_names[0] == "T-shirt/top"
    assert np.all(np.bincount(r.y_train.ravel()) == 6000)
