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
connected layers (ReLU [+ dropout]) and the softmax output. Each
architecture (and data set) has its own defaults; a flag given on the command
line wins over them.
"""
import argparse

from framework import LossFunction, NetType, mlp_specs

from apps.support.plots import confusion_matrix, plot_confusion_matrix

from . import flags, skeleton

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


class ImageClassifier(skeleton.App):
    """An image set, an MLP or a CNN, a softmax output; subclasses name the data.

    ``DEFAULTS`` maps each of ``ARCHS`` to its ``flags.AppDefaults`` and may map
    ``(arch, dataset)`` to a data set's own; ``make_reader(args, dataset, mode)``
    returns the reader (mode "vector" or "image").
    """

    net_type = NetType.MULTIPLE_CLASSIFIER

    def make_reader(self, args, dataset, mode):
        """The reader of ``dataset`` giving flat vectors or (C, H, W) images."""
        raise NotImplementedError

    def _chosen(self, argv):
        """(arch, dataset) given in ``argv``, read before the real parser is built so
        that --help shows the defaults of that architecture and data set."""
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--arch", default=ARCHS[0])
        pre.add_argument("--dataset", default=self.datasets[0])
        known, _ = pre.parse_known_args(argv)
        return (known.arch if known.arch in ARCHS else ARCHS[0],
                known.dataset if known.dataset in self.datasets else self.datasets[0])

    def own_defaults(self, argv):
        arch, dataset = self._chosen(argv)
        return self.DEFAULTS.get((arch, dataset), self.DEFAULTS[arch])

    def add_flags(self, group, argv):
        dataset = self._chosen(argv)[1]
        cnn = self.DEFAULTS.get(("cnn", dataset), self.DEFAULTS["cnn"]).extra
        group.add_argument("--arch", choices=ARCHS, default=ARCHS[0],
                            help="mlp: fully connected net on flattened images; cnn: "
                                 "LeNet-like convolutional net (its own defaults)")
        group.add_argument("--channels", type=flags.hidden_sizes, metavar="N,N,...",
                            default=",".join(str(c) for c in cnn["channels"]),
                            help="cnn: filters of each conv + 2x2 max-pool stage")
        group.add_argument("--kernel", type=flags.positive_int, default=cnn.get("kernel", 5),
                            help="cnn: kernel size k of every conv (k x k, zero padding "
                                 "k // 2)")

    training_flags = ("arch", "channels", "kernel")

    def check_flags(self, args, given):
        if getattr(args, "textbook", False) and args.arch == "cnn":
            raise flags.UsageError("--textbook is the textbook's MLP; it does not go with "
                                   "--arch cnn")
        if args.arch == "mlp":
            return [(("channels", "kernel"), "they shape the CNN, and --arch is mlp")]
        return [(("activation",), "the CNN's hidden layers are ReLU (--activation shapes "
                                  "the MLP)")]

    def name_parts(self, args):
        return (args.arch,)

    def plot_kinds(self, run):
        return ("confusion",)

    def read_data(self, run):
        # a loaded net's input shape decides how its images are read
        images = (run.args.arch == "cnn" if run.net is None
                  else len(run.net.input_shape or ()) > 1)
        dataset = run.options["dataset"]
        reader = self.make_reader(run.args, dataset, "image" if images else "vector")
        reader.read_data()
        reader.normalize_y(NetType.MULTIPLE_CLASSIFIER)
        run.scratch["class_names"] = list(reader.class_names or range(reader.num_category))
        run.log(f"{dataset}: {reader.num_train:,} training and {reader.num_test:,} test "
                f"images, {reader.num_feature} features, "
                f"{len(run.scratch['class_names'])} classes")
        return reader

    def specs(self, run):
        args, reader = run.args, run.reader
        if args.arch == "cnn":
            specs = cnn_specs(reader.num_category, args.channels, args.hidden, args.kernel,
                              batch_norm=args.bn, dropout=args.dropout)
            return specs, reader.x_train.shape[1:]
        specs = mlp_specs(args.hidden, reader.num_category, args.activation, args.bn,
                          args.dropout, classifier="softmax")
        return specs, reader.num_feature

    def evaluate(self, run):
        run.reader.astype(run.net.params.dtype)
        x_test, y_test = run.reader.get_test_set()
        output = run.net.inference(x_test)
        predicted, truth = output.argmax(axis=1), y_test.argmax(axis=1)
        accuracy = float((predicted == truth).mean())
        metrics = {"test_accuracy": accuracy,
                   "test_loss": float(LossFunction(NetType.MULTIPLE_CLASSIFIER)
                                      .loss(output, y_test)),
                   "test_errors": int((predicted != truth).sum()),
                   "num_test": int(truth.size)}
        run.log(f"test accuracy {100 * accuracy:.2f}% ({metrics['test_errors']} errors in "
                f"{metrics['num_test']:,}), test loss {metrics['test_loss']:.4f}")
        run.extra["arch"] = "cnn" if len(run.net.input_shape or ()) > 1 else "mlp"
        run.scratch["labels"] = (truth, predicted)
        return metrics

    def plots(self, run, metrics):
        truth, predicted = run.scratch["labels"]
        names = run.scratch["class_names"]
        plot_confusion_matrix(confusion_matrix(truth, predicted, len(names)), names,
                              run.plot_path("confusion"),
                              f"{run.name}: test accuracy "
                              f"{100 * metrics['test_accuracy']:.2f}%")
