# guest-python.py: runs inside the VM as /test/consumer.py, with the guest's
# copy of Debian's python3 (-S: no site), the binding from /test/py and
# libivshmem.so.0.1 (tests/guest/guest-python.sh starts it).  Prints the
# rig's protocol (GUEST-OK NAME, GUEST-FAIL NAME: DETAIL; see guest-lib.sh).
#
# The host made, in the ivshmem-plain device's memory: channels h2g and
# g2h; H2G_COUNT lines queued on h2g by the C CLI, which then detached; the
# bytes "host marker" 64 bytes before the end.  This side: opens the PCI
# device ("auto", sysfs), reads the marker through ep.mem (zero copy, the
# BAR mapped), peeks the first h2g line in place, receives the rest (and
# nothing more), sends G2H_COUNT lines on g2h, and
# writes "python was here" 32 bytes before the end.
#
# On the host, `python3 -S guest-python.py --modules` prints the files of
# every module this script loads, for the rig to copy into the initramfs.
import os
import sys

import ivshmem

if sys.argv[1:] == ["--modules"]:
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if f and not m.__name__.startswith("ivshmem"):
            print(os.path.realpath(f))
    sys.exit(0)


def ok(name):
    print(f"GUEST-OK {name}", flush=True)


def fail(name, why):
    text = "".join(c if " " <= c <= "~" else "." for c in str(why))[:400]
    print(f"GUEST-FAIL {name}: {text}", flush=True)


def step(name, fn):
    try:
        r = fn()
    except Exception as e:  # every failure is reported, as the rig's checks are
        fail(name, f"{type(e).__name__}: {e}")
        return None
    if r is not True and r is not None and not isinstance(r, tuple):
        fail(name, r)
        return None
    ok(name)
    return r


h2g_n, g2h_n = int(os.environ["H2G_COUNT"]), int(os.environ["G2H_COUNT"])
want = open("/test/h2g.txt", "rb").read().split(b"\n")[:h2g_n]
state = {}


def opened():
    ep = state["ep"] = ivshmem.open("auto")
    if (ep.kind, ep.id) != ("pci", None) or ep.size != int(os.environ["SIZE"]):
        return f"kind {ep.kind}, id {ep.id}, size {ep.size}"
    return True


def marker():
    ep = state["ep"]
    m = bytes(ep.mem[ep.size - 64:ep.size - 64 + 11])
    return True if m == b"host marker" else f"read {m!r}"


def peeked():
    ch = state["h2g"] = state["ep"].chan_open("h2g", "consumer")
    v = ch.peek(timeout=30)
    first = bytes(v)
    ch.release()
    try:
        v[0]
        return "the view still worked after release"
    except ValueError:
        pass
    return True if first == want[0] else f"first message {first!r}, want {want[0]!r}"


def received():
    # The C producer left before this consumer attached: it is not one this
    # handle saw attached, so no BrokenPipeError ends the stream (as for a
    # pipe's reader that opens after the writer closed): take the count.
    ch = state["h2g"]
    got = [ch.recv(timeout=30) for _ in range(h2g_n - 1)]
    try:
        extra = ch.recv(0)
        return f"one message more than sent: {extra[:40]!r}"
    except BlockingIOError:
        pass
    ch.close()
    if got != want[1:]:
        return f"{len(got)} messages after the first, want {len(want) - 1}; first differing: " + \
            next((f"{a!r} != {b!r}" for a, b in zip(got, want[1:]) if a != b), "(a prefix)")
    return True


def sent():
    with state["ep"].chan_open("g2h", "producer") as ch:
        for i in range(1, g2h_n + 1):
            ch.send(b"py g2h %04d" % i, timeout=30)
        st = ch.stat()
    return True if st.sent == g2h_n else f"stat: sent {st.sent}"


def wrote():
    ep = state["ep"]
    ep.mem[ep.size - 32:ep.size - 32 + 15] = b"python was here"
    ep.close()
    return True


for name, fn in (("py-open", opened), ("py-mem-marker", marker), ("py-peek-release", peeked),
                 ("py-recv-h2g", received), ("py-send-g2h", sent), ("py-mem-write", wrote)):
    if step(name, fn) is None and name == "py-open":
        for rest in ("py-mem-marker", "py-peek-release", "py-recv-h2g", "py-send-g2h", "py-mem-write"):
            fail(rest, "no endpoint")
        break
