"""Endpoints: one IVSHMEM shared memory with its peer ID, doorbells and
interrupt vectors, the same in a guest, on the host and through the daemon."""
from __future__ import annotations

import ctypes
import errno
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Optional

from . import _aio
from ._errors import blocking, check, error, fill
from ._handle import Handle, finalize
from ._lib import (BACKENDS, CACHE_NAMES, CACHES, EVENT_TYPES, OPEN_EXCLUSIVE_IRQ, OPEN_NO_IRQ,
                   OPEN_READONLY, ChanInfoS, EventS, OpenOpts, PeerS, lib)
from ._view import GuardedView
from .channel import Channel, ChannelInfo, _name
from .topic import Topic, create_topic


@dataclass(frozen=True)
class Peer:
    """Another peer of a server or daemon endpoint."""
    id: int
    vectors: int


@dataclass(frozen=True)
class Event:
    """A change of the peers: type is "join", "leave" or "disconnect" (the
    server or daemon went away; no event follows)."""
    type: str
    peer: int
    vectors: int


class Endpoint:
    """An open endpoint (ivshmem.open() makes one).  A context manager:
    leaving the block closes it.

    Threads: every method may be called from several threads at once except
    close(); channels and topics opened on it belong to one thread at a
    time each."""

    def __init__(self, handle: int, spec: str) -> None:
        self._hd = Handle(handle, lib.ivshmem_close)
        self._fin = finalize(self, self._hd)
        self._spec = spec
        self._lock = threading.Lock()  # making the view of mem

    # ---- lifetime ----
    def _handle(self) -> int:
        h = self._hd.h
        if h is None:
            raise ValueError(f"endpoint {self._spec!r} is closed")
        return h

    def close(self) -> None:
        """Close the channels and topics opened on it, then the endpoint.
        BufferError (and nothing closed) while a view made from its memory's
        view, or from a channel's peeked or reserved message's, is still
        alive.  asyncio waits on its fds end with ValueError."""
        hd = self._hd
        if hd.h is None:
            return
        why = hd.release_views()
        if why == "buffer":
            raise BufferError(f"close {self._spec}: a buffer of a view of its memory is held "
                              f"(a PickleBuffer, a call in another thread); let it go first")
        if why:
            raise BufferError(f"close {self._spec}: a view of the {why} is still alive (a slice, "
                              f"a memoryview or an array made from it); delete it first")
        _aio.forget(self._fds(), f"endpoint {self._spec!r} is closed")
        hd.free_c()
        self._fin.detach()

    def _fds(self) -> list[int]:
        """Its pollable fds (vectors, events), for asyncio to forget."""
        h, fds = self._hd.h, []
        n = lib.ivshmem_vectors(h)
        for v in range(max(0, n)):
            fd = lib.ivshmem_vector_fd(h, v)
            if fd >= 0:
                fds.append(fd)
        fd = lib.ivshmem_event_fd(h)
        if fd >= 0:
            fds.append(fd)
        return fds

    @property
    def closed(self) -> bool:
        """True once close() freed the endpoint."""
        return self._hd.h is None

    def __enter__(self) -> "Endpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._hd.h is None:
            return f"<ivshmem.Endpoint {self._spec!r} closed>"
        return f"<ivshmem.Endpoint {self._spec!r} kind={self.kind} size={self.size} id={self.id}>"

    # ---- shared memory ----
    @property
    def mem(self) -> memoryview:
        """The shared memory, zero copy: a memoryview of unsigned bytes
        (read-only if the endpoint was opened readonly).  Writes go straight
        to the region; numpy.frombuffer(ep.mem, ...) makes an array over it.
        Every peer can change these bytes at any time.  After close() it
        raises ValueError."""
        with self._lock:
            h = self._handle()
            gv = self._hd.views.get("mem")
            if gv is None or gv.released:
                addr = lib.ivshmem_mem(h)
                if not addr:
                    raise OSError(errno.ENOTSUP, "ivshmem_mem: this endpoint does not map its memory")
                gv = self._hd.views["mem"] = GuardedView(addr, lib.ivshmem_mem_size(h), self.readonly)
            return gv.view

    @property
    def size(self) -> int:
        """Bytes of shared memory."""
        return lib.ivshmem_mem_size(self._handle())

    @property
    def readonly(self) -> bool:
        """Is the memory mapped read-only (opened readonly, or a read-only
        file or daemon policy)?"""
        return lib.ivshmem_mem_readonly(self._handle()) == 1

    @property
    def kind(self) -> str:
        """"pci", "file", "server" or "daemon"."""
        return lib.ivshmem_kind(self._handle()).decode()

    @property
    def cache(self) -> str:
        """Cache mode of the mapping: "uc", "wc" or "wb"."""
        return CACHE_NAMES.get(lib.ivshmem_mem_cache(self._handle()), "default")

    @property
    def id(self) -> Optional[int]:
        """Own peer ID (0..65535), or None for an endpoint that has none (a
        file, a plain device)."""
        r = lib.ivshmem_id(self._handle())
        if r == -errno.ENODATA:
            return None
        return check(r, "ivshmem_id")

    @property
    def vectors(self) -> int:
        """Number of interrupt vectors (0 if none)."""
        return check(lib.ivshmem_vectors(self._handle()), "ivshmem_vectors")

    # ---- doorbells and interrupts ----
    def ring(self, peer: int, vector: int = 0) -> None:
        """Ring vector `vector` of peer `peer`."""
        check(lib.ivshmem_ring(self._handle(), peer, vector), "ivshmem_ring")

    def vector_fd(self, vector: int = 0) -> int:
        """The pollable fd (readable when the vector fired) of a vector.
        Owned by the endpoint: don't close it."""
        return check(lib.ivshmem_vector_fd(self._handle(), vector), "ivshmem_vector_fd")

    def ack(self, vector: int = 0) -> int:
        """Consume a vector's pending interrupts without waiting: how many."""
        return check(lib.ivshmem_vector_ack(self._handle(), vector), "ivshmem_vector_ack")

    def wait(self, vector: int = 0, timeout: Optional[float] = None) -> int:
        """Wait for an interrupt on `vector` and consume it: how many came
        (>= 1).  timeout in seconds: None waits forever, 0 does not wait;
        TimeoutError when it passes."""
        h = self._handle()
        r = blocking(lambda ms: lib.ivshmem_wait(h, vector, ms), timeout)
        if r == -errno.ETIMEDOUT and timeout == 0:
            r = -errno.EAGAIN
        return check(r, "ivshmem_wait")

    async def wait_async(self, vector: int = 0, timeout: Optional[float] = None) -> int:
        """wait() for asyncio: sleeps on the vector's fd in the running loop."""
        fd = self.vector_fd(vector)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            n = self.ack(vector)
            if n > 0:
                return n
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise error(-errno.ETIMEDOUT, "ivshmem_wait")
            await _aio.readable(fd, left)

    # ---- peers ----
    def peers(self) -> list[Peer]:
        """The other peers (server and daemon endpoints)."""
        h = self._handle()
        return [Peer(p.id, p.vectors) for p in fill(PeerS, 64, lambda b, n: lib.ivshmem_peers(h, b, n),
                                                    "ivshmem_peers")]

    def event_fd(self) -> int:
        """The pollable fd for peer events (server and daemon endpoints)."""
        return check(lib.ivshmem_event_fd(self._handle()), "ivshmem_event_fd")

    def events(self) -> Iterator[Event]:
        """The peer events that have come, without waiting."""
        h = self._handle()
        ev = EventS()
        while check(lib.ivshmem_next_event(h, ctypes.byref(ev)), "ivshmem_next_event") == 1:
            yield Event(EVENT_TYPES.get(ev.type, str(ev.type)), ev.peer, ev.vectors)

    # ---- channels and topics in the region ----
    def layout_init(self) -> None:
        """Format the region: destroys every channel and topic in it."""
        check(lib.ivshmem_layout_init(self._handle()), "ivshmem_layout_init", corrupt=True)

    def chan_create(self, name: str, size: int = 0, max_message: int = 0) -> None:
        """Create channel `name` (1..31 bytes) with a ring of `size` bytes
        (0: 1 MiB or a quarter of the region) for messages of up to
        `max_message` bytes (0: min(64 KiB, ring/2 - 8)).  An all-zero region
        is formatted first.  FileExistsError if it exists."""
        check(lib.ivshmem_chan_create(self._handle(), _name(name), size, max_message),
              f"ivshmem_chan_create {name}", corrupt=True)

    def chan_delete(self, name: str) -> None:
        """Delete channel or topic `name`: OSError with errno EBUSY while a
        side is attached and alive, FileNotFoundError if there is none."""
        check(lib.ivshmem_chan_delete(self._handle(), _name(name)), f"ivshmem_chan_delete {name}",
              corrupt=True)

    def chan_list(self) -> list[ChannelInfo]:
        """The channels and topics of the region, in table order (a
        snapshot of memory others may change)."""
        h = self._handle()
        return [ChannelInfo._from(i) for i in fill(ChanInfoS, 16, lambda b, n: lib.ivshmem_chan_list(h, b, n),
                                                   "ivshmem_chan_list", corrupt=True)]

    def chan_open(self, name: str, role: str, *, exclusive: bool = False, vector: int = 0,
                  spin_us: int = 0, futex: bool = True) -> Channel:
        """Attach to channel `name` as "producer", "consumer" or "monitor"
        (stat only).  An attached role is taken over (its old handle gets
        ESTALE) unless exclusive (then OSError EBUSY).  vector: the vector
        this side sleeps on (doorbell endpoints); spin_us: spin before
        sleeping (0: the library's default, < 0: none); futex=False never
        sleeps on a futex."""
        return Channel._open(self, name, role, exclusive, vector, spin_us, futex)

    def topic_create(self, name: str, size: int = 0, max_message: int = 0, *,
                     subscribers: int = 0, mode: str = "lossless",
                     stall_timeout: Optional[float] = None) -> None:
        """Create topic `name`: one publisher, up to `subscribers` (0: 8,
        at most 64) subscribers.  mode "lossless" waits for the slowest
        subscriber (evicting one stalled for stall_timeout seconds, None: 1 s);
        "latest" never waits, subscribers take the newest message."""
        create_topic(self, name, size, max_message, subscribers, mode, stall_timeout)

    def topic_open(self, name: str, role: str, *, exclusive: bool = False,
                   from_oldest: bool = False, passive: bool = False, vector: int = 0,
                   spin_us: int = 0, futex: bool = True) -> Topic:
        """Attach to topic `name` as "publisher", "subscriber" or "monitor".
        from_oldest: a subscriber starts at the oldest message kept (not the
        tail); passive: a latest-mode subscriber that takes no slot and
        writes nothing.  The rest as chan_open."""
        return Topic._open(self, name, role, exclusive, from_oldest, passive, vector, spin_us, futex)


def open(spec: str, *, readonly: bool = False, backend: Optional[str] = None,
         cache: Optional[str] = None, timeout: Optional[float] = None, irq: bool = True,
         exclusive_irq: bool = False) -> Endpoint:
    """Open an endpoint.  spec: a PCI address ("0000:00:04.0"), "auto" (the
    only IVSHMEM device), "file:PATH", "server:SOCKET" or "daemon:SOCKET".

    readonly maps the memory read-only; backend ("vfio", "sysfs", "file")
    and cache ("uc", "wc", "wb") apply to PCI and file endpoints; timeout
    (seconds) bounds the wait for the device, server or daemon (None: the
    library's 5 s); irq=False sets up no interrupt delivery; exclusive_irq
    (daemon endpoints) takes the device's vectors directly.

    Raises OSError subclasses with errno set (FileNotFoundError,
    PermissionError, ConnectionRefusedError, TimeoutError, ...)."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, not {type(spec).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of auto, vfio, sysfs, file, not {backend!r}")
    if cache not in CACHES:
        raise ValueError(f"cache must be one of default, uc, wc, wb, not {cache!r}")
    o = OpenOpts()
    o.backend, o.cache = BACKENDS[backend], CACHES[cache]
    o.flags = (OPEN_READONLY if readonly else 0) | (0 if irq else OPEN_NO_IRQ) | \
        (OPEN_EXCLUSIVE_IRQ if exclusive_irq else 0)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds (or None)")
        o.ready_timeout_ms = max(1, min(2**31 - 1, int(timeout * 1000 + 0.999)))
    h = ctypes.c_void_p()
    check(lib.ivshmem_open(spec.encode(), ctypes.byref(o), ctypes.byref(h)), f"ivshmem_open {spec}")
    return Endpoint(h.value, spec)


__all__ = ["Endpoint", "Event", "Peer", "open"]
