"""memoryviews of shared memory that can be taken back safely.

A memoryview over C memory does not know when the memory goes away (an
endpoint closed, a peeked message released).  Each view here is made by
PyMemoryView_FromMemory: it has no exporter object (its .obj is None), so
nothing can get a writable buffer out of a read-only view, and every
memoryview made from it (slices, casts, numpy.frombuffer's) is registered
with its managed buffer, whose reference count therefore says whether any
of them is still alive.  To take the memory back, the owner releases its
views (any later use raises ValueError) and then checks that count: if
another view is still alive it refuses with BufferError and changes nothing
(as mmap.close() does while views exist), so no view can reach memory that
is gone.
"""
from __future__ import annotations

import ctypes
import gc
import sys

_from_memory = ctypes.pythonapi.PyMemoryView_FromMemory
_from_memory.restype = ctypes.py_object
_from_memory.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)
_PyBUF_READ, _PyBUF_WRITE = 0x100, 0x200
_EMPTY = ctypes.create_string_buffer(1)  # an address for empty views (NULL is not allowed)


def _refs(gen: list) -> int:
    return sys.getrefcount(gen[1])  # (the list's slot and the argument are in every count)


def _released(mv: memoryview) -> bool:
    try:
        mv.nbytes
        return False
    except ValueError:
        return True


class GuardedView:
    """A view of [addr, addr + size), read-only or writable, and the
    managed buffers of every view of ours made of it so far (a new one when
    the user released ours, e.g. with `with ep.mem as m:`)."""
    __slots__ = ("_addr", "_size", "_flags", "_gens", "released")

    def __init__(self, addr: int, size: int, readonly: bool) -> None:
        self._addr = addr if addr and size else ctypes.addressof(_EMPTY)
        self._size = size
        self._flags = _PyBUF_READ if readonly else _PyBUF_WRITE
        self._gens: list[list] = []  # [our view, its managed buffer, its count with only our view]
        self.released = False

    @property
    def view(self) -> memoryview:
        """Our memoryview (a new one if the last was released by its user)."""
        if self.released:
            raise ValueError("the memory was released")
        if not self._gens or _released(self._gens[-1][0]):
            mv = _from_memory(self._addr, self._size, self._flags)
            gen = [mv, gc.get_referents(mv)[0], 0]
            del mv
            gen[2] = _refs(gen)
            self._gens.append(gen)
        return self._gens[-1][0]

    def in_use(self) -> bool:
        """Is a view made from one of ours (not ours themselves) alive?
        (A buffer held of our view itself shows at release: BufferError.)"""
        if any(_refs(g) > g[2] for g in self._gens):
            gc.collect()  # views that are only garbage in a cycle
            return any(_refs(g) > g[2] for g in self._gens)
        return False

    def release(self, what: str) -> None:
        """Invalidate our views, or raise BufferError if another view of
        the memory is still alive, or a buffer of ours is held (then nothing
        is released that its user could not get again from the view
        property: delete the other and call again)."""
        if self.released:
            return
        if self.in_use():
            raise BufferError(f"{what}: a view of the memory is still alive (a slice, a "
                              f"memoryview or an array made from it); delete it first")
        for g in self._gens:
            g[0].release()  # BufferError if something holds a buffer of it (a no-op if released)
        self._gens.clear()
        self.released = True
