"""Digests of the weights file: SHA-256 of each array and of every attribute.

Every array dataset carries a ``sha256`` of its dtype, shape and bytes (scalar
datasets such as Adam's ``t`` cannot be chunked for fletcher32 and rely on this
digest alone). The root attribute ``attrs_sha256`` is a SHA-256 of a canonical
serialisation of every root, layer-group, /optimizer and /metadata attribute
(the JSON configs, counters and RNG state). The writer computes it from what it
wrote, the reader from what it read; both go through ``record_digest``.
"""
import hashlib
import json

import numpy as np

from .layout import DIGEST_ATTR, METADATA_GROUP, attr_value


def array_digest(value):
    """SHA-256 of an array's dtype, shape and bytes, as hex."""
    value = np.asarray(value)
    digest = hashlib.sha256(f"{value.dtype.str}|{value.shape}|".encode())
    digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def canonical_form(value):
    """A JSON-able form of an attribute value that tells its type apart."""
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind != "O":
        value = np.asarray(value)
        return [value.dtype.str, list(value.shape), np.ascontiguousarray(value).tobytes().hex()]
    return ["repr", type(value).__name__, repr(value)]


def attrs_digest(handle):
    """SHA-256 over every root, /layers/<name>, /optimizer and /metadata attribute
    (but itself), as read from the file."""
    objects = [handle]
    if "layers" in handle:
        objects += [handle["layers"][key] for key in handle["layers"]]
    objects += [handle[key] for key in ("optimizer", METADATA_GROUP) if key in handle]
    record = {}
    for obj in objects:
        attrs = record[obj.name] = {}
        for key in obj.attrs:
            attrs[key] = canonical_form(attr_value(obj.attrs[key]))
    return record_digest(record)


def record_digest(record):
    """The digest of {object name: {attribute: canonical value}}: root first, then the
    layer groups in name order, /optimizer, /metadata; attributes in name order."""
    names = ["/"] + sorted(n for n in record if n.startswith("/layers/"))
    names += [n for n in ("/optimizer", f"/{METADATA_GROUP}") if n in record]
    items = [[name, key, record[name][key]] for name in names for key in sorted(record[name])
             if not (name == "/" and key == DIGEST_ATTR)]
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
