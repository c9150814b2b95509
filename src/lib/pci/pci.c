/* SPDX-License-Identifier: MIT */
/* PCI layer front: argument checks and dispatch to the backend ops. */
#include "pci/pci.h"
#include "pci/pci-backend.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const struct ivs_pci_ops *backend_ops(enum ivshmem_backend b)
{
	switch (b) {
	case IVSHMEM_BACKEND_VFIO: return &ivs_pci_vfio_ops;
	case IVSHMEM_BACKEND_SYSFS: return &ivs_pci_sysfs_ops;
	case IVSHMEM_BACKEND_FILE: return &ivs_pci_file_ops;
	default: return NULL;
	}
}

int ivshmem_pci_open(const char *addr, enum ivshmem_backend backend, ivshmem_pci_dev **out)
{
	if (!addr || !out)
		return -EINVAL;
	ivshmem_pci_dev *dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	int r;
	dev->sysfs_root = strdup(ivs_sysfs_root());
	if (!dev->sysfs_root) {
		r = -ENOMEM;
		goto fail;
	}
	if (backend == IVSHMEM_BACKEND_FILE) {
		dev->path = strdup(addr);
		if (!dev->path) {
			r = -ENOMEM;
			goto fail;
		}
	} else {
		r = ivshmem_pci_addr_parse(addr, dev->addr);
		if (r < 0)
			goto fail;
		if (backend == IVSHMEM_BACKEND_AUTO) {
			/* VFIO when the device is bound to vfio-pci, else sysfs. */
			struct ivshmem_pci_info info;
			r = ivs_sysfs_lookup(dev->sysfs_root, dev->addr, &info);
			if (r < 0)
				goto fail;
			backend = strcmp(info.driver, "vfio-pci") == 0 ? IVSHMEM_BACKEND_VFIO
								       : IVSHMEM_BACKEND_SYSFS;
		}
	}
	dev->ops = backend_ops(backend);
	if (!dev->ops) {
		r = -EINVAL;
		goto fail;
	}
	r = dev->ops->open(dev);
	if (r < 0) {
		dev->ops = NULL; /* open cleaned up after itself */
		goto fail;
	}
	*out = dev;
	return 0;
fail:
	ivshmem_pci_close(dev);
	return r;
}

ivshmem_pci_dev *ivshmem_pci_close(ivshmem_pci_dev *dev)
{
	if (!dev)
		return NULL;
	if (dev->ops && dev->ops->close)
		dev->ops->close(dev);
	free(dev->path);
	free(dev->sysfs_root);
	free(dev);
	return NULL;
}

enum ivshmem_backend ivshmem_pci_backend(const ivshmem_pci_dev *dev)
{
	return dev && dev->ops ? dev->ops->id : IVSHMEM_BACKEND_AUTO;
}

const char *ivshmem_pci_addr(const ivshmem_pci_dev *dev)
{
	if (!dev)
		return "";
	return dev->path ? dev->path : dev->addr;
}

static int check_config_range(unsigned off, size_t len)
{
	if (len == 0 || off >= 4096 || len > 4096 - off)
		return -ERANGE;
	return 0;
}

int ivshmem_pci_config_read(ivshmem_pci_dev *dev, unsigned off, void *buf, size_t len)
{
	if (!dev || !buf)
		return -EINVAL;
	int r = check_config_range(off, len);
	if (r < 0)
		return r;
	if (!dev->ops->config_read)
		return -ENOTSUP;
	return dev->ops->config_read(dev, off, buf, len);
}

int ivshmem_pci_config_write(ivshmem_pci_dev *dev, unsigned off, const void *buf, size_t len)
{
	if (!dev || !buf)
		return -EINVAL;
	int r = check_config_range(off, len);
	if (r < 0)
		return r;
	if (!dev->ops->config_write)
		return -ENOTSUP;
	return dev->ops->config_write(dev, off, buf, len);
}

int ivs_pci_bar_open(ivshmem_pci_dev *dev, unsigned bar, enum ivshmem_cache want, int flags,
		     enum ivshmem_cache *got, char *src, size_t n)
{
	if (!dev || bar > 5 || (flags != O_RDONLY && flags != O_RDWR))
		return -EINVAL;
	if (!dev->ops->bar_open)
		return -ENOTSUP;
	bool wc = want == IVSHMEM_CACHE_WC;
	int fd = dev->ops->bar_open(dev, bar, wc, flags, src, n);
	if (fd == -ENOENT && wc) {
		wc = false;
		fd = dev->ops->bar_open(dev, bar, false, flags, src, n);
	}
	if (fd >= 0 && got)
		*got = wc ? IVSHMEM_CACHE_WC : IVSHMEM_CACHE_UC;
	return fd;
}

int ivshmem_pci_bar_info(ivshmem_pci_dev *dev, unsigned bar, struct ivshmem_bar_info *out)
{
	if (!dev || !out || bar > 5)
		return -EINVAL;
	struct ivshmem_bar_info info = {.index = bar};
	int r = dev->ops->bar_info(dev, bar, &info);
	if (r < 0)
		return r;
	info.index = bar;
	*out = info;
	return 0;
}

int ivshmem_pci_enable(ivshmem_pci_dev *dev, unsigned what)
{
	if (!dev || (what & ~(IVSHMEM_PCI_ENABLE_MEMORY | IVSHMEM_PCI_ENABLE_BUSMASTER)))
		return -EINVAL;
	uint16_t cmd;
	int r = ivshmem_pci_config_read(dev, IVS_PCI_COMMAND, &cmd, sizeof(cmd));
	if (r < 0)
		return r;
	if (r != (int)sizeof(cmd))
		return -EIO;
	uint16_t want = cmd;
	if (what & IVSHMEM_PCI_ENABLE_MEMORY)
		want |= IVS_PCI_COMMAND_MEMORY;
	if (what & IVSHMEM_PCI_ENABLE_BUSMASTER)
		want |= IVS_PCI_COMMAND_MASTER;
	if (want == cmd)
		return 0;
	r = ivshmem_pci_config_write(dev, IVS_PCI_COMMAND, &want, sizeof(want));
	return r < 0 ? r : 0;
}

int ivshmem_pci_map(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, size_t len,
		    enum ivshmem_cache want, unsigned flags, void **addr, enum ivshmem_cache *got)
{
	if (!dev || !addr || bar > 5 || (unsigned)want > IVSHMEM_CACHE_WB ||
	    (flags & ~IVSHMEM_MAP_READONLY))
		return -EINVAL;
	struct ivshmem_bar_info info;
	int r = ivshmem_pci_bar_info(dev, bar, &info);
	if (r < 0)
		return r;
	if (!(info.flags & IVSHMEM_BAR_F_PRESENT))
		return -ENOENT;
	if (info.flags & IVSHMEM_BAR_F_IO)
		return -ENOTSUP;
	if (!(info.flags & IVSHMEM_BAR_F_MMAP))
		return -ENOTSUP;
	if (off >= info.size)
		return -ERANGE;
	uint64_t room = info.size - off;
	if (len == 0) {
		/* To the end of the BAR: on 32 bits that may not fit a size_t
		 * (a 4 GiB BAR), and must not be silently truncated. */
		if (room > SIZE_MAX)
			return -EFBIG;
		len = (size_t)room;
	}
	if (len > room)
		return -ERANGE;
	/* Backends map from the page holding off: that length must fit too. */
	if (len > SIZE_MAX - (size_t)(off % ivs_page_size()))
		return -EFBIG;
	void *p = NULL;
	enum ivshmem_cache mode = IVSHMEM_CACHE_DEFAULT;
	r = dev->ops->map(dev, bar, off, len, want, flags, &p, &mode);
	if (r < 0)
		return r;
	*addr = p;
	if (got)
		*got = mode;
	return 0;
}

int ivshmem_pci_unmap(ivshmem_pci_dev *dev, void *addr, size_t len)
{
	if (!dev || !addr || !len)
		return -EINVAL;
	/* Mappings may start inside a page (BAR offsets): unmap whole pages. */
	uintptr_t page = ivs_page_size();
	uintptr_t start = (uintptr_t)addr & ~(page - 1);
	size_t delta = (size_t)((uintptr_t)addr - start);
	if (len > SIZE_MAX - delta)
		return -EINVAL; /* would wrap to a short length and unmap too little */
	size_t total = len + delta;
	return munmap((void *)start, total) < 0 ? -errno : 0;
}

static int bar_rw(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf, size_t len,
		  bool write)
{
	if (!dev || !buf || bar > 5 || len == 0 || len > INT_MAX)
		return -EINVAL;
	if (!dev->ops->bar_rw)
		return -ENOTSUP;
	struct ivshmem_bar_info info;
	int r = ivshmem_pci_bar_info(dev, bar, &info);
	if (r < 0)
		return r;
	if (!(info.flags & IVSHMEM_BAR_F_PRESENT))
		return -ENOENT;
	if (off >= info.size || len > info.size - off)
		return -ERANGE;
	return dev->ops->bar_rw(dev, bar, off, buf, len, write);
}

int ivshmem_pci_bar_read(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf, size_t len)
{
	return bar_rw(dev, bar, off, buf, len, false);
}

int ivshmem_pci_bar_write(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, const void *buf,
			  size_t len)
{
	/* The backends only read from buf when writing. */
	return bar_rw(dev, bar, off, (void *)(uintptr_t)buf, len, true);
}

int ivshmem_pci_msix_count(ivshmem_pci_dev *dev)
{
	if (!dev)
		return -EINVAL;
	return dev->ops->msix_count ? dev->ops->msix_count(dev) : 0;
}

int ivshmem_pci_msix_enable(ivshmem_pci_dev *dev, unsigned n, int *fds)
{
	if (!dev || !fds || n == 0 || n > 2048)
		return -EINVAL;
	if (!dev->ops->msix_enable)
		return -ENOTSUP;
	return dev->ops->msix_enable(dev, n, fds);
}
