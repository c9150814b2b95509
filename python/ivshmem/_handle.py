"""C handles (an endpoint, a channel, a topic) and when they are freed.

A Handle holds the C pointer, the views of memory the handle owns, and
(an endpoint's) the handles of its channels and topics.  It is freed only
when nothing can reach freed memory through it:

- close() refuses (BufferError, nothing changed) while a view made from one
  of its views is alive, and frees the children first: the C endpoint must
  outlive its channels;
- the garbage collector's finalizer and the exit hook do the same without
  raising: a handle whose views are still in use is left open (its memory
  stays mapped) rather than freed under them, and so is an endpoint whose
  channels could not be closed;
- at interpreter exit, while other threads still run (daemon threads, or
  threads threading does not know, which may be inside a C call), nothing
  is freed: the process is ending, and the
  kernel unmaps and closes, and peers see its processes gone.

The C pointer is read through the Handle (h is None once freed), so a
method called after the free raises ValueError instead of passing a freed
pointer to C.
"""
from __future__ import annotations

import atexit
import sys
import weakref
from typing import Callable, Optional

from ._view import GuardedView


class Handle:
    __slots__ = ("h", "free", "views", "children", "parent", "__weakref__")

    def __init__(self, h: int, free: Callable[[int], object], parent: Optional["Handle"] = None) -> None:
        self.h: Optional[int] = h
        self.free = free
        self.views: dict[str, Optional[GuardedView]] = {}
        self.children: list[Handle] = []
        self.parent = parent
        if parent is not None:
            parent.children.append(self)
        else:
            _endpoints.add(self)

    def busy(self) -> Optional[str]:
        """What keeps it from being freed now: a view in use, or None."""
        for c in self.children:
            why = c.busy()
            if why:
                return why
        for name, v in self.views.items():
            if v is not None and v.in_use():
                return name
        return None

    def release_views(self) -> Optional[str]:
        """Phase 1 of a free: release every view of the tree (children
        first).  None when done; else what is in use (a view's name, or
        "buffer": a buffer of one of our views is held), and no C handle
        touched."""
        if self.h is None:
            return None
        return self.busy() or self._release_tree()

    def _release_tree(self) -> Optional[str]:
        for c in self.children:
            why = c._release_tree()
            if why:
                return why
        for v in self.views.values():
            if v is not None:
                try:
                    v.release("close")
                except BufferError:  # something holds a buffer of our view itself
                    return "buffer"
        return None

    def free_c(self) -> None:
        """Phase 2, after release_views() said yes: free the C handles,
        children first."""
        if self.h is None:
            return
        for c in list(self.children):
            c.free_c()
        self.views.clear()
        h, self.h = self.h, None
        self.free(h)
        if self.parent is not None:
            self.parent.children.remove(self)
        else:
            _endpoints.discard(self)

    def free_now(self) -> bool:
        """Free the tree if nothing is in use (the finalizer and the exit
        hook): True if it is freed."""
        if self.release_views():
            return False
        self.free_c()
        return True


def finalize(owner: object, handle: Handle) -> weakref.finalize:
    """Free handle when owner is collected (if it can be: see above)."""
    fin = weakref.finalize(owner, handle.free_now)
    fin.atexit = False  # _at_exit decides
    return fin


_endpoints: "weakref.WeakSet[Handle]" = weakref.WeakSet()


def _at_exit() -> None:
    # Every thread with a Python state, threading's or not (_thread, a C
    # extension's): one may be inside a C call on one of them.
    if len(sys._current_frames()) > 1:
        return
    for ep in list(_endpoints):
        ep.free_now()


atexit.register(_at_exit)
