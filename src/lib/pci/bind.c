/* SPDX-License-Identifier: MIT */
/* Binding a device to a driver through driver_override, as dpdk-devbind
 * does: set the override, unbind from the current driver, ask the PCI core
 * to probe again, then check where the device landed.  The sysfs root is
 * ivs_sysfs_root(), so tests can use a fake tree. */
#include "pci/pci-backend.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Name of the driver the device is bound to ("" if none). */
static int current_driver(const char *root, const char *addr, char *out, size_t size)
{
	char path[512], link[512];
	int r = ivs_sysfs_path(root, addr, path, sizeof(path), "driver");
	if (r < 0)
		return r;
	out[0] = '\0';
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	link[n] = '\0';
	const char *base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

/* Is vfio's unsafe no-IOMMU mode on (module parameter)? */
static bool noiommu_mode(const char *root)
{
	char path[512], v[16];
	if (ivs_path(path, sizeof(path), "%s/module/vfio/parameters/enable_unsafe_noiommu_mode",
		     root) < 0)
		return false;
	return ivs_read_text(path, v, sizeof(v)) > 0 && (v[0] == 'Y' || v[0] == 'y' || v[0] == '1');
}

static bool valid_driver_name(const char *d)
{
	size_t len = strlen(d);
	if (len == 0 || len >= 64 || strcmp(d, ".") == 0 || strcmp(d, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (d[i] == '/' || d[i] == '\n' || (unsigned char)d[i] < 0x20)
			return false;
	return true;
}

/* Ask the PCI core to probe the device: drivers_probe honours
 * driver_override; fall back to the driver's own bind file. */
static int probe(const char *root, const char *addr, const char *driver)
{
	char path[512];
	int r = ivs_path(path, sizeof(path), "%s/bus/pci/drivers_probe", root);
	if (r < 0)
		return r;
	r = ivs_write_text(path, addr);
	if (r == 0 || r == -EACCES || r == -EPERM)
		return r;
	if (!driver)
		return r;
	r = ivs_path(path, sizeof(path), "%s/bus/pci/drivers/%s/bind", root, driver);
	if (r < 0)
		return r;
	return ivs_write_text(path, addr);
}

int ivshmem_pci_bind(const char *addr, const char *driver)
{
	if (!addr)
		return -EINVAL;
	if (!driver)
		driver = "vfio-pci";
	if (!valid_driver_name(driver))
		return -EINVAL;
	const char *root = ivs_sysfs_root();
	char canon[IVSHMEM_PCI_ADDR_LEN];
	int r = ivshmem_pci_addr_parse(addr, canon);
	if (r < 0)
		return r;

	char dev[512], path[512];
	struct stat st;
	r = ivs_sysfs_path(root, canon, dev, sizeof(dev), NULL);
	if (r < 0)
		return r;
	if (access(dev, F_OK) < 0)
		return -errno;

	if (strcmp(driver, "vfio-pci") == 0) {
		/* vfio-pci refuses devices without an IOMMU group, unless vfio
		 * runs in no-IOMMU mode (then it makes the group itself). */
		r = ivs_sysfs_path(root, canon, path, sizeof(path), "iommu_group");
		if (r < 0)
			return r;
		if (lstat(path, &st) < 0) {
			if (errno != ENOENT)
				return -errno;
			if (!noiommu_mode(root))
				return -ENXIO;
		}
	}
	r = ivs_path(path, sizeof(path), "%s/bus/pci/drivers/%s", root, driver);
	if (r < 0)
		return r;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENODEV; /* driver module not loaded */

	char cur[256];
	r = current_driver(root, canon, cur, sizeof(cur));
	if (r < 0)
		return r;
	if (strcmp(cur, driver) == 0)
		return 0;

	r = ivs_sysfs_path(root, canon, path, sizeof(path), "driver_override");
	if (r < 0)
		return r;
	r = ivs_write_text(path, driver);
	if (r == -ENOENT)
		return -ENOTSUP; /* kernel older than 3.16 */
	if (r < 0)
		return r;

	if (cur[0]) {
		r = ivs_sysfs_path(root, canon, path, sizeof(path), "driver/unbind");
		if (r == 0)
			r = ivs_write_text(path, canon);
		if (r < 0)
			goto restore;
	}
	r = probe(root, canon, driver);
	if (r == -EACCES || r == -EPERM)
		goto restore;
	/* A failed probe write is judged by where the device ended up. */
	r = current_driver(root, canon, cur, sizeof(cur));
	if (r < 0)
		goto restore;
	if (strcmp(cur, driver) == 0)
		return 0;
	r = -EIO;

restore:
	/* Best effort: drop the override, and if we left the device without a
	 * driver, let its previous driver take it back. */
	if (ivs_sysfs_path(root, canon, path, sizeof(path), "driver_override") == 0)
		(void)ivs_write_text(path, "\n");
	if (current_driver(root, canon, cur, sizeof(cur)) == 0 && !cur[0])
		(void)probe(root, canon, NULL);
	return r;
}
