"""Atomic replacement of the target file with a finished in-memory image.

The image is written with plain ``os.write`` to a temporary file
``.<name>.<16 hex>.tmp`` beside the target, ``fsync``ed and ``os.replace``d onto
the target. Any OS failure raises ``WeightsFileError`` naming the target, the
old file stays as it was and the temporary file is removed; temporary files
left by killed saves are removed by the next save (docs/reliability.md lists
the guarantees).
"""
import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import threading
import time

from ...errors import WeightsFileError

WRITE_PIECE = 1 << 24
STALE_SECONDS = 2.0              # younger temporary files may belong to a running save


def check_target(path, target, folder):
    """Refuse targets we must not replace; return an existing file's permission bits."""
    if str(path).endswith((os.sep, "/")) or os.path.basename(str(path)) in ("", ".", ".."):
        raise WeightsFileError(path, "cannot save: the path names a folder, not a file "
                                     "(give a file name such as 'net.h5'); nothing was written")
    if not os.path.isdir(folder):
        problem = "does not exist" if not os.path.lexists(folder) else "is not a folder"
        raise WeightsFileError(path, f"cannot save: the folder {folder} {problem}")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise WeightsFileError(path, f"cannot save: {describe_os_error(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise WeightsFileError(path, f"cannot save: the target is {file_kind(info.st_mode)}, not a "
                                     "regular file; nothing was written")
    return stat.S_IMODE(info.st_mode)


def file_kind(mode):
    """What a non-regular file is, for error messages ("a directory", ...)."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def describe_os_error(error):
    """An OSError without its file name (which may be the temporary file's)."""
    code = errno.errorcode.get(error.errno, "") if error.errno else ""
    text = error.strerror or type(error).__name__
    return f"{text} ({code})" if code else text


def write_atomically(path, target, folder, name, image, mode):
    """Write ``image`` to a locked temporary file, fsync it and replace ``target``."""
    _remove_stale_temps(folder, name)
    _check_size_limit(path, len(image))
    tmp = fd = None
    try:
        with _sigxfsz_ignored():
            tmp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0), 0o644)
            _lock(fd)
            if mode is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, mode)
                else:
                    os.chmod(tmp, mode)
            _write_all(fd, image)
            os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, target)
        tmp = None
        _fsync_folder(folder)
    except OSError as error:
        problem = describe_os_error(error)
        if error.errno == errno.EFBIG:
            problem += f": the {len(image)}-byte file exceeds the file size limit (ulimit -f)"
        raise WeightsFileError(path, f"cannot save: {problem}; the previous file, if any, is "
                                     "unchanged") from None
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_all(fd, data):
    """Write all of ``data`` in pieces (os.write may write less than asked)."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.write(fd, view[offset:offset + WRITE_PIECE])


def _check_size_limit(path, size):
    """Fail before writing if RLIMIT_FSIZE cannot hold the file (works in any thread)."""
    try:
        import resource
    except ImportError:
        return
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY and size > soft:
        raise WeightsFileError(path, f"cannot save: File too large (EFBIG): the {size}-byte file "
                                     f"exceeds the file size limit of {soft} bytes (ulimit -f); "
                                     "the previous file, if any, is unchanged")


@contextlib.contextmanager
def _sigxfsz_ignored():
    """Make exceeding the file-size limit fail with EFBIG instead of killing the process.

    Signal handlers can only be changed in the main thread; elsewhere the
    size pre-check in _check_size_limit is the protection.
    """
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(sig, signal.SIG_IGN)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(sig, signal.SIG_DFL if previous is None else previous)


def _lock(fd):
    """Mark our temporary file as in use, so another save does not remove it."""
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        pass


def _temp_pattern(name):
    """Temporary files of saves to ``name``: ours (16 hex) and mkstemp's (8 chars, before)."""
    return re.compile(rf"\.{re.escape(name)}\.(?:[0-9a-f]{{16}}|[a-z0-9_]{{8}})\.tmp")


def _remove_stale_temps(folder, name):
    """Remove regular files left by killed saves of this target.

    Not ones still in use: a running save holds an flock on its file, and a file
    changed in the last STALE_SECONDS may be one just created, not yet locked.
    """
    pattern = _temp_pattern(name)
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry):
            continue
        full = os.path.join(folder, entry)
        with contextlib.suppress(OSError):
            info = os.lstat(full)
            if (stat.S_ISREG(info.st_mode) and time.time() - info.st_mtime >= STALE_SECONDS
                    and not _in_use(full)):
                os.unlink(full)


def _in_use(full):
    """True if a running save holds the lock on ``full`` (or it is not a regular file)."""
    try:
        import fcntl
    except ImportError:
        return False
    fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False
    finally:
        os.close(fd)


def _fsync_folder(folder):
    """Make the rename durable; not all systems can fsync a folder."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
