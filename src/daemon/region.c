/* SPDX-License-Identifier: MIT */
/* Where the fds that clients mmap come from.
 *
 * A read-only client must get an fd the kernel refuses to map writable: an
 * O_RDONLY open file description (mmap(PROT_WRITE, MAP_SHARED) -> EACCES,
 * and mprotect can't add PROT_WRITE later).  So the daemon never hands out
 * the fd its endpoint uses; it opens the backing object again:
 *
 *  - PCI device (vfio or sysfs backend): the BAR opened again by the PCI
 *    layer (ivs_pci_bar_open: its sysfs resource file, write-combining when
 *    the daemon's own mapping is).  The VFIO device fd is never handed out:
 *    it would give the client the whole device (config space, reset, IRQ
 *    setup).  The resource files exist whatever the bound driver; on kernels
 *    with CONFIG_IO_STRICT_DEVMEM a BAR claimed by vfio-pci can't be mapped
 *    through them, which the daemon detects here (a trial mmap) and reports.
 *  - everything else (file:, server:): the object behind the endpoint's
 *    mapping, reopened through /proc/self/map_files/START-END (root only),
 *    which works for named files and for memfds alike.
 */
#include "daemon.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint/endpoint.h"
#include "pci/pci.h"

static void region_init(struct ivsd_region *r)
{
	memset(r, 0, sizeof(*r));
	r->rw_fd = r->ro_fd = -1;
}

void ivsd_region_close(struct ivsd_region *r)
{
	r->rw_fd = ivs_close(r->rw_fd);
	r->ro_fd = ivs_close(r->ro_fd);
}

/* A read-only mapping of the first page proves the kernel lets the fd be
 * mapped at all (strict devmem, lockdown). */
static int trial_map(int fd, uint64_t off)
{
	size_t page = ivs_page_size();
	void *m = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)off);
	if (m == MAP_FAILED)
		return -errno;
	munmap(m, page);
	return 0;
}

static int open_pci(ivshmem_ep *ep, unsigned bar, struct ivsd_region *r)
{
	ivshmem_pci_dev *pci = ivshmem_pci(ep);
	struct ivshmem_bar_info info;
	int ret = ivshmem_pci_bar_info(pci, bar, &info);
	if (ret < 0)
		return ret;
	if (!(info.flags & IVSHMEM_BAR_F_PRESENT) || info.size == 0)
		return -ENODEV;
	if (bar == IVSHMEM_BAR_REGS && info.size > 4096)
		info.size = 4096;
	/* Write-combining for clients when the daemon's own mapping is. */
	enum ivshmem_cache want = bar == IVSHMEM_BAR_SHM && ivshmem_mem_cache(ep) == IVSHMEM_CACHE_WC
					  ? IVSHMEM_CACHE_WC
					  : IVSHMEM_CACHE_UC;
	ret = ivs_pci_bar_open(pci, bar, want, O_RDONLY, &r->cache, r->source, sizeof(r->source));
	if (ret < 0)
		return ret;
	r->ro_fd = ret;
	ret = ivs_pci_bar_open(pci, bar, r->cache, O_RDWR, NULL, NULL, 0);
	r->rw_fd = ret < 0 ? -1 : ret;
	r->size = info.size;
	r->off = 0;
	return trial_map(r->ro_fd, 0) < 0 ? -ENOTSUP : 0;
}

/* Find the mapping that holds addr in /proc/self/maps. */
static int find_vma(const void *addr, size_t len, uintptr_t *start, uintptr_t *end, uint64_t *pgoff)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[4096];
	int r = -ENOENT;
	uintptr_t a = (uintptr_t)addr;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		unsigned long long off;
		char perms[8];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx", &s, &e, perms, &off) != 4)
			continue;
		if (a < s || a >= e)
			continue;
		if (len > e - a)
			r = -ERANGE; /* split mapping: not one object */
		else {
			*start = s;
			*end = e;
			*pgoff = off;
			r = 0;
		}
		break;
	}
	fclose(f);
	return r;
}

static int open_mapped(ivshmem_ep *ep, struct ivsd_region *r)
{
	uintptr_t s, e;
	uint64_t pgoff;
	void *mem = ivshmem_mem(ep);
	size_t size = ivshmem_mem_size(ep);
	int mem_fd = ivs_ep_mem_fd(ep);
	int ret = find_vma(mem, size, &s, &e, &pgoff);
	if (ret < 0)
		return ret;
	char path[96];
	/* The endpoint's own fd first: reopening /proc/self/fd/N needs no
	 * privilege, /proc/self/map_files needs CAP_SYS_ADMIN. */
	if (mem_fd >= 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", mem_fd);
	else
		snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIxPTR "-%" PRIxPTR, s, e);
	r->ro_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->ro_fd < 0 && ivshmem_pci(ep)) {
		/* No map_files (old kernel, no CAP_SYS_ADMIN): the file by name. */
		snprintf(path, sizeof(path), "%s", ivshmem_pci_addr(ivshmem_pci(ep)));
		r->ro_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (r->ro_fd < 0)
		return -errno;
	if (ivshmem_mem_readonly(ep) == 0) {
		r->rw_fd = open(path, O_RDWR | O_CLOEXEC);
		if (r->rw_fd < 0 && mem_fd >= 0) /* inode mode says no: share ours */
			r->rw_fd = fcntl(mem_fd, F_DUPFD_CLOEXEC, 0);
	}
	char target[96] = "";
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	snprintf(r->source, sizeof(r->source), "%s", n > 0 ? target : path);
	r->off = pgoff + ((uintptr_t)mem - s);
	r->size = size;
	r->cache = IVSHMEM_CACHE_WB;
	if (r->off % ivs_page_size())
		return -ENOTSUP;
	struct stat st;
	if (fstat(r->ro_fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < r->off + r->size)
		return -ENOTSUP; /* not a plain file/memfd we understand */
	/* Anyone holding an fd may reopen it through /proc/self/fd/N with the
	 * access the inode's mode allows.  A memfd is created 0777: take write
	 * away from group and others, or a read-only client could undo its
	 * read-only fd.  (Named files: their mode is the administrator's.) */
	if (st.st_nlink == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)))
		if (fchmod(r->ro_fd, st.st_mode & 07755) < 0)
			return -errno;
	return 0;
}

int ivsd_region_open(ivshmem_ep *ep, unsigned bar, struct ivsd_region *r)
{
	region_init(r);
	ivshmem_pci_dev *pci = ivshmem_pci(ep);
	int ret;
	if (pci && ivshmem_pci_backend(pci) != IVSHMEM_BACKEND_FILE)
		ret = open_pci(ep, bar, r);
	else if (bar != IVSHMEM_BAR_SHM)
		ret = -ENODEV; /* files and server peers have no registers */
	else
		ret = open_mapped(ep, r);
	if (ret < 0) {
		char keep[sizeof(r->source)];
		memcpy(keep, r->source, sizeof(keep));
		ivsd_region_close(r);
		memcpy(r->source, keep, sizeof(keep));
	}
	return ret;
}
