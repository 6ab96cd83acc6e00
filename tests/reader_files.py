"""Helpers for the data-reader tests: tiny files in each real format, the real
data folder, and a local HTTP server.

Every writer produces bytes in exactly the published layout (big-endian idx
headers, 3,073-byte CIFAR records, the Kaggle CSV with its quoting and
``1.225e+006`` prices, the textbook's npz keys), so a parser that passes here
parses the real files.
"""
import contextlib
import gzip
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

HOUSE_HEADER = ("id,date,price,bedrooms,bathrooms,sqft_living,sqft_lot,floors,waterfront,"
                "view,condition,grade,sqft_above,sqft_basement,yr_built,yr_renovated,"
                "zipcode,lat,long,sqft_living15,sqft_lot15")


def real_data_dir(subfolder):
    """The real data folder (``$MINIFRAMEWORK_DATA`` or ``../shared/data``), or skip."""
    root = os.environ.get("MINIFRAMEWORK_DATA")
    root = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    folder = root / subfolder
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} does not exist "
                    "(set MINIFRAMEWORK_DATA to the shared data folder)")
    return folder


def idx_bytes(array, magic, count=None):
    """An idx file: big-endian magic, dims (count overridable), then uint8 payload."""
    array = np.asarray(array, dtype=np.uint8)
    dims = list(array.shape)
    if count is not None:
        dims[0] = count
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


def write_bytes(path, data, gz):
    path = Path(str(path) + ".gz") if gz else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_set(folder, n_train=12, n_test=5, gz=True, seed=0):
    """Write the four idx files; return (train_images, train_labels, test_images, test_labels)."""
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8))
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for name, array in zip(names, arrays):
        write_bytes(Path(folder) / name, idx_bytes(array, 2051 if array.ndim == 3 else 2049),
                    gz)
    return arrays


def cifar_bytes(images, labels):
    """Records of 1 label byte + 3,072 pixel bytes (R, G, B planes, 32x32 each)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(labels), -1)
    return np.hstack([np.asarray(labels, np.uint8).reshape(-1, 1), images]).tobytes()


def write_cifar_set(folder, per_file=4, n_test=3, seed=0, meta=True):
    """Write data_batch_1..5.bin, test_batch.bin (and batches.meta.txt)."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, per_file, dtype=np.uint8)
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_bytes(x, y))
        train_x.append(x)
        train_y.append(y)
    test_x = rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8)
    test_y = rng.integers(0, 10, n_test, dtype=np.uint8)
    (folder / "test_batch.bin").write_bytes(cifar_bytes(test_x, test_y))
    if meta:
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                 "horse", "ship", "truck"]
        (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    return np.concatenate(train_x), np.concatenate(train_y), test_x, test_y


def house_rows(n, seed=0):
    """``n`` plausible Kaggle-style rows (lists of strings), with quoting applied."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        price = int(rng.integers(80_000, 3_000_000))
        price_text = f"{price / 1e6:.4g}e+006" if price >= 1_000_000 else str(price)
        built = int(rng.integers(1900, 2014))
        renovated = int(rng.choice([0, 0, 0, built + 10]))
        living = int(rng.integers(500, 6000))
        basement = int(rng.integers(0, living // 2))
        rows.append([f'"{1000 + i}"', f'"2014{int(rng.integers(5, 13)):02d}'
                     f'{int(rng.integers(1, 29)):02d}T000000"', price_text,
                     str(int(rng.integers(1, 6))), str(rng.choice([1, 1.5, 2.25])),
                     str(living), str(int(rng.integers(1000, 20000))),
                     f'"{rng.choice([1, 1.5, 2])}"', str(int(rng.integers(0, 2))),
                     str(int(rng.integers(0, 5))), str(int(rng.integers(1, 6))),
                     str(int(rng.integers(4, 12))), str(living - basement), str(basement),
                     str(built), str(renovated), f'"{98000 + int(rng.integers(1, 200))}"',
                     f"{47.2 + rng.random() * 0.5:.4f}", f"{-122.5 + rng.random() * 0.7:.3f}",
                     str(int(rng.integers(500, 6000))), str(int(rng.integers(1000, 20000)))])
    return rows


def write_house_csv(path, rows):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HOUSE_HEADER + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def row_price(row):
    return float(row[2])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/short/"):
            # promise more bytes than are sent, then close: a broken download
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@contextlib.contextmanager
def serve_folder(folder):
    """Serve ``folder`` on 127.0.0.1 (a free port) for the duration of a test."""
    handler = lambda *a, **k: _QuietHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
