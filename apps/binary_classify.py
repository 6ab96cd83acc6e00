"""Binary classifiers: the textbook's double-arc net and the Wisconsin breast-cancer data.

``--dataset double-arc`` (default) is the textbook's ch14 "Level3" test of
the framework's binary path: two noisy, interleaved sine arcs (generated
from the seed, see datareaders/double_arc.py), separated by its 2-3-1 net:
two inputs, three sigmoid units, one output through the Logistic classifier
(``NetType.BINARY_CLASSIFIER``, binary cross-entropy). The textbook trains
with SGD at lr 0.1, batch 5, Xavier init, until the loss is below 0.02
(about 400 epochs); the default here keeps its net, batch, init and stop
loss but uses Adam at lr 0.02, which gets there in 100-200 epochs.
It writes the decision boundary: the net's probability over the plane, with
the samples on top.

``--dataset breast-cancer`` reads the real diagnostic data (569 samples, 30
features; ``breast_cancer.csv`` or the UCI ``wdbc.data`` under
``<data>/breast-cancer/``), splits 20 % of each class off for testing with
--seed (so ``--seed 1`` .. ``--seed 10`` are ten different splits),
z-scores the features with the training part's statistics and trains a
30-8-1 sigmoid net (Adam lr 0.01, L2 0.003, 100 epochs; chosen on seeds
11-40, see docs/results.md for seeds 1-10: 97.6 % on average). It writes
the confusion matrix.

Both print the test accuracy and end with the JSON result line. Plot files
carry the run's name (data set and seed, or the loaded weights' name).

    python apps/binary_classify.py
    python apps/binary_classify.py --dataset breast-cancer --seed 3
    python apps/binary_classify.py --load weights/double_arc.h5
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cli  # noqa: E402

cli.add_repo_to_path()

APP = "binary_classify"
DATASETS = ("double-arc", "breast-cancer")
DEFAULTS = {
    "double-arc": cli.AppDefaults(
        hidden=(3,), epochs=500, batch_size=5, lr=0.02, optimizer="adam", init="xavier",
        activation="sigmoid", checkpoint=1.0, keep="best", save="weights/double_arc.h5",
        extra={"stop_loss": 0.02}),
    "breast-cancer": cli.AppDefaults(
        hidden=(8,), epochs=100, batch_size=32, lr=0.01, optimizer="adam", init="xavier",
        activation="sigmoid", checkpoint=1.0, keep="last", l2=0.003,
        save="weights/breast_cancer.h5", extra={"stop_loss": 0.0}),
}
VALIDATION_FOLDS = 10
VALIDATION_SEED = 0
AXIS_LABELS = ("x1 (position along the arc)", "x2 (height)")


def _chosen_dataset(argv):
    """The --dataset in ``argv``, read before the parser is built, so --help shows
    that data set's defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--dataset", default=DATASETS[0])
    known, _ = pre.parse_known_args(argv)
    return known.dataset if known.dataset in DATASETS else DATASETS[0]


def make_parser(dataset):
    defaults = DEFAULTS[dataset]
    parser = cli.make_parser(
        APP, "Train (or --load and evaluate) a binary classifier (logistic output).",
        defaults, epilog="Defaults shown are those of the chosen --dataset. Data: the "
        "double arc is generated; breast cancer is <data>/breast-cancer/breast_cancer.csv "
        "or wdbc.data.")
    parser.add_argument("--dataset", choices=DATASETS, default=DATASETS[0],
                        help="the textbook's generated double arc, or the Wisconsin "
                             "breast-cancer data")
    parser.add_argument("--data-seed", type=cli.non_negative_int, default=None,
                        help="seed of the generated arcs or of the train/test split "
                             "(default: --seed)")
    parser.add_argument("--arc-points", type=cli.positive_int, default=200, metavar="N",
                        help="double arc: training points per class (the textbook's 200); "
                             "the test set has N // 4 per class")
    parser.add_argument("--test-fraction", type=cli.ratio, default=0.2, metavar="F",
                        help="breast cancer: fraction of each class held out for testing")
    parser.add_argument("--stop-loss", type=cli.non_negative,
                        default=defaults.extra["stop_loss"], metavar="LOSS",
                        help="stop when the validation loss falls to this value (the "
                             "textbook's double arc: 0.02; 0 = train for --epochs)")
    return parser


def make_reader(args, options):
    """The data set's reader, its x scaled and y made 0/1."""
    from framework import NetType
    if options["dataset"] == "double-arc":
        from datareaders.double_arc import DoubleArcReader
        points = options["arc_points"]
        reader = DoubleArcReader(points, max(1, points // 4), seed=options["data_seed"])
        reader.read_data()
        reader.normalize_x()
    else:
        from datareaders.breast_cancer import BreastCancerReader
        reader = BreastCancerReader(args.data_dir, test_fraction=options["test_fraction"],
                                    seed=options["data_seed"]).read_data()
        reader.standardize_x()
    reader.normalize_y(NetType.BINARY_CLASSIFIER)
    return reader


def run_name(args, options):
    """What the plot files are called: data set + seed, or the loaded weights' name."""
    if args.load:
        return f"{APP}_{options['dataset']}_loaded_{Path(args.load).stem}"
    return f"{APP}_{options['dataset']}_seed{options['data_seed']}"


def evaluate(net, reader):
    """Test accuracy, loss, errors and the confusion matrix (the test set, once)."""
    from app_plots import confusion_matrix
    from framework import LossFunction, NetType
    reader.astype(net.params.dtype)
    x_test, y_test = reader.get_test_set()
    output = net.inference(x_test)
    predicted = (output >= 0.5).astype(int).ravel()
    truth = y_test.astype(int).ravel()
    counts = confusion_matrix(truth, predicted, 2)
    metrics = {"test_accuracy": float((predicted == truth).mean()),
               "test_loss": float(LossFunction(NetType.BINARY_CLASSIFIER).loss(output, y_test)),
               "test_errors": int((predicted != truth).sum()),
               "num_test": int(truth.size),
               "confusion": counts.tolist()}
    return metrics, counts


def draw_plots(args, options, net, reader, metrics, counts, history):
    """The confusion matrix, the decision boundary (double arc) and the history."""
    import numpy as np
    from app_plots import plot_confusion_matrix, plot_decision_boundary, plot_path
    from framework import NetType
    from framework.plotting import plot_history
    name, dataset = run_name(args, options), options["dataset"]
    accuracy = f"test accuracy {100 * metrics['test_accuracy']:.2f}%"
    names = list(reader.class_names)
    plots = [plot_path(args.plot_dir, name, "confusion")]
    plot_confusion_matrix(counts, names, plots[-1], f"{dataset}: {accuracy}")
    if dataset == "double-arc":
        def probability(points):
            return net.inference(reader.transform_x(points).astype(net.params.dtype)).ravel()
        sets = [s for s in (reader.x_train, reader.x_val, reader.x_test) if s is not None]
        labels = [s for s in (reader.y_train, reader.y_val, reader.y_test) if s is not None]
        x = np.concatenate(sets) * reader.x_range + reader.x_min
        plots.append(plot_path(args.plot_dir, name, "boundary"))
        plot_decision_boundary(probability, x, np.concatenate(labels).ravel().astype(int),
                               plots[-1], f"double arc, "
                               f"{'-'.join(str(s) for s in _widths(net))} net: {accuracy}",
                               names, AXIS_LABELS)
    if history is not None and len(history):
        plots.append(plot_path(args.plot_dir, name, "history"))
        plot_history(history, plots[-1], run_name=name, net_type=NetType.BINARY_CLASSIFIER,
                     mark_best=args.keep == "best")
    return plots


def _widths(net):
    """Layer widths of an MLP, input first (2-3-1): the input and each FC layer's units."""
    from framework import FcLayer
    return [net.input_size] + [layer.units for layer in net.layers
                               if isinstance(layer, FcLayer)]


def main(argv):
    from framework import NetType, Stopper
    started = time.perf_counter()
    args = make_parser(_chosen_dataset(argv)).parse_args(argv)
    log = cli.make_log(args)
    options = {"dataset": args.dataset, "test_fraction": args.test_fraction,
               "arc_points": args.arc_points,
               "data_seed": args.seed if args.data_seed is None else args.data_seed}
    net = cli.load_if_asked(args, APP, log, options)
    reader = make_reader(args, options)
    log(f"{options['dataset']}: {reader.num_train:,} training and {reader.num_test:,} test "
        f"samples, {reader.num_feature} features, classes {', '.join(reader.class_names)}")

    history = train_seconds = None
    if net is None:
        reader.generate_validation_set(k=VALIDATION_FOLDS, seed=VALIDATION_SEED)
        stopper = Stopper("stop_loss", args.stop_loss) if args.stop_loss > 0 else None
        params = cli.make_params(args, NetType.BINARY_CLASSIFIER, stopper=stopper)
        net = cli.build_mlp(params, options["dataset"].replace("-", "_"), reader.num_feature,
                            args.hidden, 1, args.activation, args.bn, args.dropout,
                            classifier="logistic")
        log(net.summary())
        history, train_seconds = cli.train(net, reader, args, log)
        weights = cli.save_trained(net, args, options, APP, log)
    else:
        weights = args.load

    metrics, counts = evaluate(net, reader)
    log(f"test accuracy {100 * metrics['test_accuracy']:.2f}% ({metrics['test_errors']} "
        f"errors in {metrics['num_test']}), test loss {metrics['test_loss']:.4f}")
    plots = draw_plots(args, options, net, reader, metrics, counts, history)
    log("plots: " + ", ".join(str(p) for p in plots))

    extra = dict(options, seed=net.params.seed)
    if history is not None:
        extra.update(hidden=list(args.hidden), activation=args.activation,
                     optimizer=args.optimizer, lr=args.lr, lr_schedule=args.lr_schedule,
                     batch_size=args.batch_size, epochs=args.epochs, l2=args.l2,
                     epochs_run=net.epoch, stop_reason=history.stop_reason,
                     best_epoch=history.best_epoch, keep=args.keep)
    cli.result_line(args, APP, metrics, train_seconds, time.perf_counter() - started,
                    weights, plots, extra)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_app(APP, main))
