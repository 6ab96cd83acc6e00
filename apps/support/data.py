"""Data files an app reads itself (the textbook's npz files): found, or a hint.

The readers of ``datareaders`` name a missing file; the apps that open the
textbook's own files by name check them first, so that the one error line
says which files were expected, in which folder, and which setting chose that
folder (``--data-dir``, ``$MINIFRAMEWORK_DATA`` or the default cache).
"""
import os

from datareaders.errors import DataFileError


def require_files(folder, names, what, data_dir=None, instead=None):
    """Raise DataFileError for the first of ``names`` missing from ``folder``.

    ``what`` says what the files are, ``data_dir`` is the --data-dir given (or
    None), ``instead`` names a way to run without them.
    """
    for name in names:
        path = folder / name
        if not path.is_file():
            where = " and ".join(str(folder / n) for n in names)
            text = f"file not found: {what} are expected as {where} ({origin(data_dir)})"
            if instead:
                text += f"; {instead}"
            raise DataFileError(path, text)


def origin(data_dir):
    """Which setting chose the data root."""
    if data_dir is not None:
        return f"the folder --data-dir {data_dir} names"
    env = os.environ.get("MINIFRAMEWORK_DATA")
    if env:
        return f"$MINIFRAMEWORK_DATA is {env}; --data-dir DIR looks in DIR instead"
    return ("neither --data-dir nor $MINIFRAMEWORK_DATA is set, so the default "
            "~/.cache/miniframework")
