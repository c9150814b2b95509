/* SPDX-License-Identifier: MIT */
/* ivshmem_pci_bar_read/_write on the file backend (BAR2 = the file):
 * round trips, range and argument errors, read-only files.  The sysfs
 * backend's are in test-pci-sysfs.c (fake trees). */
#include "ivshmem.h"
#include "../tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (64u << 10)

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(void)
{
	char path[] = "/tmp/ivshmem-test-bar-rw-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	if (ftruncate(fd, SIZE) < 0)
		die("ftruncate");

	ivshmem_pci_dev *dev = NULL;
	is(ivshmem_pci_open(path, IVSHMEM_BACKEND_FILE, &dev), 0, "open the file backend");
	if (!dev)
		die("open");

	/* Round trip, and the bytes are the file's. */
	const char msg[] = "bar_write round trip";
	char back[sizeof(msg)] = "";
	is(ivshmem_pci_bar_write(dev, IVSHMEM_BAR_SHM, 1000, msg, sizeof(msg)), (int)sizeof(msg),
	   "bar_write %zu bytes at 1000", sizeof(msg));
	ok(pread(fd, back, sizeof(back), 1000) == (ssize_t)sizeof(back) &&
		   memcmp(back, msg, sizeof(msg)) == 0,
	   "the file holds them");
	memset(back, 0, sizeof(back));
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, 1000, back, sizeof(back)), (int)sizeof(back),
	   "bar_read them back");
	ok(memcmp(back, msg, sizeof(msg)) == 0, "same bytes");
	uint32_t v = 0xa5a5f00d, w = 0;
	is(ivshmem_pci_bar_write(dev, IVSHMEM_BAR_SHM, SIZE - 4, &v, 4), 4, "write the last 4 bytes");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, SIZE - 4, &w, 4), 4, "read the last 4 bytes");
	is(w, 0xa5a5f00d, "last word");

	/* A mapping sees bar_write and vice versa. */
	void *m = NULL;
	is(ivshmem_pci_map(dev, IVSHMEM_BAR_SHM, 0, 0, IVSHMEM_CACHE_DEFAULT, 0, &m, NULL), 0, "map BAR2");
	if (m) {
		ok(memcmp((char *)m + 1000, msg, sizeof(msg)) == 0, "the mapping sees bar_write");
		memcpy((char *)m + 5000, "mapped", 6);
		char six[6] = "";
		is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, 5000, six, 6), 6, "bar_read after a store");
		ok(memcmp(six, "mapped", 6) == 0, "bar_read sees the mapping's store");
		ivshmem_pci_unmap(dev, m, SIZE);
	}

	/* Range and argument errors. */
	char big[16];
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, SIZE - 8, big, 16), -ERANGE, "read past the end");
	is(ivshmem_pci_bar_write(dev, IVSHMEM_BAR_SHM, SIZE - 8, big, 16), -ERANGE,
	   "write past the end");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, SIZE, big, 1), -ERANGE, "offset at the end");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, UINT64_MAX, big, 1), -ERANGE, "huge offset");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, 8, big, SIZE_MAX), -EINVAL,
	   "len over INT_MAX is -EINVAL");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, 0, big, 0), -EINVAL, "len 0 is -EINVAL");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, 0, NULL, 4), -EINVAL, "NULL buffer");
	is(ivshmem_pci_bar_read(dev, 6, 0, big, 4), -EINVAL, "BAR index 6");
	is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_REGS, 0, big, 4), -ENOENT,
	   "BAR0 doesn't exist on a file");
	is(ivshmem_pci_bar_read(NULL, IVSHMEM_BAR_SHM, 0, big, 4), -EINVAL, "NULL device");
	dev = ivshmem_pci_close(dev);

	/* A read-only file: reads work, writes are -EACCES and change nothing. */
	if (geteuid() != 0) {
		if (fchmod(fd, 0444) < 0)
			die("fchmod");
		is(ivshmem_pci_open(path, IVSHMEM_BACKEND_FILE, &dev), 0, "open a read-only file");
		if (dev) {
			is(ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, 1000, back, sizeof(back)),
			   (int)sizeof(back), "read-only: bar_read works");
			is(ivshmem_pci_bar_write(dev, IVSHMEM_BAR_SHM, 1000, "X", 1), -EACCES,
			   "read-only: bar_write is -EACCES");
			char c = 0;
			ok(pread(fd, &c, 1, 1000) == 1 && c == 'b', "read-only: file unchanged");
			dev = ivshmem_pci_close(dev);
		}
	} else {
		ok(1, "# SKIP read-only file: root ignores file modes");
	}
	close(fd);
	unlink(path);
	return tap_done();
}
