"""The caller's metadata (e.g. data options) as JSON plus numpy arrays.

The JSON document goes into one attribute; each array becomes a dataset
``a0``, ``a1``, ... and appears in the JSON as ``{"__ndarray__": "a0"}``, so
arrays keep their dtype and nothing is ever unpickled.
"""
import numpy as np

from .rules import value_problem

ARRAY_TAG = "__ndarray__"        # {"__ndarray__": "a0"} in the metadata JSON: dataset a0
MAX_METADATA_DEPTH = 16


def encode_metadata(value, arrays, where="metadata", depth=0):
    """``value`` as JSON-able data; numpy arrays are moved into ``arrays`` (name -> array)
    and replaced by ``{"__ndarray__": name}``. ValueError naming the entry otherwise."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{where}: keys must be strings, got {bad[0]!r}")
        if ARRAY_TAG in value:
            raise ValueError(f"{where}: the key {ARRAY_TAG!r} is reserved")
        return {k: encode_metadata(v, arrays, f"{where}[{k!r}]", depth + 1)
                for k, v in value.items()}
    if depth == 0:
        raise ValueError(f"metadata: expected a dict, got {type(value).__name__}")
    if isinstance(value, (list, tuple)):
        return [encode_metadata(v, arrays, f"{where}[{i}]", depth + 1)
                for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        problem = value_problem(value)
        if problem:
            raise ValueError(f"{where}: the array {problem}")
        name = f"a{len(arrays)}"
        arrays[name] = np.array(value, order="C")     # a copy that keeps a 0-d shape ()
        return {ARRAY_TAG: name}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return value
    raise ValueError(f"{where}: a {type(value).__name__} is not JSON-able (expected None, "
                     "bool, int, float, str, list, dict or a numpy array)")


def decode_metadata(value, arrays, used, where="metadata", depth=0):
    """The inverse of ``encode_metadata``: ``{"__ndarray__": name}`` -> ``arrays[name]``.

    Everything ``encode_metadata`` refuses is refused here too (deeper nesting than it
    writes, a number that is not finite), so metadata that loads can be saved again."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, float) and not np.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a finite number")
    if isinstance(value, dict):
        if ARRAY_TAG in value:
            name = value[ARRAY_TAG]
            if len(value) != 1 or not isinstance(name, str) or name not in arrays:
                raise ValueError(f"{where}: {value!r} names no array stored in the file")
            if name in used:
                raise ValueError(f"{where}: array {name!r} is referenced twice")
            used.add(name)
            return arrays[name]
        return {k: decode_metadata(v, arrays, used, f"{where}[{k!r}]", depth + 1)
                for k, v in value.items()}
    if depth == 0:
        raise ValueError(f"metadata: expected a JSON object, got {type(value).__name__}")
    if isinstance(value, list):
        return [decode_metadata(v, arrays, used, f"{where}[{i}]", depth + 1)
                for i, v in enumerate(value)]
    return value
