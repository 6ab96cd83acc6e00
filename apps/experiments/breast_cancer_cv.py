"""Experiment 9: the breast-cancer app's net against scikit-learn, by repeated cross-validation.

    python apps/experiments/breast_cancer_cv.py [--repeats 10] [--folds 5]
    python apps/experiments/breast_cancer_cv.py --search     # choose the app's defaults

Ten 80/20 splits cannot separate classifiers that differ by a sample or two:
with 113 test samples one sample is 0.88 points. Repeated stratified k-fold
cross-validation tests every one of the 569 samples once per repeat, so 10 x
5-fold gives 50 scores and 5,690 test predictions per model, and every model
sees exactly the same folds (they are drawn here from the repeat's seed, per
class, so no library decides them).

Compared, each fitted on the training folds only and z-scored with their
statistics (as the app does):

- the app's net: ``apps/binary_classify.py --dataset breast-cancer`` as it
  runs by default (its defaults, its 1/10 validation hold-out, its seed);
- scikit-learn's ``LogisticRegression()``, ``SVC()`` (RBF kernel) and
  ``MLPClassifier(max_iter=2000)``, with their default settings (the bench
  extra: ``pip install -e ".[bench]"``; without scikit-learn they are left
  out and the table says so).

The app's defaults must be chosen on data other than the reported scores:
``--search`` scores a grid of candidate nets and the peers on the selection
repeats (fold seeds 101, 102, ...; ``--search --repeats 30`` is how the
defaults were chosen) and ranks them; the report uses repeats 1, 2, ... .
"""
import sys
import time
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from datareaders.base import ArrayDataReader  # noqa: E402
from datareaders.breast_cancer import BreastCancerReader, read_breast_cancer  # noqa: E402
from framework import HyperParameters, NetType, NeuralNet, mlp_specs  # noqa: E402
from framework.plotting import FONT_SIZE  # noqa: E402

from apps.binary_classify import BinaryClassify  # noqa: E402
from apps.support import sweeps as common  # noqa: E402
from apps.support.skeleton import VALIDATION_SEED  # noqa: E402

NAME = "breast_cancer_cv"
QUICK = {"repeats": 1, "folds": 3}
SELECTION_SEED = 101        # the search's repeats use fold seeds 101, 102, ...
APP = "MiniFramework binary_classify (30-8-1)"

# --search: the candidates, as changes to the app's defaults (30-8-1 sigmoid, Xavier, Adam
# lr 0.003, batch 32, L2 0.003, 300 epochs, the last weights, no validation hold-out)
CANDIDATES = {
    "the defaults": {},
    "before: Adam 0.01, 100 ep., 1/10 held out": {"lr": 0.01, "epochs": 100,
                                                   "holdout": 10},
    "1/10 held out for validation": {"holdout": 10},
    "Adam 0.01, 100 epochs": {"lr": 0.01, "epochs": 100},
    "500 epochs": {"epochs": 500},
    "Adam 0.002": {"lr": 0.002},
    "L2 0.001": {"l2": 0.001},
    "L2 0.007": {"l2": 0.007},
    "L2 0.01": {"l2": 0.01},
    "L2 0.014": {"l2": 0.014},
    "30-16-1": {"hidden": (16,)},
    "30-8-8-1": {"hidden": (8, 8)},
    "tanh": {"activation": "tanh"},
    "softplus": {"activation": "softplus"},
    "30-32-1, dropout 0.5": {"hidden": (32,), "dropout": 0.5},
    "30-32-1 ReLU (MSRA), dropout 0.5": {"hidden": (32,), "activation": "relu",
                                         "init": "msra", "dropout": 0.5},
    "30-1 (logistic regression), L2 0.002": {"hidden": (), "l2": 0.002},
    "Momentum 0.03": {"optimizer": "momentum", "lr": 0.03},
    "batch 64": {"batch_size": 64},
}


# ------------------------------------------------------------------- the data
def load(data_dir):
    """(x (569, 30) float64, labels (569,) int) in the file's order."""
    reader = BreastCancerReader(data_dir)
    x, labels = read_breast_cancer(reader.file())
    return np.asarray(x, dtype=np.float64), np.asarray(labels).ravel().astype(int)


def stratified_folds(labels, folds, seed):
    """``folds`` arrays of test rows: each class shuffled by ``seed`` and dealt round
    the folds, so every fold keeps the class mix and every row is tested once."""
    rng = np.random.default_rng([seed, 22])
    assigned = np.empty(labels.shape[0], dtype=int)
    offset = 0
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        assigned[rows] = (np.arange(rows.size) + offset) % folds
        offset += rows.size
    return [np.flatnonzero(assigned == f) for f in range(folds)]


def splits(labels, folds, seeds):
    """[(repeat seed, train rows, test rows), ...] for every fold of every repeat."""
    found = []
    for seed in seeds:
        for test in stratified_folds(labels, folds, seed):
            train = np.setdiff1d(np.arange(labels.shape[0]), test)
            found.append((seed, train, test))
    return found


# --------------------------------------------------------------- the models
def app_settings(overrides=None):
    """The app's breast-cancer defaults as a dict (``overrides`` changed)."""
    defaults = BinaryClassify.DEFAULTS["breast-cancer"]
    settings = {"hidden": defaults.hidden, "activation": defaults.activation,
                "init": defaults.init, "optimizer": defaults.optimizer, "lr": defaults.lr,
                "batch_size": defaults.batch_size, "epochs": defaults.epochs,
                "l2": defaults.l2, "dropout": defaults.dropout, "keep": defaults.keep,
                "holdout": defaults.holdout, "seed": 1}
    settings.update(overrides or {})
    return settings


def app_net_accuracy(x, labels, train, test, settings):
    """Test accuracy of the app's net trained as the app trains it: z-scored with the
    training rows' statistics, 1/holdout of them held out for validation (none with
    holdout 0), the app's hyper-parameters and seed."""
    reader = ArrayDataReader(x[train], labels[train].reshape(-1, 1),
                             x[test], labels[test].reshape(-1, 1))
    reader.normalize_x(fit_on="train", method="z_score")
    reader.normalize_y(NetType.BINARY_CLASSIFIER)
    if settings["holdout"]:
        reader.generate_validation_set(k=settings["holdout"], seed=VALIDATION_SEED)
    regular = ("l2", settings["l2"]) if settings["l2"] else ("nothing", 0.0)
    params = HyperParameters(learning_rate=settings["lr"], max_epoch=settings["epochs"],
                             batch_size=settings["batch_size"],
                             net_type=NetType.BINARY_CLASSIFIER, init_method=settings["init"],
                             optimizer_name=settings["optimizer"], regular_name=regular[0],
                             regular_value=regular[1], seed=settings["seed"])
    specs = mlp_specs(settings["hidden"], 1, settings["activation"], False,
                      settings["dropout"], classifier="logistic")
    net = NeuralNet.from_specs(params, specs, x.shape[1], "breast_cancer")
    net.train(reader, checkpoint=1.0, need_test=False, verbose=0,
              restore_best=settings["keep"] == "best")
    x_test, y_test = reader.get_test_set()
    predicted = (net.inference(x_test.astype(params.dtype)) >= 0.5).astype(int).ravel()
    return float((predicted == y_test.astype(int).ravel()).mean())


def peers():
    """{name: make an unfitted scikit-learn model} with default settings, or {} when
    scikit-learn is not installed."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
        from sklearn.svm import SVC
    except ImportError:
        return {}
    return {"LogisticRegression()": LogisticRegression,
            "SVC() (RBF kernel)": SVC,
            "MLPClassifier(max_iter=2000)": lambda: MLPClassifier(max_iter=2000,
                                                                   random_state=1)}


def peer_accuracy(make, x, labels, train, test):
    """Test accuracy of a scikit-learn model fitted on the z-scored training rows."""
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0
    model = make()
    model.fit((x[train] - mean) / std, labels[train])
    return float((model.predict((x[test] - mean) / std) == labels[test]).mean())


def score(model, x, labels, folds, log):
    """The accuracy on every fold of ``folds`` (a list), with the seconds taken."""
    started, scores = time.perf_counter(), []
    for seed, train, test in folds:
        scores.append(model(x, labels, train, test))
    seconds = time.perf_counter() - started
    log(f"{len(scores)} folds in {seconds:.1f} s: mean {100 * np.mean(scores):.3f} %")
    return scores, seconds


def summary(scores, sizes):
    """Mean and sample std of the fold accuracies (%), and the pooled accuracy over
    every test prediction (each sample counted once per repeat)."""
    scores = np.asarray(scores)
    pooled = float(np.sum(scores * sizes) / np.sum(sizes))
    return {"mean": 100 * float(scores.mean()),
            "std": 100 * float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
            "pooled": 100 * pooled, "folds": int(scores.size),
            "errors": int(round(np.sum((1 - scores) * sizes)))}


# ----------------------------------------------------------------- the runs
def report(experiment, x, labels):
    """The app's default net and the peers on the reported repeats."""
    args = experiment.args
    folds = splits(labels, args.folds, range(args.seed, args.seed + args.repeats))
    sizes = np.array([test.size for _, _, test in folds])
    settings = app_settings()
    models = {APP: lambda x_, y_, tr, te: app_net_accuracy(x_, y_, tr, te, settings)}
    found = peers()
    models.update({name: (lambda make: lambda x_, y_, tr, te: peer_accuracy(make, x_, y_, tr,
                                                                              te))(make)
                   for name, make in found.items()})
    rows = {}
    for name, model in models.items():
        experiment.log(f"{name}:")
        scores, seconds = score(model, x, labels, folds, experiment.log)
        rows[name] = {**summary(scores, sizes), "seconds": seconds, "scores": scores}
    experiment.settings.update(app_net=settings, peers_installed=bool(found))
    return rows, folds


def search(experiment, x, labels):
    """Every candidate, and the peers, on the selection repeats; ranked by mean
    accuracy (the peers are the bar to clear there too)."""
    args = experiment.args
    folds = splits(labels, args.folds, range(SELECTION_SEED, SELECTION_SEED + args.repeats))
    sizes = np.array([test.size for _, _, test in folds])
    rows = {}
    for name, overrides in CANDIDATES.items():
        settings = app_settings(overrides)
        experiment.log(f"{name}:")
        scores, seconds = score(
            lambda x_, y_, tr, te: app_net_accuracy(x_, y_, tr, te, settings), x, labels,
            folds, experiment.log)
        rows[name] = {**summary(scores, sizes), "seconds": seconds, "scores": scores,
                      "overrides": {k: list(v) if isinstance(v, tuple) else v
                                    for k, v in overrides.items()}}
    for name, make in peers().items():
        experiment.log(f"{name}:")
        scores, seconds = score(lambda x_, y_, tr, te: peer_accuracy(make, x_, y_, tr, te), x,
                                labels, folds, experiment.log)
        rows[f"scikit-learn {name}"] = {**summary(scores, sizes), "seconds": seconds,
                                        "scores": scores}
    return rows, folds


def table(rows, args, searching):
    """The rows as Markdown, best mean first for a search."""
    seeds = SELECTION_SEED if searching else args.seed
    what = (f"fold seeds {seeds}-{seeds + args.repeats - 1}"
            + (" (the selection repeats; the report uses others)" if searching else ""))
    lines = [f"{args.repeats} x {args.folds}-fold stratified cross-validation of the 569 "
             f"samples, {what}; the same folds for every model. Accuracy per fold: mean ± "
             f"sample std over the {args.repeats * args.folds} folds; pooled: over all "
             f"{args.repeats * 569} test predictions.", "",
             "| model | mean ± std (%) | pooled (%) | errors | seconds |", "|---|---|---|---|---|"]
    order = sorted(rows, key=lambda n: -rows[n]["mean"]) if searching else list(rows)
    for name in order:
        row = rows[name]
        lines.append(f"| {name} | {row['mean']:.2f} ± {row['std']:.2f} | "
                     f"{row['pooled']:.2f} | {row['errors']} | {row['seconds']:.1f} |")
    if not searching and len(rows) == 1:
        lines += ["", "scikit-learn is not installed (pip install -e \".[bench]\"): the peers "
                      "are left out."]
    return "\n".join(lines) + "\n"


def plot(experiment, rows, searching):
    """Each model's fold accuracies as dots, its mean and ± 1 std as a bar."""
    names = sorted(rows, key=lambda n: rows[n]["mean"]) if searching else list(rows)[::-1]
    fig = experiment.figure(10, max(3.8, 1.2 + 0.45 * len(names)))
    ax = fig.add_subplot(1, 1, 1)
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        scores = 100 * np.asarray(rows[name]["scores"])
        ours = not (name in peers() or name.startswith("scikit-learn"))
        ax.scatter(scores, i + rng.uniform(-0.18, 0.18, scores.size), s=10, alpha=0.45,
                   color="C0" if ours else "C1", edgecolors="none")
        ax.errorbar(rows[name]["mean"], i, xerr=rows[name]["std"], fmt="D", color="black",
                    capsize=4, markersize=5)
    ax.set_yticks(range(len(names)), labels=names, fontsize=FONT_SIZE - 1)
    ax.set_xlabel("test accuracy per fold (%)")
    ax.grid(alpha=0.3, axis="x")
    args = experiment.args
    ax.set_title(f"Breast cancer, {args.repeats} x {args.folds}-fold cross-validation, the "
                 f"same folds for all\ndots: folds (blue: MiniFramework, orange: "
                 f"scikit-learn); diamonds: mean ± 1 std", fontsize=FONT_SIZE + 1)
    return fig


def make_parser():
    """The experiment's flags."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], seed=False, quick=QUICK)
    group = parser.add_argument_group(NAME)
    positive = common.flags.positive_int
    group.add_argument("--repeats", type=positive, default=10,
                       help="repeats of the cross-validation (fold seeds --seed, --seed + 1, "
                            "...)")
    group.add_argument("--folds", type=positive, default=5, help="folds per repeat")
    group.add_argument("--seed", type=common.flags.non_negative_int, default=1,
                       help="fold seed of the first reported repeat")
    group.add_argument("--search", action="store_true",
                       help=f"score the candidate nets on the selection repeats (fold seeds "
                            f"{SELECTION_SEED}, ...) instead of the report")
    group.add_argument("--data-dir", default=None, metavar="DIR",
                       help="data root (default: $MINIFRAMEWORK_DATA, else "
                            "~/.cache/miniframework)")
    return parser


def body(experiment):
    """The report (or the search): the table, the figure, the JSON line."""
    args = experiment.args
    if args.folds < 2:
        raise common.flags.UsageError("--folds: expected at least 2")
    x, labels = load(args.data_dir)
    experiment.settings.update(repeats=args.repeats, folds=args.folds, seed=args.seed,
                               search=args.search, samples=int(labels.size))
    rows, folds = (search if args.search else report)(experiment, x, labels)
    experiment.metrics.update({name: {k: v for k, v in row.items() if k != "scores"}
                               for name, row in rows.items()})
    for name, row in rows.items():
        experiment.variants.append({"variant": name, "fold_accuracies": row["scores"]})
    experiment.draw("scores", lambda: plot(experiment, rows, args.search))
    experiment.write_table(table(rows, args, args.search))


def default_name(args):
    """breast_cancer_cv[_search][_quick]: the run's files."""
    return "_".join([NAME] + (["search"] if args.search else [])
                    + (["quick"] if args.quick else []))


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("scores",),
                      name_of=default_name)


if __name__ == "__main__":
    sys.exit(main())
