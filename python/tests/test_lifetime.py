"""Lifetimes: no Python object reaches memory or a C handle after it was
freed, whatever the garbage collector, the interpreter's exit or other
threads do; read-only views stay read-only."""
import asyncio
import errno
import subprocess
import threading

import pytest

import ivshmem
from conftest import PY, child_env


def _py(code, shm):
    p = subprocess.run([PY, "-c", code, shm], env=child_env(), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_views_have_no_writable_exporter(shm):
    with ivshmem.open(shm, readonly=True) as ep:
        assert ep.mem.obj is None  # nothing to get a writable buffer from
    with ivshmem.open(shm) as ep:
        ep.chan_create("c")
        with ep.chan_open("c", "producer") as p, ep.chan_open("c", "consumer") as c:
            p.send(b"hello")
            v = c.peek(1)
            assert v.readonly and v.obj is None
            with pytest.raises(TypeError):
                v[0] = ord("J")
            c.release()


def test_garbage_cycle_with_a_finalizer_touching_the_view(shm):
    code = r"""
import gc, sys, ivshmem
class Holder:
    def __init__(self):
        self.ep = ivshmem.open(sys.argv[1])
        self.ep.chan_create("c")
        self.ch = self.ep.chan_open("c", "producer")
        self.mem = self.ep.mem
        self.me = self
    def __del__(self):
        for what, f in (("mem", lambda: self.mem[0]), ("send", lambda: self.ch.send(b"x", 0))):
            try:
                f()
                print(what, "worked")
            except ValueError:
                print(what, "ValueError")
Holder()
gc.collect()
print("survived")
"""
    rc, out, err = _py(code, shm)
    assert rc == 0, err
    lines = out.split()
    assert lines[-1] == "survived"
    # freed before __del__ ran, then refused; or (views kept alive) still open: never a crash
    assert out.count("ValueError") + out.count("worked") == 2


def test_garbage_cycle_with_a_live_slice_leaves_it_mapped(shm):
    code = r"""
import gc, sys, ivshmem
class Holder:
    def __init__(self):
        self.ep = ivshmem.open(sys.argv[1])
        self.s = self.ep.mem[0:8]   # a slice: the endpoint cannot be unmapped under it
        self.me = self
    def __del__(self):
        self.s[0] = 42
        print("wrote", self.s[0])
Holder()
gc.collect()
print("survived")
"""
    rc, out, err = _py(code, shm)
    assert rc == 0, err
    assert out.split() == ["wrote", "42", "survived"]


# A daemon thread of threading's, and one threading does not know (_thread;
# a C extension's would be the same), inside recv while the interpreter exits.
THREAD_STARTS = {
    "threading daemon": "import threading; threading.Thread(target=loop, daemon=True).start()",
    "_thread": "import _thread; _thread.start_new_thread(loop, ())",
}


@pytest.mark.parametrize("start", sorted(THREAD_STARTS))
def test_exit_with_a_thread_inside_recv(shm, start):
    code = r"""
import sys, _thread, ivshmem
ep = ivshmem.open(sys.argv[1])
try:
    ep.chan_create("c")
except FileExistsError:
    pass  # an earlier round's
c = ep.chan_open("c", "consumer")
started = _thread.allocate_lock()
started.acquire()
def loop():
    started.release()
    while True:
        try:
            c.recv(0.001)
        except TimeoutError:
            pass
START
started.acquire()
print("exiting")
""".replace("START", THREAD_STARTS[start])
    for _ in range(3):
        rc, out, err = _py(code, shm)
        assert rc == 0 and out.strip() == "exiting", (rc, err)


def test_exit_with_views_held_by_an_atexit_handler(shm):
    code = r"""
import atexit, sys
state = {}
atexit.register(lambda: print("atexit reads", state["s"][0]))   # runs after ivshmem's hook
import ivshmem
ep = ivshmem.open(sys.argv[1])
state["s"] = ep.mem[0:4]
"""
    rc, out, err = _py(code, shm)
    assert rc == 0, err
    assert out.strip() == "atexit reads 0"


def test_mem_from_many_threads_is_one_view(shm):
    ep = ivshmem.open(shm)
    views, barrier = [], threading.Barrier(8)

    def get():
        barrier.wait()
        views.append(ep.mem)
    ts = [threading.Thread(target=get) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(v is views[0] for v in views)
    del views
    ep.close()


def test_recv_while_peeked_is_refused(shm):
    with ivshmem.open(shm) as ep:
        ep.chan_create("c")
        with ep.chan_open("c", "producer") as p, ep.chan_open("c", "consumer") as c:
            p.send(b"one")
            p.send(b"two")
            assert bytes(c.peek(1)) == b"one"
            for call in (lambda: c.recv(0), lambda: c.recv_into(bytearray(8), 0), lambda: c.recv_many(2, 0)):
                with pytest.raises(OSError) as e:
                    call()
                assert e.value.errno == errno.EBUSY
            c.release()
            assert c.recv(1) == b"two"  # nothing lost


def test_send_drops_a_pending_reservation_and_its_view(shm):
    with ivshmem.open(shm) as ep:
        ep.chan_create("c")
        with ep.chan_open("c", "producer") as p, ep.chan_open("c", "consumer") as c:
            r = p.reserve(8)
            p.send(b"sent")
            with pytest.raises(ValueError):
                r[0] = 1  # it would have written over the message just sent
            assert c.recv(1) == b"sent"
            s = p.reserve(8)[0:2]
            with pytest.raises(BufferError):
                p.send(b"x")  # a slice of the reservation lives: nothing sent
            del s
            with pytest.raises(BlockingIOError):
                c.recv(0)


def test_wait_async_ends_when_its_endpoint_closes(server):
    async def main():
        ep = ivshmem.open(server)
        loop = asyncio.get_running_loop()
        fd = ep.vector_fd(0)
        task = asyncio.create_task(ep.wait_async(0))
        while fd not in ivshmem._aio._waiters.get(loop, {}):
            await asyncio.sleep(0)
        ep.close()
        with pytest.raises(ValueError, match="closed"):
            await task
        assert fd not in loop._selector.get_map()  # no reader left on a number soon reused
    asyncio.run(main())


def test_timeouts_of_recv_async_are_recv_s(shm):
    async def main():
        with ivshmem.open(shm) as ep:
            ep.chan_create("c")
            with ep.chan_open("c", "producer"), ep.chan_open("c", "consumer") as c:
                with pytest.raises(BlockingIOError):
                    await c.recv_async(0)
                with pytest.raises(ValueError):
                    await c.recv_async(-1)
    asyncio.run(main())


def test_fds_are_cloexec(server):
    import fcntl
    with ivshmem.open(server) as ep:
        for fd in (ep.vector_fd(0), ep.vector_fd(1), ep.event_fd()):
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_a_held_buffer_of_a_view_refuses_close_and_frees_nothing(shm):
    import pickle
    ep = ivshmem.open(shm)
    ep.chan_create("c")
    p, c = ep.chan_open("c", "producer"), ep.chan_open("c", "consumer")
    p.send(b"x" * 100)
    pb = pickle.PickleBuffer(c.peek(1))  # a Py_buffer of the view itself, no new memoryview
    with pytest.raises(BufferError):
        ep.close()
    assert not ep.closed and not c.closed and not p.closed  # nothing freed, the channels included
    assert bytes(pb.raw()[:4]) == b"xxxx"  # still mapped
    m = ep.mem
    with pytest.raises(BufferError):
        c.close()
    pb.release()
    ep.close()
    assert c.closed and p.closed
    with pytest.raises(ValueError):
        m[0]


def test_with_blocks_on_views_leave_them_usable(shm):
    with ivshmem.open(shm) as ep:
        ep.chan_create("c")
        with ep.mem as m:  # the memoryview idiom releases the view at the end
            m[100] = 7
        assert ep.mem[100] == 7  # a new view
        with ep.chan_open("c", "producer") as p, ep.chan_open("c", "consumer") as c:
            p.send(b"hello")
            with c.peek(1) as v:
                assert bytes(v) == b"hello"
            assert bytes(c.peek()) == b"hello"  # the same message, a new view
            c.release()
