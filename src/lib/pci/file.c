/* SPDX-License-Identifier: MIT */
/* The file backend: a shared-memory file (/dev/shm/NAME, a hugetlbfs file)
 * presented as a device whose only BAR is BAR2.  This is what QEMU's
 * ivshmem-plain maps on the host side. */
#include "pci/pci-backend.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_priv {
	int fd;
	bool writable;
	uint64_t size;
};

static int file_open(ivshmem_pci_dev *dev)
{
	struct file_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->writable = true;
	/* O_NONBLOCK: the path may name a FIFO (opening one read-only waits for
	 * a writer, forever) or a device (a tty waits for carrier); it is
	 * refused below as not a regular file, and means nothing for one. */
	const int fl = O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	p->fd = open(dev->path, O_RDWR | fl);
	if (p->fd < 0 && (errno == EACCES || errno == EROFS)) {
		p->writable = false;
		p->fd = open(dev->path, O_RDONLY | fl);
	}
	if (p->fd < 0) {
		int r = -errno;
		free(p);
		return r;
	}
	struct stat st;
	int r = 0;
	if (fstat(p->fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if (st.st_size == 0)
		r = -ENODATA; /* nothing to share: create it with a size first */
	if (r < 0) {
		ivs_close(p->fd);
		free(p);
		return r;
	}
	p->size = (uint64_t)st.st_size;
	dev->priv = p;
	return 0;
}

static void file_close(ivshmem_pci_dev *dev)
{
	struct file_priv *p = dev->priv;
	if (!p)
		return;
	ivs_close(p->fd);
	free(p);
	dev->priv = NULL;
}

static int file_bar_info(ivshmem_pci_dev *dev, unsigned bar, struct ivshmem_bar_info *out)
{
	struct file_priv *p = dev->priv;
	if (bar != IVSHMEM_BAR_SHM)
		return 0; /* absent */
	out->flags = IVSHMEM_BAR_F_PRESENT | IVSHMEM_BAR_F_64BIT | IVSHMEM_BAR_F_PREFETCH |
		     IVSHMEM_BAR_F_MMAP;
	out->size = p->size;
	return 0;
}

static int file_map(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, size_t len,
		    enum ivshmem_cache want, unsigned flags, void **addr, enum ivshmem_cache *got)
{
	struct file_priv *p = dev->priv;
	/* Host memory is ordinary cached memory: only write-back exists. */
	if (want != IVSHMEM_CACHE_DEFAULT && want != IVSHMEM_CACHE_WB)
		return -ENOTSUP;
	bool ro = flags & IVSHMEM_MAP_READONLY;
	if (!ro && !p->writable)
		return -EACCES;
	uint64_t page = ivs_page_size();
	uint64_t delta = off % page;
	void *m = mmap(NULL, len + delta, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
		       p->fd, (off_t)(off - delta));
	if (m == MAP_FAILED)
		return -errno;
	*addr = (char *)m + delta;
	*got = IVSHMEM_CACHE_WB;
	return 0;
}

static int file_bar_rw(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf, size_t len,
		       bool write)
{
	struct file_priv *p = dev->priv;
	ssize_t n;
	/* off < size, which came from st_size: it fits an off_t. */
	if (write) {
		if (!p->writable)
			return -EACCES;
		n = ivs_pwrite_all(p->fd, buf, len, (off_t)off);
	} else {
		n = ivs_pread_all(p->fd, buf, len, (off_t)off);
	}
	return (int)n; /* len <= INT_MAX; a shrunk file reads short */
}

const struct ivs_pci_ops ivs_pci_file_ops = {
	.name = "file",
	.id = IVSHMEM_BACKEND_FILE,
	.open = file_open,
	.close = file_close,
	.bar_info = file_bar_info,
	.map = file_map,
	.bar_rw = file_bar_rw,
};
