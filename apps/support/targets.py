"""Output paths checked before any work starts, so a bad one costs no training.

``--save`` and ``--metrics-json`` name files, ``--plot-dir`` a folder, and the
plots are files in it named after the run. Every one of them is checked
before any data is read:

- refused with one line naming the flag: a file path that is a folder, a
  target that is not a regular file (a FIFO or device would swallow or block
  the write), a path that runs through a file, a folder we cannot write into.
  "Cannot write" is found by creating (and at once removing) a small file in
  the nearest folder that exists, not by permission bits alone, so ``/proc``,
  a read-only mount or a full quota is refused even for root;
- a file that already exists is not replaced unless ``--overwrite`` is given:
  a run never silently replaces the weights or figures of an earlier run.

A folder that does not exist yet is fine when it can be made (it is made
only when something is written into it, so a refused run leaves nothing
behind).
"""
import os
import stat
import tempfile
from pathlib import Path

from .flags import UsageError

OVERWRITE_HINT = "pass --overwrite to replace it, or give the run another --name"


def check_file_target(flag, path, overwrite=True, hint=OVERWRITE_HINT):
    """Refuse ``path`` as a file to write for ``flag`` (an existing file too, unless
    ``overwrite``); return it as a Path."""
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
    if not overwrite:
        raise UsageError(f"{flag}: {path} already exists (an earlier run's); {hint}")
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
    """The nearest existing ancestor of ``folder`` must be a folder we can write into."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag}: cannot create {target}: {existing} is a file, "
                         "not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: cannot write {target}: folder {existing} is not writable")
    try:
        handle, probe = tempfile.mkstemp(prefix=".miniframework-probe-", dir=existing)
    except OSError as error:
        raise UsageError(f"{flag}: cannot write {target}: creating a file in {existing} "
                         f"failed ({error.strerror or error})") from None
    os.close(handle)
    os.unlink(probe)


def make_parent(path):
    """Create the folder of ``path`` (checked earlier by ``check_file_target``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
