"""``--tensorboard DIR`` and ``--export-onnx PATH``: see a training app's run in
TensorBoard, take its net to any ONNX runtime or viewer.

    python apps/mnist_classify.py --tensorboard logs/mnist      # then: tensorboard --logdir logs
    python apps/mnist_classify.py --export-onnx mnist.onnx
    python apps/mnist_classify.py --load weights/mnist.h5 --export-onnx mnist.onnx

Both are checked before any data is read (the target paths, and that the
optional package is installed: one line saying which extra to install);
``--tensorboard`` adds the framework's ``TensorBoard`` callback (scalars at
every checkpoint; weight, gradient and activation histograms of a fixed
training sample at every checkpoint); ``--export-onnx`` writes the net the run
ends with (trained or loaded) after the test set is scored.
"""
from framework.callbacks import TensorBoard

from . import targets
from .flags import UsageError


def check(args):
    """Refuse (UsageError) an unusable target or a missing package, before any work."""
    if getattr(args, "tensorboard", None):
        targets.check_folder_target("--tensorboard", args.tensorboard)
        _require("tensorboardX", "--tensorboard", "tensorboard")
    if getattr(args, "export_onnx", None):
        targets.check_file_target("--export-onnx", args.export_onnx)
        _require("onnx", "--export-onnx", "onnx")


def _require(module, flag, extra):
    try:
        __import__(module)
    except ImportError:
        raise UsageError(f"{flag} needs the {module} package: pip install "
                         f"'miniframework[{extra}]'") from None


def callbacks(args, reader):
    """The TensorBoard callback ``--tensorboard`` asks for (none without it)."""
    if not getattr(args, "tensorboard", None):
        return []
    return [TensorBoard(args.tensorboard, histogram_freq=1, data=reader)]


def export_onnx(run):
    """Write ``run.net`` to ``--export-onnx`` (if given); the path joins the JSON line."""
    path = getattr(run.args, "export_onnx", None)
    if not path:
        return None
    targets.make_parent(path)
    run.net.to_onnx(path)
    run.extra["onnx"] = str(path)
    run.log(f"exported {path} (ONNX, any batch size)")
    return path
