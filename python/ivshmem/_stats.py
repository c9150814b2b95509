"""ctypes structs as plain Python values."""
from __future__ import annotations

import ctypes
from typing import Any


def named(s: ctypes.Structure, roles: dict[str, int], wakes: dict[int, str]) -> dict[str, Any]:
    """A channel's or topic's stat as a dict, its numbers named: the role,
    max_message for max_msg, how it sleeps."""
    d = to_dict(s)
    d["role"] = {v: k for k, v in roles.items()}.get(d["role"], str(d["role"]))
    d["max_message"] = d.pop("max_msg")
    d["wake"] = wakes.get(d["wake"], str(d["wake"]))
    return d


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
