/* SPDX-License-Identifier: MIT */
/* The vfio backend: a device bound to vfio-pci, reached through its IOMMU
 * group (/dev/vfio/GROUP, or /dev/vfio/noiommu-GROUP in the kernel's unsafe
 * no-IOMMU mode) attached to a container (/dev/vfio/vfio).  BARs and config
 * space are regions of the device fd; MSI-X vectors are delivered to
 * eventfds.  See Linux Documentation/driver-api/vfio.rst and
 * include/uapi/linux/vfio.h. */
#include "pci/pci-backend.h"

#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VFIO_DEV_DIR "/dev/vfio"

/* Standard PCI BAR register bits. */
#define BAR_REG_0 0x10
#define BAR_IO 0x1u
#define BAR_MEM_TYPE_MASK 0x6u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define BAR_IO_ADDR_MASK (~0x3u)
#define BAR_MEM_ADDR_MASK (~0xfu)

struct vfio_area {
	uint64_t offset, size;
};

struct vfio_region {
	uint64_t offset; /* of the region in the device fd */
	uint64_t size;
	uint32_t flags;	       /* VFIO_REGION_INFO_FLAG_* */
	struct vfio_area *sparse; /* mmap-able areas, NULL = whole region */
	uint32_t nr_sparse;
	bool has_sparse;
};

struct vfio_priv {
	int container_fd, group_fd, device_fd;
	struct vfio_region bars[6];
	struct vfio_region cfg;
	struct ivshmem_bar_info info[6];
	uint32_t msix_count;
	int *irq_fds; /* MSI-X eventfds once enabled */
	unsigned nr_irq_fds;
};

/* Last component of a symlink's target (a driver name, a group number). */
static int link_base(const char *path, char *out, size_t size)
{
	char link[512];
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	const char *base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (!*base || strlen(base) >= size)
		return -EINVAL;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

static int find_group(ivshmem_pci_dev *dev, unsigned *group)
{
	char path[512], name[32];
	int r = ivs_sysfs_dev_path(dev, path, sizeof(path), "iommu_group");
	if (r < 0)
		return r;
	r = link_base(path, name, sizeof(name));
	if (r == -ENOENT || r == -EINVAL)
		return -ENXIO; /* no IOMMU group: vfio can't have the device */
	if (r < 0)
		return r;
	char *end;
	errno = 0;
	unsigned long g = strtoul(name, &end, 10);
	if (errno || end == name || *end || g > INT_MAX)
		return -ENXIO;
	*group = (unsigned)g;
	return 0;
}

static int check_driver(ivshmem_pci_dev *dev)
{
	char path[512], name[64];
	int r = ivs_sysfs_dev_path(dev, path, sizeof(path), "driver");
	if (r < 0)
		return r;
	r = link_base(path, name, sizeof(name));
	if (r == -ENOENT || r == -EINVAL)
		return -ENODEV; /* no driver bound */
	if (r < 0)
		return r;
	return strcmp(name, "vfio-pci") == 0 ? 0 : -ENODEV;
}

/* Open the group's character device.  *noiommu tells which kind it is. */
static int open_group(unsigned group, bool *noiommu)
{
	char path[64];
	snprintf(path, sizeof(path), VFIO_DEV_DIR "/%u", group);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		*noiommu = false;
		return fd;
	}
	if (errno != ENOENT)
		return -errno; /* EBUSY: another process has the group */
	snprintf(path, sizeof(path), VFIO_DEV_DIR "/noiommu-%u", group);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		*noiommu = true;
		return fd;
	}
	return errno == ENOENT ? -ENODEV : -errno;
}

static int open_container(void)
{
	int fd = open(VFIO_DEV_DIR "/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : -errno; /* vfio not loaded */
	int v = ioctl(fd, VFIO_GET_API_VERSION);
	if (v != VFIO_API_VERSION) {
		ivs_close(fd);
		return -ENOTSUP;
	}
	return fd;
}

/* Pick an IOMMU model the container supports.  Returns it or -ENOTSUP. */
static int pick_iommu(int container_fd, bool noiommu)
{
	static const int typed[] = {VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU};
	if (noiommu)
		return ioctl(container_fd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) > 0
			       ? VFIO_NOIOMMU_IOMMU
			       : -ENOTSUP;
	for (size_t i = 0; i < IVS_ARRAY_SIZE(typed); i++)
		if (ioctl(container_fd, VFIO_CHECK_EXTENSION, typed[i]) > 0)
			return typed[i];
	return -ENOTSUP;
}

/* Parse the capability chain of a region info for sparse mmap areas. */
static int parse_region_caps(const struct vfio_region_info *ri, struct vfio_region *reg)
{
	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return 0;
	const uint8_t *base = (const uint8_t *)ri;
	uint32_t off = ri->cap_offset;
	for (int guard = 0; off && guard < 64; guard++) {
		if (off < sizeof(*ri) || off > ri->argsz ||
		    ri->argsz - off < sizeof(struct vfio_info_cap_header) || (off & 3))
			return -EIO;
		struct vfio_info_cap_header h;
		memcpy(&h, base + off, sizeof(h));
		if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && h.version >= 1 && !reg->has_sparse) {
			struct vfio_region_info_cap_sparse_mmap sp;
			if (ri->argsz - off < sizeof(sp))
				return -EIO;
			memcpy(&sp, base + off, sizeof(sp));
			size_t room = (ri->argsz - off - sizeof(sp)) /
				      sizeof(struct vfio_region_sparse_mmap_area);
			if (sp.nr_areas > room)
				return -EIO;
			reg->has_sparse = true;
			if (sp.nr_areas) {
				reg->sparse = calloc(sp.nr_areas, sizeof(*reg->sparse));
				if (!reg->sparse)
					return -ENOMEM;
			}
			for (uint32_t i = 0; i < sp.nr_areas; i++) {
				struct vfio_region_sparse_mmap_area a;
				memcpy(&a, base + off + sizeof(sp) + i * sizeof(a), sizeof(a));
				reg->sparse[i].offset = a.offset;
				reg->sparse[i].size = a.size;
			}
			reg->nr_sparse = sp.nr_areas;
		}
		off = h.next;
	}
	return 0;
}

static int get_region(int device_fd, uint32_t index, struct vfio_region *reg)
{
	struct vfio_region_info *ri = calloc(1, sizeof(*ri));
	if (!ri)
		return -ENOMEM;
	ri->argsz = sizeof(*ri);
	ri->index = index;
	int r = 0;
	if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
		r = -errno;
		goto out;
	}
	if ((ri->flags & VFIO_REGION_INFO_FLAG_CAPS) && ri->argsz > sizeof(*ri)) {
		/* Capabilities don't fit: ask again with the size the kernel
		 * wants. */
		uint32_t need = ri->argsz;
		if (need > 65536) {
			r = -EIO;
			goto out;
		}
		struct vfio_region_info *big = calloc(1, need);
		if (!big) {
			r = -ENOMEM;
			goto out;
		}
		free(ri);
		ri = big;
		ri->argsz = need;
		ri->index = index;
		if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
			r = -errno;
			goto out;
		}
		if (ri->argsz > need) {
			r = -EIO; /* changed under us */
			goto out;
		}
		ri->argsz = need; /* bound the cap walk by what we own */
	} else {
		ri->argsz = sizeof(*ri);
		ri->cap_offset = 0; /* no room for a chain */
	}
	reg->offset = ri->offset;
	reg->size = ri->size;
	reg->flags = ri->flags;
	r = parse_region_caps(ri, reg);
out:
	free(ri);
	return r;
}

static int cfg_read(struct vfio_priv *p, unsigned off, void *buf, size_t len)
{
	if (off >= p->cfg.size)
		return -ERANGE;
	if (len > p->cfg.size - off)
		len = (size_t)(p->cfg.size - off);
	ssize_t n = ivs_pread_all(p->device_fd, buf, len, (off_t)(p->cfg.offset + off));
	return (int)n;
}

/* Decode type, address and flags of each BAR from config space. */
static int decode_bars(struct vfio_priv *p)
{
	uint32_t regs[6];
	int n = cfg_read(p, BAR_REG_0, regs, sizeof(regs));
	if (n < 0)
		return n;
	if (n != (int)sizeof(regs))
		return -EIO;
	for (unsigned i = 0; i < 6; i++) {
		struct ivshmem_bar_info *b = &p->info[i];
		const struct vfio_region *reg = &p->bars[i];
		b->index = i;
		if (reg->size == 0)
			continue; /* unimplemented, or the upper half of a 64-bit BAR */
		b->flags = IVSHMEM_BAR_F_PRESENT;
		b->size = reg->size;
		uint32_t v = le32toh(regs[i]); /* config space is little-endian */
		if (v & BAR_IO) {
			b->flags |= IVSHMEM_BAR_F_IO;
			b->bus_addr = v & BAR_IO_ADDR_MASK;
			continue;
		}
		b->bus_addr = v & BAR_MEM_ADDR_MASK;
		if ((v & BAR_MEM_TYPE_MASK) == BAR_MEM_TYPE_64) {
			b->flags |= IVSHMEM_BAR_F_64BIT;
			if (i < 5)
				b->bus_addr |= (uint64_t)le32toh(regs[i + 1]) << 32;
		}
		if (v & BAR_MEM_PREFETCH)
			b->flags |= IVSHMEM_BAR_F_PREFETCH;
		if (reg->flags & VFIO_REGION_INFO_FLAG_MMAP)
			b->flags |= IVSHMEM_BAR_F_MMAP;
	}
	return 0;
}

static void free_priv(struct vfio_priv *p)
{
	if (p->irq_fds) {
		struct vfio_irq_set off = {
			.argsz = sizeof(off),
			.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSIX_IRQ_INDEX,
			.start = 0,
			.count = 0,
		};
		if (p->device_fd >= 0)
			(void)ioctl(p->device_fd, VFIO_DEVICE_SET_IRQS, &off);
		for (unsigned i = 0; i < p->nr_irq_fds; i++)
			ivs_close(p->irq_fds[i]);
		free(p->irq_fds);
	}
	for (unsigned i = 0; i < 6; i++)
		free(p->bars[i].sparse);
	free(p->cfg.sparse);
	ivs_close(p->device_fd);
	ivs_close(p->group_fd); /* detaches the group from the container */
	ivs_close(p->container_fd);
	free(p);
}

static int vfio_open(ivshmem_pci_dev *dev)
{
	unsigned group;
	int r = find_group(dev, &group);
	if (r < 0)
		return r;
	r = check_driver(dev);
	if (r < 0)
		return r;

	struct vfio_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->container_fd = p->group_fd = p->device_fd = -1;

	r = open_container();
	if (r < 0)
		goto fail;
	p->container_fd = r;

	bool noiommu = false;
	r = open_group(group, &noiommu);
	if (r < 0)
		goto fail;
	p->group_fd = r;

	struct vfio_group_status st = {.argsz = sizeof(st)};
	if (ioctl(p->group_fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		/* Other devices of the group are bound to host drivers. */
		r = -EBUSY;
		goto fail;
	}
	int iommu = pick_iommu(p->container_fd, noiommu);
	if (iommu < 0) {
		r = iommu;
		goto fail;
	}
	if (ioctl(p->group_fd, VFIO_GROUP_SET_CONTAINER, &p->container_fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (ioctl(p->container_fd, VFIO_SET_IOMMU, iommu) < 0) {
		r = -errno;
		goto fail;
	}
	int fd = ioctl(p->group_fd, VFIO_GROUP_GET_DEVICE_FD, dev->addr);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	p->device_fd = fd;
	/* The kernel sets close-on-exec on device fds; make sure anyway. */
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)) {
		r = -errno;
		goto fail;
	}

	struct vfio_device_info di = {.argsz = sizeof(di)};
	if (ioctl(p->device_fd, VFIO_DEVICE_GET_INFO, &di) < 0) {
		r = -errno;
		goto fail;
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		r = -ENODEV;
		goto fail;
	}
	for (unsigned i = 0; i < 6; i++) {
		r = get_region(p->device_fd, VFIO_PCI_BAR0_REGION_INDEX + i, &p->bars[i]);
		if (r < 0)
			goto fail;
	}
	r = get_region(p->device_fd, VFIO_PCI_CONFIG_REGION_INDEX, &p->cfg);
	if (r < 0)
		goto fail;
	if (p->cfg.size < 64) {
		r = -EIO;
		goto fail;
	}
	r = decode_bars(p);
	if (r < 0)
		goto fail;
	if (di.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX) {
		struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX};
		if (ioctl(p->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0) {
			r = -errno;
			goto fail;
		}
		if (ii.flags & VFIO_IRQ_INFO_EVENTFD)
			p->msix_count = ii.count;
	}
	dev->priv = p;
	return 0;
fail:
	free_priv(p);
	return r;
}

static void vfio_close(ivshmem_pci_dev *dev)
{
	struct vfio_priv *p = dev->priv;
	if (!p)
		return;
	free_priv(p);
	dev->priv = NULL;
}

static int vfio_config_read(ivshmem_pci_dev *dev, unsigned off, void *buf, size_t len)
{
	return cfg_read(dev->priv, off, buf, len);
}

static int vfio_config_write(ivshmem_pci_dev *dev, unsigned off, const void *buf, size_t len)
{
	struct vfio_priv *p = dev->priv;
	if (!(p->cfg.flags & VFIO_REGION_INFO_FLAG_WRITE))
		return -EACCES;
	if (off >= p->cfg.size)
		return -ERANGE;
	if (len > p->cfg.size - off)
		len = (size_t)(p->cfg.size - off);
	ssize_t n = ivs_pwrite_all(p->device_fd, buf, len, (off_t)(p->cfg.offset + off));
	return (int)n;
}

static int vfio_bar_info(ivshmem_pci_dev *dev, unsigned bar, struct ivshmem_bar_info *out)
{
	struct vfio_priv *p = dev->priv;
	*out = p->info[bar];
	return 0;
}

/* Is [start, end) inside one of the region's mmap-able areas? */
static bool mmap_allowed(const struct vfio_region *reg, uint64_t start, uint64_t end)
{
	if (!reg->has_sparse)
		return true;
	for (uint32_t i = 0; i < reg->nr_sparse; i++) {
		const struct vfio_area *a = &reg->sparse[i];
		if (start >= a->offset && end <= a->offset + a->size && a->offset + a->size >= a->offset)
			return true;
	}
	return false;
}

static int vfio_map(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, size_t len,
		    enum ivshmem_cache want, unsigned flags, void **addr, enum ivshmem_cache *got)
{
	struct vfio_priv *p = dev->priv;
	const struct vfio_region *reg = &p->bars[bar];
	/* vfio-pci maps BARs uncached, whatever the BAR's prefetch bit. */
	if (want != IVSHMEM_CACHE_DEFAULT && want != IVSHMEM_CACHE_UC)
		return -ENOTSUP;
	if (!(reg->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -ENOTSUP;
	bool ro = flags & IVSHMEM_MAP_READONLY;
	if (!(reg->flags & VFIO_REGION_INFO_FLAG_READ) ||
	    (!ro && !(reg->flags & VFIO_REGION_INFO_FLAG_WRITE)))
		return -EACCES;
	uint64_t page = ivs_page_size();
	uint64_t delta = off % page;
	uint64_t start = off - delta;
	if (len > SIZE_MAX - delta)
		return -ERANGE;
	if (!mmap_allowed(reg, start, off + len))
		return -ENOTSUP; /* e.g. the MSI-X table of the BAR */
	if (reg->offset > (uint64_t)INT64_MAX - start)
		return -ERANGE;
	void *m = mmap(NULL, len + delta, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
		       p->device_fd, (off_t)(reg->offset + start));
	if (m == MAP_FAILED)
		return -errno;
	*addr = (char *)m + delta;
	*got = IVSHMEM_CACHE_UC;
	return 0;
}

/* Register access through the device fd: vfio-pci turns a naturally aligned
 * pread/pwrite of 1, 2, 4 (and, where the kernel has 64-bit BAR access, 8)
 * bytes into one access of that width, and splits anything else. */
static int vfio_bar_rw(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf, size_t len,
		       bool write)
{
	struct vfio_priv *p = dev->priv;
	const struct vfio_region *reg = &p->bars[bar];
	if (!(reg->flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
		return -EACCES;
	if (reg->offset > (uint64_t)INT64_MAX - off)
		return -ERANGE;
	off_t at = (off_t)(reg->offset + off);
	ssize_t n = write ? ivs_pwrite_all(p->device_fd, buf, len, at)
			  : ivs_pread_all(p->device_fd, buf, len, at);
	if (n >= 0 && (size_t)n < len)
		return -EIO; /* the region ended early: the device is not what it said */
	return (int)n;
}

static int vfio_msix_count(ivshmem_pci_dev *dev)
{
	struct vfio_priv *p = dev->priv;
	return p->msix_count > INT_MAX ? INT_MAX : (int)p->msix_count;
}

static int vfio_msix_enable(ivshmem_pci_dev *dev, unsigned n, int *fds)
{
	struct vfio_priv *p = dev->priv;
	if (p->irq_fds)
		return -EBUSY; /* already enabled: its fds are in use */
	if (n > p->msix_count)
		return p->msix_count ? -EINVAL : -ENOTSUP;
	int *efds = calloc(n, sizeof(*efds));
	size_t argsz = sizeof(struct vfio_irq_set) + (size_t)n * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, argsz);
	int r = 0;
	unsigned made = 0;
	if (!efds || !set) {
		r = -ENOMEM;
		goto fail;
	}
	for (; made < n; made++) {
		r = ivs_eventfd();
		if (r < 0)
			goto fail;
		efds[made] = r;
	}
	set->argsz = (uint32_t)argsz;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = n;
	for (unsigned i = 0; i < n; i++) {
		int32_t v = efds[i];
		memcpy(set->data + i * sizeof(v), &v, sizeof(v));
	}
	if (ioctl(p->device_fd, VFIO_DEVICE_SET_IRQS, set) < 0) {
		r = -errno;
		goto fail;
	}
	free(set);
	p->irq_fds = efds;
	p->nr_irq_fds = n;
	memcpy(fds, efds, n * sizeof(*fds));
	return 0;
fail:
	for (unsigned i = 0; i < made; i++)
		ivs_close(efds[i]);
	free(efds);
	free(set);
	return r;
}

const struct ivs_pci_ops ivs_pci_vfio_ops = {
	.name = "vfio",
	.id = IVSHMEM_BACKEND_VFIO,
	.open = vfio_open,
	.close = vfio_close,
	.config_read = vfio_config_read,
	.config_write = vfio_config_write,
	.bar_info = vfio_bar_info,
	.map = vfio_map,
	.bar_rw = vfio_bar_rw,
	.msix_count = vfio_msix_count,
	.msix_enable = vfio_msix_enable,
	/* Never the device fd: it would give the whole device (config
	 * space, reset, interrupts).  The resource files exist whatever the
	 * driver (with CONFIG_IO_STRICT_DEVMEM, a BAR vfio-pci claimed can't
	 * be mapped through them: callers try). */
	.bar_open = ivs_sysfs_bar_open,
};
