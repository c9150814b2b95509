/* SPDX-License-Identifier: MIT */
/* ivshmem list: the IVSHMEM devices on this machine. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

struct dev_summary {
	uint64_t shm_size;
	int vectors; /* -1 unknown */
	bool doorbell;
};

static void summarize(const struct cli_opts *o, const struct ivshmem_pci_info *info, struct dev_summary *s)
{
	s->shm_size = 0;
	s->vectors = -1;
	s->doorbell = false;
	ivshmem_pci_dev *dev = NULL;
	/* sysfs is enough for identity and sizes, whatever the driver. */
	if (ivshmem_pci_open(info->addr, IVSHMEM_BACKEND_SYSFS, &dev) < 0)
		return;
	struct ivshmem_bar_info bar;
	if (ivshmem_pci_bar_info(dev, IVSHMEM_BAR_SHM, &bar) == 0)
		s->shm_size = bar.size;
	if (ivshmem_pci_bar_info(dev, IVSHMEM_BAR_MSIX, &bar) == 0)
		s->doorbell = bar.flags & IVSHMEM_BAR_F_PRESENT;
	s->vectors = ivshmem_pci_msix_count(dev);
	ivshmem_pci_close(dev);
}

int cmd_list(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	if (cli_parse_common(argc, argv, &o))
		return 1;
	if (optind != argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);

	struct ivshmem_pci_info devs[64];
	int n = ivshmem_pci_scan(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, devs, 64);
	if (n < 0)
		return cli_lib_error("PCI devices", "scan", n);
	if (n > 64)
		n = 64;
	if (o.json)
		printf("[");
	for (int i = 0; i < n; i++) {
		struct dev_summary s;
		summarize(&o, &devs[i], &s);
		const char *drv = devs[i].driver[0] ? devs[i].driver : "none";
		if (o.json) {
			printf("%s{\"address\":\"%s\",\"revision\":%u,\"shm_size\":%llu,\"vectors\":%d,"
			       "\"interrupts\":%s,\"driver\":",
			       i ? "," : "", devs[i].addr, devs[i].revision, (unsigned long long)s.shm_size,
			       s.vectors < 0 ? 0 : s.vectors, s.doorbell && s.vectors > 0 ? "true" : "false");
			cli_json_str(stdout, drv);
			printf(",\"iommu_group\":%d}", devs[i].iommu_group);
		} else {
			char vec[32];
			if (s.vectors > 0)
				snprintf(vec, sizeof(vec), "%d", s.vectors);
			else
				snprintf(vec, sizeof(vec), s.doorbell ? "?" : "no");
			printf("%s rev %u shm %llu bytes (%llu MiB) interrupts %s vectors driver %s\n",
			       devs[i].addr, devs[i].revision, (unsigned long long)s.shm_size,
			       (unsigned long long)(s.shm_size >> 20), vec, drv);
		}
	}
	if (o.json)
		printf("]\n");
	return 0;
}
