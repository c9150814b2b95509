/* SPDX-License-Identifier: MIT */
/* Endpoints: the one API over a guest PCI device, a host file, a peer of an
 * ivshmem server and a client of the broker daemon.  endpoint.c owns the
 * common state and generic operations; each kind supplies an ops table. */
#ifndef IVS_ENDPOINT_H
#define IVS_ENDPOINT_H

#include "util/util.h"

/* Internal open flag (not in ivshmem.h; for tests): PCI endpoints don't map
 * BAR0 and reach the registers with ivshmem_pci_bar_read/_write, as they do
 * when the backend can't map it. */
#define IVS_OPEN_REGS_NO_MAP (1u << 31)

struct ivs_ep_ops {
	const char *kind; /* "pci", "file", "server", "daemon" */
	/* Open: target is the spec without its "kind:" prefix.  Must fill
	 * ep->mem/mem_size and may fill id, vectors, vec_fds. */
	int (*open)(ivshmem_ep *ep, const char *target, const struct ivshmem_open_opts *opts);
	void (*close)(ivshmem_ep *ep);
	int (*ring)(ivshmem_ep *ep, unsigned peer, unsigned vector);
	/* Optional (server, daemon): the peers known now. */
	int (*peers)(ivshmem_ep *ep, struct ivshmem_peer *out, size_t max);
	/* Optional: read what is pending on ep->ctl_fd without blocking,
	 * update state and queue events with ivs_ep_push_event().  On EOF set
	 * ep->disconnected and queue IVSHMEM_EVENT_DISCONNECT.  0 or -errno. */
	int (*pump)(ivshmem_ep *ep);
};

/* Queue an event for ivshmem_next_event().  0 or -ENOMEM. */
int ivs_ep_push_event(ivshmem_ep *ep, const struct ivshmem_event *ev);

struct ivshmem_ep {
	const struct ivs_ep_ops *ops;
	void *mem;
	size_t mem_size;
	size_t map_size; /* what to munmap (0: the kind unmaps in close) */
	int mem_fd;	 /* fd behind mem if the kind keeps one (closed here), or -1:
			    lets a broker reopen it without /proc/self/map_files */
	bool readonly;
	bool ring_denied; /* has doorbells, but may not ring them (a policy) */
	enum ivshmem_cache cache;
	int id;		 /* -ENODATA if none */
	unsigned nvectors;
	int *vec_fds;	 /* nvectors fds or NULL (cannot receive) */
	int irq_error;	 /* why vec_fds is NULL: -ENOTSUP, ... */
	int ctl_fd;	   /* control socket (server, daemon) or -1 */
	bool disconnected; /* server/daemon gone */
	bool disconnect_fatal; /* interrupts stop when the control side goes */
	struct ivshmem_event *events; /* queue for ivshmem_next_event */
	size_t ev_head, ev_count, ev_cap;
	ivshmem_pci_dev *pci; /* "pci" and "file" kinds */
	void *priv;
};

/* Whether ivshmem_ring() can succeed here: the kind has doorbells and
 * nothing (a daemon's policy) forbids ringing them. */
bool ivs_ep_can_ring(const ivshmem_ep *ep);

/* Read the control socket (server, daemon) until it stays quiet for
 * quiet_ms, for at most max_ms.  A service sends what it holds for us as
 * we read (a server sends at most a message or two with an fd ahead of
 * us: docs/server.md), so after a long time without reading, what
 * ivshmem_peers() knows lags behind; once quiet, it is what the service
 * had said.  1 quiet (or nothing to read: no control socket, or it is
 * gone), 0 still talking at max_ms, -errno. */
int ivs_ep_catch_up(ivshmem_ep *ep, int quiet_ms, int max_ms);

extern const struct ivs_ep_ops ivs_ep_pci_ops;
extern const struct ivs_ep_ops ivs_ep_file_ops;
extern const struct ivs_ep_ops ivs_ep_server_ops;
extern const struct ivs_ep_ops ivs_ep_daemon_ops;

#endif
