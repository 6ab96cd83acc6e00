"""results.jsonl: every finished run, appended the moment it finishes.

One line per run, ``{"key": RunSpec.key(), "spec": {...}, "result": {...}}``,
written with a single ``write`` on a file opened for appending, then flushed
and fsync'ed, so a sweep killed at any moment (Ctrl-C, a crash, a power cut)
leaves every run that finished before it. Starting the same sweep again reads
the file and skips the runs whose key already has an ``ok`` result: the
interrupted sweep resumes, and runs that failed are tried again.

A line cut short by a crash is the file's last one (appends only add at the
end); opening the log drops it, so the next append starts on a fresh line.
"""
import json
import os

import numpy as np


class ResultsLog:
    """The append-only results file of one sweep folder."""

    FILENAME = "results.jsonl"

    def __init__(self, folder):
        self.path = os.path.join(folder, self.FILENAME)
        os.makedirs(folder, exist_ok=True)
        self._drop_torn_tail()

    def finished(self):
        """{run key: result} of the ok runs on file (the latest line of a key wins)."""
        done = {}
        for entry in self.entries():
            result = entry.get("result", {})
            if result.get("status") == "ok":
                done[entry["key"]] = result
            else:
                done.pop(entry["key"], None)
        return done

    def entries(self):
        """Every complete line, parsed, in file order."""
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.endswith("\n")]

    def append(self, spec, result):
        """Append one run's line durably (one write, flush, fsync)."""
        line = json.dumps({"key": spec.key(), "spec": spec.to_dict(), "result": result},
                          sort_keys=True, default=_plain) + "\n"
        data = line.encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = 0
            while written < len(data):      # one call unless the disk is full
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)

    def _drop_torn_tail(self):
        """Cut a last line that a crash left without its newline."""
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())


def _plain(value):
    """NumPy scalars as JSON numbers; anything else JSON lacks (a dtype) as its text."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
