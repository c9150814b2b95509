/* SPDX-License-Identifier: MIT */
/* The sysfs backend: BARs through /sys/bus/pci/devices/ADDR/resourceN (and
 * resourceN_wc for write-combining), config space through .../config.
 * resourceN files support mmap only (bar_rw maps the page(s) for the call);
 * some platforms have none at all.
 * No interrupts: receiving MSI-X needs the vfio backend. */
#include "pci/pci-backend.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct sysfs_priv {
	int cfg_fd;
	bool cfg_writable;
	struct ivshmem_bar_info bars[6];
};

static int sysfs_open(ivshmem_pci_dev *dev)
{
	char path[512];
	int r = ivs_sysfs_dev_path(dev, path, sizeof(path), NULL);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return -errno;
	struct sysfs_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg_fd = -1;
	r = ivs_sysfs_resources(dev->sysfs_root, dev->addr, p->bars);
	if (r < 0) {
		free(p);
		return r;
	}
	/* A BAR is mappable here only if its resourceN file exists. */
	bool any_file = false;
	for (unsigned i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "resource%u", i);
		if (ivs_sysfs_dev_path(dev, path, sizeof(path), name) == 0 && access(path, F_OK) == 0) {
			any_file = true;
			if (!(p->bars[i].flags & IVSHMEM_BAR_F_IO))
				p->bars[i].flags |= IVSHMEM_BAR_F_MMAP;
		}
	}
	(void)any_file;
	if (ivs_sysfs_dev_path(dev, path, sizeof(path), "config") == 0) {
		p->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
		p->cfg_writable = p->cfg_fd >= 0;
		if (p->cfg_fd < 0)
			p->cfg_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	dev->priv = p;
	return 0;
}

static void sysfs_close(ivshmem_pci_dev *dev)
{
	struct sysfs_priv *p = dev->priv;
	if (!p)
		return;
	ivs_close(p->cfg_fd);
	free(p);
	dev->priv = NULL;
}

static int sysfs_config_read(ivshmem_pci_dev *dev, unsigned off, void *buf, size_t len)
{
	struct sysfs_priv *p = dev->priv;
	if (p->cfg_fd < 0)
		return -ENOENT;
	/* Unprivileged readers see only the first 64 bytes: short reads are
	 * reported as a count, the caller decides. */
	ssize_t n = ivs_pread_all(p->cfg_fd, buf, len, off);
	return n < 0 ? (int)n : (int)n;
}

static int sysfs_config_write(ivshmem_pci_dev *dev, unsigned off, const void *buf, size_t len)
{
	struct sysfs_priv *p = dev->priv;
	if (p->cfg_fd < 0)
		return -ENOENT;
	if (!p->cfg_writable)
		return -EACCES;
	ssize_t n = ivs_pwrite_all(p->cfg_fd, buf, len, off);
	return n < 0 ? (int)n : (int)n;
}

static int sysfs_bar_info(ivshmem_pci_dev *dev, unsigned bar, struct ivshmem_bar_info *out)
{
	struct sysfs_priv *p = dev->priv;
	*out = p->bars[bar];
	return 0;
}

int ivs_sysfs_bar_open(ivshmem_pci_dev *dev, unsigned bar, bool wc, int flags, char *src, size_t n)
{
	char name[32], path[512];
	snprintf(name, sizeof(name), wc ? "resource%u_wc" : "resource%u", bar);
	int r = ivs_sysfs_dev_path(dev, path, sizeof(path), name);
	if (r < 0)
		return r;
	if (src && n) /* also on failure: the caller's message names it */
		snprintf(src, n, "%s", path);
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_resource(ivshmem_pci_dev *dev, unsigned bar, bool wc, bool ro)
{
	return ivs_sysfs_bar_open(dev, bar, wc, ro ? O_RDONLY : O_RDWR, NULL, 0);
}

static int sysfs_map(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, size_t len,
		     enum ivshmem_cache want, unsigned flags, void **addr, enum ivshmem_cache *got)
{
	struct sysfs_priv *p = dev->priv;
	bool ro = flags & IVSHMEM_MAP_READONLY;
	bool prefetch = p->bars[bar].flags & IVSHMEM_BAR_F_PREFETCH;
	/* resourceN is mapped uncached; resourceN_wc write-combining (only
	 * offered for prefetchable BARs).  sysfs cannot give write-back. */
	if (want == IVSHMEM_CACHE_WB)
		return -ENOTSUP;
	bool wc = want == IVSHMEM_CACHE_WC || (want == IVSHMEM_CACHE_DEFAULT && prefetch);
	int fd = open_resource(dev, bar, wc, ro);
	if (fd == -ENOENT && wc && want == IVSHMEM_CACHE_DEFAULT) {
		wc = false;
		fd = open_resource(dev, bar, false, ro);
	}
	if (fd == -ENOENT && want == IVSHMEM_CACHE_WC)
		return -ENOTSUP; /* no resourceN_wc: BAR not prefetchable */
	if (fd < 0)
		return fd;
	uint64_t page = ivs_page_size();
	uint64_t delta = off % page;
	void *m = mmap(NULL, len + delta, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)(off - delta));
	int err = errno;
	ivs_close(fd);
	if (m == MAP_FAILED)
		return -err;
	*addr = (char *)m + delta;
	*got = wc ? IVSHMEM_CACHE_WC : IVSHMEM_CACHE_UC;
	return 0;
}

/* Copy between memory and device memory (a mapped BAR) with volatile
 * accesses of the widest width the device address's alignment and the
 * remaining length allow: a naturally aligned 1/2/4/8-byte range is one
 * access.  8 bytes only where a pointer is 64 bits (one instruction). */
static void mmio_copy(volatile void *io, void *buf, size_t len, bool write)
{
	char *b = buf;
	for (size_t i = 0; i < len;) {
		uintptr_t at = (uintptr_t)io + i;
		size_t left = len - i;
		if (sizeof(void *) >= 8 && !(at & 7) && left >= 8) {
			uint64_t v;
			if (write) {
				memcpy(&v, b + i, 8);
				*(volatile uint64_t *)at = v;
			} else {
				v = *(volatile uint64_t *)at;
				memcpy(b + i, &v, 8);
			}
			i += 8;
		} else if (!(at & 3) && left >= 4) {
			uint32_t v;
			if (write) {
				memcpy(&v, b + i, 4);
				*(volatile uint32_t *)at = v;
			} else {
				v = *(volatile uint32_t *)at;
				memcpy(b + i, &v, 4);
			}
			i += 4;
		} else if (!(at & 1) && left >= 2) {
			uint16_t v;
			if (write) {
				memcpy(&v, b + i, 2);
				*(volatile uint16_t *)at = v;
			} else {
				v = *(volatile uint16_t *)at;
				memcpy(b + i, &v, 2);
			}
			i += 2;
		} else {
			if (write)
				*(volatile uint8_t *)at = (uint8_t)b[i];
			else
				b[i] = (char)*(volatile uint8_t *)at;
			i += 1;
		}
	}
}

/* resourceN files have no read/write for memory BARs: map the pages around
 * the range (uncached) for the duration of the call. */
static int sysfs_bar_rw(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf, size_t len,
			bool write)
{
	struct sysfs_priv *p = dev->priv;
	if (!(p->bars[bar].flags & IVSHMEM_BAR_F_MMAP))
		return -ENOTSUP; /* no resource file, or an I/O BAR */
	int fd = open_resource(dev, bar, false, !write);
	if (fd == -ENOENT)
		return -ENOTSUP;
	if (fd < 0)
		return fd;
	uint64_t page = ivs_page_size();
	uint64_t delta = off % page;
	if (len > SIZE_MAX - delta) {
		ivs_close(fd);
		return -ERANGE;
	}
	void *m = mmap(NULL, len + delta, write ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
		       (off_t)(off - delta));
	int err = errno;
	ivs_close(fd);
	if (m == MAP_FAILED)
		return -err;
	mmio_copy((char *)m + delta, buf, len, write);
	munmap(m, len + delta);
	return (int)len;
}

static int sysfs_msix_count(ivshmem_pci_dev *dev)
{
	/* Walk the capability list for MSI-X (needs a readable config). */
	uint8_t cfg[256];
	int n = sysfs_config_read(dev, 0, cfg, sizeof(cfg));
	if (n < 0)
		return n;
	if (n < 64 || !(cfg[IVS_PCI_STATUS] & IVS_PCI_STATUS_CAP_LIST))
		return 0;
	unsigned pos = cfg[IVS_PCI_CAP_PTR] & ~3u;
	for (int guard = 0; pos >= 0x40 && pos + 4 <= (unsigned)n && guard < 48; guard++) {
		if (cfg[pos] == IVS_PCI_CAP_ID_MSIX)
			return (int)((cfg[pos + 2] | (cfg[pos + 3] << 8)) & 0x7ff) + 1;
		pos = cfg[pos + 1] & ~3u;
	}
	return 0;
}

const struct ivs_pci_ops ivs_pci_sysfs_ops = {
	.name = "sysfs",
	.id = IVSHMEM_BACKEND_SYSFS,
	.open = sysfs_open,
	.close = sysfs_close,
	.config_read = sysfs_config_read,
	.config_write = sysfs_config_write,
	.bar_info = sysfs_bar_info,
	.map = sysfs_map,
	.bar_rw = sysfs_bar_rw,
	.msix_count = sysfs_msix_count,
	.bar_open = ivs_sysfs_bar_open,
};
