"""The C side and the Python side on one channel or topic: the C CLI
produces, Python consumes, and back, byte for byte."""
import os
import subprocess

import pytest

import ivshmem
from conftest import CLI


def _lines(n):
    return [f"message {i} ".encode() + os.urandom(8).hex().encode() for i in range(n)]


def test_c_producer_python_consumer(shm, cli):
    cli("chan", "create", shm, "c2py", "--size", "64K")
    msgs = _lines(500)
    with ivshmem.open(shm) as ep, ep.chan_open("c2py", "consumer") as ch:
        # the CLI sends each stdin line as one message, then detaches
        p = subprocess.Popen([CLI, "chan", "send", shm, "c2py", "--timeout", "30"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdin.write(b"".join(m + b"\n" for m in msgs))
        p.stdin.close()
        got = list(ch)  # until the C producer detaches
        assert p.wait(30) == 0, p.stderr.read()
    assert got == msgs


def test_python_producer_c_consumer(shm, cli):
    msgs = _lines(300)
    with ivshmem.open(shm) as ep:
        ep.chan_create("py2c", size=64 * 1024)
        c = subprocess.Popen([CLI, "chan", "recv", shm, "py2c", "--count", str(len(msgs)),
                              "--timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with ep.chan_open("py2c", "producer") as ch:
            for m in msgs:
                ch.send(m, timeout=30)
            out, err = c.communicate(timeout=60)
    assert c.returncode == 0, err
    assert out.splitlines() == msgs


def test_binary_message_both_ways(shm, cli):
    blob = bytes(range(256)) * 16
    with ivshmem.open(shm) as ep:
        ep.chan_create("bin")
        with ep.chan_open("bin", "producer") as ch:
            r = ch.reserve(len(blob))
            r[:] = blob
            ch.commit()
        # the producer is gone but its message stays queued for the consumer
        out = cli("chan", "recv", shm, "bin", "--count", "1", "--timeout", "10").stdout
        assert out == blob + b"\n"
        cli("chan", "send", shm, "bin", "--raw", "--timeout", "10", input=blob)
        with ep.chan_open("bin", "consumer") as ch:
            v = ch.peek(10)
            assert bytes(v) == blob
            ch.release()


def test_c_publisher_python_subscribers(shm, cli):
    cli("topic", "create", shm, "news", "--subscribers", "4")
    msgs = _lines(200)
    with ivshmem.open(shm) as ep:
        subs = [ep.topic_open("news", "subscriber") for _ in range(3)]
        p = subprocess.Popen([CLI, "topic", "pub", shm, "news", "--timeout", "30"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdin.write(b"".join(m + b"\n" for m in msgs))
        p.stdin.close()
        for s in subs:
            assert list(s) == msgs  # each reads every message, to the publisher's detach
        assert p.wait(30) == 0, p.stderr.read()
        for s in subs:
            s.close()


def test_python_publisher_c_subscriber(shm, cli):
    msgs = _lines(100)
    with ivshmem.open(shm) as ep:
        ep.topic_create("t", subscribers=2)
        c = subprocess.Popen([CLI, "topic", "sub", shm, "t", "--count", str(len(msgs)), "--timeout", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with ep.topic_open("t", "monitor") as mon:
            _wait_for(lambda: any(x.state == "live" for x in mon.stat().sub))
        with ep.topic_open("t", "publisher") as pub:
            for m in msgs:
                pub.publish(m, timeout=30)
            out, err = c.communicate(timeout=60)
    assert c.returncode == 0, err
    assert out.splitlines() == msgs


def _wait_for(cond, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("condition not met within 30 s")
        time.sleep(0.005)  # polling observable state, bounded
