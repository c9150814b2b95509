/* SPDX-License-Identifier: MIT */
/* Fuzz the text decoders of the PCI layer and the CLI: sizes, PCI addresses,
 * backend/cache names, and the sysfs "resource" table (through a fake tree
 * written per input). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pci/pci-backend.h"

static char root[64];

static void setup(void)
{
	if (root[0])
		return;
	/* Its own directory: never a stale one of an earlier run or user. */
	snprintf(root, sizeof(root), "/tmp/ivshmem-fuzz-parse.XXXXXX");
	if (!mkdtemp(root))
		abort();
	char path[256];
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:04.0", root);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s", path);
	if (system(cmd) != 0)
		abort();
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (root[0] && system(cmd) != 0)
		return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int registered;
	if (!registered) {
		setup();
		atexit(cleanup);
		registered = 1;
	}
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	uint64_t v;
	(void)ivshmem_parse_size(s, &v);
	char addr[IVSHMEM_PCI_ADDR_LEN];
	if (ivshmem_pci_addr_parse(s, addr) == 0 && strlen(addr) != 12)
		abort(); /* canonical form is always dddd:bb:dd.f */
	(void)ivshmem_backend_parse(s);
	(void)ivshmem_cache_parse(s);

	/* The same bytes as a sysfs resource table. */
	char path[256];
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:04.0/resource", root);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, data, size) != (ssize_t)size)
			abort();
		close(fd);
		struct ivshmem_bar_info bars[6];
		if (ivs_sysfs_resources(root, "0000:00:04.0", bars) == 0)
			for (int i = 0; i < 6; i++)
				if (bars[i].flags && bars[i].size == 0)
					abort(); /* a present BAR has a size */
	}
	free(s);
	return 0;
}

static const uint8_t seed0[] = "0x00000000fea00000 0x00000000fea000ff 0x0000000000040200\n"
			       "0x0000000800000000 0x00000008003fffff 0x000000000014220c\n";
static const uint8_t seed1[] = "0000:00:04.0";
static const uint8_t seed2[] = "16M";
static const uint8_t *seeds[] = {seed0, seed1, seed2};
static const size_t sizes[] = {sizeof(seed0) - 1, sizeof(seed1) - 1, sizeof(seed2) - 1};

size_t ivs_fuzz_seeds(const uint8_t ***s, const size_t **n);
size_t ivs_fuzz_seeds(const uint8_t ***s, const size_t **n)
{
	*s = seeds;
	*n = sizes;
	return 3;
}
