/* SPDX-License-Identifier: MIT */
/* ivshmem info DEV: BARs, IVPosition, vectors, backend and cache mode. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static void flags_text(uint32_t f, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s", f & IVSHMEM_BAR_F_IO ? "io" : "mem",
		 f & IVSHMEM_BAR_F_64BIT ? ",64bit" : ",32bit", f & IVSHMEM_BAR_F_PREFETCH ? ",prefetch" : "",
		 f & IVSHMEM_BAR_F_MMAP ? ",mmap" : "");
}

int cmd_info(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	o.open.flags |= IVSHMEM_OPEN_NO_IRQ | IVSHMEM_OPEN_READONLY;
	if (cli_parse_common(argc, argv, &o))
		return 1;
	if (argc - optind != 1)
		return cli_usage_error("expected one DEV");
	const char *spec = argv[optind];
	ivshmem_ep *ep;
	if (cli_open(spec, &o, &ep))
		return 1;

	ivshmem_pci_dev *pci = ivshmem_pci(ep);
	int id = ivshmem_id(ep);
	int vectors = ivshmem_vectors(ep);
	const char *backend = pci ? ivshmem_backend_name(ivshmem_pci_backend(pci)) : ivshmem_kind(ep);
	const char *cache = ivshmem_cache_name(ivshmem_mem_cache(ep));
	size_t size = ivshmem_mem_size(ep);

	if (o.json) {
		printf("{\"device\":");
		cli_json_str(stdout, spec);
		printf(",\"endpoint\":\"%s\",\"backend\":\"%s\",\"cache\":\"%s\",\"shm_size\":%zu,",
		       ivshmem_kind(ep), backend, cache, size);
		if (id >= 0)
			printf("\"ivposition\":%d,", id);
		else
			printf("\"ivposition\":null,");
		printf("\"vectors\":%d,\"bars\":[", vectors);
	} else {
		printf("device:     %s\nendpoint:   %s\nbackend:    %s\ncache:      %s\n", spec,
		       ivshmem_kind(ep), backend, cache);
		printf("shm size:   %zu bytes (%zu MiB)\n", size, size >> 20);
		if (id >= 0)
			printf("ivposition: %d\n", id);
		else
			printf("ivposition: none (no doorbell)\n");
		printf("vectors:    %d\n", vectors);
	}
	int shown = 0;
	for (unsigned i = 0; pci && i < 6; i++) {
		struct ivshmem_bar_info b;
		if (ivshmem_pci_bar_info(pci, i, &b) < 0 || !(b.flags & IVSHMEM_BAR_F_PRESENT))
			continue;
		char f[64];
		flags_text(b.flags, f, sizeof(f));
		if (o.json)
			printf("%s{\"index\":%u,\"kind\":\"%s\",\"size\":%llu,\"flags\":\"%s\",\"bus_addr\":%llu}",
			       shown ? "," : "", i, b.flags & IVSHMEM_BAR_F_IO ? "io" : "mem",
			       (unsigned long long)b.size, f, (unsigned long long)b.bus_addr);
		else
			printf("bar%u:       %s size %llu flags %s addr 0x%llx\n", i,
			       b.flags & IVSHMEM_BAR_F_IO ? "io" : "mem", (unsigned long long)b.size, f,
			       (unsigned long long)b.bus_addr);
		shown++;
	}
	if (o.json)
		printf("]}\n");
	ivshmem_close(ep);
	return 0;
}
