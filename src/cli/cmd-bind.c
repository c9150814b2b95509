/* SPDX-License-Identifier: MIT */
/* ivshmem bind DEV [DRIVER]: (re)bind through driver_override. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

int cmd_bind(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	enum { OPT_FORCE = CLI_OPT_FIRST_FREE };
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {"force", no_argument, NULL, OPT_FORCE}, {0}};
	bool force = false;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_FORCE)
			force = true;
		else if (c == '?' ? cli_bad_option(argv) : cli_common_opt(c, optarg, &o))
			return 1;
	}
	int nargs = argc - optind;
	if (nargs < 1 || nargs > 2)
		return cli_usage_error("expected DEV [DRIVER]");
	const char *dev = argv[optind];
	const char *driver = nargs == 2 ? argv[optind + 1] : "vfio-pci";
	char addr[IVSHMEM_PCI_ADDR_LEN];
	if (strcmp(dev, "auto") == 0) {
		struct ivshmem_pci_info devs[2];
		int n = ivshmem_pci_scan(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, devs, 2);
		if (n != 1)
			return cli_error(n == 0 ? "no IVSHMEM device found to bind"
						: "'auto' is ambiguous: several IVSHMEM devices; name one");
		memcpy(addr, devs[0].addr, sizeof(addr));
	} else if (ivshmem_pci_addr_parse(dev, addr) < 0) {
		return cli_error("'%s' is not a PCI address (e.g. 0000:00:04.0)", dev);
	}
	/* Binding takes the device from its driver: refuse anything that is
	 * not an IVSHMEM device unless asked to, so a typo can't unbind a disk. */
	struct ivshmem_pci_info info;
	int r = ivshmem_pci_lookup(addr, &info);
	if (r == -ENOENT)
		return cli_error("no such PCI device %s (see 'ivshmem list')", addr);
	if (r == 0 && !force && (info.vendor != IVSHMEM_VENDOR_ID || info.device != IVSHMEM_DEVICE_ID))
		return cli_error("%s is not an IVSHMEM device (it is %04x:%04x): add --force to bind it anyway",
				 addr, info.vendor, info.device);
	r = ivshmem_pci_bind(addr, driver);
	switch (r) {
	case 0:
		printf("%s bound to %s\n", addr, driver);
		return 0;
	case -ENOENT:
		return cli_error("no such PCI device %s (see 'ivshmem list')", addr);
	case -ENODEV:
		return cli_error("driver %s is not loaded: run 'modprobe %s'", driver, driver);
	case -ENXIO:
		return cli_error("%s has no IOMMU group: vfio-pci needs an IOMMU (boot with intel_iommu=on, "
				 "or give the VM -device intel-iommu)", addr);
	case -EACCES:
	case -EPERM:
		return cli_error("permission denied binding %s: needs root", addr);
	default:
		return cli_lib_error(addr, "bind", r);
	}
}
