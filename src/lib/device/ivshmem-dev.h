/* SPDX-License-Identifier: MIT */
/* The IVSHMEM device on top of the PCI layer: find it, map its BARs, read
 * IVPosition, ring doorbells through BAR0, receive MSI-X vectors. */
#ifndef IVS_IVSHMEM_DEV_H
#define IVS_IVSHMEM_DEV_H

#include "util/util.h"

/* 0 if info describes an IVSHMEM device (1af4:1110, revision 0 or 1),
 * -ENODEV otherwise. */
int ivs_dev_check(const struct ivshmem_pci_info *info);

/* Resolve "auto" / an address into a canonical IVSHMEM device address.
 * -ENODEV none, -EBUSY several (candidates not listed: the CLI does that). */
int ivs_dev_resolve(const char *spec, char out[IVSHMEM_PCI_ADDR_LEN]);

/* Doorbell register value: peer << 16 | vector (QEMU uses the low 8 bits of
 * the vector field). */
static inline uint32_t ivs_doorbell_value(unsigned peer, unsigned vector)
{
	return ((uint32_t)peer << 16) | (vector & 0xffffu);
}

#endif
