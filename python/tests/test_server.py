"""Python peers of a real `ivshmem server`: two processes ring each other,
see each other's memory, and talk over a channel woken by doorbells."""
import subprocess
import time

import pytest

import ivshmem
from conftest import PY, child_env

CHILD = r"""
import sys, ivshmem
spec = sys.argv[1]
with ivshmem.open(spec) as ep:
    print(ep.id, ep.vectors, flush=True)
    n = ep.wait(0, timeout=30)            # the parent rings vector 0
    peer = int(sys.stdin.readline())
    end = ep.size - 64                    # past the channels (the layout starts at 0)
    assert ep.mem[end:end + 6] == b"parent"   # the same shared memory
    ep.mem[end + 6:end + 11] = b"child"
    ep.ring(peer, 1)                      # ring back on vector 1
    with ep.chan_open("c2p", "producer", vector=1, futex=False) as ch:
        for i in range(100):
            ch.send(b"%d" % i, timeout=30)
        print("sent", n, flush=True)
        assert sys.stdin.readline() == "bye\n"
"""


def _child(spec):
    return subprocess.Popen([PY, "-c", CHILD, spec], env=child_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _events_until(ep, want, timeout=30):
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        seen += list(ep.events())
        if want(seen):
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"events: {seen}")
        ivshmem_wait_fd(ep.event_fd(), deadline - time.monotonic())


def ivshmem_wait_fd(fd, timeout):
    import select
    select.select([fd], [], [], max(0.0, timeout))


def test_two_processes_ring_each_other(server):
    with ivshmem.open(server) as ep:
        assert ep.kind == "server" and ep.vectors == 2 and ep.size == 1 << 20
        assert ep.id is not None
        ep.chan_create("c2p")
        end = ep.size - 64  # past the channels (the layout starts at 0)
        ep.mem[end:end + 6] = b"parent"
        ch = ep.chan_open("c2p", "consumer", vector=1, futex=False)
        child = _child(server)
        cid, cvec = map(int, child.stdout.readline().split())
        assert cvec == 2 and cid != ep.id
        _events_until(ep, lambda ev: any(e.type == "join" and e.peer == cid for e in ev))
        assert ivshmem.Peer(cid, 2) in ep.peers()
        ep.ring(cid, 0)
        child.stdin.write(f"{ep.id}\n")
        child.stdin.flush()
        assert ep.wait(1, timeout=30) >= 1
        assert bytes(ep.mem[end:end + 11]) == b"parentchild"
        got = [ch.recv(30) for _ in range(100)]
        assert got == [b"%d" % i for i in range(100)]
        assert child.stdout.readline().split()[0] == "sent"
        # the producer, in another process, wakes this consumer by its doorbell
        assert ch.fileno() == ep.vector_fd(1)
        assert ch.stat().producer_id == cid
        child.stdin.write("bye\n")
        child.stdin.flush()
        assert child.wait(30) == 0, child.stderr.read()
        with pytest.raises(BrokenPipeError):
            ch.recv(5)  # the child's producer detached
        _events_until(ep, lambda ev: any(e.type == "leave" and e.peer == cid for e in ev))
        ch.close()


def test_ring_errors(server):
    with ivshmem.open(server) as ep:
        with pytest.raises(OSError) as e:
            ep.ring(ep.id, 5)  # no vector 5
        assert e.value.errno == 22
        with pytest.raises(TimeoutError):
            ep.wait(0, timeout=0.05)
        with pytest.raises(BlockingIOError):
            ep.wait(0, timeout=0)
        assert ep.ack(0) == 0
        assert ep.vector_fd(0) >= 0 and ep.vector_fd(1) >= 0
