"""Readers under hostile or clumsy input: byte-order marks, undecodable text, headers
that declare more data than the file holds (refused before allocating), tar members
that would go through an existing symlink, an archive with the right checksum but the
wrong contents, and failed downloads that must leave no folder behind."""
import gzip
import hashlib
import io
import os
import tarfile
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from reader_files import (house_rows, idx_bytes, serve_folder, write_bytes, write_house_csv,
                          write_mnist_set)

from datareaders import ArrayDataReader, CifarImageReader, DataFileError, MnistImageDataReader
from datareaders.cifar import read_class_names
from datareaders.download import RemoteFile, fetch, safe_extract_tar
from datareaders.house import read_house_csv
from datareaders.mnist import IMAGE_MAGIC, LABEL_MAGIC, read_idx
from datareaders.npzfile import read_npz_pair


def _bounded(call, *args):
    """Run ``call``; return (its DataFileError, CPU seconds, peak traced bytes)."""
    start = time.process_time()
    with pytest.raises(DataFileError) as info:
        call(*args)
    seconds = time.process_time() - start
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError):
            call(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info.value, seconds, peak


# ----- CSV text --------------------------------------------------------------------
def test_a_csv_with_a_byte_order_mark_keeps_its_first_column_name(tmp_path):
    """With "date" as the first column, a BOM used to make the header lack "date"."""
    path = write_house_csv(tmp_path / "h.csv", house_rows(3))
    expected = read_house_csv(path)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    order = [header.index("date")] + [i for i in range(len(header)) if header[i] != "date"]
    text = "\n".join(",".join(line.split(",")[i] for i in order) for line in lines) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    x, price = read_house_csv(path)
    np.testing.assert_array_equal(x, expected[0])
    np.testing.assert_array_equal(price, expected[1])


def test_undecodable_csv_and_class_name_files_name_the_file(tmp_path):
    path = write_house_csv(tmp_path / "h.csv", house_rows(3))
    path.write_bytes(path.read_bytes().replace(b"2014", b"20\xff4", 1))
    with pytest.raises(DataFileError, match=r"h\.csv: not UTF-8 text: byte 0xff"):
        read_house_csv(path)
    meta = tmp_path / "batches.meta.txt"
    meta.write_bytes("\n".join(["a"] * 9 + ["caf\xe9"]).encode("latin-1"))
    with pytest.raises(DataFileError, match=r"batches\.meta\.txt: not UTF-8 text: byte 0xe9"):
        read_class_names(meta)
    meta.write_bytes(b"\xef\xbb\xbf" + "\n".join(str(i) for i in range(10)).encode())
    assert read_class_names(meta)[0] == "0"


def test_a_missing_or_unreadable_csv_names_the_file(tmp_path):
    with pytest.raises(DataFileError, match=r"absent\.csv: file not found"):
        read_house_csv(tmp_path / "absent.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataFileError, match=r"folder\.csv: cannot read"):
        read_house_csv(tmp_path / "folder.csv")


# ----- declared sizes: gzip / idx ----------------------------------------------------
def _bomb_idx(count):
    """An idx image header declaring ``count`` images, followed by one real image."""
    return idx_bytes(np.zeros((1, 28, 28), np.uint8), IMAGE_MAGIC, count=count)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_an_idx_header_declaring_far_more_than_the_file_holds_is_refused_first(tmp_path, gz):
    path = write_bytes(tmp_path / "train-images-idx3-ubyte", _bomb_idx(4_000_000), gz)
    error, seconds, peak = _bounded(read_idx, path, IMAGE_MAGIC)
    assert "header promises 4000000 items (3136000000 bytes)" in str(error)
    assert "refused before reading it" in str(error) and str(path) in str(error)
    assert seconds < 0.1 and peak < 1_000_000, (seconds, peak)


def test_a_gzip_whose_size_record_matches_a_huge_claim_is_still_bounded(tmp_path):
    """A forged size record (mod 2**32) cannot get past the deflate ratio limit."""
    data = _bomb_idx(6_000_000)                      # 4.7 GB declared
    packed = bytearray(gzip.compress(data))
    declared = 16 + 6_000_000 * 784
    packed[-4:] = (declared % 2 ** 32).to_bytes(4, "little")
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(packed))
    error, seconds, peak = _bounded(read_idx, path, IMAGE_MAGIC)
    assert "cannot hold more than" in str(error), str(error)
    assert seconds < 0.1 and peak < 1_000_000, (seconds, peak)


def test_good_idx_files_still_read_exactly(tmp_path):
    arrays = write_mnist_set(tmp_path / "mnist", gz=True)
    r = MnistImageDataReader(tmp_path).read_data()
    np.testing.assert_array_equal(r.y_train_raw.ravel(), arrays[1])
    labels = read_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", LABEL_MAGIC)
    np.testing.assert_array_equal(labels, arrays[3])


# ----- declared sizes: npz -------------------------------------------------------------
def _npz_with_header(path, declared_rows, compression):
    """An npz whose data.npy header declares ``declared_rows`` rows but holds one."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (declared_rows, 8)})
    buffer.write(np.zeros(8).tobytes())
    label = io.BytesIO()
    np.lib.format.write_array(label, np.zeros((1, 1)))
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("data.npy", buffer.getvalue())
        zf.writestr("label.npy", label.getvalue())
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED],
                         ids=["stored", "deflated"])
def test_an_npz_header_declaring_far_more_than_the_file_holds_is_refused_first(
        tmp_path, compression):
    path = _npz_with_header(tmp_path / "bomb.npz", 50_000_000, compression)   # 3.2 GB
    error, seconds, peak = _bounded(read_npz_pair, path)
    message = str(error)
    assert "'data' declares shape (50000000, 8)" in message and "before allocating" in message
    assert str(path) in message
    assert seconds < 0.1 and peak < 1_000_000, (seconds, peak)


def test_an_npz_member_claiming_more_than_the_archive_is_refused(tmp_path):
    path = tmp_path / "good.npz"
    np.savez(path, data=np.zeros((3, 2)), label=np.zeros((3, 1)))
    np.testing.assert_array_equal(read_npz_pair(path)[0], np.zeros((3, 2)))
    raw = bytearray(path.read_bytes())
    first = raw.find(b"PK\x01\x02")           # central directory entry of data.npy
    assert raw[first + 46:first + 54] == b"data.npy"
    raw[first + 20:first + 24] = (10 ** 9).to_bytes(4, "little")   # its compressed size
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="'data.npy' claims 1000000000 compressed bytes, "
                       "more than the 576-byte file"):
        read_npz_pair(path)


# ----- tar extraction -------------------------------------------------------------
def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extraction_never_follows_a_symlink_already_in_the_destination(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "cifar-10-batches-bin").symlink_to(outside)
    archive = _tar(tmp_path / "a.tar.gz", [("cifar-10-batches-bin/data_batch_1.bin", b"x")])
    with pytest.raises(DataFileError, match="already exists as a symbolic link"):
        safe_extract_tar(archive, dest)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in dest.iterdir()) == ["cifar-10-batches-bin"]


def test_extraction_does_not_replace_through_a_file_symlink_either(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f.bin").symlink_to(victim)
    with pytest.raises(DataFileError, match="symbolic link"):
        safe_extract_tar(_tar(tmp_path / "a.tar.gz", [("f.bin", b"new")]), dest)
    assert victim.read_bytes() == b"keep me" and (dest / "f.bin").is_symlink()


def test_extraction_refuses_a_file_where_a_folder_must_be(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").write_bytes(b"a file")
    with pytest.raises(DataFileError, match="not a folder"):
        safe_extract_tar(_tar(tmp_path / "a.tar.gz", [("sub/x.bin", b"x")]), dest)
    assert (dest / "sub").read_bytes() == b"a file"


@pytest.mark.parametrize("name", ["a\\..\\..\\evil", "c:evil", "./"])
def test_extraction_refuses_odd_member_paths(tmp_path, name):
    with pytest.raises(DataFileError, match="unsafe path"):
        safe_extract_tar(_tar(tmp_path / "a.tar.gz", [(name, b"x")]), tmp_path / "dest")


# ----- downloads ---------------------------------------------------------------------
@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_folder(folder) as url:
        yield url, folder


def test_an_archive_with_the_right_checksum_but_wrong_contents_is_fetched_once(
        served, tmp_path, monkeypatch):
    url, folder = served
    wrong = _tar(folder / "cifar-10-binary.tar.gz", [("readme.txt", b"not CIFAR")]).read_bytes()
    archive = RemoteFile("cifar-10-binary.tar.gz", (url + "cifar-10-binary.tar.gz",),
                         md5=hashlib.md5(wrong).hexdigest())
    monkeypatch.setattr(CifarImageReader, "archive", archive)
    import datareaders.cifar as cifar
    calls = []
    real_fetch = cifar.ensure_file

    def counting(*args, **kwargs):
        calls.append(args[0].name)
        return real_fetch(*args, **kwargs)
    monkeypatch.setattr(cifar, "ensure_file", counting)
    reader = CifarImageReader(tmp_path / "data", download=True, progress=False)
    for _ in range(2):      # a second try uses the kept archive: still no loop, same error
        with pytest.raises(DataFileError, match="matches its checksum but does not hold "
                           "cifar-10-batches-bin/data_batch_1.bin.*not downloading it again"):
            reader.read_data()
    assert calls == ["cifar-10-binary.tar.gz"] * 2
    assert (tmp_path / "data" / "cifar10" / "cifar-10-binary.tar.gz").read_bytes() == wrong


@pytest.mark.parametrize("where", ["404", "short"])
def test_a_failed_download_leaves_no_empty_folder(served, tmp_path, where):
    url, _ = served
    target = tmp_path / "data" / "new" / "deeper" / "x.bin"
    with pytest.raises(DataFileError, match="download failed"):
        fetch(url + ("missing.bin" if where == "404" else "short/x.bin"), target,
              sha256="0" * 64, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["served"]


def test_a_failed_download_keeps_folders_that_existed(served, tmp_path):
    url, _ = served
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "other.txt").write_text("mine")
    with pytest.raises(DataFileError):
        fetch(url + "missing.bin", tmp_path / "data" / "mnist" / "x.bin", md5="0" * 32,
              progress=False)
    assert sorted(os.listdir(tmp_path / "data")) == ["other.txt"]


# ----- issue 19: the same sample twice, one class, complex input, overflow, options --------
def _breast_cancer_files(tmp_path, x, labels):
    from test_reader_binary import write_sklearn_csv, write_wdbc
    return (write_wdbc(tmp_path / "wdbc.data", x, labels),
            write_sklearn_csv(tmp_path / "breast_cancer.csv", x, labels))


def _cancer_samples(n_malignant=8, n_benign=12):
    from test_reader_binary import _samples
    return _samples(n_malignant, n_benign)


def test_a_repeated_sample_in_the_breast_cancer_file_is_refused(tmp_path):
    """A duplicated wdbc.data line put the same sample into the training and the test set.
    Refused, not dropped: the reader cannot know which copy is right when they differ."""
    from datareaders.breast_cancer import read_breast_cancer
    x, labels = _cancer_samples()
    wdbc, _ = _breast_cancer_files(tmp_path, x, labels)
    lines = wdbc.read_text().splitlines()
    wdbc.write_text("\n".join(lines + [lines[3]]) + "\n")              # the same line again
    with pytest.raises(DataFileError, match=r"wdbc\.data: line 21: the id 842303 repeats "
                                            r"line 4's; a sample twice could be split into "
                                            r"both the training and the test set"):
        read_breast_cancer(wdbc)
    other_id = lines[3].replace("842303", "999999", 1)                   # copied, new id
    wdbc.write_text("\n".join(lines + [other_id]) + "\n")
    with pytest.raises(DataFileError, match=r"line 21: the same 30 features as line 4"):
        read_breast_cancer(wdbc)
    x2 = np.vstack([x, x[5]])                                           # the sklearn layout
    _, csv_path = _breast_cancer_files(tmp_path, x2, np.append(labels, 1 - labels[5]))
    with pytest.raises(DataFileError, match=r"breast_cancer\.csv: line 22: the same 30 "
                                            r"features as line 7"):
        read_breast_cancer(csv_path)


@pytest.mark.parametrize("layout", [0, 1])
def test_a_file_with_one_class_only_is_refused(tmp_path, layout):
    from datareaders.breast_cancer import read_breast_cancer
    x, labels = _cancer_samples(n_malignant=0, n_benign=10)
    path = _breast_cancer_files(tmp_path, x, labels)[layout]
    with pytest.raises(DataFileError, match=rf"{path.name}: only benign samples; a binary "
                                            r"classifier needs samples of both classes"):
        read_breast_cancer(path)


@pytest.mark.parametrize("net_type", ["binary_classifier", "multiple_classifier"])
def test_classification_labels_of_one_class_are_refused(net_type):
    from datareaders import DoubleArcReader
    reader = ArrayDataReader(np.ones((6, 2)), np.zeros(6, int), np.ones((2, 2)),
                             np.array([0, 1]))
    with pytest.raises(ValueError, match=r"y_train: all 6 labels are class 0; a classifier "
                                         r"needs samples of at least two classes"):
        reader.normalize_y(net_type)
    arcs = DoubleArcReader(5, 2).read_data()
    arcs.y_train_raw[:] = 1
    with pytest.raises(ValueError, match=r"all 10 labels are class 1 \(upper arc\)"):
        arcs.normalize_y("binary_classifier")
    reader.normalize_y("fitting")                        # regression: one value is fine


def test_complex_text_and_ragged_inputs_are_refused():
    """ArrayDataReader dropped the imaginary part with a ComplexWarning."""
    y = np.array([0, 1, 0])
    with pytest.raises(ValueError, match=r"x_train: complex values \(dtype complex128\) are "
                                         r"refused: the imaginary part would be dropped"):
        ArrayDataReader(np.ones((3, 2)) + 0.5j, y)
    with pytest.raises(ValueError, match=r"y_test: complex values"):
        ArrayDataReader(np.ones((3, 2)), y, np.ones((2, 2)), np.array([1j, 0]))
    with pytest.raises(ValueError, match=r"x_train: expected real numbers, got dtype <U1 "
                                         r"\(text\)"):
        ArrayDataReader(np.array([["a", "b"]] * 3), y)
    with pytest.raises(ValueError, match=r"x_train: expected real numbers, got dtype "
                                         r"object \(Python objects\)"):
        ArrayDataReader(np.array([[None, 1]] * 3), y)
    with pytest.raises(ValueError, match=r"x_train: expected a rectangular array"):
        ArrayDataReader([[1.0, 2.0], [3.0], [4.0, 5.0]], y)
    with pytest.raises(ValueError, match=r"ArrayDataReader: dtype: expected a floating type"
                                         r".*got None"):
        ArrayDataReader(np.ones((3, 2)), y, dtype=None)        # None is float64 to NumPy
    with pytest.raises(ValueError, match=r"astype: dtype: expected a floating type"):
        ArrayDataReader(np.ones((3, 2)), y).astype(np.int32)


def test_a_value_beyond_the_dtype_is_named_an_overflow_not_nan(tmp_path):
    """1e39 is finite in float64 and inf in float32: it said "contains NaN or inf"."""
    x = np.ones((4, 3))
    x[2, 1] = -1e39
    with pytest.raises(ValueError, match=r"x_train: the value -1e\+39 \(row 2, column 1\) "
                                         r"overflows float32 \(largest 3\.403e\+38\)"):
        ArrayDataReader(x, np.arange(4))
    assert ArrayDataReader(x, np.arange(4), dtype=np.float64).x_train[2, 1] == -1e39
    images = np.ones((2, 1, 2, 2))
    images[1, 0, 1, 0] = 1e39
    with pytest.raises(ValueError, match=r"\(row 1, position \(0, 1, 0\)\) overflows float32"):
        ArrayDataReader(images, np.arange(2))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"x_train contains NaN or inf \(first at row 2\)"):
        ArrayDataReader(x, np.arange(4))
    rows = house_rows(4)
    rows[2][5] = "1e39"                                   # sqft_living, in the file
    path = write_house_csv(tmp_path / "h.csv", rows)
    with pytest.raises(DataFileError, match=r"h\.csv: line 4: column 'sqft_living': '1e39' "
                                            r"overflows float32"):
        read_house_csv(path)
    assert read_house_csv(path, np.float64)[0][2, 2] == 1e39
    from datareaders.breast_cancer import read_breast_cancer
    x, labels = _cancer_samples()
    x[0, 4] = 1e39
    wdbc, _ = _breast_cancer_files(tmp_path, x, labels)
    with pytest.raises(DataFileError, match=r"wdbc\.data: line 1, column 7: '1e\+39' "
                                            r"overflows float32"):
        read_breast_cancer(wdbc)


def _readers():
    from datareaders import (BreastCancerReader, CurveFittingReader, DoubleArcReader,
                             HousePriceReader)
    from datareaders.clusters import GaussianClustersReader
    return {"DoubleArcReader": DoubleArcReader, "CurveFittingReader": CurveFittingReader,
            "BreastCancerReader": BreastCancerReader, "HousePriceReader": HousePriceReader,
            "GaussianClustersReader": GaussianClustersReader}


@pytest.mark.parametrize("reader, options, message", [
    ("DoubleArcReader", {"seed": -1}, r"DoubleArcReader: seed: expected an integer >= 0, "
                                      r"got -1"),
    ("DoubleArcReader", {"seed": "abc"}, r"seed: expected an integer >= 0, got 'abc'"),
    ("DoubleArcReader", {"seed": 1.5}, r"seed: expected an integer >= 0, got 1\.5"),
    ("DoubleArcReader", {"seed": True}, r"seed: expected an integer >= 0, got True"),
    ("DoubleArcReader", {"noise": "0.1"}, r"noise: expected a finite number >= 0, "
                                          r"got '0\.1'"),
    ("DoubleArcReader", {"gap": np.inf}, r"gap: expected a finite number, got inf"),
    ("DoubleArcReader", {"n_train": 10 ** 12}, r"DoubleArcReader\(n_train=1000000000000, "
                                               r"n_test=50\) needs about .*available"),
    ("CurveFittingReader", {"seed": -1}, r"CurveFittingReader: seed: expected an integer"),
    ("CurveFittingReader", {"noise": "0.1"}, r"CurveFittingReader: noise: expected"),
    ("CurveFittingReader", {"n_train": 0}, r"n_train: expected a positive integer, got 0"),
    ("CurveFittingReader", {"n_train": 10 ** 12}, r"needs about .*available"),
    ("BreastCancerReader", {"seed": "abc"}, r"BreastCancerReader: seed: expected an integer"),
    ("BreastCancerReader", {"test_fraction": "0.2"}, r"test_fraction: expected a number in "
                                                     r"\(0, 1\), got '0\.2'"),
    ("HousePriceReader", {"seed": -1}, r"HousePriceReader: seed: expected an integer >= 0"),
    ("HousePriceReader", {"log_price": "no"}, r"log_price: expected True or False, got 'no'"),
    ("GaussianClustersReader", {"classes": 1}, r"classes: expected an integer >= 2, got 1"),
    ("GaussianClustersReader", {"n_train": "600"}, r"n_train: expected a positive integer"),
    ("GaussianClustersReader", {"features": 10 ** 7, "n_train": 10 ** 7},
     r"needs about .*available"),
])
def test_reader_options_are_strict_and_sized_before_anything_is_drawn(reader, options,
                                                                      message):
    """Seeds -1, "abc", 1.5 and noise="0.1" gave NumPy errors; 10**12 points asked NumPy
    for terabytes. Each is refused by the constructor, which allocates nothing."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=message):
            _readers()[reader](**options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_numpy_scalars_are_accepted_as_reader_options():
    from datareaders import BreastCancerReader, DoubleArcReader
    arcs = DoubleArcReader(np.int64(5), np.int32(2), seed=np.uint8(3), noise=np.float32(0.1),
                           gap=np.float16(0.5)).read_data()
    same = DoubleArcReader(5, 2, seed=3, noise=float(np.float32(0.1)),
                           gap=float(np.float16(0.5))).read_data()
    np.testing.assert_array_equal(arcs.x_train, same.x_train)
    assert BreastCancerReader(test_fraction=np.float32(0.25), seed=np.int64(1)).seed == 1
    reader = ArrayDataReader(np.arange(20.0).reshape(10, 2), np.arange(10) % 2)
    reader.generate_validation_set(k=np.int64(5), seed=np.int64(2))
    reader.normalize_y("multiple_classifier", num_category=np.int64(3))
    assert reader.num_category == 3
    with pytest.raises(ValueError, match=r"generate_validation_set: seed: expected an "
                                         r"integer >= 0, got -1"):
        ArrayDataReader(np.ones((10, 2)), np.arange(10) % 2).generate_validation_set(seed=-1)
    with pytest.raises(ValueError, match=r"normalize_x: per_feature: expected True or False"):
        reader.normalize_x(per_feature="no")
    with pytest.raises(ValueError, match=r"batches: copy: expected True or False"):
        reader.batches(4, copy="yes")
    for call in (lambda: reader.batches(4, 3), lambda: reader.shuffle(3)):
        with pytest.raises(ValueError, match=r"rng: expected a numpy.random.Generator"):
            call()


@pytest.mark.parametrize("reader", ["house", "wdbc"])
def test_a_csv_field_over_the_parser_limit_names_the_file_and_line(tmp_path, reader):
    """A field over 131,072 characters gave a bare csv.Error naming nothing."""
    from datareaders.breast_cancer import read_breast_cancer
    if reader == "house":
        rows = house_rows(4)
        rows[2][0] = '"' + "9" * 200_000 + '"'
        path, read, line = write_house_csv(tmp_path / "h.csv", rows), read_house_csv, 4
    else:
        x, labels = _cancer_samples()
        path, _ = _breast_cancer_files(tmp_path, x, labels)
        lines = path.read_text().splitlines()
        lines[5] = "7" * 200_000 + lines[5]
        path.write_text("\n".join(lines) + "\n")
        read, line = read_breast_cancer, 6
    with pytest.raises(DataFileError, match=rf"{path.name}: line {line}: not a CSV record "
                                            r"this reader can parse \(field larger than "
                                            r"field limit \(131072\)\)"):
        read(path)
