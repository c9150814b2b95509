/* SPDX-License-Identifier: MIT */
/* Inside the endpoint layer: the handle and the kinds' ops tables.
 * endpoint.c owns the common state and generic operations; each kind
 * (ep-pci.c: pci and file, ep-server.c, ep-daemon.c) supplies an ops
 * table.  Included only by the .c files of src/lib/endpoint/ (tests/unit/test-layers.sh
 * checks it); everything else goes through ivshmem.h and endpoint.h. */
#ifndef IVS_EP_IMPL_H
#define IVS_EP_IMPL_H

#include "endpoint/endpoint.h"

#include <pthread.h>

struct ivs_ep_ops {
	const char *kind; /* "pci", "file", "server", "daemon" */
	enum ivs_ep_kind id;
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
	/* Optional: consume what vector's fd has pending, without blocking
	 * (default: an eventfd's count).  The count, 0 or -errno. */
	int (*ack)(ivshmem_ep *ep, unsigned vector, int fd);
	/* Optional (server): the eventfd that rings another peer's vector
	 * (borrowed), or -ENOENT / -EINVAL as ring would say. */
	int (*doorbell_fd)(ivshmem_ep *ep, unsigned peer, unsigned vector);
};

/* Queue an event for ivshmem_next_event().  0 or -ENOMEM. */
int ivs_ep_push_event(ivshmem_ep *ep, const struct ivshmem_event *ev);

/* Threads.  Everything fixed at open (ops, mem, sizes, id, vectors and
 * their fds, readonly, ring_denied, cache, pci) is read without a lock.
 * The control side (ctl_fd, disconnected, the kind's priv state, the event
 * queue, leaves) changes under `lock`: endpoint.c takes it around every
 * ops->ring of a kind with a control socket, ops->peers and ops->pump,
 * and ops may assume it held (ivs_ep_push_event included); open and
 * close run alone. */
struct ivshmem_ep {
	const struct ivs_ep_ops *ops;
	pthread_mutex_t lock;
	void *mem;
	size_t mem_size;
	size_t map_size; /* what to munmap (0: the kind unmaps in close) */
	int mem_fd;	 /* fd behind mem if the kind keeps one (closed here), or -1:
			    lets a broker reopen it without /proc/self/map_files */
	unsigned ivs_flags; /* IVS_OPEN_* of ivs_ep_open (endpoint.h) */
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
	uint8_t *leaves; /* per peer ID: PEER_LEAVE events seen (wraps), lazily */
	ivshmem_pci_dev *pci; /* "pci" and "file" kinds */
	void *priv;
};

extern const struct ivs_ep_ops ivs_ep_pci_ops;
extern const struct ivs_ep_ops ivs_ep_file_ops;
extern const struct ivs_ep_ops ivs_ep_server_ops;
extern const struct ivs_ep_ops ivs_ep_daemon_ops;

#endif
