"""memoryviews of shared memory that can be taken back safely.

A memoryview over C memory does not know when the memory goes away (an
endpoint closed, a peeked message released).  Each view here is made over a
ctypes array of its own; every memoryview made from it (slices, casts,
numpy.frombuffer's) shares one managed buffer, which holds the array.  To
take the memory back, the owner releases its view (any later use of it
raises ValueError) and then checks the array's reference count: if another
view of it is still alive, it refuses with BufferError and changes nothing
(as mmap.close() does while views exist), so no view can touch memory that
is gone.
"""
from __future__ import annotations

import ctypes
import gc
import sys


class GuardedView:
    __slots__ = ("_view", "_arr", "_base", "_readonly")

    def __init__(self, addr: int, size: int, readonly: bool, keepalive: object) -> None:
        self._arr = (ctypes.c_char * size).from_address(addr)
        # A view that outlives the checks (one whose owner was collected
        # without close) keeps what owns the memory alive, so it still
        # points at mapped memory.
        self._arr.keepalive = keepalive
        self._base = sys.getrefcount(self._arr)
        self._readonly = readonly
        self._view: memoryview | None = None

    @property
    def view(self) -> memoryview:
        """The memoryview (a new one after a release that was refused)."""
        if self._arr is None:
            raise ValueError("the memory was released")
        if self._view is None:
            mv = memoryview(self._arr).cast("B")
            self._view = mv.toreadonly() if self._readonly else mv
        return self._view

    def release(self, what: str) -> None:
        """Invalidate the view, or raise BufferError if another view of the
        memory is still alive (then the memory stays as it was, and the
        view property gives a new view of it: delete the other and call
        again)."""
        if self._arr is None:
            return
        if self._view is not None:
            self._view.release()  # BufferError if something holds a buffer of it
            self._view = None
        if sys.getrefcount(self._arr) > self._base:
            gc.collect()  # views that are only garbage in a cycle
            if sys.getrefcount(self._arr) > self._base:
                raise BufferError(f"{what}: a view of the memory is still alive (a slice, a "
                                  f"memoryview or an array made from it); delete it first")
        self._arr.keepalive = None
        self._arr = None

    @property
    def released(self) -> bool:
        return self._arr is None
