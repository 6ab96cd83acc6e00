"""Time loading all of MNIST (train + test) from the .gz idx files.

The textbook's reader unpacks one image at a time with ``struct``; ours
decompresses each file in one call and views it with ``np.frombuffer``.
Target: under 1.5 s on the project's machines.

    python bench/bench_readers.py [--data-dir DIR] [--repeat 3] [--dataset mnist]

The data root is ``--data-dir``, else ``$MINIFRAMEWORK_DATA``, else
``~/.cache/miniframework``, and must hold ``mnist/*.gz`` (or
``fashion-mnist/``).
"""
import argparse
import time

from datareaders import MnistImageDataReader


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist")
    parser.add_argument("--mode", choices=("vector", "image"), default="vector")
    args = parser.parse_args(argv)
    times = []
    for _ in range(max(1, args.repeat)):
        reader = MnistImageDataReader(args.data_dir, mode=args.mode, dataset=args.dataset)
        if any(not p.name.endswith(".gz") for p in reader.files()):
            parser.error(f"{reader.folder} holds decompressed files; this times the .gz")
        start = time.perf_counter()
        reader.read_data()
        times.append(time.perf_counter() - start)
        del reader
    print(f"{args.dataset} ({args.mode}): {reader_summary(times)}")
    return min(times)


def reader_summary(times):
    runs = ", ".join(f"{t:.3f}" for t in times)
    return (f"70,000 images loaded from .gz in {min(times):.3f} s "
            f"(best of {len(times)}; runs: {runs}); target < 1.5 s")


if __name__ == "__main__":
    main()
