"""What channels and topics share: copying in and out, zero-copy views that
are taken back at commit and release, timeouts, iteration and asyncio.

Each subclass names its C calls in an ops table (Ops)."""
from __future__ import annotations

import asyncio
import ctypes
import errno
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

from . import _aio
from ._errors import blocking, check, error
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


def c_buffer(data: Buffer) -> tuple[Any, int]:
    """A pointer argument for data's bytes and their length, without a copy
    for bytes and writable contiguous buffers."""
    if isinstance(data, bytes):
        return data, len(data)
    mv = memoryview(data)
    n = mv.nbytes
    if mv.readonly or not mv.c_contiguous:
        b = mv.tobytes()
        return b, n
    if n == 0:
        return None, 0
    return (ctypes.c_char * n).from_buffer(mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv), n


def _close(ops: Ops, h: int) -> None:
    ops.close(h)


class Queue:
    """Base of Channel and Topic: one handle, one thread at a time."""
    _ops: Ops

    def __init__(self, ep: Any, h: int, name: str, role: str, vector: int, max_msg: int) -> None:
        self._ep = ep  # the endpoint outlives its channels
        self._h: Optional[int] = h
        self.name = name
        self.role = role
        self._vector = vector
        self.max_message = max_msg
        self._rbuf: Optional[ctypes.Array] = None
        self._peek: Optional[GuardedView] = None
        self._resv: Optional[GuardedView] = None
        self._resv_len = 0
        self._fin = weakref.finalize(self, _close, self._ops, h)
        ep._adopt(self, self._fin)

    def _handle(self) -> int:
        if self._h is None:
            raise ValueError(f"{type(self).__name__.lower()} {self.name!r} is closed")
        return self._h

    def _call(self, what: str, r: int) -> int:
        return check(r, f"{self._ops.prefix}_{what} {self.name}", corrupt=True)

    # ---- lifetime ----
    def _release_views(self) -> None:
        """Take back the peek and reserve views (BufferError if one is in
        use); the C handle is untouched."""
        if self._peek is not None:
            self._peek.release("close")
        if self._resv is not None:
            self._resv.release("close")

    def close(self) -> None:
        """Detach and free the handle (a peeked message not released is
        delivered again to the next consumer; a reservation not committed is
        dropped).  BufferError, and nothing closed, while a view of a peeked
        or reserved message is still alive."""
        if self._h is None:
            return
        self._release_views()
        self._peek = self._resv = None
        self._h = None
        self._fin()

    @property
    def closed(self) -> bool:
        return self._h is None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._h is None else ""
        return f"<ivshmem.{type(self).__name__} {self.name!r} {self.role}{state}>"

    # ---- copying ----
    def _send(self, data: Buffer, timeout: Optional[float]) -> None:
        h = self._handle()
        ptr, n = c_buffer(data)
        r = blocking(lambda ms: self._ops.send(h, ptr, n, ms), timeout)
        self._call("send" if self._ops.prefix == "ivshmem_chan" else "publish", r)

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next message, copied out.  timeout in seconds (None: wait
        forever, 0: don't wait, BlockingIOError when nothing is there);
        TimeoutError when it passes, BrokenPipeError when the other side has
        detached and everything is read, ConnectionResetError once after it
        restarted, CorruptRegion if the memory is corrupt."""
        h = self._handle()
        if self._rbuf is None:
            self._rbuf = ctypes.create_string_buffer(max(1, self.max_message))
        buf, cap = self._rbuf, self.max_message
        n = self._call("recv", blocking(lambda ms: self._ops.recv(h, buf, cap, ms), timeout))
        return ctypes.string_at(buf, n)

    def recv_into(self, buffer: Buffer, timeout: Optional[float] = None) -> int:
        """Copy the next message into a writable buffer: its length.
        OSError EMSGSIZE (the message stays) if it does not fit."""
        h = self._handle()
        mv = memoryview(buffer)
        if mv.readonly or not mv.c_contiguous:
            raise TypeError("recv_into needs a writable contiguous buffer")
        cap = mv.nbytes
        ptr = (ctypes.c_char * cap).from_buffer(mv.cast("B")) if cap else None
        return self._call("recv", blocking(lambda ms: self._ops.recv(h, ptr, cap, ms), timeout))

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
        the shared memory; write into it, then commit().  A new reserve
        drops a reservation not committed.  The view is released at
        commit."""
        h = self._handle()
        if self._resv is not None:
            self._resv.release("reserve")
            self._resv = None
        ptr = ctypes.c_void_p()
        self._call("reserve", blocking(lambda ms: self._ops.reserve(h, n, ctypes.byref(ptr), ms),
                                       timeout))
        self._resv = GuardedView(ptr.value or 0, n, False, self)
        self._resv_len = n
        return self._resv.view

    def commit(self, n: Optional[int] = None) -> None:
        """Publish the reserved message with its first n bytes (None: all
        that was reserved).  The reserve view is released first: BufferError
        (nothing committed) while a view made from it is alive."""
        h = self._handle()
        if self._resv is None:
            raise error(-errno.EINVAL, f"{self._ops.prefix}_commit {self.name}: nothing reserved")
        n = self._resv_len if n is None else n
        if not 0 <= n <= self._resv_len:
            raise ValueError(f"commit of {n} bytes, {self._resv_len} reserved")
        self._resv.release("commit")
        self._resv = None
        self._call("commit", self._ops.commit(h, n))

    def peek(self, timeout: Optional[float] = None) -> memoryview:
        """The next message in place, as a read-only memoryview in the
        shared memory, valid until release() (after it, using the view
        raises ValueError).  The producer is untrusted and may change the
        bytes while you read: copy what you validate.  Peeking again before
        release() returns the same message."""
        h = self._handle()
        if self._peek is not None and not self._peek.released:
            return self._peek.view
        ptr = ctypes.c_void_p()
        n = self._call("peek", blocking(lambda ms: self._ops.peek(h, ctypes.byref(ptr), ms), timeout))
        self._peek = GuardedView(ptr.value or 0, n, True, self)
        return self._peek.view

    def release(self) -> None:
        """Release the peeked message: the view is invalidated first
        (BufferError, and nothing released, while a view made from it is
        alive).  For a topic, an error says the message had been
        overwritten while held: discard what was read."""
        h = self._handle()
        if self._peek is None:
            raise error(-errno.EINVAL, f"{self._ops.prefix}_release {self.name}: nothing peeked")
        self._peek.release("release")
        self._peek = None
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
                await asyncio.sleep(pause if left is None else min(pause, left))
                pause = min(pause * 2, 0.002)
