"""The image-classification app behind mnist_classify.py and cifar_classify.py.

One flow for every image set: read it, one-hot the labels, split 1/10 of the
training images off as the validation set (stratified, fixed seed) that the
checkpoints monitor, train a net with a softmax output, and only then touch
the test set, once: accuracy, loss and a confusion matrix.

Two architectures (``--arch``): ``mlp``, the textbook's fully connected
stack on flattened images, and ``cnn``, a LeNet-like convolutional net on
``(C, H, W)`` images: per entry of ``--channels`` a k x k convolution
(``--kernel``, zero padding k // 2 so the map keeps its size), [spatial batch
norm,] ReLU and a 2x2 max pool; then flatten, the ``--hidden`` fully
connected layers (ReLU [+ dropout]) and the softmax output. Each architecture has its own defaults; a flag given on
the command line wins over them.
"""
import argparse
import time

import cli
from app_plots import confusion_matrix, plot_confusion_matrix

VALIDATION_FOLDS = 10       # 1/10 of the training images are the validation set
VALIDATION_SEED = 0
ARCHS = ("mlp", "cnn")


def cnn_specs(num_classes, channels=(16, 32), hidden=(128,), kernel=5, batch_norm=False,
              dropout=0.0):
    """The LeNet-like net as layer specs (see the module docstring)."""
    specs = []
    for filters in channels:
        specs.append({"type": "conv", "filters": int(filters), "kernel": kernel,
                      "padding": kernel // 2})
        if batch_norm:
            specs.append({"type": "batch_norm"})
        specs += [{"type": "relu"}, {"type": "pooling", "size": 2, "stride": 2}]
    specs.append({"type": "flatten"})
    for size in hidden:
        specs += [{"type": "fc", "size": int(size)}, {"type": "relu"}]
        if dropout:
            specs.append({"type": "dropout", "ratio": float(dropout)})
    return specs + [{"type": "fc", "size": int(num_classes)}, {"type": "softmax"}]


def _chosen(argv, datasets):
    """(arch, dataset) given in ``argv``, read before the real parser is built so
    that the defaults of that architecture and data set can be shown in --help."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--arch", default="mlp")
    pre.add_argument("--dataset", default=next(iter(datasets)))
    known, _ = pre.parse_known_args(argv)
    return (known.arch if known.arch in ARCHS else "mlp",
            known.dataset if known.dataset in datasets else next(iter(datasets)))


def build_classifier(args, params, name, reader):
    """The net --arch asks for, for the reader's image shape and classes."""
    from framework import NeuralNet
    if args.arch == "cnn":
        specs = cnn_specs(reader.num_category, args.channels, args.hidden, args.kernel,
                          batch_norm=args.bn, dropout=args.dropout)
        return NeuralNet.from_specs(params, specs, reader.x_train.shape[1:], name)
    return cli.build_mlp(params, name, reader.num_feature, args.hidden, reader.num_category,
                         args.activation, args.bn, args.dropout, classifier="softmax")


def run_classifier(app, argv, description, datasets, defaults, epilog=None):
    """``datasets`` maps a --dataset name to ``make_reader(args, mode) -> DataReader``
    (mode "vector" or "image"); ``defaults`` maps each of ``ARCHS`` to its
    ``cli.AppDefaults``, and may map ``(arch, dataset)`` to a data set's own."""
    from framework import LossFunction, NetType
    started = time.perf_counter()
    arch, chosen = _chosen(argv, datasets)
    parser = cli.make_parser(app, description, defaults.get((arch, chosen), defaults[arch]),
                             epilog)
    parser.add_argument("--arch", choices=ARCHS, default="mlp",
                        help="mlp: fully connected net on flattened images; cnn: "
                             "LeNet-like convolutional net (its own defaults)")
    cnn = defaults.get(("cnn", chosen), defaults["cnn"]).extra
    parser.add_argument("--channels", type=cli.hidden_sizes,
                        default=",".join(str(c) for c in cnn["channels"]), metavar="N,N,...",
                        help="cnn: filters of each conv + 2x2 max-pool stage")
    parser.add_argument("--kernel", type=cli.positive_int, default=cnn.get("kernel", 5),
                        help="cnn: kernel size k of every conv (k x k, zero padding k // 2)")
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
    # a loaded net's input shape decides how its images are read
    images = args.arch == "cnn" if net is None else len(net.input_shape or ()) > 1
    reader = datasets[dataset](args, "image" if images else "vector")
    reader.read_data()
    reader.normalize_y(NetType.MULTIPLE_CLASSIFIER)
    class_names = list(reader.class_names or range(reader.num_category))
    log(f"{dataset}: {reader.num_train:,} training and {reader.num_test:,} test images, "
        f"{reader.num_feature} features, {len(class_names)} classes")

    history = train_seconds = None
    if net is None:
        reader.generate_validation_set(k=VALIDATION_FOLDS, seed=VALIDATION_SEED)
        params = cli.make_params(args, NetType.MULTIPLE_CLASSIFIER)
        net = build_classifier(args, params, dataset, reader)
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

    extra = {"dataset": dataset,
             "arch": "cnn" if len(net.input_shape or ()) > 1 else "mlp"}
    if history is not None:
        extra.update(epochs_run=net.epoch, stop_reason=history.stop_reason,
                     best_epoch=history.best_epoch, keep=args.keep)
    cli.result_line(args, app, metrics, train_seconds, time.perf_counter() - started,
                    weights, plots, extra)
    return 0
