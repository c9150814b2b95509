"""What channels and topics share: copying in and out, zero-copy views that
are taken back at commit and release, timeouts, iteration and asyncio.

Each subclass names its C calls in an ops table (Ops)."""
from __future__ import annotations

import ctypes
import errno
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

from . import _aio
from ._errors import blocking, error, timeout_ms
from ._handle import Handle, finalize
from ._lib import lib
from ._view import GuardedView

Buffer = Union[bytes, bytearray, memoryview, Any]  # anything with the buffer protocol


@dataclass(frozen=True)
class Ops:
    prefix: str  # "ivshmem_chan" or "ivshmem_topic": the names in error messages
    close: Callable
    send: Callable
    recv: Callable
    reserve: Callable
    commit: Callable
    peek: Callable
    release: Callable
    arm: Callable
    fd: Callable
    stat: Callable
    stat_s: type  # the ctypes struct stat fills


def c_buffer(data: Buffer) -> tuple[Any, int]:
    """A pointer argument for the bytes of a bytes-like object other than
    bytes and bytearray (send takes those itself), and their length:
    without a copy for a writable contiguous buffer."""
    mv = memoryview(data)
    n = mv.nbytes
    if mv.readonly or not mv.c_contiguous:
        b = mv.tobytes()
        return b, n
    if n == 0:
        return None, 0
    return (ctypes.c_char * n).from_buffer(mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv), n


# Every copying call tries once without waiting first: in a stream the
# message (or the room) is usually there, and then no clock is read.
_EAGAIN = -errno.EAGAIN
_byref, _c_char, _string_at = ctypes.byref, ctypes.c_char, ctypes.string_at


class Queue:
    """Base of Channel and Topic: one handle, one thread at a time."""
    _ops: Ops

    def __init__(self, ep: Any, h: int, name: str, role: str, vector: int, max_msg: int) -> None:
        self._ep = ep  # the endpoint outlives its channels
        self._hd = Handle(h, self._ops.close, parent=ep._hd)
        self._fin = finalize(self, self._hd)
        self.name = name
        self.role = role
        self._vector = vector
        self.max_message = max_msg
        self._rbuf: Optional[ctypes.Array] = None
        self._resv_len = 0

    @classmethod
    def _attach(cls, ep: Any, h: int, name: str, role: str, vector: int):
        """The object for a handle ivshmem_*_open just gave: its stat says
        max_message (on an error the handle is closed, and it is raised)."""
        st = cls._ops.stat_s()
        r = cls._ops.stat(h, ctypes.byref(st))
        if r < 0:
            cls._ops.close(h)
            raise error(r, f"{cls._ops.prefix}_stat {name}", corrupt=True)
        return cls(ep, h, name, role, vector, st.max_msg)

    def _stat(self) -> ctypes.Structure:
        st = self._ops.stat_s()
        self._call("stat", self._ops.stat(self._handle(), ctypes.byref(st)))
        return st

    def _handle(self) -> int:
        h = self._hd.h
        if h is None:
            raise ValueError(f"{type(self).__name__.lower()} {self.name!r} is closed")
        return h

    def _call(self, what: str, r: int) -> int:
        if r < 0:
            raise error(r, f"{self._ops.prefix}_{what} {self.name}", corrupt=True)
        return r

    def _view(self, which: str) -> Optional[GuardedView]:
        """The peek or reserve view, if one is held."""
        v = self._hd.views.get(which)
        return None if v is None or v.released else v

    def _drop(self, which: str, what: str) -> None:
        """Take back a view (BufferError, nothing changed, if in use)."""
        v = self._hd.views.get(which)
        if v is not None:
            v.release(what)
            self._hd.views[which] = None

    def _no_peek(self, what: str) -> None:
        if self._view("peek") is not None:
            raise OSError(errno.EBUSY, f"{self._ops.prefix}_{what} {self.name}: a peeked message is "
                                       f"held: release() it first")

    # ---- lifetime ----
    def close(self) -> None:
        """Detach and free the handle (a peeked message not released is
        delivered again to the next consumer; a reservation not committed is
        dropped).  BufferError, and nothing closed, while a view made from a
        peeked or reserved message's view is still alive."""
        hd = self._hd
        if hd.h is None:
            return
        why = hd.release_views()
        if why:
            raise BufferError(f"{self._ops.prefix}_close {self.name}: a view of the "
                              f"{'message' if why == 'buffer' else why} is still alive (a slice, a "
                              f"memoryview or an array made from it, or a buffer held of it); "
                              f"delete it first")
        hd.free_c()
        self._fin.detach()

    @property
    def closed(self) -> bool:
        """True once close() freed the handle."""
        return self._hd.h is None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._hd.h is None else ""
        return f"<ivshmem.{type(self).__name__} {self.name!r} {self.role}{state}>"

    # ---- copying ----
    def _send(self, data: Buffer, timeout: Optional[float]) -> None:
        # The hot path of a stream, kept short: the type tests, one call.
        h = self._hd.h
        if h is None:
            self._handle()
        if self._hd.views.get("resv") is not None:
            self._drop("resv", "send")  # the C send drops a reservation: so does its view
        t = type(data)
        if t is bytes:
            ptr, n = data, len(data)
        elif t is bytearray:
            n = len(data)
            ptr = _byref(_c_char.from_buffer(data)) if n else None
        else:
            ptr, n = c_buffer(data)
        if timeout is not None:
            timeout_ms(timeout)  # TypeError, ValueError
        fn = self._ops.send
        r = fn(h, ptr, n, 0)
        if r == _EAGAIN and timeout != 0:
            r = blocking(lambda ms: fn(h, ptr, n, ms), timeout)
        if r < 0:
            self._call("send" if self._ops.prefix == "ivshmem_chan" else "publish", r)

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next message, copied out.  timeout in seconds (None: wait
        forever, 0: don't wait, BlockingIOError when nothing is there);
        TimeoutError when it passes, BrokenPipeError when the other side has
        detached and everything is read, ConnectionResetError once after it
        restarted, CorruptRegion if the memory is corrupt."""
        h = self._hd.h
        if h is None:
            self._handle()
        if self._hd.views.get("peek") is not None:
            self._no_peek("recv")
        buf = self._rbuf
        if buf is None:
            buf = self._rbuf = ctypes.create_string_buffer(max(1, self.max_message))
        if timeout is not None:
            timeout_ms(timeout)  # TypeError, ValueError
        r = self._ops.recv(h, buf, self.max_message, 0)
        if r < 0:
            r = self._recv_slow(h, buf, self.max_message, timeout, r)
        return _string_at(buf, r)

    def recv_into(self, buffer: Buffer, timeout: Optional[float] = None) -> int:
        """Copy the next message into a writable buffer: its length.
        OSError EMSGSIZE (the message stays) if it does not fit."""
        h = self._hd.h
        if h is None:
            self._handle()
        if self._hd.views.get("peek") is not None:
            self._no_peek("recv")
        if type(buffer) is bytearray and buffer:
            cap = len(buffer)
            ptr = _byref(_c_char.from_buffer(buffer))
        else:
            mv = memoryview(buffer)
            if mv.readonly or not mv.c_contiguous:
                raise TypeError("recv_into needs a writable contiguous buffer")
            cap = mv.nbytes
            ptr = (ctypes.c_char * cap).from_buffer(mv.cast("B")) if cap else None
        if timeout is not None:
            timeout_ms(timeout)  # TypeError, ValueError
        r = self._ops.recv(h, ptr, cap, 0)
        if r < 0:
            r = self._recv_slow(h, ptr, cap, timeout, r)
        return r

    def _recv_slow(self, h: int, ptr: Any, cap: int, timeout: Optional[float], r: int) -> int:
        """After a first try gave r < 0: wait if it was EAGAIN and we may."""
        if r == _EAGAIN and timeout != 0:
            fn = self._ops.recv
            r = blocking(lambda ms: fn(h, ptr, cap, ms), timeout)
        return self._call("recv", r)

    def __iter__(self) -> Iterator[bytes]:
        """The messages as they come, until the other side detaches and all
        are read (BrokenPipeError ends the iteration; every other error,
        corruption included, is raised)."""
        while True:
            try:
                yield self.recv()
            except BrokenPipeError:
                return

    # ---- zero copy ----
    def reserve(self, n: int, timeout: Optional[float] = None) -> memoryview:
        """Room for a message of up to n bytes, as a writable memoryview in
        the shared memory; write into it, then commit().  A new reserve (or
        a send) drops a reservation not committed, and its view.  The view
        is released at commit."""
        h = self._handle()
        self._drop("resv", "reserve")
        ptr = ctypes.c_void_p()
        self._call("reserve", blocking(lambda ms: self._ops.reserve(h, n, ctypes.byref(ptr), ms),
                                       timeout))
        self._hd.views["resv"] = GuardedView(ptr.value or 0, n, False)
        self._resv_len = n
        return self._hd.views["resv"].view

    def commit(self, n: Optional[int] = None) -> None:
        """Publish the reserved message with its first n bytes (None: all
        that was reserved).  The reserve view is released first: BufferError
        (nothing committed) while a view made from it is alive."""
        h = self._handle()
        if self._view("resv") is None:
            raise error(-errno.EINVAL, f"{self._ops.prefix}_commit {self.name}: nothing reserved")
        n = self._resv_len if n is None else n
        if not 0 <= n <= self._resv_len:
            raise ValueError(f"commit of {n} bytes, {self._resv_len} reserved")
        self._drop("resv", "commit")
        self._call("commit", self._ops.commit(h, n))

    def peek(self, timeout: Optional[float] = None) -> memoryview:
        """The next message in place, as a read-only memoryview in the
        shared memory, valid until release() (after it, using the view
        raises ValueError).  The producer is untrusted and may change the
        bytes while you read: copy what you validate.  Peeking again before
        release() returns the same message; recv() meanwhile is refused
        (OSError EBUSY)."""
        h = self._handle()
        v = self._view("peek")
        if v is not None:
            return v.view
        ptr = ctypes.c_void_p()
        n = self._call("peek", blocking(lambda ms: self._ops.peek(h, ctypes.byref(ptr), ms), timeout))
        self._hd.views["peek"] = GuardedView(ptr.value or 0, n, True)
        return self._hd.views["peek"].view

    def release(self) -> None:
        """Release the peeked message: the view is invalidated first
        (BufferError, and nothing released, while a view made from it is
        alive).  For a topic, an error says the message had been
        overwritten while held: discard what was read."""
        h = self._handle()
        if self._view("peek") is None:
            raise error(-errno.EINVAL, f"{self._ops.prefix}_release {self.name}: nothing peeked")
        self._drop("peek", "release")
        self._call("release", self._ops.release(h))

    # ---- event loops ----
    def arm(self) -> bool:
        """Ready to sleep: False when armed (the other side will wake this
        handle's fd), True if a message is already there."""
        return self._call("arm", self._ops.arm(self._handle())) == 1

    def fileno(self) -> int:
        """The pollable fd this handle sleeps on (doorbell endpoints);
        OSError ENOTSUP when the other side cannot ring it (same host: a
        futex, which no fd shows)."""
        return self._call("fd", self._ops.fd(self._handle()))

    async def recv_async(self, timeout: Optional[float] = None) -> bytes:
        """recv() for asyncio.  Sleeps on fileno() in the running loop when
        the other side rings it; otherwise (a futex on one host) it polls,
        sleeping 50 us growing to 2 ms between looks."""
        if timeout_ms(timeout) == 0:
            return self.recv(0)  # BlockingIOError, as recv(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.00005
        while True:
            try:
                return self.recv(0)
            except BlockingIOError:
                pass
            if self.arm():
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise error(-errno.ETIMEDOUT, f"{self._ops.prefix}_recv {self.name}")
            r = self._ops.fd(self._handle())
            if r >= 0:
                # Bounded: right after a takeover the other side may not ring yet.
                await _aio.readable(r, 0.05 if left is None else min(left, 0.05))
                lib.ivshmem_vector_ack(self._ep._handle(), self._vector)
            else:
                import asyncio
                await asyncio.sleep(pause if left is None else min(pause, left))
                pause = min(pause * 2, 0.002)
