"""The PCI layer's device scan, for finding IVSHMEM devices."""
from __future__ import annotations

from dataclasses import dataclass

from ._errors import fill
from ._lib import PciInfoS, lib

IVSHMEM_VENDOR, IVSHMEM_DEVICE = 0x1AF4, 0x1110


@dataclass(frozen=True)
class PciDevice:
    """A PCI device as sysfs describes it."""
    addr: str
    vendor: int
    device: int
    subsystem_vendor: int
    subsystem_device: int
    class_code: int
    revision: int
    driver: str  # "" if none
    iommu_group: int  # -1 if none


def scan(vendor: int = IVSHMEM_VENDOR, device: int = IVSHMEM_DEVICE) -> list[PciDevice]:
    """PCI devices matching vendor:device (0xffff matches any), by address.
    The default finds IVSHMEM devices."""
    infos = fill(PciInfoS, 32, lambda b, n: lib.ivshmem_pci_scan(vendor, device, b, n), "ivshmem_pci_scan")
    return [PciDevice(i.addr.decode(), i.vendor, i.device, i.subsystem_vendor, i.subsystem_device,
                      i.class_code, i.revision, i.driver.decode("utf-8", "replace"), i.iommu_group)
            for i in infos]


__all__ = ["PciDevice", "scan"]
