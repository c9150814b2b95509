/* SPDX-License-Identifier: MIT */
/* Endpoint front: parse the spec, dispatch to the kind, and the operations
 * that are the same for every kind (waiting on vector fds). */
#include "endpoint/ep-impl.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The kinds' ops tables, by kind. */
static const struct ivs_ep_ops *const kind_ops[] = {
	[IVS_EP_PCI] = &ivs_ep_pci_ops,
	[IVS_EP_FILE] = &ivs_ep_file_ops,
	[IVS_EP_SERVER] = &ivs_ep_server_ops,
	[IVS_EP_DAEMON] = &ivs_ep_daemon_ops,
};

int ivshmem_open(const char *spec, const struct ivshmem_open_opts *opts, ivshmem_ep **out)
{
	return ivs_ep_open(spec, opts, 0, out);
}

int ivs_ep_open(const char *spec, const struct ivshmem_open_opts *opts, unsigned ivs_flags,
		ivshmem_ep **out)
{
	if (!spec || !out || !*spec)
		return -EINVAL;
	static const struct ivshmem_open_opts defaults = {0};
	if (!opts)
		opts = &defaults;
	if ((unsigned)opts->backend > IVSHMEM_BACKEND_FILE || (unsigned)opts->cache > IVSHMEM_CACHE_WB ||
	    !ivs_all_zero(opts->reserved, sizeof(opts->reserved)) ||
	    (opts->flags & ~(IVSHMEM_OPEN_READONLY | IVSHMEM_OPEN_NO_IRQ | IVSHMEM_OPEN_NO_MAP |
			     IVSHMEM_OPEN_EXCLUSIVE_IRQ)) ||
	    (ivs_flags & ~IVS_OPEN_REGS_NO_MAP))
		return -EINVAL;

	struct ivs_ep_spec sp;
	int r = ivs_ep_spec_parse(spec, opts->backend, &sp);
	if (r < 0)
		return r;
	if (!*sp.target)
		return -EINVAL;
	const struct ivs_ep_ops *ops = kind_ops[sp.kind];
	const char *target = sp.target;
	/* The backends get the wait in effect: 0 (a zeroed struct) and any
	 * negative value are the default, so no one gets "don't wait" by
	 * leaving the field out. */
	struct ivshmem_open_opts o = *opts;
	if (o.ready_timeout_ms <= 0)
		o.ready_timeout_ms = IVS_READY_TIMEOUT_MS;
	opts = &o;

	ivshmem_ep *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->ops = ops;
	pthread_mutex_init(&ep->lock, NULL);
	ep->id = -ENODATA;
	ep->ctl_fd = -1;
	ep->mem_fd = -1;
	ep->irq_error = -ENOTSUP;
	ep->readonly = opts->flags & IVSHMEM_OPEN_READONLY;
	ep->ivs_flags = ivs_flags;
	r = ops->open(ep, target, opts);
	if (r < 0) {
		ivshmem_close(ep);
		return r;
	}
	*out = ep;
	return 0;
}

ivshmem_ep *ivshmem_close(ivshmem_ep *ep)
{
	if (!ep)
		return NULL;
	if (ep->ops && ep->ops->close)
		ep->ops->close(ep);
	if (ep->mem && ep->map_size)
		munmap(ep->mem, ep->map_size);
	ivs_close(ep->mem_fd);
	free(ep->events);
	free(ep->leaves);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
	return NULL;
}

const char *ivshmem_kind(const ivshmem_ep *ep)
{
	return ep ? ep->ops->kind : "";
}

enum ivs_ep_kind ivs_ep_kind(const ivshmem_ep *ep)
{
	return ep->ops->id;
}

unsigned ivs_ep_rx_vectors(const ivshmem_ep *ep)
{
	return ep && ep->vec_fds ? ep->nvectors : 0;
}

int ivs_ep_irq_error(const ivshmem_ep *ep)
{
	if (!ep)
		return -EINVAL;
	if (ep->vec_fds)
		return 0;
	return ep->irq_error < 0 ? ep->irq_error : -ENOTSUP;
}

int ivs_ep_mem_fd(const ivshmem_ep *ep)
{
	return ep ? ep->mem_fd : -1;
}

bool ivs_ep_disconnected(ivshmem_ep *ep)
{
	if (!ep)
		return false;
	pthread_mutex_lock(&ep->lock);
	bool gone = ep->disconnected;
	pthread_mutex_unlock(&ep->lock);
	return gone;
}

bool ivs_ep_disconnect_fatal(const ivshmem_ep *ep)
{
	return ep && ep->disconnect_fatal;
}

void *ivshmem_mem(const ivshmem_ep *ep)
{
	return ep ? ep->mem : NULL;
}

size_t ivshmem_mem_size(const ivshmem_ep *ep)
{
	return ep ? ep->mem_size : 0;
}

int ivshmem_mem_readonly(const ivshmem_ep *ep)
{
	return ep ? ep->readonly : -EINVAL;
}

enum ivshmem_cache ivshmem_mem_cache(const ivshmem_ep *ep)
{
	return ep ? ep->cache : IVSHMEM_CACHE_DEFAULT;
}

int ivshmem_id(const ivshmem_ep *ep)
{
	return ep ? ep->id : -EINVAL;
}

int ivshmem_vectors(const ivshmem_ep *ep)
{
	return ep ? (int)ep->nvectors : -EINVAL;
}

ivshmem_pci_dev *ivshmem_pci(const ivshmem_ep *ep)
{
	return ep ? ep->pci : NULL;
}

int ivshmem_ring(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	if (!ep)
		return -EINVAL;
	if (!ep->ops->ring)
		return -ENOTSUP;
	if (peer >= IVSHMEM_MAX_PEERS || vector >= IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	if (ep->ctl_fd < 0) /* pci, file: a register write, no shared state */
		return ep->ops->ring(ep, peer, vector);
	pthread_mutex_lock(&ep->lock);
	int r = ep->ops->ring(ep, peer, vector);
	pthread_mutex_unlock(&ep->lock);
	return r;
}

int ivs_ep_doorbell_fd(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	if (!ep || !ep->ops->doorbell_fd)
		return -ENOTSUP;
	if (ep->id >= 0 && peer == (unsigned)ep->id)
		return -EINVAL;
	pthread_mutex_lock(&ep->lock);
	int r = ep->ops->doorbell_fd(ep, peer, vector);
	pthread_mutex_unlock(&ep->lock);
	return r;
}

bool ivs_ep_can_ring(const ivshmem_ep *ep)
{
	return ep && ep->ops->ring && !ep->ring_denied;
}

int ivshmem_vector_fd(ivshmem_ep *ep, unsigned vector)
{
	if (!ep)
		return -EINVAL;
	if (!ep->vec_fds)
		return ep->irq_error;
	if (vector >= ep->nvectors)
		return -EINVAL;
	return ep->vec_fds[vector];
}

int ivshmem_vector_ack(ivshmem_ep *ep, unsigned vector)
{
	int fd = ivshmem_vector_fd(ep, vector);
	if (fd < 0)
		return fd;
	if (ep->ops->ack)
		return ep->ops->ack(ep, vector, fd);
	return (int)ivs_eventfd_drain(fd); /* at most INT32_MAX */
}

/* Read what the control socket has; lock held.  0 or -errno. */
static int pump_locked(ivshmem_ep *ep)
{
	if (!ep->ops->pump || ep->ctl_fd < 0 || ep->disconnected)
		return 0;
	return ep->ops->pump(ep);
}

int ivshmem_wait(ivshmem_ep *ep, unsigned vector, int timeout_ms)
{
	int fd = ivshmem_vector_fd(ep, vector);
	if (fd < 0)
		return fd;
	uint64_t deadline = timeout_ms < 0 ? 0 : ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		int n = ivshmem_vector_ack(ep, vector);
		if (n != 0)
			return n;
		pthread_mutex_lock(&ep->lock);
		bool gone = ep->disconnected;
		pthread_mutex_unlock(&ep->lock);
		if (gone && ep->disconnect_fatal)
			return -ECONNRESET;
		int rem = ivs_remaining_ms(deadline);
		if (deadline && rem == 0)
			return -ETIMEDOUT;
		/* Also watch the control socket, so a vanished daemon ends the
		 * wait instead of hanging it.  (The fd stays open until close:
		 * polling it beside another thread's reads is fine.) */
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = -1}};
		if (ep->ctl_fd >= 0 && !gone && ep->ops->pump)
			p[1] = (struct pollfd){.fd = ep->ctl_fd, .events = POLLIN};
		int r = poll(p, 2, rem);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && p[1].revents) {
			pthread_mutex_lock(&ep->lock);
			r = pump_locked(ep);
			/* A hung-up socket the kind didn't recognise as gone would
			 * make this loop spin: it is gone. */
			if (r >= 0 && (p[1].revents & (POLLHUP | POLLERR)) && !ep->disconnected)
				ep->disconnected = true;
			pthread_mutex_unlock(&ep->lock);
			if (r < 0)
				return r;
		}
	}
}

int ivs_ep_push_event(ivshmem_ep *ep, const struct ivshmem_event *ev)
{
	if (ev->type == IVSHMEM_EVENT_PEER_LEAVE) {
		/* Evidence for ivs_ep_peer_gone(), whatever happens to the event. */
		if (!ep->leaves)
			ep->leaves = calloc(IVSHMEM_MAX_PEERS, 1);
		if (!ep->leaves)
			return -ENOMEM;
		ep->leaves[ev->peer]++;
	}
	if (ep->ev_count == ep->ev_cap) {
		size_t cap = ep->ev_cap ? ep->ev_cap * 2 : 16;
		struct ivshmem_event *q = malloc(cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < ep->ev_count; i++)
			q[i] = ep->events[(ep->ev_head + i) % ep->ev_cap];
		free(ep->events);
		ep->events = q;
		ep->ev_cap = cap;
		ep->ev_head = 0;
	}
	ep->events[(ep->ev_head + ep->ev_count) % ep->ev_cap] = *ev;
	ep->ev_count++;
	return 0;
}

int ivs_ep_pump(ivshmem_ep *ep)
{
	if (!ep || !ep->ops->pump || ep->ctl_fd < 0)
		return 0;
	pthread_mutex_lock(&ep->lock);
	int r = pump_locked(ep);
	pthread_mutex_unlock(&ep->lock);
	return r;
}

/* Read the control socket until it stays quiet for quiet_ms, for at most
 * max_ms: 1 quiet (or nothing to read: no control socket, or it is gone),
 * 0 still talking at max_ms, -errno. */
static int catch_up(ivshmem_ep *ep, int quiet_ms, int max_ms)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)max_ms * 1000000ull;
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		int r = pump_locked(ep);
		bool gone = ep->disconnected;
		pthread_mutex_unlock(&ep->lock);
		if (r < 0)
			return r;
		if (gone)
			return 1;
		if (ivs_remaining_ms(deadline) < quiet_ms)
			return 0;
		/* Not under the lock: another thread may ring meanwhile. */
		r = ivs_poll1(ep->ctl_fd, POLLIN, quiet_ms);
		if (r < 0)
			return r;
		if (r == 0)
			return 1;
	}
}

/* Whether the kind's peer list has id (true when it can't be read:
 * unknown counts as alive).  Lock held. */
static bool peer_listed(ivshmem_ep *ep, unsigned id)
{
	int n = ep->ops->peers(ep, NULL, 0);
	if (n <= 0)
		return n < 0;
	struct ivshmem_peer *peers = calloc((size_t)n, sizeof(*peers));
	if (!peers)
		return true;
	int got = ep->ops->peers(ep, peers, (size_t)n);
	bool found = got < 0;
	for (int i = 0; i < IVS_MIN(got, n) && !found; i++)
		found = peers[i].id == id;
	free(peers);
	return found;
}

static uint8_t leaves_of(const ivshmem_ep *ep, unsigned id)
{
	return ep->leaves ? ep->leaves[id] : 0;
}

void ivs_ep_watch_peer(ivshmem_ep *ep, unsigned id, struct ivs_peer_watch *w)
{
	*w = (struct ivs_peer_watch){id, 0, true};
	if (!ep || id >= IVSHMEM_MAX_PEERS || !ep->ops->peers)
		return;
	pthread_mutex_lock(&ep->lock);
	(void)pump_locked(ep); /* leaves already waiting are not news */
	w->leaves = leaves_of(ep, id);
	w->listed_at_start = ep->disconnected || peer_listed(ep, id);
	pthread_mutex_unlock(&ep->lock);
}

enum { LISTED, GONE, LEFT_BEFORE, MISSING, UNKNOWN };

/* Each look drains the socket until it is quiet this long, at most for
 * DRAIN_MAX_MS: a server refills it within microseconds of a read. */
#define DRAIN_QUIET_MS 2
#define DRAIN_MAX_MS 20

/* What the list says of w's peer now, after reading what is pending.
 * Lock held; -errno on a read error. */
static int look_locked(ivshmem_ep *ep, struct ivs_peer_watch *w)
{
	if (ep->disconnected)
		return UNKNOWN;
	int r = pump_locked(ep);
	if (r < 0)
		return r;
	if (ep->disconnected)
		return UNKNOWN;
	if (peer_listed(ep, w->id))
		return LISTED;
	uint8_t n = leaves_of(ep, w->id);
	if (n != w->leaves)
		return GONE;
	return !w->listed_at_start && n ? LEFT_BEFORE : MISSING;
}

static int look(ivshmem_ep *ep, struct ivs_peer_watch *w)
{
	pthread_mutex_lock(&ep->lock);
	int r = look_locked(ep, w);
	pthread_mutex_unlock(&ep->lock);
	return r;
}

int ivs_ep_peer_gone(ivshmem_ep *ep, struct ivs_peer_watch *w, bool careful, int quiet_ms, int max_ms)
{
	unsigned id = w->id;
	if (!ep || !ep->ops->peers || !ep->ops->pump || ep->ctl_fd < 0 || id >= IVSHMEM_MAX_PEERS ||
	    ep->nvectors == 0 || (ep->id >= 0 && id == (unsigned)ep->id))
		return 0;
	/* Drain what the service is sending now, not just what is buffered:
	 * a server sends the next fd only once we read the one before, and a
	 * peer whose announcements never reached us gets no leave either (the
	 * server purges both). */
	int r = catch_up(ep, DRAIN_QUIET_MS, DRAIN_MAX_MS);
	if (r < 0)
		return r;
	r = look(ep, w);
	if (r == GONE && !careful)
		return 1; /* its leave was read since we began watching */
	if (r != GONE && r != LEFT_BEFORE)
		return r < 0 ? r : 0; /* listed, or no evidence */
	/* A leave without the watch to vouch for it: confirm, with all the
	 * service had to say read (a new peer with that ID may follow). */
	r = catch_up(ep, quiet_ms, max_ms);
	if (r <= 0)
		return r;
	r = look(ep, w);
	return r < 0 ? r : r == GONE || r == LEFT_BEFORE;
}

int ivshmem_peers(ivshmem_ep *ep, struct ivshmem_peer *out, size_t max)
{
	if (!ep || (!out && max))
		return -EINVAL;
	if (!ep->ops->peers)
		return -ENOTSUP;
	pthread_mutex_lock(&ep->lock);
	int r = ep->ops->peers(ep, out, max);
	pthread_mutex_unlock(&ep->lock);
	return r;
}

int ivshmem_event_fd(ivshmem_ep *ep)
{
	if (!ep)
		return -EINVAL;
	return ep->ops->pump && ep->ctl_fd >= 0 ? ep->ctl_fd : -ENOTSUP;
}

int ivshmem_next_event(ivshmem_ep *ep, struct ivshmem_event *ev)
{
	if (!ep || !ev)
		return -EINVAL;
	if (!ep->ops->pump)
		return -ENOTSUP;
	pthread_mutex_lock(&ep->lock);
	int r = 0;
	if (ep->ev_count == 0)
		r = pump_locked(ep);
	if (ep->ev_count == 0) {
		pthread_mutex_unlock(&ep->lock);
		return r < 0 ? r : 0;
	}
	*ev = ep->events[ep->ev_head];
	ep->ev_head = (ep->ev_head + 1) % ep->ev_cap;
	ep->ev_count--;
	pthread_mutex_unlock(&ep->lock);
	return 1;
}
