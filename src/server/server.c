/* SPDX-License-Identifier: MIT */
/* The ivshmem server core.  See server.h and docs/server.md.
 *
 * Robustness rules:
 *   - every socket is nonblocking; a message that can't go now goes to a
 *     per-peer queue, flushed on EPOLLOUT; a queue over its limit means the
 *     peer doesn't read: it is dropped.  Queued announcements of a peer
 *     that left are purged.  The queues hold no fds: an entry names where
 *     its fd comes from (the shm, or a live peer's vector), looked up when
 *     it is sent, so a peer that doesn't read costs the server memory for
 *     its entries, never fds.
 *   - fds in flight are bounded per peer: each peer socket has the
 *     smallest send buffer, and a message with an fd is sent only while the
 *     socket is writable, which then means at most one message is unread;
 *     so a peer that never reads pins at most two fds in the kernel, even
 *     after it is dropped (the kernel counts them against the server's
 *     user until the peer reads or closes them: RLIMIT_NOFILE, "in-flight
 *     fds").
 *   - a peer that hasn't taken its whole greeting within the greeting
 *     deadline, counted from its last read, is dropped: a connection that
 *     never reads can't hold a peer slot, an ID or the others' attention
 *     for long.  QEMU reads its greeting when it realizes the device, after
 *     its memory is allocated: the default (60 s) leaves room for that.  (By the rule above, the
 *     greeting's last message, an fd, goes out only once the peer has read
 *     all but the one before it; a peer that reads nothing never gets past
 *     the version and its ID, and holds no fd at all.)
 *   - a send error or any data from a client (QEMU never writes) drops it.
 *   - drops found while iterating are deferred to a "dead" list and
 *     processed after the iteration (a drop announces the leave, which can
 *     find more dead peers).
 *   - accepts are handled after every other event of an epoll batch, so a
 *     reused ID never receives a stale event meant for its predecessor. */
#include "server.h"

#include "proto/server-proto.h"
#include "service/acceptor.h"
#include "service/log-limit.h"
#include "service/passed-fds.h"
#include "service/runtime-files.h"
#include "util/util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define QUEUE_BASE 4096 /* queued messages a peer may lag behind, plus... */
#define KEY_LISTEN 0	   /* epoll keys: the listener, the timer, peer ID + 1 */
#define KEY_TIMER UINT64_MAX

/* Where a message's fd comes from. */
#define SRC_NONE (-1) /* no fd */
#define SRC_SHM (-2)  /* the shared memory; else the ID of the peer whose vector */

struct outmsg {
	int64_t value;
	int32_t src; /* SRC_NONE, SRC_SHM or a peer ID */
	uint8_t vec; /* which of src's vectors */
	uint8_t off; /* bytes already sent (the fd went with the first) */
};

struct ivs_server {
	struct ivs_server_opts opts;
	struct ivs_rt_socket sock; /* the listener, its lock (runtime-files.h) */
	char shm_name[256];
	int shm_fd;
	bool shm_created; /* a POSIX shm we created: unlink it at close */
	int epoll_fd;
	struct ivs_server_peer **peers; /* IVSHMEM_MAX_PEERS slots, by ID */
	struct ivs_server_peer *live;	/* list of connected peers */
	struct ivs_server_peer *dead;	/* to be dropped (send failed, ...) */
	unsigned npeers;
	unsigned lowest_free; /* hint: no free ID below this */
	unsigned next_id;     /* IVS_SERVER_IDS_NEXT: where the search starts */
	uint64_t accepted, dropped;
	struct ivs_acceptor acc; /* the listener's accepts (service/acceptor.h) */
	int timer_fd;	  /* greeting deadlines */
	bool timer_armed; /* for the earliest one */
	struct ivs_log_limit refusal_log;  /* refusals: any client can cause them */
	struct ivs_log_limit inflight_log; /* ETOOMANYREFS warnings */
};

struct ivs_server_peer {
	uint16_t id;
	int sock;
	unsigned nvec;
	int vec[IVSHMEM_MAX_VECTORS];
	struct outmsg *q;
	size_t qhead, qlen, qcap; /* entries [qhead, qlen) pending */
	bool want_out;		  /* EPOLLOUT armed */
	uint64_t nsent;		  /* messages sent (or skipped: source gone) */
	uint64_t greet_msgs;	  /* how many of them the greeting is */
	bool greeted;		  /* nsent reached greet_msgs */
	uint64_t greet_by_ns;	  /* else it is dropped at this time */
	bool dead;
	const char *why; /* reason for the drop */
	struct ivs_server_peer *next, *prev, *next_dead;
};

__attribute__((format(printf, 3, 4))) static void slog(struct ivs_server *s, enum ivs_log_level l,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ivs_log_vsay(s->opts.log, s->opts.log_ctx, l, NULL, fmt, ap);
	va_end(ap);
}

/* A line any local user who can connect causes as often as it likes:
 * rate-limited (log-limit.h). */
__attribute__((format(printf, 4, 5))) static void limited_log(struct ivs_server *s,
							      enum ivs_log_level level,
							      struct ivs_log_limit *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ivs_log_vsay(s->opts.log, s->opts.log_ctx, level, l, fmt, ap);
	va_end(ap);
}

#define refusal_log(s, ...) limited_log(s, IVS_LOG_INFO, &(s)->refusal_log, __VA_ARGS__)

/* ---- shared memory --------------------------------------------------- */

static int create_shm(struct ivs_server *s)
{
	const struct ivs_server_opts *o = &s->opts;
	uint64_t size = o->size;
	int fd;
	if (o->shm_dir) {
		char path[4096];
		int r = ivs_path(path, sizeof(path), "%s/ivshmem.XXXXXX", o->shm_dir);
		if (r < 0)
			return r;
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		unlink(path); /* nothing left behind, whatever happens */
		struct statfs sf;
		if (fstatfs(fd, &sf) == 0 && (uint32_t)sf.f_type == HUGETLBFS_MAGIC && sf.f_bsize > 0) {
			uint64_t b = (uint64_t)sf.f_bsize;
			size = (size + b - 1) / b * b;
		}
		snprintf(s->shm_name, sizeof(s->shm_name), "%s (unlinked file)", o->shm_dir);
	} else {
		if (snprintf(s->shm_name, sizeof(s->shm_name), "%s", o->shm_name) >= (int)sizeof(s->shm_name))
			return -ENAMETOOLONG;
		fd = shm_open(o->shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			s->shm_created = true;
		} else if (errno == EEXIST && o->shm_reuse) {
			/* NONBLOCK: a FIFO planted there can't make open() sleep. */
			fd = shm_open(o->shm_name, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
			if (fd < 0)
				return errno == ELOOP ? -EPERM : -errno;
		} else {
			return -errno; /* -EEXIST: not ours to take without being asked */
		}
	}
	s->shm_fd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!s->shm_created && !o->shm_dir) {
		/* Someone made it before us: only our own, private file will do,
		 * else whoever can open it reads and writes every VM's memory. */
		if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
			return -EPERM;
	}
	if (!o->shm_dir) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* peers share the flags */
		/* One server per shm: a second one must not resize it under
		 * the first one's peers.  (A -m file is unique and unlinked.) */
		if (flock(fd, LOCK_EX | LOCK_NB) < 0)
			return errno == EWOULDBLOCK ? -EBUSY : -errno;
	}
	if (!s->shm_created && !o->shm_dir && st.st_size != 0 && (uint64_t)st.st_size != size)
		return -ERANGE; /* its peers' mappings would break */
	/* A file bigger than its filesystem (tmpfs allows it: sparse) maps,
	 * then SIGBUSes whoever touches the part that can't be had. */
	struct statfs fs;
	if (fstatfs(fd, &fs) == 0 && fs.f_blocks > 0 && fs.f_bsize > 0 &&
	    size / (uint64_t)fs.f_bsize > (uint64_t)fs.f_blocks)
		return -EFBIG;
	if ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) < 0) {
		int e = -errno;
		/* hugetlbfs files can't shrink: a big-enough one is fine. */
		if ((uint64_t)st.st_size < size)
			return e;
	}
	return 0;
}

/* ---- peers and their output queues ------------------------------------ */

static void mark_dead(struct ivs_server *s, struct ivs_server_peer *p, const char *why)
{
	if (p->dead)
		return;
	p->dead = true;
	p->why = why;
	p->next_dead = s->dead;
	s->dead = p;
}

static void set_out(struct ivs_server *s, struct ivs_server_peer *p, bool on)
{
	if (p->want_out == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u),
				 .data.u64 = (uint64_t)p->id + 1};
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, p->sock, &ev) == 0)
		p->want_out = on;
	else
		mark_dead(s, p, "epoll error");
}

static size_t queue_limit(const struct ivs_server *s)
{
	/* Enough for a full greeting plus plenty of churn. */
	return QUEUE_BASE + 4 * (size_t)(s->npeers + 1) * (s->opts.nvectors + 1);
}

static void enqueue(struct ivs_server *s, struct ivs_server_peer *p, struct outmsg m)
{
	if (p->qlen - p->qhead >= queue_limit(s)) {
		mark_dead(s, p, "not reading its socket");
		return;
	}
	if (p->qlen == p->qcap) {
		if (p->qhead) { /* compact */
			memmove(p->q, p->q + p->qhead, (p->qlen - p->qhead) * sizeof(*p->q));
			p->qlen -= p->qhead;
			p->qhead = 0;
		}
		if (p->qlen == p->qcap) {
			size_t cap = p->qcap ? p->qcap * 2 : 64;
			struct outmsg *nq = realloc(p->q, cap * sizeof(*nq));
			if (!nq) {
				mark_dead(s, p, "out of memory");
				return;
			}
			p->q = nq;
			p->qcap = cap;
		}
	}
	p->q[p->qlen++] = m;
}

static unsigned greeting_ms(const struct ivs_server *s)
{
	return s->opts.greeting_timeout_ms ? s->opts.greeting_timeout_ms : IVS_SERVER_DEFAULT_GREETING_MS;
}

/* The fd a message carries: -1 none, -2 its source is gone. */
static int src_fd(const struct ivs_server *s, const struct outmsg *m)
{
	if (m->src == SRC_NONE || m->off)
		return -1; /* (an fd goes with the first byte) */
	if (m->src == SRC_SHM)
		return s->shm_fd;
	const struct ivs_server_peer *o = m->src >= 0 && m->src < IVSHMEM_MAX_PEERS ? s->peers[m->src] : NULL;
	return o && m->vec < o->nvec ? o->vec[m->vec] : -2;
}

static void sent_one(struct ivs_server *s, struct ivs_server_peer *p)
{
	if (++p->nsent >= p->greet_msgs)
		p->greeted = true;
	else if (p->nsent > 2)
		/* Progress (past the version and ID, a message goes only once
		 * the peer read the one before): the deadline counts from its
		 * last read, so a big greeting read slowly is not cut off. */
		p->greet_by_ns = ivs_now_ns() + (uint64_t)greeting_ms(s) * 1000000u;
}

/* May a message with an fd go to this socket now?  Writable means, with
 * the smallest send buffer, at most one message unread (see the top). */
static bool fd_may_go(int sock)
{
	struct pollfd pfd = {.fd = sock, .events = POLLOUT};
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

/* Send what is queued for p while the socket takes it; arm EPOLLOUT for
 * the rest. */
static void flush(struct ivs_server *s, struct ivs_server_peer *p)
{
	while (!p->dead && p->qhead < p->qlen) {
		struct outmsg *m = &p->q[p->qhead];
		int fd = src_fd(s, m);
		if (fd == -2) { /* purged at its drop; never sent half */
			p->qhead++;
			sent_one(s, p);
			continue;
		}
		if (fd >= 0 && !fd_may_go(p->sock))
			break;
		uint8_t b[IVS_SRV_MSG_LEN];
		ivs_srv_encode(m->value, b);
		ssize_t n = ivs_srv_send(p->sock, b + m->off, sizeof(b) - m->off, fd);
		if (n == -EAGAIN)
			break;
		if (n == -ETOOMANYREFS) {
			/* The kernel's count of this user's fds in flight is
			 * full: peers that don't read hold them.  Retrying
			 * would spin; this peer can reconnect. */
			limited_log(s, IVS_LOG_WARN, &s->inflight_log,
				    "peer %u: the kernel refuses to pass more fds: too many are in flight in "
				    "sockets that aren't read (run the server as root, or raise its fd limit)",
				    p->id);
			mark_dead(s, p, "fds in flight over the limit");
			return;
		}
		if (n <= 0) {
			mark_dead(s, p, n == -EPIPE || n == -ECONNRESET ? "closed" : "send failed");
			return;
		}
		if (s->opts.debug && !m->off)
			slog(s, IVS_LOG_DEBUG, "peer %u <- %lld%s%s", p->id, (long long)m->value,
			     fd >= 0 ? " + fd" : "", p->qhead + 1 < p->qlen ? " (queued)" : "");
		m->off = (uint8_t)(m->off + n);
		if (m->off == IVS_SRV_MSG_LEN) {
			p->qhead++;
			sent_one(s, p);
		}
	}
	if (p->dead)
		return;
	if (p->qhead == p->qlen)
		p->qhead = p->qlen = 0;
	set_out(s, p, p->qlen > 0);
}

/* Send one message to p (src: where its fd comes from), after what is
 * already queued. */
static void send_to(struct ivs_server *s, struct ivs_server_peer *p, int64_t value, int32_t src,
		    unsigned vec)
{
	if (p->dead)
		return;
	bool idle = p->qhead == p->qlen;
	enqueue(s, p, (struct outmsg){value, src, (uint8_t)vec, 0});
	if (idle)
		flush(s, p);
}

/* Forget queued announcements of a peer that left.  Returns true when all
 * nvec of them were still queued: the client never heard of that peer, so
 * its leave is not sent either.  This keeps a slow client's queue
 * bounded by the current state, not by the churn it sleeps through.  A
 * peer with 0 vectors (-n 0) is announced by nothing, so nobody ever heard
 * of it: a leave would name a peer the client never saw (QEMU's
 * contrib/ivshmem-client takes that for an error and disconnects). */
static bool purge(struct ivs_server_peer *p, uint16_t id, unsigned nvec)
{
	size_t w = p->qhead;
	unsigned purged = 0;
	/* Greeting messages still queued: the first ones (it went first). */
	uint64_t greeting_left = p->greeted ? 0 : p->greet_msgs - p->nsent;
	for (size_t r = p->qhead; r < p->qlen; r++) {
		struct outmsg *m = &p->q[r];
		if (m->src == id && m->off == 0) {
			purged++;
			if (r - p->qhead < greeting_left)
				p->greet_msgs--; /* the greeting is shorter now */
			continue;
		}
		p->q[w++] = *m;
	}
	p->qlen = w;
	if (!p->greeted && p->nsent >= p->greet_msgs)
		p->greeted = true;
	return purged == nvec;
}

static void free_peer(struct ivs_server_peer *p)
{
	free(p->q);
	for (unsigned i = 0; i < p->nvec; i++)
		ivs_close(p->vec[i]);
	ivs_pf_close_peer(p->sock);
	free(p);
}

static void unlink_live(struct ivs_server *s, struct ivs_server_peer *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		s->live = p->next;
	if (p->next)
		p->next->prev = p->prev;
	s->peers[p->id] = NULL;
	s->npeers--;
	if (p->id < s->lowest_free)
		s->lowest_free = p->id;
}

static void drop(struct ivs_server *s, struct ivs_server_peer *p, const char *why)
{
	uint16_t id = p->id;
	unsigned nvec = p->nvec;
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, p->sock, NULL);
	unlink_live(s, p);
	free_peer(p);
	s->dropped++;
	slog(s, IVS_LOG_INFO, "peer %u disconnected (%s)", id, why);
	for (struct ivs_server_peer *o = s->live; o; o = o->next) {
		if (!purge(o, id, nvec))
			send_to(s, o, id, SRC_NONE, 0);
	}
}

static void reap(struct ivs_server *s)
{
	while (s->dead) {
		struct ivs_server_peer *p = s->dead;
		s->dead = p->next_dead;
		drop(s, p, p->why);
	}
}

static int alloc_id(struct ivs_server *s)
{
	if (s->opts.ids == IVS_SERVER_IDS_NEXT) {
		for (unsigned k = 0; k < IVSHMEM_MAX_PEERS; k++) {
			unsigned i = (s->next_id + k) % IVSHMEM_MAX_PEERS;
			if (!s->peers[i]) {
				s->next_id = (i + 1) % IVSHMEM_MAX_PEERS;
				return (int)i;
			}
		}
		return -1;
	}
	for (unsigned i = s->lowest_free; i < IVSHMEM_MAX_PEERS; i++) {
		if (!s->peers[i]) {
			s->lowest_free = i + 1;
			return (int)i;
		}
	}
	return -1;
}

/* Arm the timer for the earliest greeting deadline, if it isn't armed. */
static void arm_timer(struct ivs_server *s)
{
	if (s->timer_armed || s->timer_fd < 0)
		return;
	uint64_t first = UINT64_MAX;
	for (struct ivs_server_peer *p = s->live; p; p = p->next)
		if (!p->greeted && !p->dead && p->greet_by_ns < first)
			first = p->greet_by_ns;
	if (first == UINT64_MAX)
		return;
	int r = ivs_timerfd_at(s->timer_fd, first);
	if (r == 0)
		s->timer_armed = true;
	else
		slog(s, IVS_LOG_WARN, "timerfd: %s", strerror(-r));
}

/* The greeting deadline: peers past it that haven't taken their greeting
 * are dropped. */
static void check_greetings(struct ivs_server *s)
{
	uint64_t now = ivs_now_ns();
	for (struct ivs_server_peer *p = s->live; p; p = p->next)
		if (!p->greeted && !p->dead && p->greet_by_ns <= now)
			mark_dead(s, p, "did not read its greeting in time");
}

static void timer_fired(struct ivs_server *s)
{
	uint64_t n;
	if (read(s->timer_fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	s->timer_armed = false;
	check_greetings(s);
	reap(s);
	arm_timer(s);
}

/* Turn a connection away in the protocol: version, then ID -1 (QEMU:
 * "server sent invalid ID"; libivshmem: -EUSERS).  Best effort, no
 * waiting: the socket is new, its buffer empty. */
static void refuse(struct ivs_server *s, int c, const char *why)
{
	uint8_t b[2 * IVS_SRV_MSG_LEN];
	ivs_srv_encode(IVS_SRV_PROTO_VERSION, b);
	ivs_srv_encode(IVS_SRV_FULL_ID, b + IVS_SRV_MSG_LEN);
	(void)ivs_srv_send(c, b, sizeof(b), -1);
	ivs_pf_close_peer(c);
	refusal_log(s, "connection refused: %s", why);
}

static void accept_one(struct ivs_server *s, int c)
{
	unsigned max = s->opts.max_peers ? s->opts.max_peers : IVSHMEM_MAX_PEERS;
	int id = s->npeers < max ? alloc_id(s) : -1;
	if (id < 0) {
		char why[64];
		snprintf(why, sizeof(why), "at the peer limit (--max-peers %u)", max);
		refuse(s, c, why);
		return;
	}
	struct ivs_server_peer *p = calloc(1, sizeof(*p));
	if (!p) {
		refuse(s, c, "out of memory");
		s->lowest_free = IVS_MIN(s->lowest_free, (unsigned)id);
		return;
	}
	p->id = (uint16_t)id;
	p->sock = c;
	/* The smallest send buffer (the kernel rounds it up): see the top. */
	int one = 1;
	(void)setsockopt(c, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	for (; p->nvec < s->opts.nvectors; p->nvec++) {
		int e = ivs_eventfd();
		if (e < 0) {
			slog(s, IVS_LOG_WARN, "connection refused: eventfd: %s", strerror(-e));
			free_peer(p);
			s->lowest_free = IVS_MIN(s->lowest_free, (unsigned)id);
			return;
		}
		p->vec[p->nvec] = e;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)id + 1};
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, c, &ev) < 0) {
		slog(s, IVS_LOG_WARN, "connection refused: epoll: %s", strerror(errno));
		free_peer(p);
		s->lowest_free = IVS_MIN(s->lowest_free, (unsigned)id);
		return;
	}
	s->peers[id] = p;
	p->next = s->live;
	if (s->live)
		s->live->prev = p;
	s->live = p;
	s->npeers++;
	s->accepted++;
	p->greet_by_ns = ivs_now_ns() + (uint64_t)greeting_ms(s) * 1000000u;
	p->greet_msgs = 3 + p->nvec;
	for (struct ivs_server_peer *o = s->live; o; o = o->next)
		if (o != p && !o->dead)
			p->greet_msgs += o->nvec;

	/* Greeting: version, ID, shm, the others' vectors, then our own last
	 * (clients detect the greeting's end by their own ID). */
	send_to(s, p, IVS_SRV_PROTO_VERSION, SRC_NONE, 0);
	send_to(s, p, id, SRC_NONE, 0);
	send_to(s, p, IVS_SRV_SHM_ID, SRC_SHM, 0);
	for (struct ivs_server_peer *o = s->live; o; o = o->next) {
		if (o == p || o->dead)
			continue;
		for (unsigned v = 0; v < o->nvec; v++)
			send_to(s, p, o->id, o->id, v);
	}
	for (unsigned v = 0; v < p->nvec; v++)
		send_to(s, p, id, id, v);
	/* Announce the newcomer to the others. */
	for (struct ivs_server_peer *o = s->live; o; o = o->next) {
		if (o == p)
			continue;
		for (unsigned v = 0; v < p->nvec; v++)
			send_to(s, o, id, id, v);
	}
	slog(s, IVS_LOG_INFO, "peer %d connected (%u vector%s, %u peer%s now)", id, p->nvec, p->nvec == 1 ? "" : "s",
		 s->npeers, s->npeers == 1 ? "" : "s");
}

static void handle_accept(struct ivs_server *s)
{
	for (int i = 0; i < IVS_ACCEPT_BATCH; i++) {
		int c = ivs_acceptor_next(&s->acc);
		if (c == -EMFILE)
			continue;
		if (c < 0)
			break;
		accept_one(s, c);
		reap(s);
	}
	arm_timer(s);
}

static void handle_peer(struct ivs_server *s, struct ivs_server_peer *p, uint32_t events)
{
	if (events & EPOLLOUT)
		flush(s, p);
	if (p->dead || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	/* QEMU never writes to the server: data means a broken or hostile
	 * client.  Fds are refused by the kernel or disposed of without
	 * blocking (passed-fds.h). */
	char buf[64];
	unsigned nfds = 0;
	ssize_t n = ivs_pf_recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT, &nfds);
	if (n < 0) {
		errno = (int)-n;
		n = -1;
	}
	if (s->opts.debug && n >= 0)
		slog(s, IVS_LOG_DEBUG, "peer %u -> %zd byte%s%s", p->id, n, n == 1 ? "" : "s",
		     n == 0 ? " (end of stream)" : "");
	if (nfds)
		mark_dead(s, p, "sent file descriptors; clients must not write");
	else if (n == 0)
		mark_dead(s, p, "closed");
	else if (n > 0)
		mark_dead(s, p, "sent data; clients must not write");
	else if (errno == ECONNRESET)
		mark_dead(s, p, "closed");
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		mark_dead(s, p, "socket error");
	else if (events & (EPOLLHUP | EPOLLERR))
		mark_dead(s, p, "hung up");
}

/* ---- public ------------------------------------------------------------ */

struct ivs_server *ivs_server_alloc(void)
{
	struct ivs_server *s = calloc(1, sizeof(*s));
	if (s) {
		ivs_rt_socket_init(&s->sock);
		s->shm_fd = s->epoll_fd = s->acc.reserve_fd = s->timer_fd = -1;
	}
	return s;
}

/* A passed socket is ours from ivs_server_init on, even when it fails. */
static void drop_listen_fd(struct ivs_server_opts *o)
{
	if (o->listen_fd > 0)
		close(o->listen_fd);
	o->listen_fd = 0;
}

int ivs_server_init(struct ivs_server *s, const struct ivs_server_opts *opts)
{
	if (!s) { /* ivs_server_alloc failed */
		if (opts && opts->listen_fd > 0)
			close(opts->listen_fd);
		return -ENOMEM;
	}
	memset(s, 0, sizeof(*s));
	ivs_rt_socket_init(&s->sock);
	s->shm_fd = s->epoll_fd = s->acc.reserve_fd = s->timer_fd = -1;
	s->refusal_log = (struct ivs_log_limit)IVS_LOG_LIMIT_INIT(1000, 10);
	s->inflight_log = (struct ivs_log_limit)IVS_LOG_LIMIT_INIT(1000, 10);
	s->opts = *opts;
	struct ivs_server_opts *o = &s->opts;
	if (!o->socket_path)
		o->socket_path = IVS_SERVER_DEFAULT_SOCKET;
	if (!o->shm_name)
		o->shm_name = IVS_SERVER_DEFAULT_SHM;
	if (!o->size)
		o->size = IVS_SERVER_DEFAULT_SIZE;
	if (o->nvectors > IVSHMEM_MAX_VECTORS || (unsigned)o->ids > IVS_SERVER_IDS_LOWEST ||
	    o->max_peers > IVSHMEM_MAX_PEERS || o->size > (uint64_t)INT64_MAX || !*o->socket_path ||
	    !*o->shm_name || o->socket_mode > 0777 || o->listen_fd < 0) {
		drop_listen_fd(o);
		return -EINVAL;
	}
	s->peers = calloc(IVSHMEM_MAX_PEERS, sizeof(*s->peers));
	if (!s->peers) {
		drop_listen_fd(o);
		return -ENOMEM;
	}
	int r;
	if (o->listen_fd > 0) {
		/* The manager's socket: the manager runs one of us on it. */
		r = ivs_rt_socket_adopt(&s->sock, o->listen_fd, SOCK_STREAM, true);
		o->listen_fd = 0; /* owned by s->sock now, whatever r */
		/* Its file's mode is the only gate to the memory: an abstract
		 * or unnamed socket has none (any local user could connect). */
		if (r == 0 && s->sock.path[0] != '/')
			return -EADDRNOTAVAIL;
	} else {
		/* Before the shm: a second server must not create (and at its
		 * close unlink) the shm the running one uses. */
		r = ivs_rt_socket_lock(&s->sock, o->socket_path);
	}
	if (r < 0)
		return r;
	o->socket_path = s->sock.path;
	return create_shm(s);
}

bool ivs_server_locked(const struct ivs_server *s)
{
	return s->sock.lock_fd >= 0 || s->sock.adopted;
}

const char *ivs_server_socket_path(const struct ivs_server *s)
{
	return s->sock.path;
}

const char *ivs_server_lock_path(const struct ivs_server *s)
{
	return s->sock.lock_path;
}

int ivs_server_start(struct ivs_server *s)
{
	if (!ivs_server_locked(s) || s->epoll_fd >= 0)
		return -EINVAL; /* ivs_server_init failed or wasn't called, or started */
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0)
		return -errno;
	struct ivs_rt_socket_opts so = {
		.type = SOCK_STREAM,
		.mode = s->opts.socket_mode,
		.uid = s->opts.socket_uid,
		.gid = s->opts.socket_gid,
		.refuse_fds = true,
	};
	bool replaced = false;
	int r = s->sock.adopted ? 0 : ivs_rt_socket_listen(&s->sock, &so, &replaced);
	if (r < 0)
		return r;
	if (replaced)
		slog(s, IVS_LOG_INFO, "replaced stale socket %s", s->sock.path);
	r = ivs_acceptor_init(&s->acc, s->sock.fd, s->opts.log, s->opts.log_ctx);
	if (r < 0)
		return r;
	struct stat sst;
	if (s->sock.adopted && lstat(s->sock.path, &sst) == 0 && S_ISSOCK(sst.st_mode) && (sst.st_mode & 02))
		slog(s, IVS_LOG_WARN, "socket %s is mode %04o: every local user can connect and map the shared "
		     "memory; set SocketMode=0660 and SocketGroup= in its .socket unit", s->sock.path,
		     (unsigned)(sst.st_mode & 07777));
	if (!s->sock.fds_refused && (s->opts.socket_mode < 0 || (s->opts.socket_mode & 02)))
		slog(s, IVS_LOG_WARN, "this kernel can't refuse fds passed by clients (SO_PASSRIGHTS, "
		     "Linux 6.16): a local user could tie up the server; restrict the socket (%s)",
		     s->sock.adopted ? "SocketMode=0660 SocketGroup=GROUP in its .socket unit"
				     : "--socket-mode 0660 --socket-group GROUP");
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = KEY_LISTEN};
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->sock.fd, &ev) < 0)
		return -errno;
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = KEY_TIMER};
	if (s->timer_fd < 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->timer_fd, &ev) < 0)
		return -errno;
	struct stat shm;
	uint64_t size = fstat(s->shm_fd, &shm) == 0 ? (uint64_t)shm.st_size : s->opts.size;
	slog(s, IVS_LOG_INFO, "listening on %s%s: shm %s, %llu bytes, %u vector%s", s->sock.path,
	     s->sock.adopted ? " (passed by the service manager)" : "", s->shm_name, (unsigned long long)size,
	     s->opts.nvectors, s->opts.nvectors == 1 ? "" : "s");
	return 0;
}

int ivs_server_fd(const struct ivs_server *s)
{
	return s->epoll_fd;
}

unsigned ivs_server_npeers(const struct ivs_server *s)
{
	return s->npeers;
}

int ivs_server_handle(struct ivs_server *s, int timeout_ms)
{
	if (s->epoll_fd < 0)
		return -EINVAL;
	struct epoll_event evs[64];
	int n = epoll_wait(s->epoll_fd, evs, 64, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	bool listen_ready = false, timer_ready = false;
	for (int i = 0; i < n; i++) {
		uint64_t key = evs[i].data.u64;
		if (key == KEY_LISTEN) {
			listen_ready = true;
			continue;
		}
		if (key == KEY_TIMER) {
			timer_ready = true;
			continue;
		}
		struct ivs_server_peer *p = s->peers[key - 1];
		if (p)
			handle_peer(s, p, evs[i].events);
	}
	reap(s);
	if (timer_ready)
		timer_fired(s);
	if (listen_ready)
		handle_accept(s);
	return n;
}

bool ivs_server_shm_created(const struct ivs_server *s)
{
	return s->shm_created;
}

/* Close everything of s (removing its files as close says), keep s. */
static void close_all(struct ivs_server *s)
{
	if (s->peers) {
		while (s->live) {
			struct ivs_server_peer *p = s->live;
			if (!p->dead)
				flush(s, p); /* best effort, nonblocking */
			slog(s, IVS_LOG_INFO, "peer %u disconnected (server shutdown)", p->id);
			unlink_live(s, p);
			free_peer(p);
		}
		s->dead = NULL;
		free(s->peers);
		s->peers = NULL;
	}
	s->epoll_fd = ivs_close(s->epoll_fd);
	s->timer_fd = ivs_close(s->timer_fd);
	ivs_acceptor_close(&s->acc);
	ivs_rt_socket_close(&s->sock);
	s->shm_fd = ivs_close(s->shm_fd);
	if (s->shm_created) {
		shm_unlink(s->opts.shm_name);
		s->shm_created = false;
	}
}

struct ivs_server *ivs_server_close(struct ivs_server *s)
{
	if (s) {
		close_all(s);
		free(s);
	}
	return NULL;
}

struct ivs_server *ivs_server_forget(struct ivs_server *s)
{
	if (s) {
		s->shm_created = false;
		ivs_rt_socket_forget(&s->sock);
	}
	return ivs_server_close(s);
}
