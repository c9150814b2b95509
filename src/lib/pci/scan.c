/* SPDX-License-Identifier: MIT */
/* Enumerating PCI devices and reading their identity from sysfs.  The sysfs
 * root is "/sys", or IVSHMEM_SYSFS_ROOT (read here only) so that unit tests
 * can use fake trees. */
#include "pci/pci-backend.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One hex field ending at a separator in seps (or at the end of the string
 * when seps has '\0'): at least one digit, value at most 0xffff (larger
 * values are refused, not wrapped as sscanf's %x into an unsigned would). */
static const char *hex_field(const char *s, unsigned *out)
{
	unsigned v = 0;
	const char *p = s;
	for (; isxdigit((unsigned char)*p); p++) {
		unsigned d = isdigit((unsigned char)*p) ? (unsigned)(*p - '0')
							 : (unsigned)(tolower((unsigned char)*p) - 'a' + 10);
		v = v * 16 + d;
		if (v > 0xffff)
			return NULL;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

int ivshmem_pci_addr_parse(const char *s, char out[IVSHMEM_PCI_ADDR_LEN])
{
	if (!s || !out)
		return -EINVAL;
	/* [[dddd:]bb:]dd.f: up to two ':'-terminated fields, then "dd.f". */
	unsigned f[4], nf = 0;
	const char *p = s;
	for (;;) {
		p = hex_field(p, &f[nf]);
		if (!p)
			return -EINVAL;
		nf++;
		if (*p == ':' && nf < 3) {
			p++;
			continue;
		}
		break;
	}
	if (*p != '.' || !(p = hex_field(p + 1, &f[nf])) || *p)
		return -EINVAL;
	unsigned dom = nf == 3 ? f[0] : 0, bus = nf >= 2 ? f[nf - 2] : 0, dev = f[nf - 1], fn = f[nf];
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, IVSHMEM_PCI_ADDR_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

const char *ivs_sysfs_root(void)
{
	/* secure_getenv: a set-uid or otherwise elevated program ignores it. */
	const char *r = secure_getenv("IVSHMEM_SYSFS_ROOT");
	return r && r[0] == '/' ? r : "/sys";
}

int ivs_sysfs_path(const char *root, const char *addr, char *buf, size_t size, const char *attr)
{
	return ivs_path(buf, size, "%s/bus/pci/devices/%s%s%s", root ? root : "/sys", addr,
			attr ? "/" : "", attr ? attr : "");
}

int ivs_sysfs_dev_path(const ivshmem_pci_dev *dev, char *buf, size_t size, const char *attr)
{
	return ivs_sysfs_path(dev->sysfs_root, dev->addr, buf, size, attr);
}

static int read_id(const char *root, const char *addr, const char *attr, uint64_t max, uint64_t *v)
{
	char path[512];
	int r = ivs_sysfs_path(root, addr, path, sizeof(path), attr);
	if (r < 0)
		return r;
	r = ivs_read_hex(path, v);
	if (r < 0)
		return r;
	return *v > max ? -EINVAL : 0;
}

int ivs_sysfs_lookup(const char *root, const char *addr, struct ivshmem_pci_info *out)
{
	if (!addr || !out)
		return -EINVAL;
	struct ivshmem_pci_info info = {.iommu_group = -1};
	int r = ivshmem_pci_addr_parse(addr, info.addr);
	if (r < 0)
		return r;
	char path[512];
	r = ivs_sysfs_path(root, info.addr, path, sizeof(path), NULL);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return -errno;
	uint64_t v;
	if ((r = read_id(root, info.addr, "vendor", 0xffff, &v)) < 0)
		return r;
	info.vendor = (uint16_t)v;
	if ((r = read_id(root, info.addr, "device", 0xffff, &v)) < 0)
		return r;
	info.device = (uint16_t)v;
	/* The rest is optional: old kernels and fake trees may lack it. */
	if (read_id(root, info.addr, "subsystem_vendor", 0xffff, &v) == 0)
		info.subsystem_vendor = (uint16_t)v;
	if (read_id(root, info.addr, "subsystem_device", 0xffff, &v) == 0)
		info.subsystem_device = (uint16_t)v;
	if (read_id(root, info.addr, "class", 0xffffff, &v) == 0)
		info.class_code = (uint32_t)v;
	if (read_id(root, info.addr, "revision", 0xff, &v) == 0) {
		info.revision = (uint8_t)v;
	} else {
		/* No revision attribute: take it from config space byte 8. */
		uint8_t cfg[9];
		if (ivs_sysfs_path(root, info.addr, path, sizeof(path), "config") == 0) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				if (ivs_pread_all(fd, cfg, sizeof(cfg), 0) == (ssize_t)sizeof(cfg))
					info.revision = cfg[8];
				ivs_close(fd);
			}
		}
	}
	char link[512];
	if (ivs_sysfs_path(root, info.addr, path, sizeof(path), "driver") == 0) {
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			const char *base = strrchr(link, '/');
			snprintf(info.driver, sizeof(info.driver), "%.63s", base ? base + 1 : link);
		}
	}
	if (ivs_sysfs_path(root, info.addr, path, sizeof(path), "iommu_group") == 0) {
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			const char *base = strrchr(link, '/');
			char *end;
			long g = strtol(base ? base + 1 : link, &end, 10);
			if (*end == '\0' && g >= 0 && g < INT32_MAX)
				info.iommu_group = (int)g;
		}
	}
	*out = info;
	return 0;
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct ivshmem_pci_info *)a)->addr,
		      ((const struct ivshmem_pci_info *)b)->addr);
}

int ivshmem_pci_lookup(const char *addr, struct ivshmem_pci_info *out)
{
	return ivs_sysfs_lookup(ivs_sysfs_root(), addr, out);
}

int ivshmem_pci_scan(uint16_t vendor, uint16_t device, struct ivshmem_pci_info *out, size_t max)
{
	if (!out && max)
		return -EINVAL;
	const char *root = ivs_sysfs_root();
	char path[512];
	int r = ivs_path(path, sizeof(path), "%s/bus/pci/devices", root);
	if (r < 0)
		return r;
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno; /* no PCI bus: no devices */
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct ivshmem_pci_info info;
		if (ivs_sysfs_lookup(root, e->d_name, &info) < 0)
			continue; /* unreadable or malformed entry: skip it */
		if (vendor != 0xffff && info.vendor != vendor)
			continue;
		if (device != 0xffff && info.device != device)
			continue;
		if (count < max) {
			out[count] = info;
		} else if (max) {
			/* Full: keep the max lowest addresses, whatever the
			 * directory order. */
			size_t hi = 0;
			for (size_t i = 1; i < max; i++)
				if (strcmp(out[i].addr, out[hi].addr) > 0)
					hi = i;
			if (strcmp(info.addr, out[hi].addr) < 0)
				out[hi] = info;
		}
		if (count < INT32_MAX)
			count++;
	}
	closedir(d);
	if (count && max)
		qsort(out, IVS_MIN(count, max), sizeof(*out), cmp_info);
	return (int)count;
}

int ivs_sysfs_resources(const char *root, const char *addr, struct ivshmem_bar_info bars[6])
{
	char path[512];
	int r = ivs_sysfs_path(root, addr, path, sizeof(path), "resource");
	if (r < 0)
		return r;
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(bars, 0, 6 * sizeof(bars[0]));
	char line[256];
	unsigned i = 0;
	r = 0;
	while (i < 6 && fgets(line, sizeof(line), f)) {
		uint64_t start, end, flags;
		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end, &flags) != 3) {
			r = -EINVAL;
			break;
		}
		bars[i].index = i;
		if (end < start || (start == 0 && end == UINT64_MAX)) {
			if (start != 0 || end != 0) {
				r = -EINVAL; /* nonsense range (size would wrap) */
				break;
			}
		}
		if (end > start || (end == start && start != 0)) {
			/* Linux IORESOURCE_* bits: IO 0x100, MEM 0x200,
			 * PREFETCH 0x2000, MEM_64 0x100000. */
			bars[i].flags = IVSHMEM_BAR_F_PRESENT;
			if (flags & 0x100)
				bars[i].flags |= IVSHMEM_BAR_F_IO;
			if (flags & 0x2000)
				bars[i].flags |= IVSHMEM_BAR_F_PREFETCH;
			if (flags & 0x100000)
				bars[i].flags |= IVSHMEM_BAR_F_64BIT;
			bars[i].size = end - start + 1;
			bars[i].bus_addr = start;
		}
		i++;
	}
	fclose(f);
	return r;
}
