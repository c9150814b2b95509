"""ivshmem: IVSHMEM shared memory, channels and topics from Python.

A binding of libivshmem through ctypes (no compiler needed):

    import ivshmem
    with ivshmem.open("file:/dev/shm/demo") as ep:
        ep.chan_create("hello")
        with ep.chan_open("hello", "consumer") as ch:
            print(ch.recv(timeout=5))

Timeouts are seconds (None waits forever, 0 does not wait).  Errors are
OSError subclasses with errno set, and CorruptRegion for corrupt shared
memory.  See python/README.md.
"""
from __future__ import annotations

from ._errors import CorruptRegion
from ._lib import API_MAJOR, API_MINOR, version as library_version
from .channel import Channel, ChannelInfo, ChannelStat
from .endpoint import Endpoint, Event, Peer, open
from .pci import PciDevice, scan
from .topic import SubscriberStat, Topic, TopicStat

__version__ = f"{API_MAJOR}.{API_MINOR}.0"

__all__ = ["Channel", "ChannelInfo", "ChannelStat", "CorruptRegion", "Endpoint", "Event", "Peer",
           "PciDevice", "SubscriberStat", "Topic", "TopicStat", "library_version", "open", "scan"]
