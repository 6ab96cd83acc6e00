"""``python -m apps.experiments``: list the experiments; with a NAME, run that one.

The same is the ``miniframework-experiment`` command of an installed package
(``miniframework-experiment batch_norm --quick``).
"""
import importlib
import sys
from pathlib import Path


def names():
    """The experiment modules of this package."""
    return sorted(p.stem for p in Path(__file__).parent.glob("*.py")
                  if not p.stem.startswith("_"))


def main(argv=None):
    """List the experiments (exit 0), or run the one named first in ``argv``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    found = names()
    if not argv or argv[0] in ("-h", "--help"):
        print("The experiments (python -m apps.experiments NAME --help for the flags; also "
              "python -m apps.experiments.NAME or miniframework-experiment NAME):\n  "
              + "\n  ".join(f"{name:<22} {_summary(name)}" for name in found))
        return 0
    if argv[0] not in found:
        print(f"experiments: error: no experiment {argv[0]!r}; expected one of "
              f"{', '.join(found)}", file=sys.stderr)
        return 2
    return importlib.import_module(f"apps.experiments.{argv[0]}").main(argv[1:])


def _summary(name):
    """The first line of an experiment's docstring, read without importing it."""
    import ast
    source = (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.splitlines()[0] if doc else ""


if __name__ == "__main__":
    sys.exit(main())
