"""``python -m apps.experiments``: the package is not an app itself; list the ones it holds."""
import sys
from pathlib import Path


def main():
    """Print the experiment apps and how to run one; exit status 2 (no app was run)."""
    names = sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))
    print("apps.experiments holds these apps; run one with python -m apps.experiments.<name> "
          "--help:\n  " + "\n  ".join(names), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
