/* SPDX-License-Identifier: MIT */
/* The "daemon:SOCKET" endpoint: a client of `ivshmem daemon`, which owns the
 * device.  Memory comes as an fd from MAP; interrupts as one pipe per vector
 * from SUBSCRIBE (the daemon writes a byte each time the vector fires), or,
 * with IVSHMEM_OPEN_EXCLUSIVE_IRQ, as the device's own vector fds from CLAIM;
 * doorbells go through RING, or straight to a server peer's eventfd from
 * DOORBELL where the daemon grants it (kept per peer and vector until the
 * peer leaves).  The socket is the control fd: when the daemon goes, the
 * endpoint is disconnected for good (interrupts stop), so ivshmem_wait()
 * returns -ECONNRESET. */
#include "endpoint/ep-impl.h"
#include "proto/daemon-proto.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* Direct doorbells kept at most (a peer and vector each); past that, the
 * rest ring through the daemon. */
#define BELLS_MAX 64

struct bell {
	uint16_t peer, vector;
	int fd; /* the peer's eventfd for that vector */
};

struct daemon_priv {
	uint32_t seq;
	int timeout_ms;
	uint32_t grants;
	int *fds;	  /* interrupt fds, nvectors entries: pipes, or claimed eventfds */
	uint64_t claimed; /* vectors whose fd is the device's own (CLAIM); fixed at open */
	bool no_bells;	  /* ring through the daemon (no grant, or it refused) */
	struct bell bells[BELLS_MAX];
	unsigned nbells;
};

/* A peer left: its doorbells are dead (a new peer with its ID has others). */
static void forget_bells(struct daemon_priv *p, unsigned peer)
{
	for (unsigned i = 0; i < p->nbells;) {
		if (p->bells[i].peer == peer) {
			ivs_close(p->bells[i].fd);
			p->bells[i] = p->bells[--p->nbells];
		} else {
			i++;
		}
	}
}

static void set_disconnected(ivshmem_ep *ep)
{
	if (ep->disconnected)
		return;
	ep->disconnected = true;
	struct ivshmem_event ev = {.type = IVSHMEM_EVENT_DISCONNECT};
	ivs_ep_push_event(ep, &ev);
}

/* A notice (opcode EVENT) from the daemon. */
static void handle_notice(ivshmem_ep *ep, const struct ivs_dp_resp *n)
{
	if (n->v[0] == IVSHMEM_EVENT_DISCONNECT) {
		/* The daemon shuts down: the connection ends right after. */
		set_disconnected(ep);
		return;
	}
	if (n->v[0] != IVSHMEM_EVENT_PEER_JOIN && n->v[0] != IVSHMEM_EVENT_PEER_LEAVE)
		return; /* newer daemon, unknown notice: ignore */
	if (n->v[0] == IVSHMEM_EVENT_PEER_LEAVE)
		forget_bells(ep->priv, (uint16_t)n->v[1]);
	struct ivshmem_event ev = {
		.type = (enum ivshmem_event_type)n->v[0],
		.peer = (uint16_t)n->v[1],
		.vectors = (uint16_t)n->v[2],
	};
	ivs_ep_push_event(ep, &ev);
}

/* Receive one message.  Returns 1 with *resp (and *fd) filled, 0 if nothing
 * is pending (non-blocking), or -errno; EOF gives -ECONNRESET. */
static int recv_one(ivshmem_ep *ep, struct ivs_dp_resp *resp, int *fd, int flags)
{
	uint8_t buf[IVS_DP_RESP_SIZE];
	ssize_t n = ivs_dp_recv(ep->ctl_fd, buf, sizeof(buf), fd, flags);
	if (n == -EAGAIN)
		return 0;
	if (n == 0 || n == -ECONNRESET || n == -EPIPE) {
		set_disconnected(ep);
		return -ECONNRESET;
	}
	if (n < 0 && n != -EMSGSIZE && n != -EBADMSG)
		return (int)n;
	int r = n < 0 ? -EPROTO : ivs_dp_resp_decode(buf, (size_t)n, resp);
	if (r < 0) {
		*fd = ivs_close(*fd);
		/* Another header version: a daemon of another protocol version
		 * (it answers HELLO in ours, saying so, then closes). */
		return r == -EPROTONOSUPPORT ? -EPROTONOSUPPORT : -EPROTO;
	}
	return 1;
}

/* Send a request and wait for its response, handling notices meanwhile.
 * Returns the response status (0 or -errno) or a transport error; *fd
 * receives an attached fd (the caller owns it) or -1. */
static int call(ivshmem_ep *ep, struct ivs_dp_req *req, struct ivs_dp_resp *resp, int *fd)
{
	struct daemon_priv *p = ep->priv;
	*fd = -1;
	if (ep->disconnected)
		return -ECONNRESET;
	req->version = IVS_DP_VERSION;
	req->seq = ++p->seq ? p->seq : ++p->seq; /* seq 0 is for notices */
	uint8_t buf[IVS_DP_REQ_SIZE];
	ivs_dp_req_encode(req, buf);
	int r = ivs_dp_send(ep->ctl_fd, buf, sizeof(buf), -1, 0);
	if (r == -EPIPE || r == -ECONNRESET) {
		set_disconnected(ep);
		return -ECONNRESET;
	}
	if (r == -EAGAIN)
		return -ETIMEDOUT; /* SO_SNDTIMEO: the daemon doesn't read */
	if (r < 0)
		return r;
	uint64_t deadline = ivs_now_ns() + (uint64_t)p->timeout_ms * 1000000ull;
	for (;;) {
		int got = -1;
		r = recv_one(ep, resp, &got, MSG_DONTWAIT);
		if (r < 0)
			return r;
		if (r == 0) {
			int rem = ivs_remaining_ms(deadline);
			if (rem == 0)
				return -ETIMEDOUT;
			r = ivs_poll1(ep->ctl_fd, POLLIN, rem);
			if (r < 0)
				return r;
			continue;
		}
		if (resp->opcode == IVS_DP_EVENT && resp->seq == 0) {
			ivs_close(got);
			handle_notice(ep, resp);
			if (ep->disconnected)
				return -ECONNRESET;
			/* Checked on every message, not only when idle: a
			 * daemon that streams notices can't hold us past it. */
			if (ivs_remaining_ms(deadline) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (resp->seq != req->seq || resp->opcode != req->opcode) {
			ivs_close(got); /* stale answer to an abandoned request */
			if (ivs_remaining_ms(deadline) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (resp->status < 0) {
			ivs_close(got);
			return resp->status;
		}
		*fd = got;
		return 0;
	}
}


static int map_memory(ivshmem_ep *ep)
{
	struct ivs_dp_req req = {.opcode = IVS_DP_MAP,
				 .a0 = ep->readonly ? IVS_DP_MAP_SHM_RO : IVS_DP_MAP_SHM_RW};
	struct ivs_dp_resp resp;
	int fd;
	int r = call(ep, &req, &resp, &fd);
	if (r < 0)
		return r;
	if (fd < 0)
		return -EPROTO;
	uint64_t size = resp.v[0], off = resp.v[1];
	size_t page = ivs_page_size();
	if (size == 0 || size > SIZE_MAX - page || off % page || resp.v[2] > IVSHMEM_CACHE_WB) {
		ivs_close(fd);
		return -EPROTO;
	}
	void *m = mmap(NULL, (size_t)size, ep->readonly ? PROT_READ : PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, (off_t)off);
	r = m == MAP_FAILED ? -errno : 0;
	ivs_close(fd); /* the mapping keeps the memory */
	if (r < 0)
		return r;
	ep->mem = m;
	ep->mem_size = (size_t)size;
	ep->map_size = (size_t)size;
	ep->cache = (enum ivshmem_cache)resp.v[2];
	return 0;
}

/* SUBSCRIBE (a pipe per vector) or, claiming, CLAIM (the device's own
 * fds) every vector. */
static int subscribe_all(ivshmem_ep *ep, bool claim)
{
	struct daemon_priv *p = ep->priv;
	p->fds = malloc(ep->nvectors * sizeof(int));
	if (!p->fds)
		return -ENOMEM;
	for (unsigned v = 0; v < ep->nvectors; v++)
		p->fds[v] = -1;
	for (unsigned v = 0; v < ep->nvectors; v++) {
		struct ivs_dp_req req = {.opcode = claim ? IVS_DP_CLAIM : IVS_DP_SUBSCRIBE, .a0 = v};
		struct ivs_dp_resp resp;
		int r = call(ep, &req, &resp, &p->fds[v]);
		if (r < 0)
			return r;
		if (p->fds[v] < 0)
			return -EPROTO;
		struct stat st;
		if (fstat(p->fds[v], &st) < 0)
			return -errno;
		if (!claim && !S_ISFIFO(st.st_mode))
			return -EPROTO; /* version 2 relays on pipes */
		/* Our reads never sleep, whatever the daemon handed over. */
		ivs_set_nonblock(p->fds[v]);
		if (claim)
			p->claimed |= 1ull << v;
	}
	ep->vec_fds = p->fds;
	return 0;
}

static int daemon_open(ivshmem_ep *ep, const char *target, const struct ivshmem_open_opts *opts)
{
	struct daemon_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ep->priv = p;
	p->timeout_ms = opts->ready_timeout_ms;
	ep->disconnect_fatal = true;
	int s = ivs_unix_connect(target, SOCK_SEQPACKET, p->timeout_ms);
	if (s < 0)
		return s;
	ep->ctl_fd = s;

	struct ivs_dp_req req = {
		.opcode = IVS_DP_HELLO,
		.a0 = IVS_DP_VERSION_MIN,
		.a1 = IVS_DP_VERSION,
		.a2 = ep->readonly ? IVS_DP_HELLO_READONLY : 0,
	};
	struct ivs_dp_resp resp;
	int fd;
	int r = call(ep, &req, &resp, &fd);
	ivs_close(fd);
	if (r < 0)
		return r;
	p->grants = (uint32_t)resp.v[0];
	p->no_bells = !(p->grants & IVS_DP_GRANT_DIRECT_RING);
	if ((p->grants & IVS_DP_GRANT_SHM_RO) && !(p->grants & IVS_DP_GRANT_SHM_RW))
		ep->readonly = true; /* the daemon's policy: read-only clients */
	ep->ring_denied = !(p->grants & IVS_DP_GRANT_RING);
	if (resp.v[1] < IVSHMEM_MAX_PEERS)
		ep->id = (int)resp.v[1];
	else if (resp.v[1] != IVS_DP_NO_PEER_ID)
		return -EPROTO;
	if (resp.v[2] > IVSHMEM_MAX_VECTORS)
		return -EPROTO;
	ep->nvectors = (unsigned)resp.v[2];

	r = map_memory(ep);
	if (r < 0)
		return r;
	if (ep->nvectors == 0 || !(p->grants & IVS_DP_GRANT_IRQ)) {
		ep->irq_error = -ENOTSUP;
		return 0;
	}
	if (opts->flags & IVSHMEM_OPEN_NO_IRQ)
		return 0;
	bool claim = opts->flags & IVSHMEM_OPEN_EXCLUSIVE_IRQ;
	if (claim && !(p->grants & IVS_DP_GRANT_DIRECT_IRQ))
		return -EACCES;
	return subscribe_all(ep, claim);
}

static void daemon_close(ivshmem_ep *ep)
{
	struct daemon_priv *p = ep->priv;
	if (p) {
		if (p->fds)
			for (unsigned v = 0; v < ep->nvectors; v++)
				ivs_close(p->fds[v]);
		for (unsigned i = 0; i < p->nbells; i++)
			ivs_close(p->bells[i].fd);
		free(p->fds);
		free(p);
	}
	ep->priv = NULL;
	ep->vec_fds = NULL;
	ep->ctl_fd = ivs_close(ep->ctl_fd);
}

static int daemon_pump(ivshmem_ep *ep);

/* The direct doorbell of (peer, vector): a kept fd, one asked for now (kept
 * if there is room: *temp says whether the caller closes it), or < 0:
 * -ENOTSUP to ring through the daemon, else the error RING would give. */
static int bell_fd(ivshmem_ep *ep, unsigned peer, unsigned vector, bool *temp)
{
	struct daemon_priv *p = ep->priv;
	*temp = false;
	if (p->no_bells || peer >= IVSHMEM_MAX_PEERS || vector >= IVSHMEM_MAX_VECTORS ||
	    (ep->id >= 0 && peer == (unsigned)ep->id)) /* our own ID: the daemon relays */
		return -ENOTSUP;
	/* The daemon's notices first (one non-blocking read when there are
	 * none): a LEAVE of this peer makes its kept doorbell dead, and a
	 * client that only rings never reads its socket otherwise. */
	int r = daemon_pump(ep);
	if (r < 0)
		return r;
	if (ep->disconnected)
		return -ECONNRESET;
	for (unsigned i = 0; i < p->nbells; i++)
		if (p->bells[i].peer == peer && p->bells[i].vector == vector)
			return p->bells[i].fd;
	struct ivs_dp_req req = {.opcode = IVS_DP_DOORBELL, .a0 = peer, .a1 = vector};
	struct ivs_dp_resp resp;
	int fd;
	r = call(ep, &req, &resp, &fd);
	if (r == -EACCES || r == -ENOTSUP || r == -EOPNOTSUPP) {
		p->no_bells = true; /* the daemon won't: ask no more */
		return -ENOTSUP;
	}
	if (r < 0)
		return r;
	if (fd < 0)
		return -EPROTO;
	ivs_set_nonblock(fd);
	if (p->nbells < BELLS_MAX)
		p->bells[p->nbells++] = (struct bell){(uint16_t)peer, (uint16_t)vector, fd};
	else
		*temp = true;
	return fd;
}

static int daemon_ring(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	bool temp;
	int fd = bell_fd(ep, peer, vector, &temp);
	if (fd >= 0) {
		int r = ivs_eventfd_signal(fd);
		if (temp)
			ivs_close(fd);
		return r;
	}
	if (fd != -ENOTSUP)
		return fd;
	struct ivs_dp_req req = {.opcode = IVS_DP_RING, .a0 = peer, .a1 = vector};
	struct ivs_dp_resp resp;
	int r = call(ep, &req, &resp, &fd);
	ivs_close(fd);
	return r;
}

static int daemon_peers(ivshmem_ep *ep, struct ivshmem_peer *out, size_t max)
{
	/* The pages go to a copy first: out is written only once every page
	 * has come and checked out. */
	size_t want = max < IVSHMEM_MAX_PEERS ? max : IVSHMEM_MAX_PEERS;
	struct ivshmem_peer *got = want ? calloc(want, sizeof(*got)) : NULL;
	if (want && !got)
		return -ENOMEM;
	size_t total = 0;
	int r = 0;
	for (uint32_t first = 0;; first += IVS_DP_PEERS_PER_MSG) {
		struct ivs_dp_req req = {.opcode = IVS_DP_PEERS, .a0 = first};
		struct ivs_dp_resp resp;
		int fd;
		r = call(ep, &req, &resp, &fd);
		ivs_close(fd);
		if (r < 0)
			goto out;
		r = -EPROTO;
		if (resp.v[0] > IVSHMEM_MAX_PEERS)
			goto out;
		total = (size_t)resp.v[0];
		for (unsigned i = 0; i < IVS_DP_PEERS_PER_MSG && first + i < total; i++) {
			uint64_t e = resp.v[1 + i];
			if (!(e >> 32))
				goto out;
			if (first + i < want)
				got[first + i] = (struct ivshmem_peer){(uint16_t)e, (uint16_t)(e >> 16)};
		}
		if (first + IVS_DP_PEERS_PER_MSG >= total || first + IVS_DP_PEERS_PER_MSG >= want)
			break;
	}
	if (total && want)
		memcpy(out, got, sizeof(*got) * (total < want ? total : want));
	r = (int)total;
out:
	free(got);
	return r;
}

static int daemon_pump(ivshmem_ep *ep)
{
	/* Bounded: a daemon that never stops talking must not keep
	 * ivshmem_next_event()/ivshmem_wait() from returning. */
	for (int i = 0; i < 1024; i++) {
		struct ivs_dp_resp n;
		int fd = -1;
		int r = recv_one(ep, &n, &fd, MSG_DONTWAIT);
		if (r == -ECONNRESET)
			return 0; /* reported as an event */
		if (r <= 0)
			return r;
		ivs_close(fd);
		if (n.opcode == IVS_DP_EVENT && n.seq == 0)
			handle_notice(ep, &n);
		if (ep->disconnected)
			return 0;
	}
	return 0;
}

/* A relay pipe at EOF: the daemon is gone (or dropped us).  An EOF is
 * readable for ever, so the fd number gets a quiet eventfd instead
 * (dup3: callers polling it, channels included, see no more interrupts,
 * as when the daemon stops relaying), and the socket's end is read, so
 * that the DISCONNECT event is there when the caller looks. */
static void pipe_gone(ivshmem_ep *ep, int fd)
{
	pthread_mutex_lock(&ep->lock);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
		int quiet = ivs_eventfd();
		if (quiet >= 0) {
			dup3(quiet, fd, O_CLOEXEC);
			close(quiet);
		}
	}
	daemon_pump(ep);
	set_disconnected(ep);
	pthread_mutex_unlock(&ep->lock);
}

/* Pipes carry a byte per firing; claimed vectors are eventfds. */
static int daemon_ack(ivshmem_ep *ep, unsigned vector, int fd)
{
	struct daemon_priv *p = ep->priv;
	if (p->claimed & (1ull << vector))
		return (int)ivs_eventfd_drain(fd);
	uint8_t buf[512];
	int total = 0;
	for (int i = 0; i < 64; i++) { /* bounded: 32 KiB, a relay pipe is 4 KiB */
		ssize_t n = ivs_read_nowait(fd, buf, sizeof(buf));
		if (n > 0) {
			total += (int)n;
			continue;
		}
		if (n == -EAGAIN)
			break;
		if (n == 0) { /* the daemon closed its end: dropped us, or gone */
			if (total)
				return total;
			pipe_gone(ep, fd);
			return -ECONNRESET;
		}
		return total ? total : (int)n;
	}
	return total;
}

const struct ivs_ep_ops ivs_ep_daemon_ops = {
	.kind = "daemon",
	.id = IVS_EP_DAEMON,
	.open = daemon_open,
	.close = daemon_close,
	.ring = daemon_ring,
	.peers = daemon_peers,
	.pump = daemon_pump,
	.ack = daemon_ack,
};
