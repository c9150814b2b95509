"""Channels: named single-producer single-consumer message queues inside
the shared memory (docs/channels.md)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ._errors import blocking, check
from ._lib import (CHAN_EXCLUSIVE, CHAN_NO_FUTEX, CHAN_ROLES, KIND_TOPIC, WAKE_NAMES, ChanInfoS,
                   ChanMsgS, ChanOptsS, ChanStatS, lib)
from ._queue import Buffer, Ops, Queue
from ._stats import named


_c_char, _addressof, _cast, _void_p = ctypes.c_char, ctypes.addressof, ctypes.cast, ctypes.c_void_p


def _name(name: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    b = name.encode()
    if not 1 <= len(b) <= 31 or b"\0" in b:
        raise ValueError(f"name must be 1..31 bytes without NUL: {name!r}")
    return b


def _role(roles: dict[str, int], role: str) -> int:
    if role not in roles:
        raise ValueError(f"role must be one of {', '.join(roles)}, not {role!r}")
    return roles[role]


@dataclass(frozen=True)
class ChannelInfo:
    """One entry of the region's table (Endpoint.chan_list())."""
    name: str
    kind: str  # "channel" or "topic"
    offset: int
    ring_size: int
    max_message: int

    @classmethod
    def _from(cls, i: ChanInfoS) -> "ChannelInfo":
        return cls(i.name.decode("utf-8", "replace"), "topic" if i.kind == KIND_TOPIC else "channel",
                   i.offset, i.ring_size, i.max_msg)


@dataclass(frozen=True)
class ChannelStat:
    """A snapshot of a channel (Channel.stat()): the shared counters (from
    the untrusted region) and this handle's own."""
    name: str
    role: str
    ring_size: int
    max_message: int
    used: int
    queued: int
    head: int
    tail: int
    sent: int
    received: int
    producer_attached: bool
    consumer_attached: bool
    producer_id: int
    consumer_id: int
    producer_epoch: int
    consumer_epoch: int
    producer_rings: int
    consumer_rings: int
    producer_sleeps: int
    consumer_sleeps: int
    messages: int
    bytes: int
    rings: int
    sleeps: int
    spins: int
    wake: str
    fence_skipped: bool

    @classmethod
    def _from(cls, s: ChanStatS) -> "ChannelStat":
        d: dict[str, Any] = named(s, CHAN_ROLES, WAKE_NAMES)
        for k in ("producer_attached", "consumer_attached", "fence_skipped"):
            d[k] = bool(d[k])
        return cls(**d)


_OPS = Ops("ivshmem_chan", lib.ivshmem_chan_close, lib.ivshmem_chan_send, lib.ivshmem_chan_recv,
           lib.ivshmem_chan_reserve, lib.ivshmem_chan_commit, lib.ivshmem_chan_peek,
           lib.ivshmem_chan_release, lib.ivshmem_chan_arm, lib.ivshmem_chan_fd, lib.ivshmem_chan_stat,
           ChanStatS)


class Channel(Queue):
    """A producer's, consumer's or monitor's handle on a channel
    (Endpoint.chan_open()).  A context manager; iterating yields the
    messages until the producer detaches.  One thread at a time."""
    _ops = _OPS

    @classmethod
    def _open(cls, ep: Any, name: str, role: str, exclusive: bool, vector: int, spin_us: int,
              futex: bool) -> "Channel":
        o = ChanOptsS()
        o.flags = (CHAN_EXCLUSIVE if exclusive else 0) | (0 if futex else CHAN_NO_FUTEX)
        o.vector, o.spin_us = vector, spin_us
        h = ctypes.c_void_p()
        check(lib.ivshmem_chan_open(ep._handle(), _name(name), _role(CHAN_ROLES, role), ctypes.byref(o),
                                    ctypes.byref(h)), f"ivshmem_chan_open {name}", corrupt=True)
        return cls._attach(ep, h.value, name, role, vector)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._batch: Optional[tuple] = None  # recv_many's buffers and records, kept
        self._send_arr: Optional[ctypes.Array] = None  # send_many's records, kept

    def send(self, data: Buffer, timeout: Optional[float] = None) -> None:
        """Copy one message (any bytes-like object) in.  timeout as recv();
        BrokenPipeError when no consumer is attached any more, OSError
        EMSGSIZE above max_message."""
        self._send(data, timeout)

    def send_many(self, messages: Sequence[Buffer], timeout: Optional[float] = None) -> int:
        """Send several messages with one publication (and at most one
        wakeup): how many went, in order (>= 1; waits as send() for room for
        the first).  Send the rest again."""
        h = self._handle()
        n = len(messages)
        if n == 0:
            return 0
        self._drop("resv", "send_batch")  # as send
        if n > 4096:
            raise ValueError("at most 4096 messages at once")
        arr = self._send_arr
        if arr is None or len(arr) < n:
            arr = self._send_arr = (ChanMsgS * max(n, 32))()
        keep = []  # what the pointers point into, alive through the call
        for i, m in enumerate(messages):
            t = type(m)
            if t is bytearray and m:
                c = _c_char.from_buffer(m)
                keep.append(c)
                arr[i].data, arr[i].len = _addressof(c), len(m)
            else:
                if t is not bytes:
                    m = memoryview(m).tobytes()  # (a copy: send_many is for bytes and bytearrays)
                keep.append(m)
                arr[i].data, arr[i].len = _cast(m, _void_p).value, len(m)
        return self._call("send_batch", blocking(lambda ms: lib.ivshmem_chan_send_batch(h, arr, n, ms),
                                                 timeout))

    def recv_many(self, count: int, timeout: Optional[float] = None) -> list[bytes]:
        """Up to `count` messages at once (waits as recv() for the first)."""
        h = self._handle()
        self._no_peek("recv_batch")
        if not 1 <= count <= 4096:
            raise ValueError("count must be 1..4096")
        cap = max(1, self.max_message)
        if self._batch is None or len(self._batch[1]) < count:
            # one buffer per message slot, kept for the next call
            self._batch = (ctypes.create_string_buffer(cap * count), (ChanMsgS * count)())
        bufs, arr = self._batch
        base = ctypes.addressof(bufs)
        for i in range(count):
            arr[i].data, arr[i].cap = base + i * cap, cap
        got = self._call("recv_batch", blocking(
            lambda ms: lib.ivshmem_chan_recv_batch(h, arr, count, ms), timeout))
        return [ctypes.string_at(base + i * cap, arr[i].len) for i in range(got)]

    def stat(self) -> ChannelStat:
        """A snapshot: the shared counters (from the untrusted region;
        CorruptRegion if they are inconsistent) and this handle's own."""
        return ChannelStat._from(self._stat())


__all__ = ["Channel", "ChannelInfo", "ChannelStat"]
