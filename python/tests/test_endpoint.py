"""Endpoints over a file: properties, the zero-copy memory, close, errors."""
import errno
import os

import pytest

import ivshmem


def test_properties(shm):
    with ivshmem.open(shm) as ep:
        assert (ep.kind, ep.size, ep.id, ep.vectors, ep.cache) == ("file", 1 << 20, None, 0, "wb")
        assert not ep.readonly and not ep.closed
        assert "kind=file" in repr(ep)
    assert ep.closed and "closed" in repr(ep)


def test_mem_is_the_file_both_ways(shm, cli):
    path = shm[5:]
    with ivshmem.open(shm) as ep:
        m = ep.mem
        assert (m.format, m.itemsize, m.nbytes, m.readonly) == ("B", 1, 1 << 20, False)
        m[100:105] = b"hello"
        with open(path, "rb") as f:  # another mapping of the same file sees it
            f.seek(100)
            assert f.read(5) == b"hello"
        # the C CLI writes, Python sees it at once (no copy, no reopen)
        cli("write", shm, "--offset", "4096", input=b"from C")
        assert bytes(m[4096:4102]) == b"from C"
        # Python writes, the C CLI reads it
        m[8192:8200] = b"py->C..."
        assert cli("read", shm, "--offset", "8192", "--length", "8").stdout == b"py->C..."
        del m


def test_numpy_frombuffer_zero_copy(shm):
    np = pytest.importorskip("numpy")
    with ivshmem.open(shm) as ep:
        a = np.frombuffer(ep.mem, dtype=np.uint32)
        assert a.size == (1 << 20) // 4
        a[10] = 0xDEADBEEF
        assert bytes(ep.mem[40:44]) == (0xDEADBEEF).to_bytes(4, "little")
        with pytest.raises(BufferError):
            ep.close()  # the array still points into the mapping
        assert not ep.closed and ep.mem[40] == 0xEF  # nothing was closed
        del a


def test_close_refuses_while_a_slice_lives_then_works(shm):
    ep = ivshmem.open(shm)
    s = ep.mem[0:16]
    with pytest.raises(BufferError, match="still alive"):
        ep.close()
    s[0] = 7  # still mapped
    del s
    m = ep.mem
    ep.close()
    with pytest.raises(ValueError):
        m[0]  # the view is released: no access to unmapped memory
    with pytest.raises(ValueError, match="closed"):
        ep.mem
    ep.close()  # twice is fine


def test_readonly(shm):
    with ivshmem.open(shm, readonly=True) as ep:
        assert ep.readonly and ep.mem.readonly
        with pytest.raises(TypeError):
            ep.mem[0] = 1
        with pytest.raises(OSError) as e:
            ep.chan_create("x")
        assert e.value.errno == errno.EROFS


def test_open_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        ivshmem.open("file:/nonexistent/ivs")
    assert e.value.errno == errno.ENOENT and "ivshmem_open file:/nonexistent/ivs" in str(e.value)
    with pytest.raises(OSError) as e:
        ivshmem.open("bogus:thing")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(FileNotFoundError):
        ivshmem.open("server:/nonexistent/sock")
    with pytest.raises(ConnectionRefusedError):
        ivshmem.open("server:" + _dead_socket(tmp_path))
    with pytest.raises(ValueError):
        ivshmem.open("auto", backend="magic")
    with pytest.raises(ValueError):
        ivshmem.open("auto", cache="fast")
    with pytest.raises(ValueError):
        ivshmem.open("auto", timeout=0)
    with pytest.raises(TypeError):
        ivshmem.open(b"file:/x")


def _dead_socket(d):
    import socket
    p = str(d / "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(p)
    s.close()  # bound, never listening: connect is refused
    return p


def test_no_doorbell_on_a_file(shm):
    with ivshmem.open(shm) as ep:
        with pytest.raises(OSError) as e:
            ep.ring(0)
        assert e.value.errno == errno.ENOTSUP
        with pytest.raises(OSError) as e:
            ep.peers()
        assert e.value.errno == errno.ENOTSUP
        with pytest.raises(OSError):
            ep.vector_fd(0)


def test_fds_are_cloexec_and_not_leaked(shm):
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with ivshmem.open(shm) as ep:
            ep.mem[0] = 1
    assert set(os.listdir("/proc/self/fd")) == before
