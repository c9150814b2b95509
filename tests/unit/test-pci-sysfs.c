/* SPDX-License-Identifier: MIT */
/* The PCI layer on fake sysfs trees: scan, lookup, address parsing, the
 * sysfs backend (BARs, mapping, config space, MSI-X count), endpoint device
 * checks, binding, and the vfio backend's checks that come before /dev/vfio. */
#include "ivshmem.h"
#include "endpoint/endpoint.h" /* ivs_ep_open, IVS_OPEN_REGS_NO_MAP */
#include "../tap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------- */
/* Building fake trees                                                     */
/* ---------------------------------------------------------------------- */

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][1024];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(bufs[0])) {
		errno = ENAMETOOLONG;
		die("fmt");
	}
	return b;
}

static void mkdirs(const char *path)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			die(tmp);
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		die(tmp);
}

static void put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path);
	if (len && write(fd, data, len) != (ssize_t)len)
		die(path);
	close(fd);
}

static void put_text(const char *path, const char *s)
{
	put(path, s, strlen(s));
}

static void put_sized(const char *path, off_t size)
{
	put(path, NULL, 0);
	if (truncate(path, size) < 0)
		die(path);
}

static void link_to(const char *target, const char *path)
{
	if (symlink(target, path) < 0)
		die(path);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fake sysfs tree, made the library's root through IVSHMEM_SYSFS_ROOT
 * until free_root. */
static char *new_root(void)
{
	char tmpl[] = "/tmp/ivshmem-unit-XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp");
	if (setenv("IVSHMEM_SYSFS_ROOT", tmpl, 1) < 0)
		die("setenv");
	return strdup(tmpl);
}

static void free_root(char *root)
{
	unsetenv("IVSHMEM_SYSFS_ROOT");
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
}

struct bar {
	uint64_t start, end, flags; /* as in the sysfs "resource" file */
	bool file;		    /* create resourceN (sized like the BAR) */
};

#define RES_IO 0x40101ull
#define RES_MEM 0x40200ull
#define RES_MEM64_PREF 0x14220cull

struct fake_dev {
	const char *addr;
	uint16_t vendor, device;
	int revision;	    /* -1: no revision attribute */
	uint8_t cfg_rev;    /* revision byte in config space */
	size_t cfg_len;	    /* 0: no config file */
	int msix_vectors;   /* > 0: MSI-X capability in config space */
	const char *driver; /* NULL: unbound */
	int iommu_group;    /* -1: none */
	bool no_resource;   /* no "resource" file at all */
	struct bar bars[6];
};

static char *dev_dir(const char *root, const char *addr)
{
	return fmt("%s/devices/pci0000:00/%s", root, addr);
}

static void add_dev(const char *root, const struct fake_dev *d)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", dev_dir(root, d->addr));
	mkdirs(dir);
	mkdirs(fmt("%s/bus/pci/devices", root));
	link_to(fmt("../../../devices/pci0000:00/%s", d->addr),
		fmt("%s/bus/pci/devices/%s", root, d->addr));
	put_text(fmt("%s/vendor", dir), fmt("0x%04x\n", d->vendor));
	put_text(fmt("%s/device", dir), fmt("0x%04x\n", d->device));
	put_text(fmt("%s/subsystem_vendor", dir), "0x1af4\n");
	put_text(fmt("%s/subsystem_device", dir), "0x1100\n");
	put_text(fmt("%s/class", dir), "0x050000\n");
	put_text(fmt("%s/driver_override", dir), "");
	if (d->revision >= 0)
		put_text(fmt("%s/revision", dir), fmt("0x%02x\n", d->revision));
	if (d->cfg_len) {
		uint8_t cfg[4096] = {0};
		cfg[0] = (uint8_t)d->vendor;
		cfg[1] = (uint8_t)(d->vendor >> 8);
		cfg[2] = (uint8_t)d->device;
		cfg[3] = (uint8_t)(d->device >> 8);
		cfg[8] = d->cfg_rev;
		if (d->msix_vectors > 0) {
			/* A power-management capability, then MSI-X. */
			cfg[0x06] = 0x10; /* status: capability list */
			cfg[0x34] = 0x40;
			cfg[0x40] = 0x01;
			cfg[0x41] = 0x50;
			cfg[0x50] = 0x11;
			cfg[0x51] = 0x00;
			unsigned ctl = (unsigned)(d->msix_vectors - 1);
			cfg[0x52] = (uint8_t)ctl;
			cfg[0x53] = (uint8_t)(ctl >> 8);
		}
		put(fmt("%s/config", dir), cfg, d->cfg_len);
	}
	if (!d->no_resource) {
		char res[2048] = "";
		size_t n = 0;
		for (int i = 0; i < 6; i++)
			n += (size_t)snprintf(res + n, sizeof(res) - n,
					      "0x%016llx 0x%016llx 0x%016llx\n",
					      (unsigned long long)d->bars[i].start,
					      (unsigned long long)d->bars[i].end,
					      (unsigned long long)d->bars[i].flags);
		/* ROM and bridge windows, as the kernel prints them. */
		for (int i = 6; i < 13; i++)
			n += (size_t)snprintf(res + n, sizeof(res) - n,
					      "0x%016llx 0x%016llx 0x%016llx\n", 0ull, 0ull, 0ull);
		put_text(fmt("%s/resource", dir), res);
		for (int i = 0; i < 6; i++)
			if (d->bars[i].file)
				put_sized(fmt("%s/resource%d", dir, i),
					  (off_t)(d->bars[i].end - d->bars[i].start + 1));
	}
	if (d->driver) {
		mkdirs(fmt("%s/bus/pci/drivers/%s", root, d->driver));
		put_text(fmt("%s/bus/pci/drivers/%s/bind", root, d->driver), "");
		put_text(fmt("%s/bus/pci/drivers/%s/unbind", root, d->driver), "");
		link_to(fmt("../../../bus/pci/drivers/%s", d->driver), fmt("%s/driver", dir));
	}
	if (d->iommu_group >= 0) {
		mkdirs(fmt("%s/kernel/iommu_groups/%d", root, d->iommu_group));
		link_to(fmt("../../../kernel/iommu_groups/%d", d->iommu_group),
			fmt("%s/iommu_group", dir));
	}
}

/* An IVSHMEM device: BAR0 registers, BAR1 MSI-X (doorbell), BAR2 memory. */
static struct fake_dev ivshmem_dev(const char *addr, bool doorbell)
{
	struct fake_dev d = {
		.addr = addr,
		.vendor = IVSHMEM_VENDOR_ID,
		.device = IVSHMEM_DEVICE_ID,
		.revision = 1,
		.cfg_rev = 1,
		.cfg_len = 256,
		.msix_vectors = doorbell ? 4 : 0,
		.iommu_group = -1,
		.bars = {
			[0] = {0xfebf1000, 0xfebf10ff, RES_MEM, true},
			[2] = {0xfe000000, 0xfe0fffff, RES_MEM64_PREF, true},
		},
	};
	if (doorbell)
		d.bars[1] = (struct bar){0xfebf2000, 0xfebf2fff, RES_MEM, true};
	return d;
}

static struct fake_dev other_dev(const char *addr)
{
	struct fake_dev d = {
		.addr = addr,
		.vendor = 0x8086,
		.device = 0x100e,
		.revision = 3,
		.cfg_len = 256,
		.iommu_group = -1,
		.bars = {[0] = {0xfeb80000, 0xfeb9ffff, RES_MEM, true}},
	};
	return d;
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */
/* ---------------------------------------------------------------------- */

/* A string fit for a TAP description (newlines escaped). */
static const char *show(const char *s)
{
	static char buf[128];
	size_t n = 0;
	for (; *s && n + 3 < sizeof(buf); s++) {
		if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void test_addr_parse(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{"4.0", "0000:00:04.0"},
		{"00:04.0", "0000:00:04.0"},
		{"0000:00:04.0", "0000:00:04.0"},
		{"1:2:3.4", "0001:02:03.4"},
		{"ffff:ff:1f.7", "ffff:ff:1f.7"},
		{"0000:AF:1F.7", "0000:af:1f.7"},
		{"1f.7", "0000:00:1f.7"},
	};
	for (size_t i = 0; i < N(good); i++) {
		char out[IVSHMEM_PCI_ADDR_LEN] = "";
		int r = ivshmem_pci_addr_parse(good[i].in, out);
		ok(r == 0 && strcmp(out, good[i].out) == 0, "addr_parse(\"%s\") = %s", good[i].in,
		   good[i].out);
		if (r || strcmp(out, good[i].out))
			printf("#   r=%d out=\"%s\"\n", r, out);
	}
	static const char *const bad[] = {
		"", "4", "4.", ".0", "0000:00:20.0", "0000:00:04.8", "10000:00:04.0",
		"0000:100:04.0", "0000:00:04.0x", "g.0", " 4.0", "4.0 ", "4.0\n", "0000:00:04",
		"-1.0", "0x4.0", "0000:00:04.0.0", "1:2:3:4.0", "0000::04.0", "auto",
		/* Too large for the field: refused, not wrapped to 32 bits. */
		"100000000:00:04.0", "0:100000000.0", "1:100000004.0", "4.100000000",
		"0:0:4.100000007", "1000000000000000000:0:4.0",
	};
	for (size_t i = 0; i < N(bad); i++) {
		char out[IVSHMEM_PCI_ADDR_LEN] = "untouched";
		is(ivshmem_pci_addr_parse(bad[i], out), -EINVAL, "addr_parse(\"%s\") is -EINVAL",
		   show(bad[i]));
		ok(strcmp(out, "untouched") == 0, "addr_parse(\"%s\") leaves the output alone",
		   show(bad[i]));
	}
	char out[IVSHMEM_PCI_ADDR_LEN];
	is(ivshmem_pci_addr_parse(NULL, out), -EINVAL, "addr_parse(NULL) is -EINVAL");
}

static void test_scan_lookup(void)
{
	char *root = new_root();
	/* Created out of order: scan must sort. */
	struct fake_dev a = ivshmem_dev("0000:00:04.0", true);
	a.driver = "vfio-pci";
	a.iommu_group = 7;
	add_dev(root, &a);
	struct fake_dev b = ivshmem_dev("0000:00:03.0", false);
	b.revision = -1; /* revision from config space */
	b.cfg_rev = 0;
	add_dev(root, &b);
	struct fake_dev c = other_dev("0000:00:02.0");
	c.driver = "e1000";
	add_dev(root, &c);
	struct fake_dev e = ivshmem_dev("0001:00:01.0", false);
	e.revision = -1;
	e.cfg_rev = 1;
	add_dev(root, &e);

	/* Malformed entries are skipped. */
	mkdirs(fmt("%s/bus/pci/devices/garbage", root));
	put_text(fmt("%s/bus/pci/devices/garbage/vendor", root), "0x1af4\n");
	put_text(fmt("%s/bus/pci/devices/garbage/device", root), "0x1110\n");
	mkdirs(fmt("%s/bus/pci/devices/0000:00:07.0", root)); /* no vendor */
	mkdirs(fmt("%s/bus/pci/devices/0000:00:08.0", root));
	put_text(fmt("%s/bus/pci/devices/0000:00:08.0/vendor", root), "zzz\n");
	put_text(fmt("%s/bus/pci/devices/0000:00:08.0/device", root), "0x1110\n");
	mkdirs(fmt("%s/bus/pci/devices/0000:00:09.0", root));
	put_text(fmt("%s/bus/pci/devices/0000:00:09.0/vendor", root), "0x123456\n");
	put_text(fmt("%s/bus/pci/devices/0000:00:09.0/device", root), "0x1110\n");

	struct ivshmem_pci_info info[8];
	memset(info, 0, sizeof(info));
	int n = ivshmem_pci_scan(0xffff, 0xffff, info, 8);
	is(n, 4, "scan finds the 4 well-formed devices");
	ok(n == 4 && strcmp(info[0].addr, "0000:00:02.0") == 0 &&
		   strcmp(info[1].addr, "0000:00:03.0") == 0 &&
		   strcmp(info[2].addr, "0000:00:04.0") == 0 &&
		   strcmp(info[3].addr, "0001:00:01.0") == 0,
	   "scan sorts by address");
	n = ivshmem_pci_scan(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, info, 8);
	is(n, 3, "scan filters by vendor and device");
	ok(n == 3 && strcmp(info[0].addr, "0000:00:03.0") == 0, "first IVSHMEM device is 03.0");
	is(ivshmem_pci_scan(0x8086, 0xffff, info, 8), 1, "scan filters by vendor only");
	is(ivshmem_pci_scan(0xffff, 0x100e, info, 8), 1, "scan filters by device only");
	is(ivshmem_pci_scan(0x1234, 0xffff, info, 8), 0, "scan with no match is 0");
	is(ivshmem_pci_scan(0xffff, 0xffff, NULL, 0), 4, "scan counts without output");
	is(ivshmem_pci_scan(0xffff, 0xffff, NULL, 1), -EINVAL, "scan with NULL out and max");
	memset(info, 0, sizeof(info));
	n = ivshmem_pci_scan(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, info, 2);
	is(n, 3, "scan returns the total when it exceeds max");
	ok(strcmp(info[0].addr, "0000:00:03.0") == 0 && strcmp(info[1].addr, "0000:00:04.0") == 0,
	   "scan with a short array keeps the lowest addresses in order");
	ok(info[2].addr[0] == '\0', "scan writes no more than max entries");

	struct ivshmem_pci_info li;
	is(ivshmem_pci_lookup("4.0", &li), 0, "lookup 4.0");
	ok(strcmp(li.addr, "0000:00:04.0") == 0, "lookup canonicalises the address");
	is(li.vendor, 0x1af4, "lookup vendor");
	is(li.device, 0x1110, "lookup device");
	is(li.subsystem_vendor, 0x1af4, "lookup subsystem vendor");
	is(li.subsystem_device, 0x1100, "lookup subsystem device");
	is(li.class_code, 0x050000, "lookup class");
	is(li.revision, 1, "lookup revision from the attribute");
	ok(strcmp(li.driver, "vfio-pci") == 0, "lookup driver from the symlink (%s)", li.driver);
	is(li.iommu_group, 7, "lookup IOMMU group from the symlink");

	is(ivshmem_pci_lookup("0000:00:03.0", &li), 0, "lookup 03.0");
	is(li.revision, 0, "revision 0 from config space");
	ok(li.driver[0] == '\0', "unbound device has no driver");
	is(li.iommu_group, -1, "no IOMMU group gives -1");
	is(ivshmem_pci_lookup("0001:00:01.0", &li), 0, "lookup 0001:00:01.0");
	is(li.revision, 1, "revision 1 from config space");
	is(ivshmem_pci_lookup("0000:00:02.0", &li), 0, "lookup 02.0");
	ok(strcmp(li.driver, "e1000") == 0, "driver e1000");

	memset(&li, 0x5a, sizeof(li));
	struct ivshmem_pci_info before = li;
	is(ivshmem_pci_lookup("0000:00:1f.0", &li), -ENOENT, "lookup of a missing device");
	ok(memcmp(&li, &before, sizeof(li)) == 0, "failed lookup leaves the output alone");
	is(ivshmem_pci_lookup("nonsense", &li), -EINVAL, "lookup of a bad address");
	is(ivshmem_pci_lookup("0000:00:07.0", &li), -ENOENT, "lookup without vendor");
	is(ivshmem_pci_lookup("0000:00:08.0", &li), -EINVAL, "lookup with a bad vendor");
	free_root(root);

	root = new_root();
	is(ivshmem_pci_scan(0xffff, 0xffff, info, 8), 0, "no bus/pci/devices: 0 devices");
	is(ivshmem_pci_lookup("4.0", &li), -ENOENT, "lookup without a bus: -ENOENT");

	free_root(root);

	/* The root is read at each call; only an absolute path replaces /sys.
	 * The fake tree gets one device more than /sys has, so that a root
	 * honoured or ignored gives different counts. */
	unsetenv("IVSHMEM_SYSFS_ROOT");
	int real = ivshmem_pci_scan(0xffff, 0xffff, NULL, 0);
	root = new_root();
	int made = 0;
	for (int i = 0; real >= 0 && i <= real && i < 256; i++) {
		char addr[16];
		snprintf(addr, sizeof(addr), "0000:%02x:00.0", i);
		struct fake_dev d = other_dev(addr);
		add_dev(root, &d);
		made++;
	}
	is(ivshmem_pci_scan(0xffff, 0xffff, NULL, 0), made, "a fake root with %d devices (/sys has %d)", made,
	   real);
	/* The same tree by a relative name, from its parent directory. */
	int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *base = strrchr(root, '/') + 1;
	if (here < 0 || chdir("/tmp") < 0)
		fail_all("setup: chdir /tmp: %s", strerror(errno));
	setenv("IVSHMEM_SYSFS_ROOT", base, 1);
	is(ivshmem_pci_scan(0xffff, 0xffff, NULL, 0), real, "a relative IVSHMEM_SYSFS_ROOT (%s) is ignored", base);
	if (fchdir(here) < 0)
		fail_all("setup: back to the test's directory: %s", strerror(errno));
	close(here);
	setenv("IVSHMEM_SYSFS_ROOT", "", 1);
	is(ivshmem_pci_scan(0xffff, 0xffff, NULL, 0), real, "an empty IVSHMEM_SYSFS_ROOT is ignored");
	setenv("IVSHMEM_SYSFS_ROOT", root, 1);
	is(ivshmem_pci_scan(0xffff, 0xffff, NULL, 0), made, "the root is read again at each call");
	free_root(root);
}

static void test_sysfs_backend(void)
{
	char *root = new_root();
	struct fake_dev d = {
		.addr = "0000:00:04.0",
		.vendor = 0x1234,
		.device = 0x5678,
		.revision = 0,
		.cfg_len = 256,
		.msix_vectors = 8,
		.iommu_group = -1,
		.bars = {
			[0] = {0xfebf1000, 0xfebf1fff, RES_MEM, true},
			[1] = {0xfebf2000, 0xfebf2fff, RES_MEM, false}, /* no resource1 */
			[2] = {0x800000000ull, 0x8003fffffull, RES_MEM64_PREF, true},
			/* [3] is the upper half of BAR2: empty */
			[4] = {0xc000, 0xc01f, RES_IO, true},
			/* [5] empty */
		},
	};
	add_dev(root, &d);
	struct fake_dev s = other_dev("0000:00:05.0");
	s.cfg_len = 64; /* what unprivileged readers see */
	add_dev(root, &s);
	struct fake_dev nr = other_dev("0000:00:06.0");
	nr.no_resource = true;
	add_dev(root, &nr);

	ivshmem_pci_dev *dev = NULL;
	is(ivshmem_pci_open("4.0", IVSHMEM_BACKEND_SYSFS, &dev), 0, "open 4.0 with sysfs");
	if (!dev)
		die("open");
	is(ivshmem_pci_backend(dev), IVSHMEM_BACKEND_SYSFS, "backend is sysfs");
	ok(strcmp(ivshmem_pci_addr(dev), "0000:00:04.0") == 0, "address is canonical");

	struct ivshmem_bar_info b;
	is(ivshmem_pci_bar_info(dev, 0, &b), 0, "bar_info 0");
	is(b.index, 0, "BAR0 index");
	is(b.flags, IVSHMEM_BAR_F_PRESENT | IVSHMEM_BAR_F_MMAP, "BAR0: 32-bit memory, mappable");
	is(b.size, 4096, "BAR0 size");
	is(b.bus_addr, 0xfebf1000, "BAR0 bus address");
	is(ivshmem_pci_bar_info(dev, 1, &b), 0, "bar_info 1");
	is(b.flags, IVSHMEM_BAR_F_PRESENT, "BAR1 without resource1: present, not mappable");
	is(b.size, 4096, "BAR1 size");
	is(ivshmem_pci_bar_info(dev, 2, &b), 0, "bar_info 2");
	is(b.flags,
	   IVSHMEM_BAR_F_PRESENT | IVSHMEM_BAR_F_64BIT | IVSHMEM_BAR_F_PREFETCH | IVSHMEM_BAR_F_MMAP,
	   "BAR2: 64-bit prefetchable, mappable");
	is(b.size, 4u << 20, "BAR2 size");
	is(b.bus_addr, 0x800000000ull, "BAR2 bus address above 4G");
	is(ivshmem_pci_bar_info(dev, 3, &b), 0, "bar_info 3");
	ok(b.flags == 0 && b.size == 0 && b.index == 3, "BAR3 (upper half of BAR2) is empty");
	is(ivshmem_pci_bar_info(dev, 4, &b), 0, "bar_info 4");
	is(b.flags, IVSHMEM_BAR_F_PRESENT | IVSHMEM_BAR_F_IO, "BAR4: I/O, not mappable");
	is(b.size, 32, "BAR4 size");
	is(b.bus_addr, 0xc000, "BAR4 port");
	is(ivshmem_pci_bar_info(dev, 5, &b), 0, "bar_info 5");
	is(b.flags, 0, "BAR5 empty");
	is(ivshmem_pci_bar_info(dev, 6, &b), -EINVAL, "bar_info 6 is -EINVAL");

	/* Mapping a regular file standing in for resource2. */
	void *m = NULL;
	enum ivshmem_cache got = (enum ivshmem_cache)-1;
	is(ivshmem_pci_map(dev, 2, 0, 0, IVSHMEM_CACHE_DEFAULT, 0, &m, &got), 0, "map all of BAR2");
	is(got, IVSHMEM_CACHE_UC, "no resource2_wc: uncached");
	if (m) {
		memcpy((char *)m + 8192, "hello", 5);
		is(ivshmem_pci_unmap(dev, m, 4u << 20), 0, "unmap BAR2");
	}
	int fd = open(fmt("%s/resource2", dev_dir(root, d.addr)), O_RDONLY | O_CLOEXEC);
	char word[6] = "";
	ok(fd >= 0 && pread(fd, word, 5, 8192) == 5 && strcmp(word, "hello") == 0,
	   "writes through the mapping reach the file");
	if (fd >= 0)
		close(fd);

	m = NULL;
	is(ivshmem_pci_map(dev, 2, 4096 + 100, 50, IVSHMEM_CACHE_UC, IVSHMEM_MAP_READONLY, &m,
			   NULL),
	   0, "map an unaligned window read-only");
	ok(m && ((uintptr_t)m & 4095) == 100, "window starts at the offset within its page");
	if (m) {
		/* A length that wraps once the in-page offset is added must not
		 * turn into a short unmap of the page. */
		void *page = (void *)((uintptr_t)m & ~(uintptr_t)4095);
		is(ivshmem_pci_unmap(dev, m, SIZE_MAX), -EINVAL, "unmap with a wrapping length");
		is(msync(page, 4096, MS_ASYNC), 0, "... leaves the window mapped");
		is(ivshmem_pci_unmap(dev, m, 50), 0, "unmap the window");
		ok(msync(page, 4096, MS_ASYNC) < 0 && errno == ENOMEM, "... and unmap removes it");
	}
	m = NULL;
	is(ivshmem_pci_map(dev, 2, 8192, 5, IVSHMEM_CACHE_DEFAULT, IVSHMEM_MAP_READONLY, &m, NULL), 0,
	   "map 5 bytes at 8192");
	ok(m && memcmp(m, "hello", 5) == 0, "mapping shows the data at the offset");
	if (m)
		ivshmem_pci_unmap(dev, m, 5);

	/* resource2_wc appears: default on a prefetchable BAR picks it. */
	put_sized(fmt("%s/resource2_wc", dev_dir(root, d.addr)), 4 << 20);
	m = NULL;
	is(ivshmem_pci_map(dev, 2, 0, 4096, IVSHMEM_CACHE_DEFAULT, 0, &m, &got), 0,
	   "map BAR2 with resource2_wc present");
	is(got, IVSHMEM_CACHE_WC, "prefetchable BAR defaults to write-combining");
	if (m)
		ivshmem_pci_unmap(dev, m, 4096);

	void *sentinel = (void *)&d;
	m = sentinel;
	is(ivshmem_pci_map(dev, 2, 4u << 20, 1, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ERANGE,
	   "map at the end of the BAR is -ERANGE");
	is(ivshmem_pci_map(dev, 2, 0, (4u << 20) + 1, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ERANGE,
	   "map past the end of the BAR is -ERANGE");
	is(ivshmem_pci_map(dev, 2, 4096, 4u << 20, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ERANGE,
	   "offset plus length past the end is -ERANGE");
	is(ivshmem_pci_map(dev, 2, UINT64_MAX, 1, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ERANGE,
	   "huge offset is -ERANGE");
	is(ivshmem_pci_map(dev, 0, 0, 0, IVSHMEM_CACHE_WC, 0, &m, NULL), -ENOTSUP,
	   "WC on a BAR without resource0_wc is -ENOTSUP");
	is(ivshmem_pci_map(dev, 0, 0, 0, IVSHMEM_CACHE_WB, 0, &m, NULL), -ENOTSUP,
	   "WB through sysfs is -ENOTSUP");
	is(ivshmem_pci_map(dev, 1, 0, 0, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ENOTSUP,
	   "BAR without a resource file is -ENOTSUP");
	is(ivshmem_pci_map(dev, 4, 0, 0, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ENOTSUP,
	   "I/O BAR can't be mapped");
	is(ivshmem_pci_map(dev, 3, 0, 0, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -ENOENT,
	   "empty BAR is -ENOENT");
	is(ivshmem_pci_map(dev, 6, 0, 0, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), -EINVAL,
	   "BAR 6 is -EINVAL");
	ok(m == sentinel, "failed maps leave the output alone");

	/* Config space. */
	uint8_t cfg[256];
	is(ivshmem_pci_config_read(dev, 0, cfg, sizeof(cfg)), 256, "read 256 bytes of config");
	ok(cfg[0] == 0x34 && cfg[1] == 0x12 && cfg[2] == 0x78 && cfg[3] == 0x56,
	   "config holds vendor and device");
	is(ivshmem_pci_config_read(dev, 4096, cfg, 1), -ERANGE, "config read past 4096");
	is(ivshmem_pci_config_read(dev, 4090, cfg, 8), -ERANGE, "config read across 4096");
	is(ivshmem_pci_config_read(dev, 0, cfg, 0), -ERANGE, "empty config read");
	is(ivshmem_pci_enable(dev, IVSHMEM_PCI_ENABLE_MEMORY | IVSHMEM_PCI_ENABLE_BUSMASTER), 0,
	   "enable memory and bus master");
	uint16_t cmd = 0;
	is(ivshmem_pci_config_read(dev, 4, &cmd, 2), 2, "read the command register");
	is(cmd, 0x6, "command register has memory and bus master");
	is(ivshmem_pci_enable(dev, 0x80), -EINVAL, "enable with unknown bits");
	is(ivshmem_pci_msix_count(dev), 8, "MSI-X capability with 8 vectors");
	int fds[2];
	is(ivshmem_pci_msix_enable(dev, 2, fds), -ENOTSUP, "sysfs can't route MSI-X");
	dev = ivshmem_pci_close(dev);
	ok(dev == NULL, "close returns NULL");

	/* Short config space. */
	is(ivshmem_pci_open("0000:00:05.0", IVSHMEM_BACKEND_SYSFS, &dev), 0, "open 05.0");
	if (dev) {
		memset(cfg, 0xee, sizeof(cfg));
		is(ivshmem_pci_config_read(dev, 0, cfg, sizeof(cfg)), 64,
		   "64-byte config: read reports the short count");
		ok(cfg[0] == 0x86 && cfg[1] == 0x80 && cfg[64] == 0xee,
		   "short read fills only what exists");
		is(ivshmem_pci_config_read(dev, 0x40, cfg, 4), 0, "read past the short config is 0");
		is(ivshmem_pci_msix_count(dev), 0, "short config: no MSI-X");
		is(ivshmem_pci_bar_info(dev, 0, &b), 0, "bar_info on 05.0");
		is(b.size, 0x20000, "05.0 BAR0 size");
		dev = ivshmem_pci_close(dev);
	}

	/* Missing resource file. */
	is(ivshmem_pci_open("0000:00:06.0", IVSHMEM_BACKEND_SYSFS, &dev), -ENOENT,
	   "device without a resource file can't be opened with sysfs");
	is(ivshmem_pci_open("0000:00:1f.0", IVSHMEM_BACKEND_SYSFS, &dev), -ENOENT,
	   "missing device: -ENOENT");
	is(ivshmem_pci_open("zz", IVSHMEM_BACKEND_SYSFS, &dev), -EINVAL, "bad address");
	ok(dev == NULL, "failed opens leave the output alone");

	/* AUTO picks sysfs for a device not bound to vfio-pci. */
	is(ivshmem_pci_open("4.0", IVSHMEM_BACKEND_AUTO, &dev), 0, "open 4.0 with auto");
	is(ivshmem_pci_backend(dev), IVSHMEM_BACKEND_SYSFS, "auto chose sysfs");
	dev = ivshmem_pci_close(dev);
	ok(ivshmem_pci_close(NULL) == NULL, "close(NULL) is fine");
	free_root(root);
}

/* Register access without a lasting mapping: sysfs maps the page(s) for
 * the call; the fake resourceN files are regular files, so the bytes can be
 * checked with pread. */
static void test_sysfs_bar_rw(void)
{
	char *root = new_root();
	struct fake_dev d = {
		.addr = "0000:00:04.0",
		.vendor = 0x1234,
		.device = 0x5678,
		.cfg_len = 256,
		.iommu_group = -1,
		.bars = {
			[0] = {0xfebf1000, 0xfebf10ff, RES_MEM, true}, /* 256 bytes */
			[1] = {0xfebf2000, 0xfebf2fff, RES_MEM, false}, /* no resource1 */
			[2] = {0xfe000000, 0xfe00ffff, RES_MEM64_PREF, true},
			[4] = {0xc000, 0xc01f, RES_IO, true},
		},
	};
	add_dev(root, &d);
	ivshmem_pci_dev *dev = NULL;
	is(ivshmem_pci_open("4.0", IVSHMEM_BACKEND_SYSFS, &dev), 0, "bar_rw: open sysfs");
	if (!dev)
		die("open");
	int fd0 = open(fmt("%s/resource0", dev_dir(root, d.addr)), O_RDWR | O_CLOEXEC);
	int fd2 = open(fmt("%s/resource2", dev_dir(root, d.addr)), O_RDWR | O_CLOEXEC);
	if (fd0 < 0 || fd2 < 0)
		die("resource");

	uint32_t v = 0x12345678, got = 0;
	is(ivshmem_pci_bar_write(dev, 0, 12, &v, 4), 4, "sysfs: 4-byte bar_write to BAR0+12");
	ok(pread(fd0, &got, 4, 12) == 4 && got == 0x12345678, "sysfs: the bytes reached resource0");
	got = 0xdeadbeef;
	if (pwrite(fd0, &got, 4, 8) != 4)
		die("pwrite");
	got = 0;
	is(ivshmem_pci_bar_read(dev, 0, 8, &got, 4), 4, "sysfs: 4-byte bar_read of BAR0+8");
	is(got, 0xdeadbeef, "sysfs: bar_read sees what is in resource0");
	uint8_t b1 = 0;
	is(ivshmem_pci_bar_read(dev, 0, 9, &b1, 1), 1, "sysfs: 1-byte bar_read");
	is(b1, 0xbe, "sysfs: byte 9");
	is(ivshmem_pci_bar_read(dev, 0, 252, &got, 4), 4, "sysfs: the last register of BAR0");

	/* An unaligned range across a page boundary of BAR2 (mixed widths). */
	char pat[29], back[29] = "";
	memcpy(pat, "across-the-page-boundary-ok!", 29);
	is(ivshmem_pci_bar_write(dev, 2, 4096 - 13, pat, 29), 29, "sysfs: unaligned write across pages");
	ok(pread(fd2, back, 29, 4096 - 13) == 29 && memcmp(back, pat, 29) == 0,
	   "sysfs: resource2 holds the bytes");
	memset(back, 0, sizeof(back));
	is(ivshmem_pci_bar_read(dev, 2, 4096 - 13, back, 29), 29, "sysfs: unaligned read across pages");
	ok(memcmp(back, pat, 29) == 0, "sysfs: read back what was written");
	is(ivshmem_pci_bar_read(dev, 2, 0xfff8, back, 8), 8, "sysfs: the last 8 bytes of BAR2");

	/* Errors. */
	is(ivshmem_pci_bar_read(dev, 0, 253, &got, 4), -ERANGE, "sysfs: read past BAR0's end");
	is(ivshmem_pci_bar_read(dev, 0, 256, &got, 1), -ERANGE, "sysfs: offset at BAR0's end");
	is(ivshmem_pci_bar_write(dev, 2, UINT64_MAX, &v, 4), -ERANGE, "sysfs: huge offset");
	is(ivshmem_pci_bar_read(dev, 1, 0, &got, 4), -ENOTSUP, "sysfs: BAR without resource file");
	is(ivshmem_pci_bar_read(dev, 4, 0, &got, 4), -ENOTSUP, "sysfs: I/O BAR");
	is(ivshmem_pci_bar_read(dev, 5, 0, &got, 4), -ENOENT, "sysfs: absent BAR");
	is(ivshmem_pci_bar_read(dev, 6, 0, &got, 4), -EINVAL, "sysfs: BAR index 6");
	is(ivshmem_pci_bar_read(dev, 0, 0, &got, 0), -EINVAL, "sysfs: len 0");
	is(ivshmem_pci_bar_read(dev, 0, 0, NULL, 4), -EINVAL, "sysfs: NULL buffer");
	is(ivshmem_pci_bar_write(NULL, 0, 0, &v, 4), -EINVAL, "NULL device");
	dev = ivshmem_pci_close(dev);
	close(fd0);
	close(fd2);

	/* The endpoint without a BAR0 mapping: IVPosition and the doorbell
	 * through bar_read/bar_write. */
	struct fake_dev q = ivshmem_dev("0000:00:03.0", true);
	add_dev(root, &q);
	fd0 = open(fmt("%s/resource0", dev_dir(root, q.addr)), O_RDWR | O_CLOEXEC);
	if (fd0 < 0)
		die("resource0");
	uint32_t pos = 7;
	if (pwrite(fd0, &pos, 4, IVSHMEM_REG_IV_POSITION) != 4)
		die("pwrite");
	struct ivshmem_open_opts opts = {.ready_timeout_ms = 100};
	ivshmem_ep *ep = NULL;
	is(ivs_ep_open("3.0", &opts, IVS_OPEN_REGS_NO_MAP, &ep), 0, "endpoint with registers through bar_read/write");
	if (ep) {
		is(ivshmem_id(ep), 7, "peer ID read with bar_read");
		is(ivshmem_ring(ep, 3, 1), 0, "ring through bar_write");
		got = 0;
		ok(pread(fd0, &got, 4, IVSHMEM_REG_DOORBELL) == 4 && got == 0x00030001,
		   "the doorbell register holds peer 3 vector 1 (got 0x%08x)", got);
		is(ivshmem_ring(ep, 3, 256), -EINVAL, "ring: vector out of range");
		ep = ivshmem_close(ep);
	}
	opts.flags = 0;
	is(ivshmem_open("3.0", &opts, &ep), 0, "the same device with BAR0 mapped");
	if (ep) {
		is(ivshmem_id(ep), 7, "same peer ID through the mapping");
		ep = ivshmem_close(ep);
	}
	close(fd0);
	free_root(root);
}

static void test_vfio_checks(void)
{
	/* The vfio backend's checks that come before /dev/vfio. */
	char *root = new_root();
	struct fake_dev a = ivshmem_dev("0000:00:04.0", false);
	add_dev(root, &a); /* no IOMMU group */
	struct fake_dev b = ivshmem_dev("0000:00:05.0", false);
	b.iommu_group = 3;
	b.driver = "ivshmem_drv"; /* not vfio-pci */
	add_dev(root, &b);
	struct fake_dev c = ivshmem_dev("0000:00:06.0", false);
	c.iommu_group = 4; /* unbound */
	add_dev(root, &c);
	ivshmem_pci_dev *dev = NULL;
	is(ivshmem_pci_open("4.0", IVSHMEM_BACKEND_VFIO, &dev), -ENXIO,
	   "vfio without an IOMMU group is -ENXIO");
	is(ivshmem_pci_open("5.0", IVSHMEM_BACKEND_VFIO, &dev), -ENODEV,
	   "vfio on a device bound to another driver is -ENODEV");
	is(ivshmem_pci_open("6.0", IVSHMEM_BACKEND_VFIO, &dev), -ENODEV,
	   "vfio on an unbound device is -ENODEV");
	ok(dev == NULL, "output untouched");
	free_root(root);
}

static int count_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void test_endpoint(void)
{
	struct ivshmem_open_opts opts = {.backend = IVSHMEM_BACKEND_AUTO, .ready_timeout_ms = 100};
	ivshmem_ep *ep = NULL;

	/* No IVSHMEM device. */
	char *root = new_root();
	struct fake_dev o = other_dev("0000:00:05.0");
	add_dev(root, &o);
	is(ivshmem_open("0000:00:05.0", &opts, &ep), -ENODEV, "non-IVSHMEM device is -ENODEV");
	is(ivshmem_open("auto", &opts, &ep), -ENODEV, "auto without IVSHMEM devices is -ENODEV");
	is(ivshmem_open("0000:00:06.0", &opts, &ep), -ENOENT, "missing device is -ENOENT");
	ok(ep == NULL, "output untouched");

	/* One plain IVSHMEM device. */
	struct fake_dev p = ivshmem_dev("0000:00:04.0", false);
	add_dev(root, &p);
	int fds_before = count_open_fds();
	is(ivshmem_open("auto", &opts, &ep), 0, "auto with one IVSHMEM device");
	if (ep) {
		ok(strcmp(ivshmem_kind(ep), "pci") == 0, "kind is pci");
		is(ivshmem_mem_size(ep), 1u << 20, "shared memory is BAR2");
		ok(ivshmem_mem(ep) != NULL, "memory is mapped");
		is(ivshmem_id(ep), -ENODATA, "plain device has no peer ID");
		is(ivshmem_vectors(ep), 0, "plain device has no vectors");
		ok(strcmp(ivshmem_pci_addr(ivshmem_pci(ep)), "0000:00:04.0") == 0,
		   "auto picked 04.0");
		memcpy(ivshmem_mem(ep), "ivshmem", 7);
		ep = ivshmem_close(ep);
		int fd = open(fmt("%s/resource2", dev_dir(root, p.addr)), O_RDONLY | O_CLOEXEC);
		char word[8] = "";
		ok(fd >= 0 && pread(fd, word, 7, 0) == 7 && strcmp(word, "ivshmem") == 0,
		   "endpoint memory is the BAR2 file");
		if (fd >= 0)
			close(fd);
	}
	is(count_open_fds(), fds_before, "no fds left open after close");

	/* Two IVSHMEM devices: auto is ambiguous. */
	struct fake_dev q = ivshmem_dev("0000:00:03.0", true);
	add_dev(root, &q);
	is(ivshmem_open("auto", &opts, &ep), -EBUSY, "auto with two IVSHMEM devices is -EBUSY");
	ok(ep == NULL, "output untouched");

	/* The doorbell device, by address: ID from IVPosition (0 in the
	 * fake BAR0), vectors from MSI-X, no interrupts with sysfs. */
	is(ivshmem_open("3.0", &opts, &ep), 0, "open the doorbell device by address");
	if (ep) {
		is(ivshmem_id(ep), 0, "peer ID from IVPosition");
		is(ivshmem_vectors(ep), 4, "4 vectors from the MSI-X capability");
		is(ivshmem_vector_fd(ep, 0), -ENOTSUP, "sysfs can't receive interrupts");
		ep = ivshmem_close(ep);
	}

	/* Revision 2 (unknown layout) is refused. */
	struct fake_dev r2 = ivshmem_dev("0000:00:07.0", false);
	r2.revision = 2;
	add_dev(root, &r2);
	is(ivshmem_open("7.0", &opts, &ep), -ENODEV, "unknown IVSHMEM revision is -ENODEV");
	free_root(root);
}

static void test_bind(void)
{
	char *root = new_root();
	struct fake_dev a = ivshmem_dev("0000:00:04.0", false);
	a.driver = "ivshmem_drv";
	a.iommu_group = 5;
	add_dev(root, &a);
	struct fake_dev b = ivshmem_dev("0000:00:05.0", false);
	b.driver = "vfio-pci";
	b.iommu_group = 6;
	add_dev(root, &b);
	struct fake_dev c = ivshmem_dev("0000:00:06.0", false); /* no group */
	add_dev(root, &c);
	put_text(fmt("%s/bus/pci/drivers_probe", root), "");
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", dev_dir(root, a.addr));

	is(ivshmem_pci_bind("5.0", NULL), 0, "already bound to vfio-pci: 0");
	ok(strcmp(slurp(fmt("%s/driver_override", dev_dir(root, b.addr))), "") == 0,
	   "already bound: driver_override untouched");
	is(ivshmem_pci_bind("6.0", "vfio-pci"), -ENXIO, "no IOMMU group: -ENXIO");
	mkdirs(fmt("%s/module/vfio/parameters", root));
	put_text(fmt("%s/module/vfio/parameters/enable_unsafe_noiommu_mode", root), "N\n");
	is(ivshmem_pci_bind("6.0", "vfio-pci"), -ENXIO, "no IOMMU group, noiommu off: -ENXIO");
	put_text(fmt("%s/module/vfio/parameters/enable_unsafe_noiommu_mode", root), "Y\n");
	is(ivshmem_pci_bind("6.0", "vfio-pci"), -EIO,
	   "no IOMMU group but no-IOMMU mode: bind is attempted");
	ok(strcmp(slurp(fmt("%s/bus/pci/drivers_probe", root)), "0000:00:06.0") == 0,
	   "no-IOMMU mode: address written to drivers_probe");
	/* 06.0 had no driver: the failure path asked for a re-probe too. */
	put_text(fmt("%s/bus/pci/drivers_probe", root), "");
	unlink(fmt("%s/module/vfio/parameters/enable_unsafe_noiommu_mode", root));
	is(ivshmem_pci_bind("1f.0", NULL), -ENOENT, "no such device: -ENOENT");
	is(ivshmem_pci_bind("xyz", NULL), -EINVAL, "bad address: -EINVAL");
	is(ivshmem_pci_bind("4.0", "../evil"), -EINVAL, "driver name with a slash: -EINVAL");
	is(ivshmem_pci_bind("4.0", ""), -EINVAL, "empty driver name: -EINVAL");
	is(ivshmem_pci_bind("4.0", "nosuchdrv"), -ENODEV, "driver not loaded: -ENODEV");
	ok(strcmp(slurp(fmt("%s/driver_override", dir)), "") == 0,
	   "refused binds don't touch driver_override");

	/* A fake tree doesn't rebind: the steps are taken, then -EIO. */
	is(ivshmem_pci_bind("4.0", NULL), -EIO, "fake tree never rebinds: -EIO");
	ok(strcmp(slurp(fmt("%s/bus/pci/drivers/ivshmem_drv/unbind", root)), "0000:00:04.0") == 0,
	   "address written to the old driver's unbind");
	ok(strcmp(slurp(fmt("%s/bus/pci/drivers_probe", root)), "0000:00:04.0") == 0,
	   "address written to drivers_probe");
	/* Files don't truncate like attributes: "vfio-pci" overwritten by the
	 * clearing "\n" of the failure path shows both writes, in order. */
	ok(strcmp(slurp(fmt("%s/driver_override", dir)), "\nfio-pci") == 0,
	   "driver_override set to vfio-pci, then cleared on failure");

	/* Without drivers_probe, the driver's bind file is used. */
	put_text(fmt("%s/driver_override", dir), "");
	unlink(fmt("%s/bus/pci/drivers_probe", root));
	is(ivshmem_pci_bind("4.0", NULL), -EIO, "bind through drivers/vfio-pci/bind");
	ok(strcmp(slurp(fmt("%s/bus/pci/drivers/vfio-pci/bind", root)), "0000:00:04.0") == 0,
	   "address written to vfio-pci's bind");

	/* vfio-pci not loaded. */
	unlink(fmt("%s/driver", dev_dir(root, b.addr)));
	unlink(fmt("%s/bus/pci/drivers/vfio-pci/bind", root));
	unlink(fmt("%s/bus/pci/drivers/vfio-pci/unbind", root));
	if (rmdir(fmt("%s/bus/pci/drivers/vfio-pci", root)) < 0)
		die("rmdir");
	is(ivshmem_pci_bind("4.0", NULL), -ENODEV, "vfio-pci not loaded: -ENODEV");
	is(ivshmem_pci_bind("4.0", "ivshmem_drv"), 0, "already bound to ivshmem_drv: 0");
	free_root(root);
}

int main(void)
{
	test_addr_parse();
	test_scan_lookup();
	test_sysfs_backend();
	test_sysfs_bar_rw();
	test_vfio_checks();
	test_endpoint();
	test_bind();
	return tap_done();
}
