"""What an app prints: log lines by ``--verbose`` level, and the JSON result line.

Log lines go to stdout, whole and flushed, so a redirected log reads like the
terminal did minus the progress bar. The last line of stdout is always one
JSON object (also with ``--verbose 0``): scripts read it with
``json.loads(output.splitlines()[-1])``, or from ``--metrics-json``.
"""
import json
import math
import os

from framework.callbacks.progress import bar_allowed

from . import targets


class Log:
    """Print app messages when ``verbose`` >= 1 (``--verbose``)."""

    def __init__(self, verbose):
        self.verbose = verbose

    def __call__(self, message):
        """Print ``message`` (it may hold several lines) if the app is not silent."""
        if self.verbose >= 1:
            print(message, flush=True)


def progress_bars_wanted(verbose):
    """True for ``--verbose 1`` on a terminal without ``TQDM_DISABLE`` set: the
    training loop's rule, for the readers' download bars."""
    return verbose == 1 and bar_allowed()


def jsonable(value):
    """``value`` with non-finite floats as None (JSON has no NaN) and tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return jsonable(value.item())        # NumPy scalars
    return value


def write_result(result, metrics_json=None):
    """Print ``result`` as the last stdout line; also write it to ``metrics_json``."""
    text = json.dumps(jsonable(result))
    if metrics_json:
        targets.make_parent(metrics_json)
        temporary = f"{metrics_json}.tmp"
        with open(temporary, "w") as handle:
            handle.write(text + "\n")
        os.replace(temporary, metrics_json)
    print(text, flush=True)
    return result
