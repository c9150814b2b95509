/* SPDX-License-Identifier: MIT */
/* The PCI layer's calls for the rest of the library and its services
 * beyond ivshmem.h.  Backends and their paths stay inside src/lib/pci/
 * (pci-backend.h). */
#ifndef IVS_PCI_H
#define IVS_PCI_H

#include "util/util.h"

/* Open BAR bar again, as a new file description a broker can hand to
 * another process to mmap: flags O_RDONLY (the kernel then refuses a
 * writable shared mapping, and mprotect can't add one) or O_RDWR.
 * want: IVSHMEM_CACHE_WC for a write-combining mapping where the BAR
 * offers one (else uncached), anything else uncached; *got (may be NULL)
 * says which.  The path opened goes to src (n bytes, may be truncated;
 * may be NULL), also when the open fails.  Returns the fd (O_CLOEXEC), -EINVAL, -ENOTSUP (the
 * backend has no such files: file backend), or the open's -errno. */
int ivs_pci_bar_open(ivshmem_pci_dev *dev, unsigned bar, enum ivshmem_cache want, int flags,
		     enum ivshmem_cache *got, char *src, size_t n);

#endif
