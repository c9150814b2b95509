/* SPDX-License-Identifier: MIT */
/* The guest endpoint: an IVSHMEM PCI device (through the vfio or sysfs
 * backend), and the host "file:" endpoint (the file backend, BAR2 only). */
#include "device/ivshmem-dev.h"
#include "endpoint/ep-impl.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pci_priv {
	volatile uint32_t *regs; /* BAR0, NULL if not mapped */
	size_t regs_len;
	bool regs_rw; /* BAR0 not mappable: 32-bit ivshmem_pci_bar_read/_write */
	void *shm;
	size_t shm_len;
	int *fds; /* owned by the pci dev; copied pointer array */
};

static void pci_close(ivshmem_ep *ep)
{
	struct pci_priv *p = ep->priv;
	if (p) {
		if (p->regs)
			ivshmem_pci_unmap(ep->pci, (void *)p->regs, p->regs_len);
		if (p->shm)
			ivshmem_pci_unmap(ep->pci, p->shm, p->shm_len);
		free(p->fds);
		free(p);
	}
	ep->priv = NULL;
	ep->vec_fds = NULL;
	ep->mem = NULL;
	ep->pci = ivshmem_pci_close(ep->pci);
}

static int map_shm(ivshmem_ep *ep, struct pci_priv *p, enum ivshmem_cache cache, bool no_map)
{
	struct ivshmem_bar_info bar;
	int r = ivshmem_pci_bar_info(ep->pci, IVSHMEM_BAR_SHM, &bar);
	if (r < 0)
		return r;
	if (!(bar.flags & IVSHMEM_BAR_F_PRESENT) || bar.size == 0)
		return -ENODEV;
	if (bar.size > SIZE_MAX)
		return -EFBIG;
	if (no_map) {
		ep->mem_size = (size_t)bar.size;
		return 0;
	}
	void *m;
	enum ivshmem_cache got;
	r = ivshmem_pci_map(ep->pci, IVSHMEM_BAR_SHM, 0, (size_t)bar.size, cache,
			    ep->readonly ? IVSHMEM_MAP_READONLY : 0, &m, &got);
	if (r < 0)
		return r;
	p->shm = m;
	p->shm_len = (size_t)bar.size;
	ep->mem = m;
	ep->mem_size = (size_t)bar.size;
	ep->cache = got;
	return 0;
}

static bool have_regs(const struct pci_priv *p)
{
	return p->regs || p->regs_rw;
}

/* A 32-bit register of BAR0: through the mapping, else one 4-byte access by
 * the backend (vfio: pread/pwrite on the device fd). */
static int reg_read(ivshmem_ep *ep, struct pci_priv *p, unsigned off, uint32_t *v)
{
	if (p->regs) {
		*v = p->regs[off / 4];
		return 0;
	}
	uint32_t le;
	int r = ivshmem_pci_bar_read(ep->pci, IVSHMEM_BAR_REGS, off, &le, sizeof(le));
	if (r < 0)
		return r;
	if (r != (int)sizeof(le))
		return -EIO;
	*v = le32toh(le); /* PCI is little-endian; a mapping is read natively */
	return 0;
}

static int reg_write(ivshmem_ep *ep, struct pci_priv *p, unsigned off, uint32_t v)
{
	if (p->regs) {
		p->regs[off / 4] = v;
		return 0;
	}
	uint32_t le = htole32(v);
	int r = ivshmem_pci_bar_write(ep->pci, IVSHMEM_BAR_REGS, off, &le, sizeof(le));
	if (r < 0)
		return r;
	return r == (int)sizeof(le) ? 0 : -EIO;
}

static int read_position(ivshmem_ep *ep, struct pci_priv *p, int timeout_ms)
{
	/* Revision 0 devices read -1 until the server has given an ID. */
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint32_t v;
		int r = reg_read(ep, p, IVSHMEM_REG_IV_POSITION, &v);
		if (r < 0)
			return r;
		int32_t pos = (int32_t)v;
		if (pos >= 0 && pos < IVSHMEM_MAX_PEERS) {
			ep->id = pos;
			return 0;
		}
		if (ivs_now_ns() >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int pci_open(ivshmem_ep *ep, const char *target, const struct ivshmem_open_opts *opts)
{
	char addr[IVSHMEM_PCI_ADDR_LEN];
	int r = ivs_dev_resolve(target, addr);
	if (r < 0)
		return r;
	struct ivshmem_pci_info info;
	r = ivshmem_pci_lookup(addr, &info);
	if (r < 0)
		return r;
	r = ivs_dev_check(&info);
	if (r < 0)
		return r;
	enum ivshmem_backend be = opts->backend;
	if (be == IVSHMEM_BACKEND_AUTO)
		be = strcmp(info.driver, "vfio-pci") == 0 ? IVSHMEM_BACKEND_VFIO : IVSHMEM_BACKEND_SYSFS;
	r = ivshmem_pci_open(addr, be, &ep->pci);
	if (r < 0)
		return r;
	struct pci_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ep->priv = p;

	/* The seed driver's Start(): memory space on.  Bus mastering only when
	 * we want interrupts (MSI-X writes are DMA). */
	r = ivshmem_pci_enable(ep->pci, IVSHMEM_PCI_ENABLE_MEMORY);
	if (r < 0) {
		/* Not fatal if memory space is on already, or if the command
		 * register can't be read at all (no config file). */
		uint16_t cmd;
		if (ivshmem_pci_config_read(ep->pci, 4, &cmd, sizeof(cmd)) == (int)sizeof(cmd) &&
		    !(cmd & 0x2))
			return r;
	}
	r = map_shm(ep, p, opts->cache, opts->flags & IVSHMEM_OPEN_NO_MAP);
	if (r < 0)
		return r;

	struct ivshmem_bar_info bar0, bar1;
	r = ivshmem_pci_bar_info(ep->pci, IVSHMEM_BAR_REGS, &bar0);
	if (r < 0)
		return r;
	r = ivshmem_pci_bar_info(ep->pci, IVSHMEM_BAR_MSIX, &bar1);
	if (r < 0)
		return r;
	if ((bar0.flags & IVSHMEM_BAR_F_PRESENT) && bar0.size >= 16) {
		/* Map the registers (fast: plain loads and stores).  Some
		 * kernels/hypervisors won't let vfio-pci mmap the 256-byte BAR0
		 * (a sub-page BAR needs the rest of its page reserved): then
		 * registers go through the backend, one 4-byte access each. */
		void *m;
		size_t len = bar0.size > 4096 ? 4096 : (size_t)bar0.size;
		r = -ENOTSUP;
		if ((bar0.flags & IVSHMEM_BAR_F_MMAP) && !(ep->ivs_flags & IVS_OPEN_REGS_NO_MAP))
			r = ivshmem_pci_map(ep->pci, IVSHMEM_BAR_REGS, 0, len, IVSHMEM_CACHE_UC, 0, &m,
					    NULL);
		if (r == 0) {
			p->regs = m;
			p->regs_len = len;
		} else if (r == -ENOTSUP) {
			/* Only if the backend can: a read of IVPosition (no
			 * side effects) tells. */
			uint32_t v;
			if (ivshmem_pci_bar_read(ep->pci, IVSHMEM_BAR_REGS, IVSHMEM_REG_IV_POSITION, &v,
						 sizeof(v)) != (int)sizeof(v))
				return r;
			p->regs_rw = true;
		} else {
			return r;
		}
	}
	/* Only the doorbell device (BAR1 = MSI-X) has a peer ID and vectors. */
	int nvec = ivshmem_pci_msix_count(ep->pci);
	if (nvec < 0)
		nvec = 0;
	if (have_regs(p) && (bar1.flags & IVSHMEM_BAR_F_PRESENT)) {
		r = read_position(ep, p, opts->ready_timeout_ms);
		if (r < 0)
			return r;
	}
	ep->nvectors = (unsigned)IVS_MIN(nvec, IVSHMEM_MAX_VECTORS);
	if (ep->nvectors == 0 || (opts->flags & IVSHMEM_OPEN_NO_IRQ))
		return 0;
	if (ivshmem_pci_backend(ep->pci) != IVSHMEM_BACKEND_VFIO) {
		ep->irq_error = -ENOTSUP; /* sysfs can ring but not receive */
		return 0;
	}
	/* MSI-X messages are memory writes by the device: without Bus Master
	 * they are never delivered. */
	r = ivshmem_pci_enable(ep->pci, IVSHMEM_PCI_ENABLE_BUSMASTER);
	if (r < 0)
		return r;
	p->fds = calloc(ep->nvectors, sizeof(int));
	if (!p->fds)
		return -ENOMEM;
	r = ivshmem_pci_msix_enable(ep->pci, ep->nvectors, p->fds);
	if (r < 0)
		return r;
	ep->vec_fds = p->fds;
	return 0;
}

static int pci_ring(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	struct pci_priv *p = ep->priv;
	if (!have_regs(p) || ep->id < 0)
		return -ENOTSUP; /* plain device: no doorbell */
	/* QEMU uses the low 8 bits of the vector field (docs/server.md). */
	if (vector > 0xff)
		return -EINVAL;
	return reg_write(ep, p, IVSHMEM_REG_DOORBELL, ivs_doorbell_value(peer, vector));
}

const struct ivs_ep_ops ivs_ep_pci_ops = {
	.kind = "pci",
	.id = IVS_EP_PCI,
	.open = pci_open,
	.close = pci_close,
	.ring = pci_ring,
};

static int file_open(ivshmem_ep *ep, const char *target, const struct ivshmem_open_opts *opts)
{
	int r = ivshmem_pci_open(target, IVSHMEM_BACKEND_FILE, &ep->pci);
	if (r < 0)
		return r;
	struct pci_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ep->priv = p;
	ep->irq_error = -ENOTSUP; /* a bare file has no doorbells */
	return map_shm(ep, p, opts->cache, opts->flags & IVSHMEM_OPEN_NO_MAP);
}

const struct ivs_ep_ops ivs_ep_file_ops = {
	.kind = "file",
	.id = IVS_EP_FILE,
	.open = file_open,
	.close = pci_close,
};
