"""A hostile region: garbage where the layout, a channel or a topic should
be raises CorruptRegion (an OSError with errno EPROTO or EBADMSG), never a
crash, a hang or a clean end."""
import errno
import random
import struct

import pytest

import ivshmem


def test_garbage_layout(shm):
    with ivshmem.open(shm) as ep:
        ep.mem[0:8] = b"IVSHCHAN"
        ep.mem[8:12] = struct.pack("<I", 99)  # an unknown layout version
        for call in (ep.chan_list, lambda: ep.chan_create("x"), lambda: ep.chan_open("x", "consumer"),
                     lambda: ep.topic_create("t")):
            with pytest.raises(ivshmem.CorruptRegion) as e:
                call()
            assert e.value.errno == errno.EPROTO and isinstance(e.value, OSError)
        ep.mem[0:16] = bytes(16)
        ep.mem[40:48] = b"\xff" * 8  # not all zero, no magic: not a layout
        with pytest.raises(ivshmem.CorruptRegion):
            ep.chan_list()


def _channel(ep, name):
    ep.chan_create(name, size=4096, max_message=256)
    info = [i for i in ep.chan_list() if i.name == name][0]
    return info.offset


def test_forged_record_length(shm):
    with ivshmem.open(shm) as ep:
        off = _channel(ep, "c")
        with ep.chan_open("c", "producer") as p, ep.chan_open("c", "consumer") as c:
            p.send(b"honest")
            ring = off + 512
            assert bytes(ep.mem[ring + 8:ring + 14]) == b"honest"
            ep.mem[ring:ring + 4] = struct.pack("<I", 0x7FFFFFFF)  # len far above max_msg
            with pytest.raises(ivshmem.CorruptRegion) as e:
                c.recv(1)
            assert e.value.errno == errno.EBADMSG and "corrupt" in str(e.value)
            with pytest.raises(ivshmem.CorruptRegion):
                c.peek(0)  # sticky: the handle stays failed
            with pytest.raises(ivshmem.CorruptRegion):
                list(c)  # iteration raises too: corruption is never a clean end


def test_forged_tail(shm):
    with ivshmem.open(shm) as ep:
        off = _channel(ep, "c")
        with ep.chan_open("c", "producer"), ep.chan_open("c", "consumer") as c:
            ep.mem[off + 64:off + 72] = struct.pack("<Q", 1 << 40)  # more published than the ring holds
            with pytest.raises(ivshmem.CorruptRegion):
                c.recv(1)


def test_forged_tag_is_detected(shm):
    with ivshmem.open(shm) as ep:
        off = _channel(ep, "c")
        with ep.chan_open("c", "producer") as p, ep.chan_open("c", "consumer") as c:
            p.send(b"a")
            ring = off + 512
            tag = struct.unpack("<I", ep.mem[ring + 4:ring + 8])[0]
            ep.mem[ring + 4:ring + 8] = struct.pack("<I", tag ^ 0x100)
            with pytest.raises(ivshmem.CorruptRegion):
                c.peek(1)


@pytest.mark.parametrize("seed", range(8))
def test_random_scribbles(shm, seed):
    """Random bytes over a channel's and a topic's blocks while both sides
    run: every call returns data or raises an OSError; nothing crashes."""
    rnd = random.Random(seed)
    with ivshmem.open(shm) as ep:
        off = _channel(ep, "c")
        ep.topic_create("t", size=4096, max_message=256, subscribers=2)
        toff = [i for i in ep.chan_list() if i.name == "t"][0].offset
        handles = [ep.chan_open("c", "producer"), ep.chan_open("c", "consumer"),
                   ep.topic_open("t", "publisher"), ep.topic_open("t", "subscriber")]
        p, c, pub, sub = handles
        errors = 0
        for step in range(300):
            base = rnd.choice((off, toff))
            at = base + rnd.randrange(0, 512 + 4096 - 8)
            ep.mem[at:at + 8] = rnd.randbytes(8)
            for call in (lambda: p.send(b"m" * rnd.randrange(0, 64), 0), lambda: c.recv(0),
                         lambda: pub.publish(b"t", 0), lambda: sub.recv(0),
                         lambda: (c.peek(0), c.release()), c.stat, sub.stat):
                try:
                    call()
                except OSError:
                    errors += 1
        assert errors > 0  # the scribbles were met
        for h in handles:
            h.close()
