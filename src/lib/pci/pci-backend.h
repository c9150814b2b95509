/* SPDX-License-Identifier: MIT */
/* The PCI access backends (vfio, sysfs, file) behind one ops table, in the
 * manner of pciutils' access methods.  pci.c dispatches; each backend file
 * fills in a struct ivs_pci_ops. */
#ifndef IVS_PCI_BACKEND_H
#define IVS_PCI_BACKEND_H

#include "util/util.h"

struct ivs_pci_ops {
	const char *name;
	enum ivshmem_backend id;
	/* Set up dev->priv.  dev->addr / dev->path / dev->sysfs_root are set. */
	int (*open)(ivshmem_pci_dev *dev);
	void (*close)(ivshmem_pci_dev *dev);
	int (*config_read)(ivshmem_pci_dev *dev, unsigned off, void *buf, size_t len);
	int (*config_write)(ivshmem_pci_dev *dev, unsigned off, const void *buf, size_t len);
	int (*bar_info)(ivshmem_pci_dev *dev, unsigned bar, struct ivshmem_bar_info *out);
	/* off/len already checked against bar_info; len > 0. */
	int (*map)(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, size_t len,
		   enum ivshmem_cache want, unsigned flags, void **addr, enum ivshmem_cache *got);
	/* Optional: read (write false) or write len bytes at off of a BAR
	 * without a lasting mapping; buf is const when writing.  Range, bar and
	 * len (1..INT_MAX) already checked; the BAR is present.  Bytes or -errno. */
	int (*bar_rw)(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf, size_t len,
		      bool write);
	int (*msix_count)(ivshmem_pci_dev *dev);
	int (*msix_enable)(ivshmem_pci_dev *dev, unsigned n, int *fds);
	/* Optional: a new open file description (flags O_RDONLY or O_RDWR;
	 * O_CLOEXEC added) that maps BAR bar, write-combining if wc, and its
	 * path in src (n bytes, may be truncated; also when the open fails).  -ENOENT when the BAR has
	 * no such file (wc: not prefetchable).  For brokers handing a BAR to
	 * others: see ivs_pci_bar_open() in pci.h. */
	int (*bar_open)(ivshmem_pci_dev *dev, unsigned bar, bool wc, int flags, char *src, size_t n);
};

struct ivshmem_pci_dev {
	const struct ivs_pci_ops *ops;
	char addr[IVSHMEM_PCI_ADDR_LEN]; /* "" for the file backend */
	char *path;			 /* file backend: the file */
	char *sysfs_root;		 /* "/sys" or a test tree */
	void *priv;
};

extern const struct ivs_pci_ops ivs_pci_vfio_ops;
extern const struct ivs_pci_ops ivs_pci_sysfs_ops;
extern const struct ivs_pci_ops ivs_pci_file_ops;

/* The sysfs root: "/sys", or IVSHMEM_SYSFS_ROOT when set to an absolute path
 * (ignored in set-uid programs).  Read by the public calls, once each. */
const char *ivs_sysfs_root(void);
/* ivshmem_pci_lookup under a given root. */
int ivs_sysfs_lookup(const char *root, const char *addr, struct ivshmem_pci_info *out);
/* sysfs helpers shared by backends: path of a device attribute. */
int ivs_sysfs_dev_path(const ivshmem_pci_dev *dev, char *buf, size_t size, const char *attr);
int ivs_sysfs_path(const char *root, const char *addr, char *buf, size_t size, const char *attr);
/* bar_open through sysfs resourceN(_wc) files, which exist whatever the
 * driver: the sysfs and vfio backends' bar_open. */
int ivs_sysfs_bar_open(ivshmem_pci_dev *dev, unsigned bar, bool wc, int flags, char *src, size_t n);
/* Parse the sysfs "resource" file: start/end/flags of BAR 0..5. */
int ivs_sysfs_resources(const char *root, const char *addr, struct ivshmem_bar_info bars[6]);

/* PCI config space constants. */
#define IVS_PCI_COMMAND 0x04
#define IVS_PCI_COMMAND_MEMORY 0x2
#define IVS_PCI_COMMAND_MASTER 0x4
#define IVS_PCI_STATUS 0x06
#define IVS_PCI_STATUS_CAP_LIST 0x10
#define IVS_PCI_CAP_PTR 0x34
#define IVS_PCI_CAP_ID_MSIX 0x11

#endif
