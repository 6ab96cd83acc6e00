"""CSV records with their line numbers, for the readers of text data files.

``csv.reader`` raises a bare ``csv.Error`` for a line it cannot parse (a field
over its 131,072-character limit, a quote left open at the end of the file),
naming neither the file nor the line. ``records`` turns that into a
``DataFileError`` that names both, so a damaged or hostile CSV gets the same
one-line error as a bad cell. It also checks numbers against the data type
they will be cast to: 1e39 is a finite float64 but inf in float32.
"""
import csv

import numpy as np

from .errors import DataFileError


def records(path, handle):
    """Yield ``(line number, fields)`` for every non-empty record of the open file."""
    reader = csv.reader(handle)
    try:
        for fields in reader:
            if fields:
                yield reader.line_num, fields
    except csv.Error as error:
        raise DataFileError(path, f"line {reader.line_num}: not a CSV record this reader "
                            f"can parse ({error})") from None


def check_in_range(path, where, text, value, dtype):
    """``value`` (parsed from ``text``) if ``dtype`` can hold it, else a DataFileError
    naming ``where`` (line and column) and the overflow."""
    largest = float(np.finfo(dtype).max)
    if abs(value) > largest:
        raise DataFileError(path, f"{where}: {text.strip()!r} overflows {np.dtype(dtype)} "
                            f"(largest {largest:.4g})")
    return value
