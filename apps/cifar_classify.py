"""Classify CIFAR-10 images with an MLP (the textbook's ch14 Cifar10 app) or a CNN.

For the MLP, images are flattened to 3,072 inputs in [0, 1]; the default net
is 3072-512-256-10 with ReLU, batch norm off, MSRA init, SGD with momentum on
a cosine schedule. ``--arch cnn`` trains a LeNet-like convolutional net on
the (3, 32, 32) images instead (see apps/support/image_classifier.py). Real
CIFAR-10 is the binary version (``cifar-10-batches-bin`` under
``<data>/cifar10/``); ``--download`` fetches the checked archive.

    python apps/cifar_classify.py --download
    python apps/cifar_classify.py --load weights/cifar_classify_cifar10_mlp_seed1.h5
    python apps/cifar_classify.py --arch cnn --download
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/cifar_classify.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from datareaders.cifar import CifarImageReader  # noqa: E402

from apps.support import output, skeleton  # noqa: E402
from apps.support.flags import AppDefaults  # noqa: E402
from apps.support.image_classifier import ImageClassifier  # noqa: E402


class CifarClassify(ImageClassifier):
    """CIFAR-10 (binary version)."""

    name = "cifar_classify"
    description = "Train (or --load and evaluate) an MLP or a CNN on CIFAR-10 (binary version)."
    epilog = "Data files: <data>/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin."
    datasets = ("cifar10",)
    DEFAULTS = {
        "mlp": AppDefaults(
            hidden=(512, 256), epochs=20, batch_size=128, lr=0.01, optimizer="momentum",
            init="msra", lr_schedule="cosine", checkpoint=1.0, keep="last"),
        "cnn": AppDefaults(
            hidden=(256,), epochs=20, batch_size=64, lr=0.02, optimizer="momentum",
            init="msra", lr_schedule="cosine", checkpoint=1.0, keep="last", dropout=0.3,
            extra={"channels": (32, 64)}),
    }

    def make_reader(self, args, dataset, mode):
        return CifarImageReader(args.data_dir, mode=mode, download=args.download,
                                progress=output.progress_bars_wanted(args.verbose))


def main(argv=None):
    """Run the app; return its exit status."""
    return skeleton.run_app(CifarClassify(), argv)


if __name__ == "__main__":
    sys.exit(main())
