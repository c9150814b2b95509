"""Topics from Python: subscribers in other processes check every byte;
latest mode, passive subscribers, eviction, peek and release."""
import errno
import hashlib
import subprocess

import pytest

import ivshmem
from conftest import PY, child_env

SUB = r"""
import hashlib, sys, ivshmem
spec, n = sys.argv[1], int(sys.argv[2])
with ivshmem.open(spec) as ep, ep.topic_open("t", "subscriber") as s:
    print("ready", flush=True)
    h, count = hashlib.sha256(), 0
    for i, m in enumerate(s):          # until the publisher detaches
        assert m[:8] == i.to_bytes(8, "little"), (i, m[:8])
        h.update(m)
        count += 1
    print(count, h.hexdigest(), flush=True)
"""


def _payload(i):
    return i.to_bytes(8, "little") + hashlib.sha256(b"%d" % i).digest() * (1 + i % 7)


def test_subscribers_in_three_processes(shm):
    n = 2000
    with ivshmem.open(shm) as ep:
        ep.topic_create("t", size=16384, subscribers=4)
        subs = [subprocess.Popen([PY, "-c", SUB, shm, str(n)], env=child_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for s in subs:
            assert s.stdout.readline() == "ready\n", s.stderr.read()
        want = hashlib.sha256()
        with ep.topic_open("t", "publisher") as pub:
            for i in range(n):
                m = _payload(i)
                want.update(m)
                pub.publish(m, timeout=30)  # waits for the slowest: the ring is 16 KiB
            st = pub.stat()
            assert st.published == n and st.evictions == 0
            assert sum(1 for x in st.sub if x.state == "live") == 3
        for s in subs:
            out, err = s.communicate(timeout=60)
            assert s.returncode == 0, err
            assert out.split() == [str(n), want.hexdigest()]


def test_peek_release_last(shm):
    with ivshmem.open(shm) as ep:
        ep.topic_create("t", subscribers=2)
        with ep.topic_open("t", "publisher") as pub, ep.topic_open("t", "subscriber") as sub:
            with pytest.raises(OSError) as e:
                sub.last()
            assert e.value.errno == errno.ENODATA
            pub.publish(b"zero")
            r = pub.reserve(4)
            r[:] = b"one!"
            pub.commit()
            v = sub.peek(1)
            assert bytes(v) == b"zero"
            sub.release()
            with pytest.raises(ValueError):
                v[0]
            assert sub.last() == (0, 0)
            assert sub.recv(1) == b"one!" and sub.last() == (1, 0)
            with pytest.raises(PermissionError):
                pub.recv(0)
            with pytest.raises(PermissionError):
                sub.publish(b"x")
            assert pub.send is not None and pub.stat().role == "publisher"


def test_latest_mode_and_a_passive_reader(shm):
    with ivshmem.open(shm) as ep:
        ep.topic_create("l", mode="latest", max_message=64)
        with ep.topic_open("l", "publisher") as pub, ep.topic_open("l", "subscriber") as sub, \
                ivshmem.open(shm, readonly=True) as ro, ro.topic_open("l", "subscriber") as passive:
            for i in range(1000):
                pub.publish(b"%d" % i, timeout=0)  # never waits
            assert sub.recv(1) == b"999"
            seq, skipped = sub.last()
            assert seq == 999 and skipped == 999
            assert passive.recv(1) == b"999"
            st = passive.stat()
            assert st.mode == "latest" and st.slot is None  # passive: took no slot
            with pytest.raises(OSError) as e:
                passive.fileno()
            assert e.value.errno == errno.ENOTSUP


def test_stalled_subscriber_is_evicted(shm):
    with ivshmem.open(shm) as ep:
        ep.topic_create("t", size=4096, max_message=256, subscribers=2, stall_timeout=0.05)
        with ep.topic_open("t", "publisher") as pub, ep.topic_open("t", "subscriber") as slow:
            for i in range(200):  # far more than 4 KiB: the slow one never reads
                pub.publish(b"x" * 200, timeout=10)
            assert pub.stat().evictions == 1
            with pytest.raises(OSError) as e:
                slow.recv(0)
            assert e.value.errno == errno.ENOBUFS


def test_topic_errors(shm):
    with ivshmem.open(shm) as ep:
        ep.chan_create("c")
        with pytest.raises(OSError) as e:
            ep.topic_open("c", "subscriber")
        assert e.value.errno == errno.EPROTOTYPE
        with pytest.raises(ValueError):
            ep.topic_create("t", mode="fastest")
        with pytest.raises(ValueError):
            ep.topic_create("t", stall_timeout=0)
        ep.topic_create("t", subscribers=1)
        with ep.topic_open("t", "subscriber"):
            with pytest.raises(OSError) as e:
                ep.topic_open("t", "subscriber")
            assert e.value.errno == errno.EUSERS
