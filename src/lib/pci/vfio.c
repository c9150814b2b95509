/* SPDX-License-Identifier: MIT */
/* The vfio backend: placeholder until implemented. */
#include "pci/pci-backend.h"

static int vfio_open(ivshmem_pci_dev *dev)
{
	return -ENOTSUP;
}

const struct ivs_pci_ops ivs_pci_vfio_ops = {
	.name = "vfio",
	.id = IVSHMEM_BACKEND_VFIO,
	.open = vfio_open,
};
