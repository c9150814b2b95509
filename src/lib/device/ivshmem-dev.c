/* SPDX-License-Identifier: MIT */
#include "device/ivshmem-dev.h"

#include <string.h>

int ivs_dev_check(const struct ivshmem_pci_info *info)
{
	if (info->vendor != IVSHMEM_VENDOR_ID || info->device != IVSHMEM_DEVICE_ID)
		return -ENODEV;
	if (info->revision > 1)
		return -ENODEV; /* unknown register layout */
	return 0;
}

int ivs_dev_resolve(const char *spec, char out[IVSHMEM_PCI_ADDR_LEN])
{
	if (strcmp(spec, "auto") != 0)
		return ivshmem_pci_addr_parse(spec, out);
	struct ivshmem_pci_info found[2];
	int n = ivshmem_pci_scan(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, found, 2);
	if (n < 0)
		return n;
	if (n == 0)
		return -ENODEV;
	if (n > 1)
		return -EBUSY;
	memcpy(out, found[0].addr, IVSHMEM_PCI_ADDR_LEN);
	return 0;
}
