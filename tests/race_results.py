"""The results.jsonl race: sweeps appending to one folder while others open it.

Used by ``tests/test_results_log.py`` (small records, one round) and run as a
script at the issue's size, in a loop::

    python tests/race_results.py --loops 20        # 3 writers x 20 one-MB records

Each round starts ``writers`` processes that append ``records`` records of
``size`` bytes each (as a sweep appends its results), ``openers`` processes
that keep opening the log and reading it (as a sweep that starts or resumes
does) and, with ``--crashers``, processes that append too and are killed with
SIGKILL at random moments, mid-write or not (a Ctrl-C'd or crashed sweep).
Then it reads the file back: every writer's record must be there exactly once
and whole (each carries the SHA-256 of its padding); a killed process's
records may be missing, never damaged.
"""
import argparse
import fcntl
import hashlib
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":      # run from a clone: import the framework beside tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.infra.compare import ResultsLog, results  # noqa: E402


def RECORD(writer, index, size, kind="w"):  # noqa: N802  (a record factory, read like data)
    """One results line of about ``size`` bytes: key, an empty spec, a padded result
    carrying the digest of its padding."""
    pad = hashlib.shake_128(f"{kind}{writer}-{index}".encode()).hexdigest(max(1, size // 2))
    result = {"status": "ok", "pad": pad, "sha": hashlib.sha256(pad.encode()).hexdigest()}
    return (json.dumps({"key": f"{kind}{writer}-{index}", "spec": {}, "result": result})
            + "\n").encode()


def _append(folder, data):
    log = ResultsLog(folder)
    if hasattr(log, "append_bytes"):
        log.append_bytes(data)
    else:                           # the code before the fix: one unlocked O_APPEND write
        fd = os.open(log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def _writer(folder, writer, records, size, kind="w"):
    for index in range(records):
        _append(folder, RECORD(writer, index, size, kind))


def _crasher(folder, writer, size, progress):
    """Appends like a sweep on a slow disk: the record goes out in 64 KB pieces, so a
    kill often lands in the middle of one. ``progress`` holds the bytes of the record
    in flight written so far (0 between records), for the report."""
    index = 0
    while True:                     # until killed
        data = RECORD(writer, index, size, "c")
        log = ResultsLog(folder)
        if hasattr(log, "_locked"):
            with log._locked(fcntl.LOCK_EX, create=True) as fd:
                results._mend_tail(fd)          # what append_bytes does before writing
                _write_slowly(fd, data, progress)
        else:
            fd = os.open(log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            _write_slowly(fd, data, progress)
            os.close(fd)
        index += 1


def _write_slowly(fd, data, progress):
    for start in range(0, len(data), 1 << 16):
        os.write(fd, data[start:start + (1 << 16)])
        progress.value = min(len(data), start + (1 << 16))
        time.sleep(0.0005)
    progress.value = 0


def _opener(folder, stop):
    while not stop.is_set():
        try:
            ResultsLog(folder).entries()
        except ValueError:          # the old code could read a line another process cut
            pass


def run_race(folder, writers=3, records=20, size=1_000_000, openers=2, crashers=0,
             seed=0):
    """One round in ``folder``; the report of ``check_log``, plus the kills made."""
    folder = str(folder)
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    readers = [ctx.Process(target=_opener, args=(folder, stop)) for _ in range(openers)]
    for process in readers:
        process.start()
    time.sleep(0.05)
    procs = [ctx.Process(target=_writer, args=(folder, w, records, size))
             for w in range(writers)]
    for process in procs:
        process.start()
    kills, torn, rng, serial = 0, 0, random.Random(seed), 0
    while any(p.is_alive() for p in procs):
        if crashers:
            progress = [ctx.Value("q", 0, lock=False) for _ in range(crashers)]
            victims = [ctx.Process(target=_crasher, args=(folder, serial + k, size, done))
                       for k, done in enumerate(progress)]
            serial += crashers
            for process in victims:
                process.start()
            time.sleep(rng.uniform(0.01, 0.15))
            for process, done in zip(victims, progress):
                os.kill(process.pid, signal.SIGKILL)
                process.join()
                kills += 1
                torn += done.value > 0      # it died with part of a record written
        else:
            time.sleep(0.01)
    for process in procs:
        process.join()
    stop.set()
    for process in readers:
        process.join()
    report = check_log(os.path.join(folder, ResultsLog.FILENAME),
                       dict.fromkeys(range(writers), records))
    report["kills"], report["torn"] = kills, torn
    return report


def check_log(path, expected):
    """What the file holds: ``complete`` writer records, the ``lost`` ones (keys of
    ``expected`` = {writer: records} that are missing), ``damaged`` lines (not a
    record, or a digest mismatch), ``duplicates``, and killed writers' records kept."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()              # after the last newline: a torn write, not a record
    seen, damaged, duplicates, crashed = set(), 0, 0, 0
    for line in lines:
        try:
            entry = json.loads(line)
            pad = entry["result"]["pad"]
            intact = hashlib.sha256(pad.encode()).hexdigest() == entry["result"]["sha"]
        except (ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            damaged += 1
            continue
        if entry["key"].startswith("c"):
            crashed += 1
        elif entry["key"] in seen:
            duplicates += 1
        seen.add(entry["key"])
    wanted = {f"w{w}-{i}" for w, count in expected.items() for i in range(count)}
    return {"complete": len(wanted & seen), "lost": sorted(wanted - seen),
            "damaged": damaged, "duplicates": duplicates, "killed_kept": crashed,
            "torn_tail_bytes": len(tail)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--openers", type=int, default=2)
    parser.add_argument("--crashers", type=int, default=1)
    args = parser.parse_args(argv)
    failures = 0
    total = {"complete": 0, "lost": 0, "damaged": 0, "kills": 0, "killed_kept": 0,
             "torn": 0}
    for loop in range(args.loops):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            report = run_race(folder, args.writers, args.records, args.size, args.openers,
                              args.crashers, seed=loop)
        bad = report["lost"] or report["damaged"] or report["duplicates"]
        failures += bool(bad)
        for key in total:
            total[key] += len(report[key]) if key == "lost" else report[key]
        print(f"round {loop + 1:2d}: {report['complete']}/{args.writers * args.records} "
              f"records complete, lost {len(report['lost'])}, damaged {report['damaged']}, "
              f"duplicates {report['duplicates']}, {report['kills']} writers killed "
              f"({report['torn']} mid-write; {report['killed_kept']} of their records "
              f"kept whole), "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    print(f"{args.loops} rounds: {total['complete']} records complete, {total['lost']} lost, "
          f"{total['damaged']} damaged, {total['kills']} writers killed "
          f"({total['torn']} mid-write, each torn tail mended by the next append); "
          f"{'FAILED' if failures else 'no loss'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
