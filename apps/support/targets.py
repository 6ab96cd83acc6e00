"""Output paths checked before any work starts, so a bad one costs no training.

``--save`` and ``--metrics-json`` name files, ``--plot-dir`` a folder. A
folder that does not exist yet is fine when it can be made (it is made only
when something is written into it, so a refused run leaves nothing behind);
refused, each with one line naming the flag: a file path that is a folder, a
target that is not a regular file (a FIFO or device would swallow or block the
write), a target or folder we may not write, a path that runs through a file.
"""
import os
import stat
from pathlib import Path

from .flags import UsageError


def check_file_target(flag, path):
    """Refuse ``path`` as a file to (over)write for ``flag``; return it as a Path."""
    path = Path(path)
    if str(path) in ("", ".") or path.name in ("", ".", ".."):
        raise UsageError(f"{flag}: expected a file path, got {str(path)!r}")
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        _check_folder_can_hold(flag, path.parent, path)
        return path
    except OSError as error:
        raise UsageError(f"{flag}: cannot use {path}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{flag}: {path} is a folder; expected a file path")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{flag}: {path} is not a regular file (a FIFO, socket or device)")
    if not os.access(path, os.W_OK):
        raise UsageError(f"{flag}: {path} is not writable")
    _check_folder_can_hold(flag, path.parent, path)
    return path


def check_folder_target(flag, path):
    """Refuse ``path`` as a folder to write files into for ``flag``; return it as a Path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag}: {path} is a file; expected a folder")
    _check_folder_can_hold(flag, path, path)
    return path


def _check_folder_can_hold(flag, folder, target):
    """The nearest existing ancestor of ``folder`` must be a writable folder."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag}: cannot create {target}: {existing} is a file, "
                         "not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: cannot write {target}: folder {existing} is not writable")


def make_parent(path):
    """Create the folder of ``path`` (checked earlier by ``check_file_target``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
