"""python3 -m ivshmem.bench: messages per second between two processes
through the binding's channels, against Python's own socket.socketpair and
multiprocessing.Pipe, and against the floor a Python program can reach in
shared memory (a raw ring of fixed slots, spinning, no wakeups), in the
same run, with the ratios and the machine's mode before and after.

Every method moves the same messages: the producer writes a sequence number
into the first 8 bytes of its buffer and hands the buffer over; the consumer
copies each message into a buffer of its own (so every byte is read) and
checks the sequence number.  Methods and repetitions are interleaved so
that drift hits all of them alike; the median of the runs is reported.
"""
from __future__ import annotations

import argparse
import json
import mmap
import multiprocessing
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

import ivshmem

SIZES = (64, 65536)
BASE_COUNT = {64: 200000, 65536: 20000}
CONSUMER, PRODUCER = 0, 1  # which of the first two allowed CPUs
_ALLOWED = sorted(os.sched_getaffinity(0))


def _pin(which: int) -> None:
    """Consumer and producer on two CPUs of their own when two are allowed."""
    try:
        if len(_ALLOWED) >= 2:
            os.sched_setaffinity(0, {_ALLOWED[which]})
    except OSError:
        pass  # pinning is a help, not a need


def _unpin() -> None:
    try:
        os.sched_setaffinity(0, set(_ALLOWED))
    except OSError:
        pass


def _payload(size: int) -> bytearray:
    return bytearray((i * 7 + 1) & 0xFF for i in range(size))


def _check(buf: bytearray, i: int) -> None:
    if int.from_bytes(buf[0:8], "little") != i:
        raise RuntimeError(f"message {i}: got sequence number {int.from_bytes(buf[0:8], 'little')}")


# ---- the methods: each returns (messages timed, the consumer's seconds for them) ----

def _run_child(target: Callable, *args) -> multiprocessing.Process:
    p = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
    p.start()
    return p


def _reap(p: multiprocessing.Process) -> None:
    p.join(30)
    if p.is_alive():
        p.kill()
        p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"the producer exited {p.exitcode}")


def _fresh_channel(ep: ivshmem.Endpoint, name: str, size: int) -> None:
    """A new, empty channel for one measure: a 4 MiB ring."""
    try:
        ep.chan_delete(name)
    except FileNotFoundError:
        pass
    ep.chan_create(name, size=4 << 20, max_message=max(size, 64))


def bench_chan(spec: str, size: int, n: int) -> tuple[int, float]:
    with ivshmem.open(spec) as ep:
        name = f"bench{size}"
        _fresh_channel(ep, name, size)

        def producer() -> None:
            _pin(PRODUCER)
            with ivshmem.open(spec) as pep, pep.chan_open(name, "producer") as ch:
                buf = _payload(size)
                for i in range(n):
                    buf[0:8] = i.to_bytes(8, "little")
                    ch.send(buf, timeout=30)

        with ep.chan_open(name, "consumer") as ch:
            p = _run_child(producer)
            buf = bytearray(size)
            ch.recv_into(buf, timeout=30)
            _check(buf, 0)
            t0 = time.perf_counter()
            for i in range(1, n):
                ch.recv_into(buf, timeout=30)
                _check(buf, i)
            dt = time.perf_counter() - t0
            _reap(p)
        ep.chan_delete(name)
    return n - 1, dt


BATCH = 32


def bench_chan_batch(spec: str, size: int, n: int) -> tuple[int, float]:
    """The channel with send_many / recv_many, BATCH messages a call."""
    with ivshmem.open(spec) as ep:
        name = f"batch{size}"
        _fresh_channel(ep, name, size)

        def producer() -> None:
            _pin(PRODUCER)
            with ivshmem.open(spec) as pep, pep.chan_open(name, "producer") as ch:
                bufs = [_payload(size) for _ in range(BATCH)]
                i = 0
                while i < n:
                    k = min(BATCH, n - i)
                    for j in range(k):
                        bufs[j][0:8] = (i + j).to_bytes(8, "little")
                    sent = 0
                    while sent < k:
                        sent += ch.send_many(bufs[sent:k], timeout=30)
                    i += k

        with ep.chan_open(name, "consumer") as ch:
            p = _run_child(producer)
            i, t0, i0, start = 0, 0.0, 0, time.perf_counter()
            while i < n:
                if i and not t0:  # the clock starts after the first call, as the others' after
                    t0, i0 = time.perf_counter(), i  # their first message: count from here
                for m in ch.recv_many(BATCH, timeout=30):
                    if int.from_bytes(m[0:8], "little") != i or len(m) != size:
                        raise RuntimeError(f"batch message {i}: got {int.from_bytes(m[0:8], 'little')}")
                    i += 1
            if not t0:  # all came in the first call (a tiny --scale): time them all
                t0, i0 = start, 0
            dt = time.perf_counter() - t0
            _reap(p)
        ep.chan_delete(name)
    return n - i0, dt


def bench_socketpair(size: int, n: int) -> tuple[int, float]:
    a, b = socket.socketpair()

    def producer() -> None:
        _pin(PRODUCER)
        a.close()
        buf = _payload(size)
        for i in range(n):
            buf[0:8] = i.to_bytes(8, "little")
            b.sendall(buf)
        b.close()

    p = _run_child(producer)
    b.close()
    buf = bytearray(size)
    view = memoryview(buf)

    def recv_one() -> None:
        got = 0
        while got < size:
            k = a.recv_into(view[got:])
            if k == 0:
                raise RuntimeError("the producer's socket closed early")
            got += k

    recv_one()
    _check(buf, 0)
    t0 = time.perf_counter()
    for i in range(1, n):
        recv_one()
        _check(buf, i)
    dt = time.perf_counter() - t0
    a.close()
    _reap(p)
    return n - 1, dt


def bench_pipe(size: int, n: int) -> tuple[int, float]:
    r, w = multiprocessing.Pipe(duplex=False)

    def producer() -> None:
        _pin(PRODUCER)
        r.close()
        buf = _payload(size)
        for i in range(n):
            buf[0:8] = i.to_bytes(8, "little")
            w.send_bytes(buf)
        w.close()

    p = _run_child(producer)
    w.close()
    buf = bytearray(size)
    r.recv_bytes_into(buf)
    _check(buf, 0)
    t0 = time.perf_counter()
    for i in range(1, n):
        r.recv_bytes_into(buf)
        _check(buf, i)
    dt = time.perf_counter() - t0
    r.close()
    _reap(p)
    return n - 1, dt


# The raw ring: 64 fixed slots of `size` bytes; head and tail (messages
# ever consumed / published) on cache lines of their own.  Only x86's
# ordering of stores makes it correct (CPython has no fences); it is the
# floor, not a design.
_SLOTS = 64
_TAIL, _HEAD, _DATA = 0, 64, 128
_Q = struct.Struct("<Q")


def bench_raw_ring(size: int, n: int) -> tuple[int, float]:
    shm = mmap.mmap(-1, _DATA + _SLOTS * size)  # MAP_SHARED | MAP_ANONYMOUS: shared across fork
    try:
        mem = memoryview(shm)
        parent = os.getpid()

        def producer() -> None:
            _pin(PRODUCER)
            buf = _payload(size)
            head = 0
            for i in range(n):
                spins = 0
                while i - head >= _SLOTS:
                    head = _Q.unpack_from(mem, _HEAD)[0]
                    spins += 1
                    if spins & 0xFFFF == 0 and os.getppid() != parent:
                        os._exit(1)
                buf[0:8] = i.to_bytes(8, "little")
                off = _DATA + (i % _SLOTS) * size
                mem[off:off + size] = buf
                _Q.pack_into(mem, _TAIL, i + 1)

        p = _run_child(producer)
        buf = bytearray(size)
        tail = 0
        t0 = 0.0
        for i in range(n):
            if i == 1:
                t0 = time.perf_counter()
            spins = 0
            while tail <= i:
                tail = _Q.unpack_from(mem, _TAIL)[0]
                spins += 1
                if spins & 0xFFFF == 0 and not p.is_alive():
                    raise RuntimeError(f"the raw ring's producer died at message {i}")
            off = _DATA + (i % _SLOTS) * size
            buf[:] = mem[off:off + size]
            _check(buf, i)
            _Q.pack_into(mem, _HEAD, i + 1)
        dt = time.perf_counter() - t0
        _reap(p)
        mem.release()
    finally:
        shm.close()
    return n - 1, dt


# ---- the machine's mode, from the C CLI ----

def _cli() -> Optional[str]:
    env = os.environ.get("IVSHMEM_CLI")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for b in ("build", "build-dev"):
        p = os.path.join(root, b, "src", "cli", "ivshmem")
        if os.access(p, os.X_OK):
            return p
    return shutil.which("ivshmem")


def machine_mode(cli: Optional[str]) -> tuple[Optional[float], str]:
    """(ping-pong round trip in ns, "near"/"far"), or (None, why not)."""
    if not cli:
        return None, "unknown (no ivshmem CLI: set IVSHMEM_CLI)"
    try:
        p = subprocess.run([cli, "bench", "mode", "--json"], capture_output=True, text=True, timeout=60)
        d = json.loads(p.stdout)
        return float(d["pingpong_ns"]), d["mode"]
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
        return None, f"unknown ({cli} bench mode: {e})"


# ---- driver ----

def run(runs: int, scale: float, tmpdir: str) -> dict:
    spec = "file:" + os.path.join(tmpdir, "region")
    with open(spec[5:], "wb") as f:
        f.truncate(16 << 20)
    cli = _cli()
    before = machine_mode(cli)
    methods = {
        "ivshmem": lambda s, n: bench_chan(spec, s, n),
        "ivshmem_batch": lambda s, n: bench_chan_batch(spec, s, n),
        "socketpair": bench_socketpair,
        "pipe": bench_pipe,
        "raw_ring": bench_raw_ring,
    }
    rates: dict[int, dict[str, list[float]]] = {s: {m: [] for m in methods} for s in SIZES}
    _pin(CONSUMER)
    for r in range(runs):
        for size in SIZES:
            n = max(100, int(BASE_COUNT[size] * scale))
            order = list(methods)
            order = order[r % len(order):] + order[:r % len(order)]  # who goes first rotates
            for m in order:
                k, dt = methods[m](size, n)
                rates[size][m].append(k / dt)
    _unpin()  # the probe pins its own two processes
    after = machine_mode(cli)
    out = {"benchmark": "python", "runs": runs, "python": sys.version.split()[0],
           "library": ivshmem.library_version,
           "pingpong_ns_before": before[0], "mode_before": before[1],
           "pingpong_ns_after": after[0], "mode_after": after[1],
           "mode_changed": before[1] != after[1], "sizes": {}}
    for size in SIZES:
        med = {m: sorted(v)[len(v) // 2] for m, v in rates[size].items()}
        d = {f"{m}_msgs_s": med[m] for m in methods}
        d["ratio_ivshmem_socketpair"] = med["ivshmem"] / med["socketpair"]
        d["ratio_ivshmem_pipe"] = med["ivshmem"] / med["pipe"]
        d["ratio_ivshmem_raw_ring"] = med["ivshmem"] / med["raw_ring"]
        d["ratio_ivshmem_batch_socketpair"] = med["ivshmem_batch"] / med["socketpair"]
        d["ratio_ivshmem_batch_raw_ring"] = med["ivshmem_batch"] / med["raw_ring"]
        d["ivshmem_bytes_s"] = med["ivshmem"] * size
        out["sizes"][str(size)] = d
    return out


def report(d: dict) -> None:
    def mode(ns, name):
        return f"{name} ({ns:.0f} ns)" if ns is not None else name
    print(f"python3 -m ivshmem.bench: messages/s between two processes, consumer reading every byte, "
          f"median of {d['runs']} run{'s' if d['runs'] > 1 else ''} (Python {d['python']}, "
          f"libivshmem {d['library']})")
    print(f"machine mode: {mode(d['pingpong_ns_before'], d['mode_before'])} before, "
          f"{mode(d['pingpong_ns_after'], d['mode_after'])} after"
          + ("  CHANGED during the run: compare with care" if d["mode_changed"] else ""))
    print(f"{'size':>8} {'chan':>9} {'chan x32':>9} {'socketpair':>11} {'mp.Pipe':>9} {'raw ring':>9}"
          f" {'chan/socket':>12} {'chan/Pipe':>10} {'chan/raw':>9} {'x32/socket':>11} {'x32/raw':>8}")
    for size, x in d["sizes"].items():
        label = "64 KiB" if size == "65536" else f"{size} B"
        print(f"{label:>8} {x['ivshmem_msgs_s']:>9.3g} {x['ivshmem_batch_msgs_s']:>9.3g} "
              f"{x['socketpair_msgs_s']:>11.3g} {x['pipe_msgs_s']:>9.3g} {x['raw_ring_msgs_s']:>9.3g} "
              f"{x['ratio_ivshmem_socketpair']:>11.2f}x {x['ratio_ivshmem_pipe']:>9.2f}x "
              f"{x['ratio_ivshmem_raw_ring']:>8.2f}x {x['ratio_ivshmem_batch_socketpair']:>10.2f}x "
              f"{x['ratio_ivshmem_batch_raw_ring']:>7.2f}x")
    print("chan: send/recv_into; chan x32: send_many/recv_many of 32; socketpair: sendall/recv_into; "
          "mp.Pipe: send_bytes/recv_bytes_into;")
    print("raw ring: the floor in Python (64 fixed slots in shared memory, both sides spinning, "
          "no wakeups; x86 only)")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ivshmem.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="repetitions, interleaved (default 3)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="message counts times this (default 1: 200000 of 64 B, 20000 of 64 KiB)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.runs < 1 or not 0 < a.scale <= 100:
        ap.error("--runs must be >= 1 and --scale in (0, 100]")
    tmp = tempfile.mkdtemp(prefix="ivshmem-pybench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        d = run(a.runs, a.scale, tmp)
    except (OSError, RuntimeError) as e:
        print(f"python3 -m ivshmem.bench: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        print(json.dumps(d))
    else:
        report(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
