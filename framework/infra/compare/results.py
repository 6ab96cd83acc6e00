"""results.jsonl: every finished run, appended the moment it finishes.

One line per run, ``{"key": RunSpec.key(), "spec": {...}, "result": {...}}``.
Several sweeps may share a folder (two terminals, a resumed sweep beside a
running one), so the file is shared by processes that know nothing of each
other. Three rules keep every complete record:

- **append only, one record per write**: a record is written whole, with
  its newline, by one ``write`` on a descriptor opened with ``O_APPEND``,
  then ``fsync``'ed, so a sweep killed at any moment (Ctrl-C, a crash, a
  power cut) leaves every run that finished before it;
- **a lock around every access**: appends hold an exclusive ``flock`` on the
  file, reads a shared one, so a reader never sees half a record that another
  process is still writing, and two appends never interleave;
- **recovery only under the lock**: a last line without its newline can then
  only be what a writer killed mid-write left. The next append, holding the
  exclusive lock, cuts it (or, if it is a whole record that lost only its
  newline, ends it), so the next record starts on a fresh line. Opening the
  log and reading it change nothing. (The old code trimmed on opening, without
  a lock, and so cut records another sweep was appending at that moment.)

Reading checks every complete line: a line that is not UTF-8, not JSON, or
not a record (an object with a string ``key`` and ``spec`` and ``result``
objects) is a ``ResultsFileError`` naming the file and the line, never a
traceback from deep inside the sweep. ``finished()`` counts an ``ok`` run as
finished only if its result holds its metrics (``is_complete``): a record
cut down by hand or by an older program is run again rather than reported.
"""
import contextlib
import fcntl
import json
import os

import numpy as np

# what an ok result must hold for the tables and curves (report.METRICS reads these)
FINAL_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
BEST_KEYS = ("epoch", "val_loss", "val_accuracy")
_TAIL_CHUNK = 1 << 16


class ResultsFileError(ValueError):
    """A line of results.jsonl that is not a record: names the file and the line."""

    def __init__(self, path, line, problem):
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{path} line {line}: {problem}; fix or delete that line (the "
                         f"other runs are kept), or move the file away to start over")


class ResultsLog:
    """The append-only, lock-protected results file of one sweep folder."""

    FILENAME = "results.jsonl"

    def __init__(self, folder):
        self.path = os.path.join(folder, self.FILENAME)
        os.makedirs(folder, exist_ok=True)

    def finished(self):
        """{run key: result} of the complete ok runs on file (the latest line of a key
        wins: a later failed or incomplete line means the run is to be done again)."""
        done = {}
        for entry in self.entries():
            result = entry["result"]
            if is_complete(result):
                done[entry["key"]] = result
            else:
                done.pop(entry["key"], None)
        return done

    def entries(self):
        """Every complete line, checked and parsed, in file order (a last line
        without its newline is a write in progress or a torn one: not a record)."""
        with self._locked(fcntl.LOCK_SH, create=False) as fd:
            if fd is None:
                return []
            data = _read_all(fd)
        lines = data.split(b"\n")[:-1]          # the part after the last newline is no line
        return [_parse(self.path, number, line) for number, line in enumerate(lines, 1)
                if line.strip()]

    def append(self, spec, result):
        """Append one run's record durably: under the exclusive lock, mend a torn
        tail, write the whole line at once, fsync. On an error (a full disk, Ctrl-C)
        the file is cut back to what it held, so no half record is left."""
        line = json.dumps({"key": spec.key(), "spec": spec.to_dict(), "result": result},
                          sort_keys=True, default=_plain, allow_nan=True) + "\n"
        self.append_bytes(line.encode("utf-8"))

    def append_bytes(self, data):
        """Append ``data`` (whole lines) as ``append`` does; the race tests use it."""
        with self._locked(fcntl.LOCK_EX, create=True) as fd:
            _mend_tail(fd)
            size = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(data):      # one call unless the disk is full
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except BaseException:
                os.ftruncate(fd, size)
                raise

    @contextlib.contextmanager
    def _locked(self, operation, create):
        """A descriptor of the file holding ``flock(operation)``; None if the file
        does not exist and ``create`` is False. Reopens if the file was replaced or
        removed while this process waited, so the lock is always on the file that
        the path names (a lock on a deleted file would protect nothing)."""
        flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT) if create else os.O_RDONLY
        while True:
            try:
                fd = os.open(self.path, flags | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                if create:
                    raise
                yield None
                return
            try:
                _lock(fd, operation, self.path)
                if _same_file(fd, self.path):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        try:
            yield fd
        finally:
            os.close(fd)            # closing the descriptor releases the lock


def is_complete(result):
    """True for an ok result that holds what the tables need: ``final`` and ``best``
    metrics (numbers, or None where a run has none) and a ``history`` with records."""
    if not isinstance(result, dict) or result.get("status") != "ok":
        return False
    history = result.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("records"), list):
        return False
    for section, keys in (("final", FINAL_KEYS), ("best", BEST_KEYS)):
        metrics = result.get(section)
        if not isinstance(metrics, dict) or any(
                key not in metrics or not _is_metric(metrics[key]) for key in keys):
            return False
    return True


def _is_metric(value):
    """None or a number (NaN and inf included: a diverged run is a finished run)."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _parse(path, number, line):
    """One line as a record dict; ResultsFileError naming the line otherwise."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ResultsFileError(path, number, f"not UTF-8 text (byte 0x{line[error.start]:02x} "
                                             f"at column {error.start + 1})") from None
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFileError(path, number, f"not JSON ({error.msg} at column "
                                             f"{error.colno})") from None
    if not isinstance(entry, dict):
        raise ResultsFileError(path, number, f"expected a record (a JSON object), got "
                                             f"{_preview(text)}")
    for key, kind in (("key", str), ("spec", dict), ("result", dict)):
        if not isinstance(entry.get(key), kind):
            raise ResultsFileError(path, number, f"a record needs {key!r} as a JSON "
                                                 f"{'string' if kind is str else 'object'}, "
                                                 f"got {_preview(json.dumps(entry.get(key)))}")
    return entry


def _preview(text, limit=40):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _lock(fd, operation, path):
    """``flock`` the descriptor; a file system without locks is an OSError naming the
    log (appending without the lock could cut another sweep's record)."""
    try:
        fcntl.flock(fd, operation)
    except OSError as error:
        raise OSError(error.errno, f"{path}: cannot lock the results log "
                                   f"({error.strerror}); use a --runs-dir on a local "
                                   f"file system") from None


def _same_file(fd, path):
    """True if ``fd`` is the file ``path`` names now."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _mend_tail(fd):
    """Under the exclusive lock: a last line without its newline was left by a writer
    killed mid-write. A whole record that lost only its newline gets it back; anything
    else after the last newline is cut. Complete lines are never touched."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    start = _last_line_start(fd, size)
    tail = os.pread(fd, size - start, start)
    if _is_whole_record(tail):
        os.write(fd, b"\n")
    else:
        os.ftruncate(fd, start)
    os.fsync(fd)


def _last_line_start(fd, size):
    """The offset just after the last newline before ``size`` (0 if there is none)."""
    end = size
    while end > 0:
        begin = max(0, end - _TAIL_CHUNK)
        found = os.pread(fd, end - begin, begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _is_whole_record(data):
    try:
        _parse("", 0, data)
    except ValueError:
        return False
    return True


def _plain(value):
    """NumPy scalars as JSON numbers; anything else JSON lacks (a dtype) as its text."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
