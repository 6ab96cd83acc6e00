"""``python -m apps``: list the apps; ``python -m apps NAME [flags]`` runs one.

The same list is the ``miniframework`` command of an installed package; each
app also has its own command (``miniframework-mnist``) and runs as
``python -m apps.<name>`` from any folder.
"""
import importlib
import sys

# app module -> (its console command, what it does)
APPS = {
    "mnist_classify": ("miniframework-mnist", "MNIST / Fashion-MNIST with an MLP or a CNN"),
    "cifar_classify": ("miniframework-cifar", "CIFAR-10 with an MLP or a CNN"),
    "house_price": ("miniframework-house", "King County house prices (regression)"),
    "curve_fitting": ("miniframework-curve", "the textbook's ch09 curve, a 1-4-1 net"),
    "binary_classify": ("miniframework-binary", "the double arc and breast cancer (binary)"),
    "compare": ("miniframework-compare", "fair comparisons: variants x repeats"),
    "experiments": ("miniframework-experiment", "the notes' experiments (optimizers, init, "
                                                "batch norm, ...)"),
}


def listing():
    """The apps, their commands and how to get their flags."""
    width = max(map(len, APPS))
    lines = ["MiniFramework apps (python -m apps.NAME --help, or the command, for the flags):"]
    lines += [f"  {name:<{width}}  {command:<25} {what}"
              for name, (command, what) in APPS.items()]
    lines.append("Run one: python -m apps NAME [flags], python -m apps.NAME [flags] or its "
                 "command.")
    return "\n".join(lines)


def main(argv=None):
    """List the apps (exit 0), or run the one named first in ``argv``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(listing())
        return 0
    name = argv[0]
    if name not in APPS:
        print(f"apps: error: no app {name!r}; expected one of {', '.join(APPS)}",
              file=sys.stderr)
        return 2
    module = "apps.experiments.__main__" if name == "experiments" else f"apps.{name}"
    return importlib.import_module(module).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
