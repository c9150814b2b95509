"""Waiting for an fd in asyncio: one reader per fd and loop, shared by
every task that waits on it (channels on one vector share its fd).

asyncio is imported when first used: a program that never awaits does not
pay for it (nor for the ssl it imports)."""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import asyncio

_waiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, set[asyncio.Future]]]" = \
    weakref.WeakKeyDictionary()


def _wake(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    futs = _waiters.get(loop, {}).pop(fd, set())
    loop.remove_reader(fd)
    for f in futs:
        if not f.done():
            f.set_result(None)


def forget(fds: list[int], why: str) -> None:
    """The fds are about to be closed: every task waiting on one of them,
    in any loop, gets ValueError(why), and its reader goes (the fd number
    may soon be another file's)."""
    if not _waiters:
        return  # (nothing ever waited: asyncio need not be imported)
    import asyncio
    for loop, per_loop in list(_waiters.items()):
        for fd in fds:
            futs = per_loop.pop(fd, None)
            if futs is None:
                continue

            def drop(fd: int = fd, futs: set = futs, loop: asyncio.AbstractEventLoop = loop) -> None:
                loop.remove_reader(fd)
                for f in futs:
                    if not f.done():
                        f.set_exception(ValueError(why))
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                drop()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(drop)


async def readable(fd: int, timeout: Optional[float]) -> bool:
    """Wait until fd is readable (True) or timeout seconds passed (False)."""
    import asyncio
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
