"""Waiting for an fd in asyncio: one reader per fd and loop, shared by
every task that waits on it (channels on one vector share its fd)."""
from __future__ import annotations

import asyncio
import weakref
from typing import Optional

_waiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, set[asyncio.Future]]]" = \
    weakref.WeakKeyDictionary()


def _wake(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    futs = _waiters.get(loop, {}).pop(fd, set())
    loop.remove_reader(fd)
    for f in futs:
        if not f.done():
            f.set_result(None)


async def readable(fd: int, timeout: Optional[float]) -> bool:
    """Wait until fd is readable (True) or timeout seconds passed (False)."""
    loop = asyncio.get_running_loop()
    per_loop = _waiters.setdefault(loop, {})
    fut = loop.create_future()
    if fd not in per_loop:
        per_loop[fd] = set()
        loop.add_reader(fd, _wake, loop, fd)
    per_loop[fd].add(fut)
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        futs = per_loop.get(fd)
        if futs is not None:
            futs.discard(fut)
            if not futs:
                del per_loop[fd]
                loop.remove_reader(fd)
