"""The command-line apps (``python apps/<name>.py``, ``python -m apps.<name>`` or the
``miniframework-*`` commands of the installed package; ``python -m apps`` lists them).

Each app is one file describing its data, net and metrics; what they share
(flags, the run from parsing to the JSON result line, saving and loading,
output) lives in ``apps/support``. Run from a clone, an app started as a
script puts the clone's root on ``sys.path`` itself, so nothing needs
installing; installed (``pip install .``), the apps are in the wheel and run
from any folder.

Importing ``apps`` first checks that ``framework`` and ``datareaders`` are
MiniFramework's: ``python -m`` puts the working folder first on the import
path, so a student's own ``framework.py`` there would otherwise be imported
instead and fail somewhere deep inside with a puzzling error.
"""
import importlib.util
import sys
from pathlib import Path

# a file each of our packages has, which a student's module of the same name will not
_MARKERS = {"framework": "hyper_parameters.py", "datareaders": "download.py"}


def shadowing(name, marker):
    """Where ``import name`` would load something other than MiniFramework's package
    (a ``name.py`` module, or a folder without ``marker``), else None."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations and any((Path(folder) / marker).is_file() for folder in locations):
        return None
    return spec.origin


def check_library():
    """Exit with one line naming the file when a module shadows MiniFramework."""
    for name, marker in _MARKERS.items():
        if name in sys.modules and (Path(getattr(sys.modules[name], "__file__", "") or "")
                                    .parent / marker).is_file():
            continue
        found = shadowing(name, marker)
        if found is not None:
            raise SystemExit(
                f"apps: error: 'import {name}' finds {found}, not MiniFramework's "
                f"{name} package: a file or folder named {name} in the working folder "
                f"(or on PYTHONPATH) hides the library. Rename it (e.g. my_{name}.py) or "
                "run from another folder.")


check_library()
