"""Fixtures for the binding's tests, and TAP output for meson.

Environment (tests/python/meson.build sets it; each has a fallback for a
run by hand from python/):
  IVSHMEM_LIBRARY  the libivshmem the binding loads
  IVSHMEM_CLI      the ivshmem CLI, for the C side of the interop tests
  IVS_TAP_FD       write TAP ("ok N - test") to this fd
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _cli() -> str:
    env = os.environ.get("IVSHMEM_CLI")
    if env:
        return env
    for b in ("build", "build-dev"):
        p = os.path.join(ROOT, b, "src", "cli", "ivshmem")
        if os.path.exists(p):
            return p
    return shutil.which("ivshmem") or "ivshmem"


CLI = _cli()
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


@pytest.fixture
def cli():
    """Run the C CLI: cli("chan", "send", dev, name, input=b"...")."""
    def run(*args: str, input: bytes | None = None, check: bool = True, timeout: float = 30):
        p = subprocess.run([CLI, *args], input=input, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ivshmem {' '.join(args)}: exit {p.returncode}: {p.stderr.decode()}")
        return p
    return run


@pytest.fixture
def shm():
    """A fresh 1 MiB /dev/shm file: its "file:" spec; removed after."""
    path = f"/dev/shm/ivs-py-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    yield "file:" + path
    os.unlink(path)


def child_env() -> dict[str, str]:
    """The environment a child Python process needs to import the binding."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("IVS_TAP_FD", None)
    return env


def _connectable(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture
def server():
    """A real `ivshmem server` with 2 vectors and 1 MiB: its "server:" spec."""
    d = tempfile.mkdtemp(prefix="ivs-py-srv-")
    sock = os.path.join(d, "s.sock")
    name = f"ivs-py-srv-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    p = subprocess.Popen([CLI, "server", "-F", "-S", sock, "-M", name, "-l", "1M", "-n", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not (os.path.exists(sock) and _connectable(sock)):
        if p.poll() is not None:
            raise AssertionError(f"ivshmem server exited {p.returncode}: {p.stderr.read().decode()}")
        if time.monotonic() > deadline:
            p.kill()
            raise AssertionError("ivshmem server did not listen within 20 s")
        time.sleep(0.01)  # polling the socket: an observable state, bounded above
    yield "server:" + sock
    p.terminate()
    p.wait(timeout=20)
    shutil.rmtree(d, ignore_errors=True)
    try:
        os.unlink("/dev/shm/" + name)
    except FileNotFoundError:
        pass


# ---- TAP ----
class _Tap:
    def __init__(self, fd: int) -> None:
        self.out = os.fdopen(fd, "w", buffering=1)
        self.n = 0

    def line(self, ok: bool, name: str, extra: str = "", diag: str = "") -> None:
        self.n += 1
        self.out.write(f"{'ok' if ok else 'not ok'} {self.n} - {name}{extra}\n")
        for d in diag.splitlines()[-30:]:
            self.out.write(f"# {d}\n")


_tap: _Tap | None = None


def pytest_configure(config):
    global _tap
    fd = os.environ.get("IVS_TAP_FD")
    if fd:
        _tap = _Tap(int(fd))


def pytest_collectreport(report):
    if _tap and report.failed:
        _tap.line(False, f"collect {report.nodeid}", diag=str(report.longrepr))


def pytest_runtest_logreport(report):
    if not _tap:
        return
    name = report.nodeid.split("::", 1)[-1]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            _tap.line(True, name, f" # SKIP {reason}")
        else:
            _tap.line(report.passed, name, diag="" if report.passed else str(report.longrepr))
    elif report.when == "teardown" and report.failed:
        _tap.line(False, f"{name} (teardown)", diag=str(report.longrepr))


def pytest_sessionfinish(session, exitstatus):
    if _tap:
        if _tap.n == 0:
            _tap.line(False, f"pytest ran no test (exit status {int(exitstatus)})")
        _tap.out.write(f"1..{_tap.n}\n")
        _tap.out.flush()
