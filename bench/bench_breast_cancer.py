"""Breast-cancer test accuracy: the app's net against scikit-learn on the very same splits.

    python bench/bench_breast_cancer.py [--seeds 1 2 ... 10] [--data-dir DIR]

For each seed, ``BreastCancerReader(seed=S)`` makes the stratified 80/20 split
that ``apps/binary_classify.py --dataset breast-cancer --seed S`` uses; the
features are z-scored with the training part's statistics (``normalize_x(fit_on="train", method="z_score")``).
On that split it trains the app's default net (through the app itself, in
process) and scikit-learn's ``LogisticRegression()`` and
``MLPClassifier(max_iter=2000, random_state=S)`` with their default settings,
and prints the test accuracy of each, per seed and as mean ± sample std.
Accuracies quoted from other splits are not comparable: with 113 test samples
one sample is 0.88 %, and which of the set's few hard samples fall into the
test part moves the mean by a percent. Needs the ``bench`` extra (scikit-learn).
"""
import argparse
import json
import os
import statistics
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT]


def split(seed, data_dir):
    """(x_train, y_train, x_test, y_test) of the app's split for ``seed``, z-scored."""
    from datareaders import BreastCancerReader
    reader = BreastCancerReader(data_dir, seed=seed).read_data()
    reader.normalize_x(fit_on="train", method="z_score")
    return (reader.x_train, reader.y_train_raw.ravel(), reader.x_test,
            reader.y_test_raw.ravel())


def app_accuracy(seed, data_dir, tmp):
    """The app's test accuracy for ``seed`` (its default net and settings)."""
    import contextlib
    import io

    from apps import binary_classify
    out = io.StringIO()
    argv = ["--dataset", "breast-cancer", "--seed", str(seed), "--verbose", "0",
            "--no-save", "--no-plots", "--metrics-json", os.path.join(tmp, "m.json")]
    if data_dir:
        argv += ["--data-dir", data_dir]
    with contextlib.redirect_stdout(out):
        status = binary_classify.main(argv)
    if status:
        raise RuntimeError(f"binary_classify exited {status}")
    with open(os.path.join(tmp, "m.json"), encoding="utf-8") as f:
        return json.load(f)["metrics"]["test_accuracy"]


def sklearn_accuracies(seed, data_dir):
    """{model: test accuracy} of scikit-learn's defaults on the app's split."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    x_train, y_train, x_test, y_test = split(seed, data_dir)
    models = {"sklearn LogisticRegression": LogisticRegression(),
              "sklearn MLPClassifier": MLPClassifier(max_iter=2000, random_state=seed)}
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, model in models.items():
            scores[name] = float(model.fit(x_train, y_train).score(x_test, y_test))
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)))
    parser.add_argument("--data-dir", default=os.environ.get("MINIFRAMEWORK_DATA"))
    args = parser.parse_args()
    import tempfile
    columns = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row = {"MiniFramework app": app_accuracy(seed, args.data_dir, tmp)}
            row.update(sklearn_accuracies(seed, args.data_dir))
            for name, value in row.items():
                columns.setdefault(name, []).append(value)
            print(f"seed {seed:2d}: " + ", ".join(f"{n} {100 * v:.2f} %"
                                                for n, v in row.items()), flush=True)
    print(f"\n| model | mean test accuracy over seeds {args.seeds[0]}..{args.seeds[-1]} |")
    print("|---|---|")
    for name, values in columns.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {name} | {100 * statistics.mean(values):.2f} % ± {100 * spread:.2f} |")


if __name__ == "__main__":
    main()
