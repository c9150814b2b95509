/* SPDX-License-Identifier: MIT */
/* The "server:SOCKET" endpoint: a host peer of an ivshmem server speaking
 * QEMU's protocol, like a VM's ivshmem-doorbell device would.
 *
 * Greeting end.  The protocol does not delimit the greeting: after the shm
 * fd come the existing peers' vectors, then our own ID once per vector, and
 * the number of vectors is not announced.  Servers (QEMU's and ours) send
 * the whole greeting without pausing, own vectors last (ours paces the
 * fds, each once we have read the one before: the gaps are its wakeups),
 * so open() reads until:
 *   - our own ID has arrived at least as often as any peer's (servers
 *     give every peer the same count) and the socket then stays idle
 *     for GREETING_SETTLE_MS, or four times the longest gap seen between
 *     the greeting's messages if that is longer (a busy server paces its
 *     fds slowly; at most GREETING_IDLE_MS), or
 *   - not so, and the socket stays idle for GREETING_IDLE_MS after the
 *     shm fd (a server with 0 vectors), or
 *   - the open timeout expires after the shm fd (a server streaming a huge
 *     peer table: what arrived is kept; the rest is read by pump).
 * What arrives after our own ID (a peer that joined meanwhile) is applied
 * like the rest.
 *
 * Events: changes since open() returned, so that the list open() leaves
 * (ivshmem_peers()) plus the events is the current state.  PEER_JOIN is
 * queued for a peer that was not listed when open() returned, once it has
 * as many vectors as we have (servers give every peer the same count; a
 * peer can be rung from its first vector on); with 0 own vectors on its
 * first vector.  A peer that joined while open() read the greeting is in
 * that list, not reported again; one that joined and left meanwhile is
 * neither.  PEER_LEAVE is queued for any known peer that leaves after
 * open(), also one whose JOIN never came (it left before all its vectors
 * reached us: a server drops the announcements a peer has not read yet
 * when their peer leaves).  DISCONNECT when the server closes the socket or
 * breaks the protocol; the eventfds stay valid, so doorbells between peers
 * keep working (disconnect_fatal = false). */
#include "endpoint/ep-impl.h"
#include "proto/server-proto.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define GREETING_SETTLE_MS 30
#define GREETING_IDLE_MS 500
/* Messages read per pump call: a server that never stops talking must not
 * keep ivshmem_next_event()/ivshmem_wait() from returning.  The rest stays
 * in the socket (level-triggered: the caller's poll sees it again). */
#define PUMP_BATCH 1024

struct srv_priv {
	struct ivs_srv_dec dec;
	struct ivs_srv_rx rx;
	bool own_seen; /* our own ID arrived: the greeting may end */
	bool opened;   /* open() returned: changes are events */
	/* No JOIN due: listed when open() returned, or JOIN queued since. */
	uint8_t joined[IVSHMEM_MAX_PEERS / 8];
};

static bool test_bit(const uint8_t *b, unsigned i)
{
	return b[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *b, unsigned i, bool v)
{
	if (v)
		b[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		b[i / 8] &= (uint8_t)~(1u << (i % 8));
}

/* Apply one decoded message to the endpoint. */
static int handle(ivshmem_ep *ep, int64_t value, int fd)
{
	struct srv_priv *p = ep->priv;
	struct ivs_srv_dec_out o;
	int r = ivs_srv_dec_feed(&p->dec, value, fd, &o);
	if (r < 0)
		return r;
	struct ivshmem_event ev = {0};
	switch (o.what) {
	case IVS_SRV_GOT_ID:
		ep->id = o.peer;
		break;
	case IVS_SRV_GOT_OWN_VECTOR:
		p->own_seen = true;
		/* Eventfds from the server are normally nonblocking
		 * already (QEMU's and ours are): make sure, so draining
		 * never blocks. */
		ivs_set_nonblock(p->dec.own_fds[o.vector]);
		ep->nvectors = p->dec.own_nvec;
		ep->vec_fds = p->dec.own_fds;
		break;
	case IVS_SRV_GOT_PEER_VECTOR: {
		const struct ivs_srv_dec_peer *peer = ivs_srv_dec_find(&p->dec, o.peer);
		ivs_set_nonblock(peer->fds[o.vector]);
		if (!p->opened || test_bit(p->joined, o.peer))
			break;
		if (peer->nvec >= IVS_MAX(ep->nvectors, 1u)) {
			set_bit(p->joined, o.peer, true);
			ev = (struct ivshmem_event){IVSHMEM_EVENT_PEER_JOIN, o.peer, peer->nvec};
		}
		break;
	}
	case IVS_SRV_GOT_PEER_GONE:
		set_bit(p->joined, o.peer, false);
		if (p->opened)
			ev = (struct ivshmem_event){IVSHMEM_EVENT_PEER_LEAVE, o.peer, o.vector};
		break;
	default:
		break;
	}
	if (ev.type)
		return ivs_ep_push_event(ep, &ev);
	return 0;
}

static void server_close(ivshmem_ep *ep)
{
	struct srv_priv *p = ep->priv;
	if (p) {
		ivs_srv_rx_reset(&p->rx);
		ivs_srv_dec_free(&p->dec);
		free(p);
	}
	ep->priv = NULL;
	ep->vec_fds = NULL;
	ep->nvectors = 0;
	ep->ctl_fd = ivs_close(ep->ctl_fd);
}


/* Have all our vectors arrived, as far as we can tell?  Servers give
 * every peer the same count, so fewer than a peer already announced has
 * means more are coming (a server that paces fds, like ours, sends each
 * only once we read the one before: the gaps are its wakeups). */
static bool own_complete(const struct srv_priv *p)
{
	if (!p->own_seen)
		return false;
	for (size_t i = 0; i < p->dec.npeers; i++)
		if (p->dec.peers[i].nvec > p->dec.own_nvec)
			return false;
	return true;
}

/* How long the socket must stay idle after our vectors, given the longest
 * gap seen between the greeting's messages. */
static int settle_ms(uint64_t gap_ms)
{
	return (int)IVS_MIN(IVS_MAX((uint64_t)GREETING_SETTLE_MS, 4 * gap_ms), (uint64_t)GREETING_IDLE_MS);
}

/* Read the greeting (see the comment at the top). */
static int read_greeting(ivshmem_ep *ep, int timeout_ms)
{
	struct srv_priv *p = ep->priv;
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	/* The settle time grows with the longest gap seen between messages:
	 * a slow server (busy machine) paces its fds slowly. */
	uint64_t last = 0, gap_ms = 0;
	for (;;) {
		int64_t v;
		int fd;
		int r = ivs_srv_recv(ep->ctl_fd, &p->rx, &v, &fd);
		if (r == -ECONNRESET)
			return p->dec.shm_seen ? 0 : -ECONNRESET; /* closed mid-greeting (full?) */
		if (r < 0)
			return r;
		if (r == 1) {
			uint64_t now = ivs_now_ns();
			if (last && (now - last) / 1000000u > gap_ms)
				gap_ms = (now - last) / 1000000u;
			last = now;
			r = handle(ep, v, fd);
			if (r < 0)
				return r;
			/* A server that never pauses must not hold open() past
			 * its timeout: what's left is read later by pump. */
			if (p->dec.shm_seen && ivs_remaining_ms(deadline) == 0)
				return 0;
			continue;
		}
		/* Nothing pending: how long may we wait for more? */
		int rem = ivs_remaining_ms(deadline);
		int wait = rem;
		if (p->dec.shm_seen)
			wait = IVS_MIN(rem, own_complete(p) ? settle_ms(gap_ms) : GREETING_IDLE_MS);
		if (wait == 0)
			return p->dec.shm_seen ? 0 : -ETIMEDOUT;
		r = ivs_poll1(ep->ctl_fd, POLLIN, wait);
		if (r < 0)
			return r;
		if (r == 0 && p->dec.shm_seen)
			return 0; /* idle: the greeting is complete */
	}
}

static int server_open(ivshmem_ep *ep, const char *target, const struct ivshmem_open_opts *opts)
{
	struct srv_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ivs_srv_dec_init(&p->dec);
	ivs_srv_rx_init(&p->rx);
	ep->priv = p;
	ep->disconnect_fatal = false;
	ep->irq_error = -ENOTSUP;

	int timeout_ms = opts->ready_timeout_ms;
	int s = ivs_unix_connect(target, SOCK_STREAM, timeout_ms);
	if (s < 0)
		return s;
	ep->ctl_fd = s;
	int r = read_greeting(ep, timeout_ms);
	if (r < 0)
		return r;
	/* Peers that joined while we read the greeting are in the list now,
	 * like the others: they are not news (see the top). */
	for (size_t i = 0; i < p->dec.npeers; i++)
		set_bit(p->joined, p->dec.peers[i].id, true);
	p->opened = true;

	int shm = ivs_srv_dec_take_shm(&p->dec);
	struct stat st;
	if (fstat(shm, &st) < 0) {
		r = -errno;
		close(shm);
		return r;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX) {
		close(shm);
		return -EPROTO; /* the server handed out unusable memory */
	}
	int prot = PROT_READ | (ep->readonly ? 0 : PROT_WRITE);
	void *m = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, shm, 0);
	if (m == MAP_FAILED) {
		r = -errno;
		close(shm);
		return r;
	}
	ep->mem_fd = shm; /* kept: the daemon hands it on */
	ep->mem = m;
	ep->mem_size = ep->map_size = (size_t)st.st_size;
	ep->cache = IVSHMEM_CACHE_WB;
	if (!ep->vec_fds)
		ep->irq_error = -ENOTSUP; /* the server gave us no vectors */
	return 0;
}

static int server_doorbell_fd(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	struct srv_priv *p = ep->priv;
	const struct ivs_srv_dec_peer *pe = ivs_srv_dec_find(&p->dec, peer);
	if (!pe)
		return -ENOENT;
	if (vector >= pe->nvec)
		return -EINVAL;
	return pe->fds[vector];
}

static int server_ring(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	if (ep->id >= 0 && peer == (unsigned)ep->id) {
		/* Ringing ourselves works on a device too. */
		if (vector >= ep->nvectors)
			return -EINVAL;
		return ivs_eventfd_signal(ep->vec_fds[vector]);
	}
	int fd = server_doorbell_fd(ep, peer, vector);
	return fd < 0 ? fd : ivs_eventfd_signal(fd);
}

static int server_peers(ivshmem_ep *ep, struct ivshmem_peer *out, size_t max)
{
	struct srv_priv *p = ep->priv;
	for (size_t i = 0; i < p->dec.npeers && i < max; i++)
		out[i] = (struct ivshmem_peer){p->dec.peers[i].id, p->dec.peers[i].nvec};
	return (int)p->dec.npeers;
}

static int server_pump(ivshmem_ep *ep)
{
	struct srv_priv *p = ep->priv;
	const struct ivshmem_event gone = {IVSHMEM_EVENT_DISCONNECT, 0, 0};
	for (int n = 0; n < PUMP_BATCH && !ep->disconnected; n++) {
		int64_t v;
		int fd;
		int r = ivs_srv_recv(ep->ctl_fd, &p->rx, &v, &fd);
		if (r == 0)
			return 0;
		if (r == 1)
			r = handle(ep, v, fd);
		if (r == -ECONNRESET || r == -EPROTO || r == -ENOTCONN) {
			/* Server gone (or talking garbage: stop listening to it).
			 * The eventfds we hold keep working. */
			ep->disconnected = true;
			int e = ivs_ep_push_event(ep, &gone);
			return r == -EPROTO ? -EPROTO : e;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

const struct ivs_ep_ops ivs_ep_server_ops = {
	.kind = "server",
	.id = IVS_EP_SERVER,
	.open = server_open,
	.close = server_close,
	.ring = server_ring,
	.peers = server_peers,
	.pump = server_pump,
	.doorbell_fd = server_doorbell_fd,
};
