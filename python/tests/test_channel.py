"""Channels from Python: every call, zero copy, use after release, errors."""
import errno
import threading

import pytest

import ivshmem


@pytest.fixture
def pair(shm):
    ep = ivshmem.open(shm)
    ep.chan_create("c", size=4096, max_message=512)
    prod, cons = ep.chan_open("c", "producer"), ep.chan_open("c", "consumer")
    yield ep, prod, cons
    cons.close()
    prod.close()
    ep.close()


def test_create_list_delete(shm):
    with ivshmem.open(shm) as ep:
        assert ep.chan_list() == []
        ep.chan_create("a")
        ep.chan_create("b", size=8192, max_message=100)
        ep.topic_create("t")
        infos = ep.chan_list()
        assert [(i.name, i.kind) for i in infos] == [("a", "channel"), ("b", "channel"), ("t", "topic")]
        assert (infos[1].ring_size, infos[1].max_message) == (8192, 100)
        with pytest.raises(FileExistsError):
            ep.chan_create("a")
        with ep.chan_open("a", "consumer"):
            with pytest.raises(OSError) as e:
                ep.chan_delete("a")
            assert e.value.errno == errno.EBUSY
        ep.chan_delete("a")
        with pytest.raises(FileNotFoundError):
            ep.chan_delete("a")
        with pytest.raises(FileNotFoundError):
            ep.chan_open("a", "producer")
        with pytest.raises(OSError) as e:
            ep.chan_open("t", "producer")
        assert e.value.errno == errno.EPROTOTYPE
        for bad in ("", "x" * 32, "a\0b"):
            with pytest.raises(ValueError):
                ep.chan_create(bad)
        with pytest.raises(ValueError):
            ep.chan_open("b", "writer")
        ep.layout_init()
        assert ep.chan_list() == []


def test_send_recv_copies(pair):
    _ep, p, c = pair
    assert (p.max_message, c.max_message) == (512, 512)
    p.send(b"bytes")
    p.send(bytearray(b"bytearray"))
    p.send(memoryview(b"read-only view"))
    p.send(memoryview(bytearray(b"0123456789"))[2:6])
    p.send(b"")
    assert [c.recv(1) for _ in range(5)] == [b"bytes", b"bytearray", b"read-only view", b"2345", b""]
    buf = bytearray(16)
    p.send(b"into")
    assert c.recv_into(buf, 1) == 4 and buf[:4] == b"into"
    p.send(b"x" * 100)
    with pytest.raises(OSError) as e:
        c.recv_into(bytearray(10), 1)
    assert e.value.errno == errno.EMSGSIZE
    assert c.recv(1) == b"x" * 100  # it stayed queued
    with pytest.raises(OSError) as e:
        p.send(b"y" * 513)
    assert e.value.errno == errno.EMSGSIZE and "ivshmem_chan_send c" in str(e.value)


def test_timeouts(pair):
    _ep, p, c = pair
    with pytest.raises(BlockingIOError):
        c.recv(0)
    with pytest.raises(TimeoutError):
        c.recv(0.05)
    with pytest.raises(ValueError):
        c.recv(-1)
    with pytest.raises(TypeError):
        c.recv("1")
    n = 0
    while True:  # fill the 4 KiB ring, then a send with timeout 0 cannot wait
        try:
            p.send(b"z" * 200, 0)
            n += 1
        except BlockingIOError:
            break
    assert 10 <= n <= 20
    with pytest.raises(TimeoutError):
        p.send(b"z" * 200, 0.05)


def test_blocking_recv_wakes(pair):
    _ep, p, c = pair
    got = []
    t = threading.Thread(target=lambda: got.append(c.recv(30)))
    t.start()
    p.send(b"wake up")
    t.join(30)
    assert got == [b"wake up"]


def test_peek_release_zero_copy(pair):
    ep, p, c = pair
    p.send(b"in place")
    v = c.peek(1)
    assert v.readonly and bytes(v) == b"in place"
    # the view is the ring's bytes, not a copy: find them in the region
    assert bytes(ep.mem).count(b"in place") == 1
    assert c.peek() is v  # peeking again before release: the same message
    c.release()
    with pytest.raises(ValueError):
        bytes(v)  # use after release raises instead of touching memory
    with pytest.raises(ValueError):
        v[0]
    with pytest.raises(OSError) as e:
        c.release()
    assert e.value.errno == errno.EINVAL


def test_release_refused_while_a_slice_lives(pair):
    _ep, p, c = pair
    p.send(b"abcdef")
    p.send(b"second")
    s = c.peek(1)[1:3]
    with pytest.raises(BufferError):
        c.release()
    assert bytes(s) == b"bc"  # the message was not released
    del s
    assert bytes(c.peek()) == b"abcdef"
    c.release()
    assert c.recv(1) == b"second"


def test_reserve_commit(pair):
    _ep, p, c = pair
    r = p.reserve(100, 1)
    assert not r.readonly and r.nbytes == 100
    r[:5] = b"hello"
    p.commit(5)
    with pytest.raises(ValueError):
        r[0] = 1  # released at commit
    assert c.recv(1) == b"hello"
    r = p.reserve(3)
    r[:] = b"abc"
    p.commit()  # all that was reserved
    assert c.recv(1) == b"abc"
    with pytest.raises(OSError) as e:
        p.commit(1)
    assert e.value.errno == errno.EINVAL
    p.reserve(10)
    with pytest.raises(ValueError):
        p.commit(11)
    p.reserve(2)[:] = b"ok"  # a new reserve drops the old one
    p.commit()
    assert c.recv(1) == b"ok"
    with pytest.raises(BlockingIOError):
        c.recv(0)


def test_batches(pair):
    _ep, p, c = pair
    msgs = [bytes([i]) * i for i in range(1, 11)]
    assert p.send_many(msgs, 1) == 10
    got = c.recv_many(4, 1) + c.recv_many(100, 1)
    assert got == msgs
    assert p.send_many([]) == 0


def test_roles_and_stat(pair):
    ep, p, c = pair
    with pytest.raises(PermissionError):
        p.recv(0)
    with pytest.raises(PermissionError):
        c.send(b"x")
    p.send(b"12345")
    st = c.stat()
    assert (st.name, st.role, st.ring_size, st.max_message) == ("c", "consumer", 4096, 512)
    assert (st.queued, st.sent, st.received) == (1, 1, 0)
    assert st.producer_attached and st.consumer_attached
    c.recv(1)
    with ep.chan_open("c", "monitor") as m:
        st = m.stat()
        assert (st.role, st.queued, st.received) == ("monitor", 0, 1)


def test_iteration_ends_when_the_producer_detaches(pair):
    _ep, p, c = pair
    for i in range(5):
        p.send(b"%d" % i)
    p.close()
    assert list(c) == [b"0", b"1", b"2", b"3", b"4"]
    with pytest.raises(BrokenPipeError):
        c.recv(1)


def test_takeover_and_restart(pair):
    ep, p, c = pair
    p2 = ep.chan_open("c", "producer")  # a restarted producer takes over
    with pytest.raises(OSError) as e:
        p.send(b"old")
    assert e.value.errno == errno.ESTALE
    with pytest.raises(ConnectionResetError):
        c.recv(1)  # reported once
    p2.send(b"new")
    assert c.recv(1) == b"new"
    with pytest.raises(OSError) as e:
        ep.chan_open("c", "producer", exclusive=True)
    assert e.value.errno == errno.EBUSY
    p2.close()


def test_closed_handles(pair):
    ep, p, c = pair
    c.close()
    with pytest.raises(ValueError, match="closed"):
        c.recv(0)
    with pytest.raises(BrokenPipeError):
        p.send(b"nobody", 1)


def test_endpoint_close_closes_channels(shm):
    ep = ivshmem.open(shm)
    ep.chan_create("c")
    c = ep.chan_open("c", "consumer")
    p = ep.chan_open("c", "producer")
    p.send(b"m")
    v = c.peek(1)
    ep.close()
    assert c.closed and p.closed
    with pytest.raises(ValueError):
        v[0]


def test_endpoint_close_refused_while_a_peek_view_lives(shm):
    ep = ivshmem.open(shm)
    ep.chan_create("c")
    c, p = ep.chan_open("c", "consumer"), ep.chan_open("c", "producer")
    p.send(b"held")
    s = c.peek(1)[0:2]
    with pytest.raises(BufferError):
        ep.close()
    assert not ep.closed and not c.closed and bytes(s) == b"he"
    del s
    assert bytes(c.peek()) == b"held"  # a fresh view of the same message
    ep.close()
