"""CIFAR-10 binary reader on generated batches in the exact record format."""
import io
import tarfile

import numpy as np
import pytest
from reader_files import cifar_bytes, write_cifar_set

from datareaders import CifarImageReader, DataFileError
from datareaders.download import safe_extract_tar


def test_reads_generated_batches(tmp_path):
    train_x, train_y, test_x, test_y = write_cifar_set(tmp_path / "cifar10"
                                                       / "cifar-10-batches-bin")
    r = CifarImageReader(tmp_path, mode="image").read_data()
    assert r.x_train.shape == (20, 3, 32, 32) and r.x_test.shape == (3, 3, 32, 32)
    assert r.x_train.dtype == np.float32
    np.testing.assert_allclose(r.x_train, train_x / 255, rtol=1e-6)
    np.testing.assert_array_equal(r.y_train.ravel(), train_y)
    np.testing.assert_array_equal(r.y_test.ravel(), test_y)
    assert r.class_names[6] == "frog" and r.num_category == 10
    r.normalize_y("multiple")
    assert r.y_train.shape == (20, 10)


def test_vector_mode_keeps_channel_planes(tmp_path):
    folder = tmp_path / "cifar10"
    train_x, _, _, _ = write_cifar_set(folder, meta=False)
    r = CifarImageReader(folder).read_data()  # files directly in cifar10/
    assert r.x_train.shape == (20, 3072) and r.num_feature == 3072
    # first 1,024 values are the red plane, row-major
    np.testing.assert_allclose(r.x_train[0, :1024], train_x[0, 0].ravel() / 255, rtol=1e-6)
    np.testing.assert_allclose(r.x_train[0, 2048:], train_x[0, 2].ravel() / 255, rtol=1e-6)


def test_truncated_batch(tmp_path):
    folder = tmp_path / "cifar10"
    write_cifar_set(folder)
    path = folder / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataFileError, match="data_batch_3.bin.*3073-byte records"):
        CifarImageReader(tmp_path).read_data()


def test_bad_label_byte(tmp_path):
    folder = tmp_path / "cifar10"
    write_cifar_set(folder)
    images = np.zeros((2, 3, 32, 32), np.uint8)
    (folder / "test_batch.bin").write_bytes(cifar_bytes(images, [3, 12]))
    with pytest.raises(DataFileError, match="test_batch.bin: record 1 has label 12"):
        CifarImageReader(tmp_path).read_data()


def test_bad_meta_file(tmp_path):
    folder = tmp_path / "cifar10"
    write_cifar_set(folder)
    (folder / "batches.meta.txt").write_text("cat\ndog\n")
    with pytest.raises(DataFileError, match="expected 10 class names, found 2"):
        CifarImageReader(tmp_path).read_data()


def test_missing_set_gives_url_checksum_and_path(tmp_path):
    with pytest.raises(DataFileError) as info:
        CifarImageReader(tmp_path).read_data()
    message = str(info.value)
    assert "cifar-10-binary.tar.gz" in message
    assert "c32a1d4ab5d03f1284b67883e8d87530" in message
    assert str(tmp_path / "cifar10") in message


def make_tar(path, entries):
    """entries: (name, bytes) for files, (name, None, type) for special members."""
    with tarfile.open(path, "w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if len(entry) == 3:
                info.type, info.linkname = entry[2], "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))


@pytest.mark.parametrize("bad", [("../evil.txt", b"x"), ("/tmp/evil.txt", b"x"),
                                 ("dir/../../evil.txt", b"x"),
                                 ("link", None, tarfile.SYMTYPE),
                                 ("hard", None, tarfile.LNKTYPE)])
def test_unsafe_tar_members_are_refused(tmp_path, bad):
    archive = tmp_path / "a.tar.gz"
    make_tar(archive, [("ok/file.txt", b"fine"), bad])
    dest = tmp_path / "out"
    with pytest.raises(DataFileError, match="unsafe path|links are refused"):
        safe_extract_tar(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_writes_files(tmp_path):
    archive = tmp_path / "a.tar.gz"
    make_tar(archive, [("cifar-10-batches-bin/x.bin", b"abc")])
    written = safe_extract_tar(archive, tmp_path / "out")
    assert written == [tmp_path / "out" / "cifar-10-batches-bin" / "x.bin"]
    assert written[0].read_bytes() == b"abc"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["cifar-10-batches-bin"]


def test_corrupt_archive(tmp_path):
    archive = tmp_path / "a.tar.gz"
    make_tar(archive, [("f.bin", bytes(5000))])
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(DataFileError, match="cannot extract"):
        safe_extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
