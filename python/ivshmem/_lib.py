"""libivshmem through ctypes: finding the library, its structs and prototypes.

The binding speaks one API version of the C library (API_HEX below).  Before
1.0 each minor version is its own API and ABI (ivshmem.h, "Versions"): the
soname carries it, and ivshmem_version_check() refuses a library that does not
serve it, so a mismatch fails at import rather than corrupting a struct.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
from ctypes import (POINTER, Structure, c_char, c_char_p, c_int, c_size_t, c_ssize_t, c_uint,
                    c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

API_MAJOR, API_MINOR = 0, 1
API_HEX = (API_MAJOR << 16) | (API_MINOR << 8)
SONAME = f"libivshmem.so.{API_MAJOR}.{API_MINOR}" if API_MAJOR == 0 else f"libivshmem.so.{API_MAJOR}"
ENV = "IVSHMEM_LIBRARY"


def _candidates() -> list[str]:
    """Where to look, in order: $IVSHMEM_LIBRARY (a path), the build tree this
    package sits in (python/ beside build/), pkg-config's libdir, the loader's
    own search (ld.so.cache, LD_LIBRARY_PATH)."""
    env = os.environ.get(ENV)
    if env:
        return [env]  # asked for exactly this one: no fallback that hides a typo
    out = []
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for build in ("build", "build-dev"):
        p = os.path.join(here, build, "src", "lib", SONAME)
        if os.path.exists(p):
            out.append(p)
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "libivshmem"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if libdir:
            out.append(os.path.join(libdir, SONAME))
    except (OSError, subprocess.SubprocessError):
        pass
    out.append(SONAME)
    return out


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            return ctypes.CDLL(path, use_errno=False)
        except OSError as e:
            errors.append(str(e))
    raise ImportError(f"ivshmem: cannot load {SONAME} ({'; '.join(errors)}); install libivshmem "
                      f"or set {ENV} to its path")


lib = _load()
lib.ivshmem_version.restype = c_char_p
lib.ivshmem_version.argtypes = []
lib.ivshmem_version_check.restype = c_int
lib.ivshmem_version_check.argtypes = [c_uint]
if lib.ivshmem_version_check(API_HEX) != 0:
    raise ImportError(f"ivshmem: the library {lib._name} is version "
                      f"{lib.ivshmem_version().decode()}, this binding needs {API_MAJOR}.{API_MINOR}.x; "
                      f"install the matching libivshmem or set {ENV}")

# ---- structs (ivshmem.h; tests/python/test_abi.py checks them against the C compiler) ----


class OpenOpts(Structure):
    _fields_ = [("backend", c_int), ("cache", c_int), ("flags", c_uint), ("ready_timeout_ms", c_int),
                ("reserved", c_uint32 * 8)]


class PeerS(Structure):
    _fields_ = [("id", c_uint16), ("vectors", c_uint16)]


class EventS(Structure):
    _fields_ = [("type", c_int), ("peer", c_uint16), ("vectors", c_uint16)]


class PciInfoS(Structure):
    _fields_ = [("addr", c_char * 16), ("vendor", c_uint16), ("device", c_uint16),
                ("subsystem_vendor", c_uint16), ("subsystem_device", c_uint16),
                ("class_code", c_uint32), ("revision", c_uint8), ("driver", c_char * 64),
                ("iommu_group", c_int), ("reserved", c_uint32 * 4)]


class ChanInfoS(Structure):
    _fields_ = [("name", c_char * 32), ("offset", c_uint64), ("ring_size", c_uint64),
                ("max_msg", c_uint32), ("kind", c_uint32), ("reserved", c_uint32 * 6)]


class ChanOptsS(Structure):
    _fields_ = [("flags", c_uint), ("vector", c_uint), ("spin_us", c_int), ("reserved", c_uint32 * 4)]


class ChanMsgS(Structure):
    _fields_ = [("data", c_void_p), ("cap", c_size_t), ("len", c_size_t)]


class ChanStatS(Structure):
    _fields_ = [("name", c_char * 32), ("role", c_int), ("ring_size", c_uint64), ("max_msg", c_uint32),
                ("used", c_uint64), ("queued", c_uint64), ("head", c_uint64), ("tail", c_uint64),
                ("sent", c_uint64), ("received", c_uint64),
                ("producer_attached", c_int), ("consumer_attached", c_int),
                ("producer_id", c_int), ("consumer_id", c_int),
                ("producer_epoch", c_uint32), ("consumer_epoch", c_uint32),
                ("producer_rings", c_uint64), ("consumer_rings", c_uint64),
                ("producer_sleeps", c_uint64), ("consumer_sleeps", c_uint64),
                ("messages", c_uint64), ("bytes", c_uint64), ("rings", c_uint64), ("sleeps", c_uint64),
                ("spins", c_uint64), ("wake", c_int), ("fence_skipped", c_int),
                ("reserved", c_uint64 * 4)]


class TopicConfigS(Structure):
    _fields_ = [("size", c_size_t), ("max_msg", c_size_t), ("subscribers", c_uint), ("mode", c_uint),
                ("stall_timeout_ms", c_uint), ("reserved", c_uint32 * 5)]


class TopicOptsS(Structure):
    _fields_ = [("flags", c_uint), ("vector", c_uint), ("spin_us", c_int), ("reserved", c_uint32 * 4)]


class TopicSubStatS(Structure):
    _fields_ = [("state", c_int), ("id", c_int), ("epoch", c_uint32), ("pid", c_uint32),
                ("head", c_uint64), ("received", c_uint64), ("lag", c_uint64), ("sleeps", c_uint64),
                ("rings", c_uint64), ("skipped", c_uint64), ("reserved", c_uint64 * 1)]


TOPIC_MAX_SUBSCRIBERS = 64


class TopicStatS(Structure):
    _fields_ = [("name", c_char * 32), ("role", c_int), ("mode", c_uint), ("ring_size", c_uint64),
                ("max_msg", c_uint32), ("subscribers", c_uint), ("stall_timeout_ms", c_uint),
                ("publisher_attached", c_int), ("publisher_id", c_int), ("publisher_epoch", c_uint32),
                ("buffers", c_uint), ("tail", c_uint64), ("published", c_uint64), ("floor", c_uint64),
                ("evictions", c_uint64), ("sub", TopicSubStatS * TOPIC_MAX_SUBSCRIBERS),
                ("messages", c_uint64), ("bytes", c_uint64), ("rings", c_uint64), ("sleeps", c_uint64),
                ("slot", c_int), ("wake", c_int), ("skipped", c_uint64), ("reserved", c_uint64 * 3)]


STRUCTS = {"ivshmem_open_opts": OpenOpts, "ivshmem_peer": PeerS, "ivshmem_event": EventS,
           "ivshmem_pci_info": PciInfoS, "ivshmem_chan_info": ChanInfoS,
           "ivshmem_chan_opts": ChanOptsS, "ivshmem_chan_msg": ChanMsgS,
           "ivshmem_chan_stat": ChanStatS, "ivshmem_topic_config": TopicConfigS,
           "ivshmem_topic_opts": TopicOptsS, "ivshmem_topic_sub_stat": TopicSubStatS,
           "ivshmem_topic_stat": TopicStatS}

# ---- constants (ivshmem.h) ----
OPEN_READONLY, OPEN_NO_IRQ, OPEN_NO_MAP, OPEN_EXCLUSIVE_IRQ = 1, 2, 4, 8
BACKENDS = {None: 0, "auto": 0, "vfio": 1, "sysfs": 2, "file": 3}
CACHES = {None: 0, "default": 0, "uc": 1, "wc": 2, "wb": 3}
CACHE_NAMES = {0: "default", 1: "uc", 2: "wc", 3: "wb"}
CHAN_ROLES = {"monitor": 0, "producer": 1, "consumer": 2}
TOPIC_ROLES = {"monitor": 0, "publisher": 1, "subscriber": 2}
TOPIC_MODES = {"lossless": 0, "latest": 1}
CHAN_EXCLUSIVE, CHAN_NO_FUTEX = 1, 2
TOPIC_EXCLUSIVE, TOPIC_NO_FUTEX, TOPIC_FROM_OLDEST, TOPIC_PASSIVE = 1, 2, 4, 8
KIND_CHANNEL, KIND_TOPIC = 0, 1
WAKE_NAMES = {0: "none", 1: "poll", 2: "futex", 3: "doorbell"}
SUB_STATES = {0: "free", 1: "joining", 2: "live", 3: "bad"}
EVENT_TYPES = {1: "join", 2: "leave", 3: "disconnect"}

# ---- prototypes ----
_ep = c_void_p
_P = {
    "ivshmem_version_hex": (c_uint, []),
    "ivshmem_pci_scan": (c_int, [c_uint16, c_uint16, POINTER(PciInfoS), c_size_t]),
    "ivshmem_open": (c_int, [c_char_p, POINTER(OpenOpts), POINTER(c_void_p)]),
    "ivshmem_close": (c_void_p, [_ep]),
    "ivshmem_kind": (c_char_p, [_ep]),
    "ivshmem_mem": (c_void_p, [_ep]),
    "ivshmem_mem_size": (c_size_t, [_ep]),
    "ivshmem_mem_readonly": (c_int, [_ep]),
    "ivshmem_id": (c_int, [_ep]),
    "ivshmem_vectors": (c_int, [_ep]),
    "ivshmem_mem_cache": (c_int, [_ep]),
    "ivshmem_ring": (c_int, [_ep, c_uint, c_uint]),
    "ivshmem_vector_fd": (c_int, [_ep, c_uint]),
    "ivshmem_vector_ack": (c_int, [_ep, c_uint]),
    "ivshmem_wait": (c_int, [_ep, c_uint, c_int]),
    "ivshmem_peers": (c_int, [_ep, POINTER(PeerS), c_size_t]),
    "ivshmem_event_fd": (c_int, [_ep]),
    "ivshmem_next_event": (c_int, [_ep, POINTER(EventS)]),
    "ivshmem_layout_init": (c_int, [_ep]),
    "ivshmem_chan_create": (c_int, [_ep, c_char_p, c_size_t, c_size_t]),
    "ivshmem_chan_delete": (c_int, [_ep, c_char_p]),
    "ivshmem_chan_list": (c_int, [_ep, POINTER(ChanInfoS), c_size_t]),
    "ivshmem_chan_open": (c_int, [_ep, c_char_p, c_int, POINTER(ChanOptsS), POINTER(c_void_p)]),
    "ivshmem_chan_close": (c_void_p, [c_void_p]),
    "ivshmem_chan_send": (c_int, [c_void_p, c_void_p, c_size_t, c_int]),
    "ivshmem_chan_recv": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int]),
    "ivshmem_chan_reserve": (c_int, [c_void_p, c_size_t, POINTER(c_void_p), c_int]),
    "ivshmem_chan_commit": (c_int, [c_void_p, c_size_t]),
    "ivshmem_chan_peek": (c_ssize_t, [c_void_p, POINTER(c_void_p), c_int]),
    "ivshmem_chan_release": (c_int, [c_void_p]),
    "ivshmem_chan_send_batch": (c_int, [c_void_p, POINTER(ChanMsgS), c_size_t, c_int]),
    "ivshmem_chan_recv_batch": (c_ssize_t, [c_void_p, POINTER(ChanMsgS), c_size_t, c_int]),
    "ivshmem_chan_flush": (c_int, [c_void_p]),
    "ivshmem_chan_arm": (c_int, [c_void_p]),
    "ivshmem_chan_fd": (c_int, [c_void_p]),
    "ivshmem_chan_stat": (c_int, [c_void_p, POINTER(ChanStatS)]),
    "ivshmem_topic_create": (c_int, [_ep, c_char_p, POINTER(TopicConfigS)]),
    "ivshmem_topic_open": (c_int, [_ep, c_char_p, c_int, POINTER(TopicOptsS), POINTER(c_void_p)]),
    "ivshmem_topic_close": (c_void_p, [c_void_p]),
    "ivshmem_topic_publish": (c_int, [c_void_p, c_void_p, c_size_t, c_int]),
    "ivshmem_topic_reserve": (c_int, [c_void_p, c_size_t, POINTER(c_void_p), c_int]),
    "ivshmem_topic_commit": (c_int, [c_void_p, c_size_t]),
    "ivshmem_topic_receive": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int]),
    "ivshmem_topic_peek": (c_ssize_t, [c_void_p, POINTER(c_void_p), c_int]),
    "ivshmem_topic_release": (c_int, [c_void_p]),
    "ivshmem_topic_last": (c_int, [c_void_p, POINTER(c_uint64), POINTER(c_uint64)]),
    "ivshmem_topic_arm": (c_int, [c_void_p]),
    "ivshmem_topic_fd": (c_int, [c_void_p]),
    "ivshmem_topic_stat": (c_int, [c_void_p, POINTER(TopicStatS)]),
}
for _name, (_res, _args) in _P.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args

version: str = lib.ivshmem_version().decode()
