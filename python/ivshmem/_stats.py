"""ctypes structs as plain Python values."""
from __future__ import annotations

import ctypes
from typing import Any


def to_dict(s: ctypes.Structure, skip: tuple[str, ...] = ("reserved",)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, _type in s._fields_:
        if name in skip:
            continue
        v = getattr(s, name)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[name] = v
    return out
