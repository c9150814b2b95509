"""asyncio: recv_async and wait_async sleep in the event loop (on the
vector's fd when the peer rings it, polling on one host's futex), and time
out."""
import asyncio

import pytest

import ivshmem
from ivshmem import _aio


async def _until_sleeping(fd):
    """Until some task of this loop waits for fd (observable: the reader)."""
    loop = asyncio.get_running_loop()
    for _ in range(100000):
        if fd in _aio._waiters.get(loop, {}):
            return
        await asyncio.sleep(0)
    pytest.fail(f"nobody waits for fd {fd}")


def test_recv_async_wakes_on_the_doorbell(server):
    async def main():
        with ivshmem.open(server) as a, ivshmem.open(server) as b:
            a.chan_create("q")
            p = a.chan_open("q", "producer", futex=False)
            c = b.chan_open("q", "consumer", vector=1, futex=False)
            task = asyncio.create_task(c.recv_async(timeout=30))
            p.send(b"first")  # there before the task looks: no sleep
            assert await task == b"first"
            task = asyncio.create_task(c.recv_async(timeout=30))
            await _until_sleeping(b.vector_fd(1))  # asleep on b's vector 1
            p.send(b"second")
            assert await task == b"second"
            assert c.fileno() == b.vector_fd(1)
            with pytest.raises(TimeoutError):
                await c.recv_async(timeout=0.05)
            # two tasks on one vector share its fd (one reader in the loop)
            # and its count: one ring wakes both, one takes it
            two = [asyncio.create_task(b.wait_async(0, timeout=1)) for _ in range(2)]
            await _until_sleeping(b.vector_fd(0))
            a.ring(b.id, 0)
            got = await asyncio.gather(*two, return_exceptions=True)
            assert sorted(map(type, got), key=str) == sorted([int, TimeoutError], key=str), got
            with pytest.raises(TimeoutError):
                await b.wait_async(0, timeout=0.05)
            p.close()
            c.close()
    asyncio.run(main())


def test_recv_async_on_a_futex_polls(shm):
    async def main():
        with ivshmem.open(shm) as ep:
            ep.chan_create("q")
            p, c = ep.chan_open("q", "producer"), ep.chan_open("q", "consumer")
            with pytest.raises(OSError):
                c.fileno()  # one host, a futex: no fd to show
            task = asyncio.create_task(c.recv_async(timeout=30))
            for _ in range(10):
                await asyncio.sleep(0)
            assert not task.done()
            p.send(b"polled")
            assert await task == b"polled"
            with pytest.raises(TimeoutError):
                await c.recv_async(timeout=0.05)
            t = asyncio.create_task(c.recv_async())
            await asyncio.sleep(0)
            t.cancel()  # cancelling leaves the channel usable
            with pytest.raises(asyncio.CancelledError):
                await t
            p.send(b"after cancel")
            assert await c.recv_async(timeout=30) == b"after cancel"
            p.close()
            with pytest.raises(BrokenPipeError):
                await c.recv_async(timeout=30)
            c.close()
    asyncio.run(main())


def test_topic_recv_async(shm):
    async def main():
        with ivshmem.open(shm) as ep:
            ep.topic_create("t", subscribers=2)
            pub = ep.topic_open("t", "publisher")
            subs = [ep.topic_open("t", "subscriber") for _ in range(2)]
            tasks = [asyncio.create_task(s.recv_async(timeout=30)) for s in subs]
            await asyncio.sleep(0)
            pub.publish(b"to all")
            assert await asyncio.gather(*tasks) == [b"to all", b"to all"]
            for h in subs + [pub]:
                h.close()
    asyncio.run(main())
