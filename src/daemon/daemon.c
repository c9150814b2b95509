/* SPDX-License-Identifier: MIT */
/* ivshmemd: the event loop.  One epoll set holds the listening socket, the
 * device's vector fds, the device's control fd (server peers) and one socket
 * per client.  Each client gets its own pipe per subscribed vector, so an
 * interrupt reaches every subscriber; everything a client owns is released
 * when its socket closes.  Relays go to a pipe's write end, which no client
 * holds, so no subscriber can make a relay sleep; eventfd reads never sleep
 * (RWF_NOWAIT).  Doorbell writes (RING) go to eventfds the server's peers
 * share: they check for room and re-assert O_NONBLOCK first
 * (ivs_eventfd_signal), which a peer racing those checks can still beat:
 * docs/security.md says so.  No request queues: a client that doesn't read its
 * answers is dropped, so a client can't make the daemon grow. */
#include "daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "endpoint/endpoint.h"
#include "proto/daemon-proto.h"
#include "service/acceptor.h"
#include "service/log-limit.h"
#include "service/passed-fds.h"
#include "service/runtime-files.h"

enum tag_kind { TAG_LISTEN, TAG_VECTOR, TAG_EPCTL, TAG_STOP, TAG_TIMER, TAG_CLIENT };

/* Connections refused at accept() (users the policy refuses: -EACCES; over
 * a limit: -EUSERS) whose HELLO hadn't arrived: kept, outside the limits,
 * only to answer it. */
#define REFUSED_MAX 16

struct tag {
	enum tag_kind kind;
	unsigned vector;
};

struct client {
	struct tag tag; /* first: epoll data points here */
	int fd;
	struct ivsd_cred cred;
	bool ready;   /* HELLO accepted */
	int refused;  /* < 0: refused at accept(), answer this to HELLO, drop */
	bool capped;  /* counts against the limits (not root, not refused) */
	bool may_ring;
	bool may_direct; /* DOORBELL and CLAIM (the policy's direct grant) */
	uint64_t deadline_ns; /* dropped if not ready by then */
	bool ro;
	uint32_t grants;
	/* Per subscribed vector the write end of a pipe (-1: none): a byte
	 * when the vector fires.  The client holds the read end, alone. */
	int subs[IVSHMEM_MAX_VECTORS];
	struct client *prev, *next;
};

struct ivsd {
	struct ivsd_config cfg;
	struct ivs_rt_socket sock; /* the listener and its lock (runtime-files.h) */
	ivshmem_ep *ep;
	int epfd;
	struct tag listen_tag, ctl_tag, stop_tag, timer_tag;
	struct tag vec_tags[IVSHMEM_MAX_VECTORS];
	struct ivsd_region shm, regs;
	/* The client holding each vector's fd (CLAIM), or NULL: a claimed
	 * vector is out of the epoll set, so the daemon never reads it. */
	struct client *claimed[IVSHMEM_MAX_VECTORS];
	int shm_err, regs_err;
	struct client *clients;
	unsigned nclients, nready, nrefused;
	unsigned ncapped; /* clients counting against the limits */
	struct ivs_log_limit refusal_log; /* lines a refused client causes */
	struct ivs_log_limit client_log;  /* "connected" lines */
	int timer_fd;	    /* HELLO deadlines */
	bool timer_armed;   /* for the earliest deadline of a pending client */
	bool stopping;
	struct ivs_acceptor acc; /* the listener's accepts (service/acceptor.h) */
};

__attribute__((format(printf, 3, 4))) static void logf_(struct ivsd *d, enum ivs_log_level l,
							const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ivs_log_vsay(d->cfg.log, d->cfg.log_ctx, l, NULL, fmt, ap);
	va_end(ap);
}

/* A line a client causes by connecting: rate-limited, since a local user
 * can cause as many as it can connect. */
__attribute__((format(printf, 3, 4))) static void log_limited(struct ivsd *d,
							     struct ivs_log_limit *l,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ivs_log_vsay(d->cfg.log, d->cfg.log_ctx, IVS_LOG_INFO, l, fmt, ap);
	va_end(ap);
}

int ivsd_default_socket(const char *dev, char *buf, size_t size)
{
	struct ivs_ep_spec sp;
	if (ivs_ep_spec_parse(dev, IVSHMEM_BACKEND_AUTO, &sp) == 0)
		dev = sp.target;
	const char *base = strrchr(dev, '/');
	base = base ? base + 1 : dev;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		base = "ivshmem";
	return ivs_path(buf, size, "/run/ivshmem/%s.sock", base);
}

/* ---- clients ------------------------------------------------------------ */

static int watch(struct ivsd *d, int fd, struct tag *t);

/* The vectors c claimed come back to the daemon: watched and relayed
 * again.  The fd c had may live on in another process (a client can pass
 * it on): the daemon's reads never sleep on it (ivs_eventfd_drain), so
 * the worst is interrupts it takes first, which the policy's direct grant
 * accepted (docs/security.md). */
static void release_claims(struct ivsd *d, struct client *c)
{
	for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		if (d->claimed[v] != c)
			continue;
		d->claimed[v] = NULL;
		int r = watch(d, ivshmem_vector_fd(d->ep, v), &d->vec_tags[v]);
		if (r < 0)
			logf_(d, IVS_LOG_WARN, "vector %u: watching it again after pid %d's claim: %s", v,
			      (int)c->cred.pid, strerror(-r));
	}
}

static void drop_client(struct ivsd *d, struct client *c, const char *why)
{
	logf_(d, IVS_LOG_DEBUG, "client pid %d uid %u: %s", (int)c->cred.pid, (unsigned)c->cred.uid,
	      why);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	ivs_pf_close_peer(c->fd);
	release_claims(d, c);
	for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++)
		ivs_close(c->subs[v]);
	free(c->cred.groups);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->ready)
		d->nready--;
	if (c->refused)
		d->nrefused--;
	else
		d->nclients--;
	if (c->capped)
		d->ncapped--;
	free(c);
}

/* Send a response (fd attached if >= 0).  A client whose socket is full is
 * not reading: it is dropped by the caller (return < 0). */
static int reply(struct client *c, const struct ivs_dp_req *req, int status, const uint64_t *v, int fd)
{
	struct ivs_dp_resp resp = {
		.version = IVS_DP_VERSION,
		.opcode = req->opcode,
		.seq = req->seq,
		.status = status,
	};
	if (v)
		memcpy(resp.v, v, sizeof(resp.v));
	uint8_t buf[IVS_DP_RESP_SIZE];
	ivs_dp_resp_encode(&resp, buf);
	return ivs_dp_send(c->fd, buf, sizeof(buf), status < 0 ? -1 : fd, MSG_DONTWAIT);
}

/* An error answer in another header version (a client of another protocol
 * version: the layout of a response is the same in all of them). */
static void reply_as(struct client *c, const struct ivs_dp_req *req, int status, uint16_t version)
{
	struct ivs_dp_resp resp = {.version = version, .opcode = req->opcode, .seq = req->seq, .status = status};
	uint8_t buf[IVS_DP_RESP_SIZE];
	ivs_dp_resp_encode(&resp, buf);
	ivs_dp_send(c->fd, buf, sizeof(buf), -1, MSG_DONTWAIT);
}

static int notify(struct client *c, const struct ivshmem_event *ev)
{
	struct ivs_dp_resp n = {
		.version = IVS_DP_VERSION,
		.opcode = IVS_DP_EVENT,
		.v = {ev->type, ev->peer, ev->vectors},
	};
	uint8_t buf[IVS_DP_RESP_SIZE];
	ivs_dp_resp_encode(&n, buf);
	return ivs_dp_send(c->fd, buf, sizeof(buf), -1, MSG_DONTWAIT);
}

/* The device's peer ID as the protocol carries it. */
static uint64_t peer_id(const ivshmem_ep *ep)
{
	int id = ivshmem_id(ep);
	return id >= 0 ? (uint64_t)id : IVS_DP_NO_PEER_ID;
}

static uint32_t grants_for(struct ivsd *d, const struct client *c)
{
	uint32_t g = 0;
	if (d->shm.ro_fd >= 0)
		g |= IVS_DP_GRANT_SHM_RO;
	if (d->shm.rw_fd >= 0 && !d->cfg.policy.read_only)
		g |= IVS_DP_GRANT_SHM_RW;
	if (d->cfg.policy.allow_registers && d->regs.ro_fd >= 0)
		g |= IVS_DP_GRANT_REGS;
	if (ivs_ep_can_ring(d->ep) && c->may_ring)
		g |= IVS_DP_GRANT_RING;
	if (ivs_ep_rx_vectors(d->ep))
		g |= IVS_DP_GRANT_IRQ;
	if (c->may_direct && (g & IVS_DP_GRANT_RING) && ivs_ep_kind(d->ep) == IVS_EP_SERVER)
		g |= IVS_DP_GRANT_DIRECT_RING;
	if (c->may_direct && (g & IVS_DP_GRANT_IRQ))
		g |= IVS_DP_GRANT_DIRECT_IRQ;
	if (d->cfg.policy.exclusive)
		g |= IVS_DP_GRANT_EXCLUSIVE;
	return g;
}

/* Returns < 0 when the client must be dropped after the answer. */
static int do_hello(struct ivsd *d, struct client *c, const struct ivs_dp_req *req, int *status,
		    uint64_t *v)
{
	if (c->ready) {
		*status = -EALREADY;
		return 0;
	}
	if (req->a0 > req->a1 || req->a2 & ~IVS_DP_HELLO_MASK) {
		*status = -EINVAL;
		return -1;
	}
	if (req->a0 > IVS_DP_VERSION || req->a1 < IVS_DP_VERSION_MIN) {
		*status = -EPROTONOSUPPORT;
		return -1;
	}
	if (d->cfg.policy.exclusive && d->nready > 0) {
		log_limited(d, &d->refusal_log, "refused pid %d uid %u: exclusive, another client is connected",
			    (int)c->cred.pid, (unsigned)c->cred.uid);
		*status = -EBUSY;
		return -1;
	}
	c->ready = true;
	d->nready++;
	c->ro = d->cfg.policy.read_only || (req->a2 & IVS_DP_HELLO_READONLY);
	c->may_ring = ivsd_policy_may_ring(&d->cfg.policy, &c->cred);
	c->may_direct = ivsd_policy_may_direct(&d->cfg.policy, &c->cred);
	c->grants = grants_for(d, c);
	v[0] = c->grants;
	v[1] = peer_id(d->ep);
	v[2] = ivs_ep_rx_vectors(d->ep);
	v[3] = d->shm.size ? d->shm.size : ivshmem_mem_size(d->ep);
	v[4] = d->regs.size;
	v[5] = IVS_DP_VERSION;
	log_limited(d, &d->client_log, "client pid %d uid %u connected (%s%s%s)", (int)c->cred.pid,
		    (unsigned)c->cred.uid, c->ro ? "read-only" : "read-write", c->may_ring ? ", ring" : "",
		    c->may_direct ? ", direct" : "");
	return 0;
}

static int do_map(struct ivsd *d, struct client *c, const struct ivs_dp_req *req, uint64_t *v, int *fd)
{
	const struct ivsd_region *r;
	bool write;
	switch (req->a0) {
	case IVS_DP_MAP_SHM_RW:
		if (c->ro)
			return -EACCES;
		r = &d->shm, write = true;
		break;
	case IVS_DP_MAP_SHM_RO:
		r = &d->shm, write = false;
		break;
	case IVS_DP_MAP_REGS:
		if (!d->cfg.policy.allow_registers)
			return -EACCES;
		r = &d->regs, write = !c->ro;
		if (r->ro_fd < 0)
			return d->regs_err ? d->regs_err : -ENODEV;
		break;
	default:
		return -EINVAL;
	}
	*fd = write ? r->rw_fd : r->ro_fd;
	if (*fd < 0)
		return r == &d->shm && d->shm_err ? d->shm_err : -EACCES;
	v[0] = r->size;
	v[1] = r->off;
	v[2] = r->cache;
	return 0;
}

static int do_subscribe(struct ivsd *d, struct client *c, const struct ivs_dp_req *req, int *fd)
{
	int r = ivs_ep_irq_error(d->ep);
	if (r < 0)
		return r;
	if (req->a0 >= ivs_ep_rx_vectors(d->ep))
		return -EINVAL;
	if (d->claimed[req->a0])
		return -EBUSY; /* a client receives it directly, alone */
	if (c->subs[req->a0] >= 0)
		return -EALREADY; /* its read end went out once, and only then */
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* One page: a client that never reads pins little kernel memory (a
	 * full pipe is a pending interrupt all the same). */
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	c->subs[req->a0] = p[1];
	*fd = p[0]; /* closed once sent (handle_request): one fd kept per subscription */
	return 0;
}

/* CLAIM: the device's own fd of a vector, for c alone; the daemon stops
 * reading it until c goes.  Refused while another client receives it. */
static int do_claim(struct ivsd *d, struct client *c, const struct ivs_dp_req *req, int *fd)
{
	int r = ivs_ep_irq_error(d->ep);
	if (r < 0)
		return r;
	unsigned v = req->a0;
	if (v >= ivs_ep_rx_vectors(d->ep))
		return -EINVAL;
	if (!c->may_direct)
		return -EACCES;
	if (d->claimed[v] && d->claimed[v] != c)
		return -EBUSY;
	for (const struct client *o = d->clients; o; o = o->next)
		if (o->subs[v] >= 0)
			return -EBUSY; /* a subscriber, this client included */
	int vfd = ivshmem_vector_fd(d->ep, v);
	if (vfd < 0)
		return vfd;
	if (!d->claimed[v]) {
		if (epoll_ctl(d->epfd, EPOLL_CTL_DEL, vfd, NULL) < 0)
			return -errno;
		d->claimed[v] = c;
	}
	*fd = vfd;
	return 0;
}

/* DOORBELL: a server peer's eventfd for one of its vectors, so c rings it
 * without the daemon.  Server endpoints only (-ENOTSUP): a PCI device's
 * doorbell is a register (MAP registers, --allow-registers). */
static int do_doorbell(struct ivsd *d, struct client *c, const struct ivs_dp_req *req, int *fd)
{
	if (!ivs_ep_can_ring(d->ep) || ivs_ep_kind(d->ep) != IVS_EP_SERVER)
		return -ENOTSUP;
	if (!c->may_ring || !c->may_direct)
		return -EACCES;
	if (req->a0 >= IVSHMEM_MAX_PEERS || req->a1 >= IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	int r = ivs_ep_doorbell_fd(d->ep, req->a0, req->a1);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

static int do_peers(struct ivsd *d, const struct ivs_dp_req *req, uint64_t *v)
{
	int n = ivshmem_peers(d->ep, NULL, 0);
	if (n < 0)
		return n;
	if (n > IVSHMEM_MAX_PEERS)
		n = IVSHMEM_MAX_PEERS;
	struct ivshmem_peer *all = calloc((size_t)n + 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	int got = ivshmem_peers(d->ep, all, (size_t)n);
	if (got < 0) {
		free(all);
		return got;
	}
	got = IVS_MIN(got, n);
	v[0] = (uint64_t)got;
	for (unsigned i = 0; i < IVS_DP_PEERS_PER_MSG; i++)
		if ((uint64_t)req->a0 + i < (uint64_t)got)
			v[1 + i] = ivs_dp_peer_pack(all[req->a0 + i].id, all[req->a0 + i].vectors);
	free(all);
	return 0;
}

static int kind_code(const ivshmem_ep *ep)
{
	switch (ivs_ep_kind(ep)) {
	case IVS_EP_PCI:
		return IVS_DP_KIND_PCI;
	case IVS_EP_FILE:
		return IVS_DP_KIND_FILE;
	case IVS_EP_SERVER:
		return IVS_DP_KIND_SERVER;
	default:
		return IVS_DP_KIND_OTHER;
	}
}

/* Handle one request.  Returns < 0 if the client must go. */
static int handle_request(struct ivsd *d, struct client *c, const uint8_t *buf, size_t len)
{
	struct ivs_dp_req req;
	int r = ivs_dp_req_decode(buf, len, &req);
	if (r == -EBADMSG)
		return -1; /* malformed: no answer, the client is broken */
	if (c->refused) {
		reply(c, &req, c->refused, NULL, -1);
		return -1;
	}
	if (r == -EPROTONOSUPPORT) {
		/* In the client's own header version, so that it can read why. */
		reply_as(c, &req, r, req.version);
		return -1;
	}
	if (r == -ENOSYS)
		return reply(c, &req, -EOPNOTSUPP, NULL, -1);
	if (!c->ready && req.opcode != IVS_DP_HELLO) {
		reply(c, &req, -EPROTO, NULL, -1);
		return -1;
	}
	uint64_t v[6] = {0};
	int fd = -1, status = 0, keep = 0;
	bool own_fd = false; /* fd is this answer's to close once sent */
	switch (req.opcode) {
	case IVS_DP_HELLO:
		keep = do_hello(d, c, &req, &status, v);
		break;
	case IVS_DP_MAP:
		status = do_map(d, c, &req, v, &fd);
		break;
	case IVS_DP_RING:
		if (!ivs_ep_can_ring(d->ep))
			status = -ENOTSUP; /* nothing to ring: say so to anyone */
		else if (!c->may_ring)
			status = -EACCES;
		else if (req.a0 >= IVSHMEM_MAX_PEERS || req.a1 >= IVSHMEM_MAX_VECTORS)
			status = -EINVAL;
		else
			status = ivshmem_ring(d->ep, req.a0, req.a1);
		break;
	case IVS_DP_SUBSCRIBE:
		status = do_subscribe(d, c, &req, &fd);
		own_fd = status == 0;
		break;
	case IVS_DP_CLAIM:
		status = do_claim(d, c, &req, &fd);
		break;
	case IVS_DP_DOORBELL:
		status = do_doorbell(d, c, &req, &fd);
		break;
	case IVS_DP_INFO:
		v[0] = ivshmem_mem_size(d->ep);
		v[1] = ivs_ep_rx_vectors(d->ep);
		v[2] = peer_id(d->ep);
		v[3] = d->nclients;
		v[4] = (uint64_t)kind_code(d->ep);
		v[5] = c->grants;
		break;
	case IVS_DP_PEERS:
		status = do_peers(d, &req, v);
		break;
	}
	r = reply(c, &req, status, v, fd);
	if (own_fd)
		ivs_close(fd);
	if (d->cfg.debug)
		logf_(d, IVS_LOG_DEBUG, "client pid %d: %s %u %u %u -> %d%s%s", (int)c->cred.pid,
		      ivs_dp_op_name(req.opcode), req.a0, req.a1, req.a2, status,
		      status == 0 && fd >= 0 ? " + fd" : "", r < 0 ? " (not sent)" : "");
	return r < 0 ? r : keep;
}

static void client_readable(struct ivsd *d, struct client *c)
{
	/* A few messages per wakeup, so one chatty client can't starve others. */
	for (int i = 0; i < 16; i++) {
		uint8_t buf[IVS_DP_REQ_SIZE + 1];
		unsigned nfds;
		ssize_t n = ivs_pf_recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT, &nfds);
		if (n == -EAGAIN)
			return;
		if (nfds) { /* clients have no business sending fds */
			drop_client(d, c, "sent a file descriptor");
			return;
		}
		if (n > IVS_DP_REQ_SIZE) {
			drop_client(d, c, "message too long");
			return;
		}
		if (n <= 0) {
			drop_client(d, c, n == 0 ? "disconnected" : "bad message");
			return;
		}
		if (handle_request(d, c, buf, (size_t)n) < 0) {
			drop_client(d, c, "protocol error or refused");
			return;
		}
	}
}

static unsigned hello_ms(const struct ivsd *d)
{
	return d->cfg.hello_timeout_ms ? d->cfg.hello_timeout_ms : 5000;
}

/* Arm the timer for the earliest HELLO deadline, if it isn't armed.  New
 * connections only add later deadlines, so an armed timer stays right. */
static void arm_timer(struct ivsd *d)
{
	if (d->timer_armed || d->timer_fd < 0)
		return;
	uint64_t first = UINT64_MAX;
	for (struct client *c = d->clients; c; c = c->next)
		if (!c->ready && c->deadline_ns < first)
			first = c->deadline_ns;
	if (first == UINT64_MAX)
		return;
	int r = ivs_timerfd_at(d->timer_fd, first);
	if (r == 0)
		d->timer_armed = true;
	else
		logf_(d, IVS_LOG_WARN, "timerfd: %s", strerror(-r));
}

/* Drop the connections whose HELLO is overdue. */
static void timer_fired(struct ivsd *d)
{
	uint64_t n;
	if (read(d->timer_fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return; /* already handled */
	d->timer_armed = false;
	uint64_t now = ivs_now_ns();
	unsigned dropped = 0;
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (!c->ready && c->deadline_ns <= now) {
			dropped += !c->refused;
			drop_client(d, c, "no HELLO in time");
		}
	}
	if (dropped)
		logf_(d, IVS_LOG_DEBUG, "dropped %u connection%s without HELLO after %u ms", dropped,
		      dropped == 1 ? "" : "s", hello_ms(d));
	arm_timer(d);
}

/* A connection refused at accept() (status -EACCES or -EUSERS): answer
 * the HELLO if it is already there, else keep the connection (outside the
 * limits, at most REFUSED_MAX of them, the oldest evicted) until it arrives
 * or its deadline passes.  Either way it takes no client slot.  False:
 * close it now. */
static bool refuse_at_accept(struct ivsd *d, int fd, int status)
{
	uint8_t buf[IVS_DP_REQ_SIZE + 1];
	unsigned nfds = 0;
	ssize_t n = ivs_pf_recv(fd, buf, sizeof(buf), MSG_DONTWAIT, &nfds);
	if (n > IVS_DP_REQ_SIZE)
		n = -EMSGSIZE;
	if (n == -EAGAIN && d->nrefused >= REFUSED_MAX) {
		/* Make room: the newest is the one whose HELLO is on its way. */
		struct client *old = NULL;
		for (struct client *c = d->clients; c; c = c->next)
			if (c->refused && (!old || c->deadline_ns <= old->deadline_ns))
				old = c;
		if (old)
			drop_client(d, old, "refused, waiting for its HELLO: evicted");
	}
	if (n != -EAGAIN) {
		struct ivs_dp_req req;
		int r = n > 0 ? ivs_dp_req_decode(buf, (size_t)n, &req) : -EBADMSG;
		if (r != -EBADMSG && nfds == 0) {
			struct client tmp = {.fd = fd};
			reply(&tmp, &req, status, NULL, -1);
		}
		return false; /* the caller closes it */
	}
	return true;
}

/* Connections of uid held now (pending ones too). */
static unsigned user_clients(const struct ivsd *d, uid_t uid)
{
	unsigned n = 0;
	for (const struct client *c = d->clients; c; c = c->next)
		n += c->capped && c->cred.uid == uid;
	return n;
}

/* 0 if the client may take a slot, else the status its HELLO gets (after
 * logging why). */
static int admit(struct ivsd *d, const struct ivsd_cred *cr)
{
	const struct ivsd_policy *p = &d->cfg.policy;
	if (ivsd_policy_check(p, cr) < 0) {
		log_limited(d, &d->refusal_log, "refused pid %d uid %u gid %u: not allowed by the policy", (int)cr->pid,
			    (unsigned)cr->uid, (unsigned)cr->gid);
		return -EACCES;
	}
	if (cr->uid == 0)
		return 0; /* root is trusted, and never locked out by users */
	unsigned max = ivsd_policy_max_clients(p), per_user = ivsd_policy_max_per_user(p);
	if (d->ncapped >= max) {
		log_limited(d, &d->refusal_log, "turned away pid %d uid %u: %u clients, limit %u (max-clients)", (int)cr->pid,
			    (unsigned)cr->uid, d->ncapped, max);
		return -EUSERS;
	}
	unsigned mine = user_clients(d, cr->uid);
	if (mine >= per_user) {
		log_limited(d, &d->refusal_log, "turned away pid %d uid %u: %u connections of this user, limit %u "
			    "(max-clients-per-user)", (int)cr->pid, (unsigned)cr->uid, mine, per_user);
		return -EUSERS;
	}
	return 0;
}

static void accept_clients(struct ivsd *d)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)hello_ms(d) * 1000000u;
	/* Bounded per round so a connect storm can't starve the clients. */
	for (int i = 0; i < IVS_ACCEPT_BATCH; i++) {
		int fd = ivs_acceptor_next(&d->acc);
		if (fd == -EMFILE)
			continue;
		if (fd < 0)
			break;
		struct client *c = calloc(1, sizeof(*c));
		if (!c || ivsd_peer_cred(fd, &c->cred) < 0) {
			if (c)
				free(c->cred.groups);
			free(c);
			ivs_pf_close_peer(fd);
			logf_(d, IVS_LOG_WARN, "a client was turned away (%s)", c ? "no credentials" : "no memory");
			continue;
		}
		/* The policy and the limits first: a refused connection never
		 * takes a slot. */
		int status = admit(d, &c->cred);
		if (status < 0) {
			if (!refuse_at_accept(d, fd, status)) {
				free(c->cred.groups);
				free(c);
				ivs_pf_close_peer(fd);
				continue;
			}
			c->refused = status;
		}
		c->capped = !c->refused && c->cred.uid != 0;
		c->tag.kind = TAG_CLIENT;
		c->fd = fd;
		c->deadline_ns = deadline;
		for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++)
			c->subs[v] = -1;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->cred.groups);
			free(c);
			ivs_pf_close_peer(fd);
			continue;
		}
		c->next = d->clients;
		if (c->next)
			c->next->prev = c;
		d->clients = c;
		if (c->refused)
			d->nrefused++;
		else
			d->nclients++;
		if (c->capped)
			d->ncapped++;
	}
	arm_timer(d);
}

/* The device fired a vector: a byte to every subscriber's pipe (full: it
 * has one pending already).  The write end is the daemon's alone, so its
 * O_NONBLOCK holds: a client can neither clear it nor fill its pipe from
 * its side. */
static void vector_fired(struct ivsd *d, unsigned v)
{
	int n = ivshmem_vector_ack(d->ep, v);
	if (n <= 0)
		return;
	const char one = 1;
	for (struct client *c = d->clients; c; c = c->next)
		/* EPIPE: the client closed its end (SIGPIPE is ignored). */
		if (c->subs[v] >= 0 && write(c->subs[v], &one, 1) < 0 && errno != EAGAIN && errno != EPIPE)
			logf_(d, IVS_LOG_WARN, "signalling pid %d: %s", (int)c->cred.pid, strerror(errno));
}

static void broadcast(struct ivsd *d, const struct ivshmem_event *ev)
{
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (c->ready && notify(c, ev) < 0)
			drop_client(d, c, "not reading its socket");
	}
}

static void ctl_readable(struct ivsd *d)
{
	struct ivshmem_event ev;
	int r;
	while ((r = ivshmem_next_event(d->ep, &ev)) == 1) {
		if (ev.type == IVSHMEM_EVENT_DISCONNECT) {
			logf_(d, IVS_LOG_WARN, "the device's server went away%s",
			      ivs_ep_disconnect_fatal(d->ep) ? ": interrupts stop" : "");
			continue; /* the device itself is still there: clients stay */
		}
		broadcast(d, &ev);
	}
	if (r < 0 || ivs_ep_disconnected(d->ep)) {
		if (r < 0)
			logf_(d, IVS_LOG_WARN, "device control channel: %s", strerror(-r));
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, ivshmem_event_fd(d->ep), NULL);
	}
}

/* Is t one of the daemon's own tags (not a client's)?  By address only:
 * a client's tag may point to freed memory. */
static bool own_tag(const struct ivsd *d, const struct tag *t)
{
	uintptr_t a = (uintptr_t)t, v0 = (uintptr_t)d->vec_tags, v1 = (uintptr_t)(d->vec_tags + IVSHMEM_MAX_VECTORS);
	return t == &d->listen_tag || t == &d->ctl_tag || t == &d->stop_tag || t == &d->timer_tag ||
	       (a >= v0 && a < v1);
}

int ivsd_dispatch(struct ivsd *d, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(d->epfd, evs, IVS_ARRAY_SIZE(evs), timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	/* Clients dropped while handling this batch must not be touched again:
	 * handle the non-client sources first, then each client once; a
	 * client's own handler is the only one that frees it. */
	for (int i = 0; i < n; i++) {
		struct tag *t = evs[i].data.ptr;
		/* Only our own tags are read here: a client's may already be
		 * freed (by a broadcast of an earlier event of this batch). */
		if (!own_tag(d, t))
			continue;
		switch (t->kind) {
		case TAG_LISTEN:
			accept_clients(d);
			break;
		case TAG_VECTOR:
			vector_fired(d, t->vector);
			break;
		case TAG_EPCTL:
			ctl_readable(d);
			break;
		case TAG_STOP:
			d->stopping = true;
			break;
		case TAG_TIMER:
			timer_fired(d);
			break;
		case TAG_CLIENT:
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		/* A client dropped above (by a broadcast, or earlier in this
		 * loop) is freed: find it among the live ones by address before
		 * reading anything through the pointer. */
		struct client *c = evs[i].data.ptr, *x = d->clients;
		while (x && x != c)
			x = x->next;
		if (x)
			client_readable(d, c);
	}
	return 0;
}

int ivsd_run(struct ivsd *d, int stop_fd)
{
	if (stop_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d->stop_tag};
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, stop_fd, &ev) < 0)
			return -errno;
	}
	int r = 0;
	while (!d->stopping && r == 0)
		r = ivsd_dispatch(d, -1);
	if (stop_fd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	return r;
}

unsigned ivsd_clients(const struct ivsd *d)
{
	return d ? d->nclients : 0;
}

/* ---- setup -------------------------------------------------------------- */

static int make_socket_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Bind the listening socket, under the instance lock.  A stale socket file
 * is replaced; one a live daemon answers on is not (-EADDRINUSE). */
static int listen_on(struct ivsd *d, const char *path)
{
	if (d->sock.adopted)
		return 0; /* the manager's socket listens already */
	int r = make_socket_dir(path);
	if (r < 0)
		return r;
	r = ivs_rt_socket_lock(&d->sock, path);
	if (r < 0)
		return r;
	/* Everybody may connect: the policy decides, and says so. */
	struct ivs_rt_socket_opts o = {
		.type = SOCK_SEQPACKET,
		.mode = 0666,
		.uid = (uid_t)-1,
		.gid = (gid_t)-1,
		.backlog = 64,
		.refuse_fds = true,
	};
	r = ivs_rt_socket_listen(&d->sock, &o, NULL);
	return r == -EEXIST ? -ENOTSOCK : r; /* -EEXIST is the lock's */
}

static int watch(struct ivsd *d, int fd, struct tag *t)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* 0, or -EPERM if the memory is a file every local user may write: they
 * would write it past the policy (a read-only client too, by opening it),
 * or truncate it under the clients (SIGBUS).  Files of the owner and its
 * group are the administrator's choice. */
static int check_backing(struct ivsd *d)
{
	struct stat st;
	if (d->shm.ro_fd < 0 || fstat(d->shm.ro_fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0 ||
	    !(st.st_mode & S_IWOTH))
		return 0;
	logf_(d, IVS_LOG_ERR, "%s is writable by every user (mode %04o): anyone could write it past the "
	      "policy or truncate it under the clients; chmod o-w it", d->shm.source,
	      (unsigned)(st.st_mode & 07777));
	return -EPERM;
}

static void open_regions(struct ivsd *d)
{
	d->shm_err = ivsd_region_open(d->ep, IVSHMEM_BAR_SHM, &d->shm);
	if (d->shm_err < 0)
		logf_(d, IVS_LOG_WARN, "shared memory can't be handed to clients (%s%s%s)%s",
		      strerror(-d->shm_err), d->shm.source[0] ? ": " : "", d->shm.source,
		      d->shm_err == -ENOTSUP ? "; see SECURITY in ivshmem-daemon(8)" : "");
	else
		logf_(d, IVS_LOG_DEBUG, "clients map %s", d->shm.source);
	if (d->cfg.policy.allow_registers) {
		d->regs_err = ivsd_region_open(d->ep, IVSHMEM_BAR_REGS, &d->regs);
		if (d->regs_err < 0)
			logf_(d, IVS_LOG_WARN, "registers can't be handed to clients: %s",
			      strerror(-d->regs_err));
	} else {
		d->regs = (struct ivsd_region){.rw_fd = -1, .ro_fd = -1};
	}
}

int ivsd_new(const struct ivsd_config *cfg, ivshmem_ep *ep, struct ivsd **out)
{
	if (!cfg || !ep || !out || ((!cfg->socket_path || !*cfg->socket_path) && cfg->listen_fd <= 0) ||
	    cfg->listen_fd < 0) {
		if (cfg && cfg->listen_fd > 0)
			close(cfg->listen_fd);
		ivshmem_close(ep);
		return -EINVAL;
	}
	struct ivsd *d = calloc(1, sizeof(*d));
	if (!d) {
		if (cfg->listen_fd > 0)
			close(cfg->listen_fd);
		ivshmem_close(ep);
		return -ENOMEM;
	}
	d->cfg = *cfg;
	d->cfg.policy.owner = geteuid();
	/* A write to a relay pipe a client closed is EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	d->ep = ep;
	d->refusal_log = (struct ivs_log_limit)IVS_LOG_LIMIT_INIT(1000, 10);
	d->client_log = (struct ivs_log_limit)IVS_LOG_LIMIT_INIT(1000, 10);
	ivs_rt_socket_init(&d->sock);
	d->epfd = -1;
	d->timer_fd = -1;
	d->acc.reserve_fd = -1;
	d->shm = d->regs = (struct ivsd_region){.rw_fd = -1, .ro_fd = -1};
	d->listen_tag.kind = TAG_LISTEN;
	d->ctl_tag.kind = TAG_EPCTL;
	d->stop_tag.kind = TAG_STOP;
	d->timer_tag.kind = TAG_TIMER;
	int r;
	if (cfg->listen_fd > 0) {
		/* The manager made it, and its mode (SocketMode=0666: the
		 * policy decides who is served). */
		r = ivs_rt_socket_adopt(&d->sock, cfg->listen_fd, SOCK_SEQPACKET, true); /* takes it, whatever r */
		d->cfg.listen_fd = 0;
		if (r < 0)
			goto fail;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->epfd < 0 || d->timer_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = watch(d, d->timer_fd, &d->timer_tag);
	if (r < 0)
		goto fail;
	open_regions(d);
	r = check_backing(d);
	if (r < 0)
		goto fail;
	r = listen_on(d, cfg->socket_path);
	if (r < 0)
		goto fail;
	if (!d->sock.fds_refused)
		logf_(d, IVS_LOG_WARN, "this kernel can't refuse fds passed by clients (SO_PASSRIGHTS, Linux "
		      "6.16): any local user could tie up the daemon; keep %s%s in a directory only policy "
		      "users can enter", d->sock.path[0] == '/' ? "" : "the socket (now ",
		      d->sock.path[0] == '/' ? d->sock.path : "abstract or unnamed)");
	r = ivs_acceptor_init(&d->acc, d->sock.fd, d->cfg.log, d->cfg.log_ctx);
	if (r < 0)
		goto fail;
	r = watch(d, d->sock.fd, &d->listen_tag);
	if (r < 0)
		goto fail;
	for (unsigned v = 0; v < ivs_ep_rx_vectors(ep) && v < IVSHMEM_MAX_VECTORS; v++) {
		d->vec_tags[v] = (struct tag){.kind = TAG_VECTOR, .vector = v};
		r = watch(d, ivshmem_vector_fd(ep, v), &d->vec_tags[v]);
		if (r < 0)
			goto fail;
	}
	int cfd = ivshmem_event_fd(ep);
	if (cfd >= 0 && !ivs_ep_disconnected(ep)) {
		r = watch(d, cfd, &d->ctl_tag);
		if (r < 0)
			goto fail;
	}
	*out = d;
	return 0;
fail:
	ivsd_free(d);
	return r;
}

const char *ivsd_socket_path(const struct ivsd *d)
{
	return d->sock.path;
}

struct ivsd *ivsd_free(struct ivsd *d)
{
	if (!d)
		return NULL;
	struct ivshmem_event bye = {.type = IVSHMEM_EVENT_DISCONNECT};
	while (d->clients) {
		if (d->clients->ready)
			notify(d->clients, &bye);
		drop_client(d, d->clients, "daemon stopping");
	}
	ivs_rt_socket_close(&d->sock);
	ivs_close(d->timer_fd);
	ivsd_region_close(&d->shm);
	ivsd_region_close(&d->regs);
	ivs_close(d->epfd);
	ivs_acceptor_close(&d->acc);
	ivshmem_close(d->ep);
	free(d);
	return NULL;
}
