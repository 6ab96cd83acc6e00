"""Checks on arrays and option values shared by the net, the layers and the readers."""
import math

import numpy as np


def all_finite(x):
    """True if ``x`` holds no NaN or inf, without an (N, F) bool temporary.

    One streaming sum decides it: NaN or inf anywhere makes the sum NaN or
    inf. A finite sum therefore proves every value finite; a non-finite one
    (possibly a finite overflow) falls back to the exact check.
    """
    if x.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(x, axis=None)):
            return True
    return bool(np.isfinite(x).all())


def is_real_number(value):
    """True for a Python or NumPy int or float; False for bools and everything else.

    NumPy scalars (``np.float32(0.1)``, ``np.int64(3)``, what indexing an
    array returns) count as numbers; ``True`` does not, because a flag passed
    where a rate or a size belongs is a mistake, not the number 1.
    """
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, bool)


def check_number(field, value, minimum=None, maximum=None, *, above=False, below=False):
    """``value`` as a float if it is a finite real number in range, else a ValueError.

    ``minimum`` / ``maximum`` bound the range, inclusive unless ``above`` /
    ``below`` make them strict. The message names ``field``, the range
    expected and the value received, so a NaN from a command line or a file
    is refused where it enters instead of poisoning training epochs later.
    """
    ok = is_real_number(value) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if above else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if below else value <= maximum
    if not ok:
        raise ValueError(f"{field}: expected {_range_text(minimum, maximum, above, below)}, "
                         f"got {value!r}")
    return float(value)


def check_integer(field, value, minimum=1):
    """``value`` as an int if it is a Python or NumPy integer >= ``minimum`` (no bools)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{field}: expected {what}, got {value!r}")
    return int(value)


def check_flag(field, value):
    """``value`` as a bool if it is a Python or NumPy bool, else a ValueError.

    Strict on purpose: ``"false"`` and ``"no"`` are true strings, and ``1`` is
    a number, so an option that reads them as booleans does the opposite of
    what the user wrote.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected True or False, got {value!r}")
    return bool(value)


def _range_text(minimum, maximum, above, below):
    if minimum is None and maximum is None:
        return "a finite number"
    if maximum is None:
        if minimum == 0:
            return "a positive number" if above else "a finite number >= 0"
        return f"a finite number {'>' if above else '>='} {minimum}"
    if minimum is None:
        return f"a finite number {'<' if below else '<='} {maximum}"
    return (f"a number in {'(' if above else '['}{minimum}, {maximum}"
            f"{')' if below else ']'}")

