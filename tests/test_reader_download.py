"""Downloads against a local HTTP server on 127.0.0.1 started by the test."""
import hashlib
import io
import tarfile

import numpy as np
import pytest
from reader_files import serve_folder, write_cifar_set, write_mnist_set

import datareaders.mnist as mnist_module
from datareaders import CifarImageReader, DataFileError, MnistImageDataReader
from datareaders.download import RemoteFile, ensure_file, fetch, resolve_data_dir

PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes: several progress updates


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "blob.bin").write_bytes(PAYLOAD)
    with serve_folder(served) as url:
        yield url, served


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_shows_progress(server, tmp_path, capfd):
    url, _ = server
    target = tmp_path / "data" / "sub" / "blob.bin"
    fetch(url + "blob.bin", target, sha256=sha256(PAYLOAD),
          md5=hashlib.md5(PAYLOAD).hexdigest())
    assert target.read_bytes() == PAYLOAD
    assert leftovers(target.parent) == ["blob.bin"]  # no temporary file left
    err = capfd.readouterr().err
    assert "blob.bin" in err and "100%" in err and "205k" in err


def test_progress_callback(server, tmp_path):
    url, _ = server
    calls = []
    fetch(url + "blob.bin", tmp_path / "b", sha256=sha256(PAYLOAD),
          progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    url, _ = server
    target = tmp_path / "d" / "blob.bin"
    with pytest.raises(DataFileError, match="sha256 mismatch: expected 0+, got "
                       + sha256(PAYLOAD)):
        fetch(url + "blob.bin", target, sha256="0" * 64, progress=False)
    assert leftovers(target.parent) == []


def test_http_404_leaves_nothing(server, tmp_path):
    url, _ = server
    target = tmp_path / "d" / "x.bin"
    with pytest.raises(DataFileError, match="404"):
        fetch(url + "missing.bin", target, md5="0" * 32, progress=False)
    assert leftovers(target.parent) == []


def test_broken_connection_leaves_nothing(server, tmp_path):
    url, _ = server
    target = tmp_path / "d" / "x.bin"
    with pytest.raises(DataFileError, match="download failed"):
        fetch(url + "short/x.bin", target, sha256="0" * 64, progress=False)
    assert leftovers(target.parent) == []


def test_falls_back_to_next_mirror_and_keeps_existing(server, tmp_path):
    url, _ = server
    remote = RemoteFile("blob.bin", (url + "nope/blob.bin", url + "blob.bin"),
                        sha256=sha256(PAYLOAD))
    path = ensure_file(remote, tmp_path / "d", download=True, progress=False)
    assert path.read_bytes() == PAYLOAD
    path.write_bytes(b"already here")  # an existing file is used as is
    assert ensure_file(remote, tmp_path / "d", download=True).read_bytes() == b"already here"


def test_refuses_download_without_checksum(tmp_path):
    with pytest.raises(ValueError, match="checksum"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x")


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIFRAMEWORK_DATA", raising=False)
    assert resolve_data_dir(None, "mnist").parts[-3:] == (".cache", "miniframework", "mnist")
    monkeypatch.setenv("MINIFRAMEWORK_DATA", str(tmp_path))
    assert resolve_data_dir(None, "house") == tmp_path / "house"
    assert resolve_data_dir(tmp_path / "x", "house") == tmp_path / "x" / "house"
    assert resolve_data_dir(tmp_path / "house", "house") == tmp_path / "house"


def test_mnist_reader_downloads_missing_files(server, tmp_path, monkeypatch):
    url, served = server
    arrays = write_mnist_set(served, gz=True)
    real = mnist_module.remote_files("mnist")
    local = tuple(RemoteFile(r.name, (url + r.name,),
                             sha256=sha256((served / r.name).read_bytes())) for r in real)
    monkeypatch.setattr(mnist_module, "remote_files", lambda dataset: local)
    r = MnistImageDataReader(tmp_path / "data", download=True, progress=False).read_data()
    np.testing.assert_array_equal(r.y_train.ravel(), arrays[1])
    assert leftovers(tmp_path / "data" / "mnist") == sorted(x.name for x in local)


def test_cifar_reader_downloads_and_extracts(server, tmp_path, monkeypatch):
    url, served = server
    _, train_y, _, _ = write_cifar_set(tmp_path / "src")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted((tmp_path / "src").iterdir()):
            tar.add(path, arcname=f"cifar-10-batches-bin/{path.name}")
    (served / "cifar-10-binary.tar.gz").write_bytes(buffer.getvalue())
    archive = RemoteFile("cifar-10-binary.tar.gz", (url + "cifar-10-binary.tar.gz",),
                         md5=hashlib.md5(buffer.getvalue()).hexdigest())
    monkeypatch.setattr(CifarImageReader, "archive", archive)
    r = CifarImageReader(tmp_path / "data", download=True, progress=False).read_data()
    np.testing.assert_array_equal(r.y_train.ravel(), train_y)
    assert leftovers(tmp_path / "data" / "cifar10") == ["cifar-10-batches-bin"]
