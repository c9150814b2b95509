"""Negative errno values from libivshmem as Python exceptions."""
from __future__ import annotations

import errno
import math
import os
import time
from typing import Callable, Optional


class CorruptRegion(OSError):
    """The shared memory holds a layout, channel or topic that is not valid
    (libivshmem's -EPROTO or -EBADMSG from a channel or topic call).  The
    other side may be hostile or broken; the handle that met it stays failed
    (close it).  ``errno`` is EPROTO or EBADMSG."""


_CORRUPT = (errno.EPROTO, errno.EBADMSG)


def error(neg: int, call: str, corrupt: bool = False) -> OSError:
    """The exception for a negative errno from `call`.  OSError's own
    constructor picks the subclass (ETIMEDOUT: TimeoutError, EPIPE:
    BrokenPipeError, ECONNRESET: ConnectionResetError, EACCES and EPERM:
    PermissionError, ENOENT: FileNotFoundError, EAGAIN: BlockingIOError,
    ...).  corrupt: the call reads the region, so EPROTO/EBADMSG mean the
    memory is corrupt."""
    e = -neg
    if corrupt and e in _CORRUPT:
        return CorruptRegion(e, f"{call}: {os.strerror(e)} (corrupt shared memory)")
    return OSError(e, f"{call}: {os.strerror(e)}")


def check(r: int, call: str, corrupt: bool = False) -> int:
    if r < 0:
        raise error(r, call, corrupt)
    return r


def fill(ctype: type, n: int, call: Callable, what: str, corrupt: bool = False) -> list:
    """The entries of a C call that fills up to max of an array and returns
    how many there are (more than max: call again with room for all)."""
    while True:
        buf = (ctype * n)()
        r = check(call(buf, n), what, corrupt)
        if r <= n:
            return buf[:r]
        n = r


def timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (None: forever, 0: no wait) as the C calls' milliseconds.  A
    positive timeout never rounds down to 0 (which would mean "don't wait")."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout != timeout or timeout < 0:
        raise ValueError("timeout must be >= 0 seconds (or None to wait forever)")
    if timeout == 0:
        return 0
    if math.isinf(timeout):
        return -1
    return max(1, min(2**31 - 1, math.ceil(timeout * 1000)))


# A blocking C call returns to Python at least this often, so that signals
# (Ctrl-C) are handled while it waits: ctypes cannot interrupt a C call.
SLICE_MS = 200


def blocking(fn: Callable[[int], int], timeout: Optional[float]) -> int:
    """Call fn(ms) (a C call that waits up to ms, -ETIMEDOUT when it ran out,
    having done nothing) until it returns something else or the timeout has
    passed.  Returns fn's last result."""
    ms = timeout_ms(timeout)
    if 0 <= ms <= SLICE_MS:
        return fn(ms)
    # from the seconds, not the milliseconds: those stop at 2^31 - 1 (24.8 days)
    deadline = None if ms < 0 else time.monotonic() + timeout
    while True:
        step = SLICE_MS
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return -errno.ETIMEDOUT
            step = max(1, min(SLICE_MS, math.ceil(left * 1000)))
        r = fn(step)
        if r != -errno.ETIMEDOUT:
            return r
