"""Topics: one publisher, many subscribers, in the same layout as the
channels (docs/topics.md)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Optional

from ._errors import check
from ._lib import (SUB_STATES, TOPIC_EXCLUSIVE, TOPIC_FROM_OLDEST, TOPIC_MODES, TOPIC_NO_FUTEX,
                   TOPIC_PASSIVE, TOPIC_ROLES, WAKE_NAMES, TopicConfigS, TopicOptsS, TopicStatS, lib)
from ._queue import Buffer, Ops, Queue
from ._stats import named, to_dict
from .channel import _name, _role


def create_topic(ep: Any, name: str, size: int, max_message: int, subscribers: int, mode: str,
                 stall_timeout: Optional[float]) -> None:
    if mode not in TOPIC_MODES:
        raise ValueError(f"mode must be lossless or latest, not {mode!r}")
    c = TopicConfigS()
    c.size, c.max_msg, c.subscribers, c.mode = size, max_message, subscribers, TOPIC_MODES[mode]
    if stall_timeout is not None:
        if not stall_timeout > 0:
            raise ValueError("stall_timeout must be a positive number of seconds (or None)")
        c.stall_timeout_ms = min(3600000, max(1, round(stall_timeout * 1000)))
    check(lib.ivshmem_topic_create(ep._handle(), _name(name), ctypes.byref(c)),
          f"ivshmem_topic_create {name}", corrupt=True)


@dataclass(frozen=True)
class SubscriberStat:
    """One subscriber slot of a topic, as the (untrusted) region says."""
    state: str  # "free", "joining", "live", "bad"
    id: int
    epoch: int
    pid: int
    head: int
    received: int
    lag: int
    sleeps: int
    rings: int
    skipped: int


@dataclass(frozen=True)
class TopicStat:
    """A snapshot of a topic (Topic.stat())."""
    name: str
    role: str
    mode: str
    ring_size: int
    max_message: int
    subscribers: int
    stall_timeout_ms: int
    publisher_attached: bool
    publisher_id: int
    publisher_epoch: int
    buffers: int
    tail: int
    published: int
    floor: int
    evictions: int
    sub: list
    messages: int
    bytes: int
    rings: int
    sleeps: int
    slot: Optional[int]
    wake: str
    skipped: int

    @classmethod
    def _from(cls, s: TopicStatS) -> "TopicStat":
        d: dict[str, Any] = named(s, TOPIC_ROLES, WAKE_NAMES)
        d["mode"] = {v: k for k, v in TOPIC_MODES.items()}.get(d["mode"], str(d["mode"]))
        d["publisher_attached"] = bool(d["publisher_attached"])
        d["slot"] = None if d["slot"] < 0 else d["slot"]
        subs = []
        for x in s.sub[:min(s.subscribers, len(s.sub))]:
            e = to_dict(x)
            e["state"] = SUB_STATES.get(e["state"], str(e["state"]))
            subs.append(SubscriberStat(**e))
        d["sub"] = subs
        return cls(**d)


_OPS = Ops("ivshmem_topic", lib.ivshmem_topic_close, lib.ivshmem_topic_publish,
           lib.ivshmem_topic_receive, lib.ivshmem_topic_reserve, lib.ivshmem_topic_commit,
           lib.ivshmem_topic_peek, lib.ivshmem_topic_release, lib.ivshmem_topic_arm,
           lib.ivshmem_topic_fd, lib.ivshmem_topic_stat, TopicStatS)


class Topic(Queue):
    """A publisher's, subscriber's or monitor's handle on a topic
    (Endpoint.topic_open()).  The shape of Channel: recv, recv_into, peek,
    release, reserve, commit, iteration, recv_async; publish (or send)
    copies a message in.  One thread at a time.

    A subscriber that fell behind a lossless topic's stall timeout is
    evicted: its calls raise OSError ENOBUFS; close it and open again."""
    _ops = _OPS

    @classmethod
    def _open(cls, ep: Any, name: str, role: str, exclusive: bool, from_oldest: bool, passive: bool,
              vector: int, spin_us: int, futex: bool) -> "Topic":
        o = TopicOptsS()
        o.flags = (TOPIC_EXCLUSIVE if exclusive else 0) | (0 if futex else TOPIC_NO_FUTEX) | \
            (TOPIC_FROM_OLDEST if from_oldest else 0) | (TOPIC_PASSIVE if passive else 0)
        o.vector, o.spin_us = vector, spin_us
        h = ctypes.c_void_p()
        check(lib.ivshmem_topic_open(ep._handle(), _name(name), _role(TOPIC_ROLES, role),
                                     ctypes.byref(o), ctypes.byref(h)),
              f"ivshmem_topic_open {name}", corrupt=True)
        return cls._attach(ep, h.value, name, role, vector)

    def publish(self, data: Buffer, timeout: Optional[float] = None) -> None:
        """Copy one message in for every subscriber.  Lossless: waits (up to
        timeout seconds) for room; latest: never waits."""
        self._send(data, timeout)

    send = publish

    def last(self) -> tuple[int, int]:
        """(sequence number, messages skipped just before it) of the
        message this subscriber took last (OSError ENODATA before the
        first).  Latest mode: skipped counts the messages published just
        before it that it never saw."""
        seq, skipped = ctypes.c_uint64(), ctypes.c_uint64()
        self._call("last", lib.ivshmem_topic_last(self._handle(), ctypes.byref(seq),
                                                  ctypes.byref(skipped)))
        return seq.value, skipped.value

    def stat(self) -> TopicStat:
        """A snapshot: the topic, each subscriber slot (from the untrusted
        region: a garbage slot shows as state "bad") and this handle."""
        return TopicStat._from(self._stat())


__all__ = ["SubscriberStat", "Topic", "TopicStat", "create_topic"]
