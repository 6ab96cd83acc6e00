"""Where data lives, and checksummed, atomic downloads.

The data root is, in order: the ``data_dir`` argument, the environment
variable ``MINIFRAMEWORK_DATA``, then ``~/.cache/miniframework``; each data
set has its own sub-folder (``mnist/``, ``fashion-mnist/``, ``cifar10/``,
``house/``).

A download goes to a temporary file in the target folder, is hashed while it
streams, and is renamed into place with ``os.replace`` only when its checksum
matches. So a reader never sees a half-written or corrupted file, and any
failure (HTTP error, short read, checksum mismatch, Ctrl-C) removes the
temporary file, and folders it had to create are removed again. Archives
are extracted member by member after rejecting absolute paths, ``..`` and
links, and never through a symlink already in the destination.
"""
import hashlib
import http.client
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import DataFileError

ENV_VAR = "MINIFRAMEWORK_DATA"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file we know how to fetch and check: name, mirrors, checksums."""

    name: str
    urls: tuple
    md5: str = None
    sha256: str = None

    def describe(self):
        """The file's name and checksums, for messages about it."""
        sums = ", ".join(f"{k} {v}" for k, v in (("sha256", self.sha256),
                                                  ("md5", self.md5)) if v)
        return f"{self.urls[0]} ({sums})"


def resolve_data_dir(data_dir=None, subfolder=None):
    """Return the folder of one data set (not created here).

    A ``data_dir`` that already ends in ``subfolder`` is taken as the data
    set's own folder, so both ``data_dir=root`` and ``data_dir=root/mnist``
    work.
    """
    if data_dir is not None:
        root = Path(data_dir).expanduser()
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR]).expanduser()
    else:
        root = Path.home() / ".cache" / "miniframework"
    if subfolder is None or root.name == subfolder:
        return root
    return root / subfolder


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_file(remote, folder, download=False, progress=True):
    """Return ``folder/remote.name``, fetching it first if allowed.

    Without ``download`` a missing file is a ``DataFileError`` that gives
    the URL, the checksum and the target path, so the user can fetch it by
    hand.
    """
    target = Path(folder) / remote.name
    if target.is_file():
        return target
    if not download:
        raise DataFileError(target, "file not found. Download it from "
                            f"{remote.describe()} to this path, or pass download=True")
    return fetch(remote.urls, target, sha256=remote.sha256, md5=remote.md5,
                 progress=progress)


def fetch(urls, target, sha256=None, md5=None, progress=True, timeout=60):
    """Download the first mirror in ``urls`` that yields the right bytes.

    ``progress`` is True (a tqdm bar on stderr), False, or a callable
    ``progress(done_bytes, total_bytes_or_None)``. Raises ``DataFileError``
    listing every mirror's failure; never leaves a partial file behind.
    """
    if sha256 is None and md5 is None:
        raise ValueError("fetch: refusing to download without a checksum")
    urls = [urls] if isinstance(urls, str) else list(urls)
    target = Path(target)
    created = _missing_folders(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch_first(urls, target, sha256, md5, progress, timeout)
    except BaseException:
        _remove_empty(created)
        raise


def _missing_folders(folder):
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders):
    """Remove the folders a failed download created, if nothing else was put in them."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _fetch_first(urls, target, sha256, md5, progress, timeout):
    failures = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                   dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                digests = _stream(url, out, target.name, progress, timeout)
            for algo, expected in (("sha256", sha256), ("md5", md5)):
                got = digests[algo].hexdigest()
                if expected is not None and got != expected.lower():
                    raise DataFileError(url, f"{algo} mismatch: expected {expected}, "
                                        f"got {got}")
            os.replace(tmp, target)
            return target
        except (OSError, http.client.HTTPException, DataFileError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataFileError(target, "download failed: " + "; ".join(failures))


def _stream(url, out, label, progress, timeout):
    digests = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar, callback = None, progress if callable(progress) else None
        if progress is True:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=label,
                       file=sys.stderr, leave=True)
        done = 0
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                for d in digests.values():
                    d.update(chunk)
                done += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                if callback is not None:
                    callback(done, total)
        finally:
            if bar is not None:
                bar.close()
    if total is not None and done != total:
        raise DataFileError(url, f"truncated download: {done} of {total} bytes")
    return digests


def _check_destination(archive, dest, parts, is_dir):
    """Refuse a member whose path in ``dest`` passes through (or is) a symlink or a
    non-folder that already exists there: moving the file into place would follow it
    out of ``dest``."""
    where = Path(dest)
    for index, part in enumerate(parts):
        where = where / part
        try:
            info = os.lstat(where)
        except FileNotFoundError:
            return
        last = index == len(parts) - 1
        if stat.S_ISLNK(info.st_mode):
            raise DataFileError(archive, f"member {'/'.join(parts)!r}: {where} already "
                                "exists as a symbolic link; refusing to extract through it")
        if (not last or is_dir) and not stat.S_ISDIR(info.st_mode):
            raise DataFileError(archive, f"member {'/'.join(parts)!r}: {where} already "
                                "exists and is not a folder")
        if last and not is_dir and not stat.S_ISREG(info.st_mode):
            raise DataFileError(archive, f"member {'/'.join(parts)!r}: {where} already "
                                "exists and is not a regular file")


def safe_extract_tar(archive, dest):
    """Extract a tar archive into ``dest``, refusing anything unsafe.

    Only regular files and directories with relative paths that stay inside
    ``dest`` are accepted; a link, a device, an absolute path or a ``..``
    component is a ``DataFileError`` and nothing is extracted, and so is a
    member whose path in ``dest`` already holds a symlink (or a file where a
    folder must be). Files are
    unpacked into a temporary folder first and moved into place one by one,
    so a damaged archive leaves no half-written file in ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = PurePosixPath(m.name).parts
                if not (m.isfile() or m.isdir()):
                    raise DataFileError(archive, f"member {m.name!r} is not a regular "
                                        "file or folder (links are refused)")
                if (m.name.startswith(("/", "\\")) or ".." in parts or ":" in m.name
                        or "\\" in m.name or not parts):
                    raise DataFileError(archive, f"member {m.name!r} has an unsafe path")
                _check_destination(archive, dest, parts, m.isdir())
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **kwargs)
        written, root = [], os.path.realpath(dest)
        for m in members:
            if m.isfile():
                final = dest / m.name
                final.parent.mkdir(parents=True, exist_ok=True)
                if os.path.commonpath([root, os.path.realpath(final.parent)]) != root:
                    raise DataFileError(archive, f"member {m.name!r} would be written "
                                        f"outside {dest}")
                os.replace(tmp / m.name, final)
                written.append(final)
        return written
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataFileError(archive, f"cannot extract: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
