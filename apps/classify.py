"""The image-classification app behind mnist_classify.py and cifar_classify.py.

One flow for every image set: read it, one-hot the labels, split 1/10 of the
training images off as the validation set (stratified, fixed seed) that the
checkpoints monitor, train an MLP with a softmax output, and only then touch
the test set, once: accuracy, loss and a confusion matrix.
"""
import time

import cli
from app_plots import confusion_matrix, plot_confusion_matrix

VALIDATION_FOLDS = 10       # 1/10 of the training images are the validation set
VALIDATION_SEED = 0


def run_classifier(app, argv, description, datasets, defaults, epilog=None):
    """``datasets`` maps a --dataset name to ``make_reader(args) -> DataReader``."""
    from framework import LossFunction, NetType
    started = time.perf_counter()
    parser = cli.make_parser(app, description, defaults, epilog)
    if len(datasets) > 1:
        parser.add_argument("--dataset", choices=sorted(datasets), default=next(iter(datasets)),
                            help="which image set")
    args = parser.parse_args(argv)
    log = cli.make_log(args)
    dataset = getattr(args, "dataset", next(iter(datasets)))

    options = {"dataset": dataset}
    net = cli.load_if_asked(args, app, log, options)
    dataset = options["dataset"]
    if dataset not in datasets:
        raise ValueError(f"unknown dataset {dataset!r}")
    reader = datasets[dataset](args)
    reader.read_data()
    reader.normalize_y(NetType.MULTIPLE_CLASSIFIER)
    class_names = list(reader.class_names or range(reader.num_category))
    log(f"{dataset}: {reader.num_train:,} training and {reader.num_test:,} test images, "
        f"{reader.num_feature} features, {len(class_names)} classes")

    history = train_seconds = None
    if net is None:
        reader.generate_validation_set(k=VALIDATION_FOLDS, seed=VALIDATION_SEED)
        params = cli.make_params(args, NetType.MULTIPLE_CLASSIFIER)
        net = cli.build_mlp(params, dataset, reader.num_feature, args.hidden,
                            reader.num_category, args.activation, args.bn, args.dropout,
                            classifier="softmax")
        log(net.summary())
        history, train_seconds = cli.train(net, reader, args, log)
        weights = cli.save_trained(net, args, options, app, log)
    else:
        weights = args.load

    # The test set, touched once.
    reader.astype(net.params.dtype)
    x_test, y_test = reader.get_test_set()
    output = net.inference(x_test)
    loss_function = LossFunction(NetType.MULTIPLE_CLASSIFIER)
    predicted = output.argmax(axis=1)
    truth = y_test.argmax(axis=1)
    accuracy = float((predicted == truth).mean())
    metrics = {"test_accuracy": accuracy,
               "test_loss": float(loss_function.loss(output, y_test)),
               "test_errors": int((predicted != truth).sum()),
               "num_test": int(truth.size)}
    log(f"test accuracy {100 * accuracy:.2f}% ({metrics['test_errors']} errors in "
        f"{metrics['num_test']:,}), test loss {metrics['test_loss']:.4f}")

    plots = []
    counts = confusion_matrix(truth, predicted, len(class_names))
    path = cli.plot_file(args, f"{app}_{dataset}_confusion.png")
    plot_confusion_matrix(counts, class_names, path,
                          f"{dataset}: test accuracy {100 * accuracy:.2f}%")
    plots.append(path)
    cli.plot_history(history, args, f"{app}_{dataset}_history.png", plots)
    log("plots: " + ", ".join(str(p) for p in plots))

    extra = {"dataset": dataset}
    if history is not None:
        extra.update(epochs_run=net.epoch, stop_reason=history.stop_reason,
                     best_epoch=history.best_epoch, keep=args.keep)
    cli.result_line(args, app, metrics, train_seconds, time.perf_counter() - started,
                    weights, plots, extra)
    return 0
