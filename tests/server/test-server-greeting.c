/* SPDX-License-Identifier: MIT */
/* Peers that don't read, against the server core (row 5 of
 * docs/security.md):
 *  - a connection that never reads gets no fd at all and is dropped at
 *    the greeting deadline;
 *  - twenty of them held at once, with the server's fd limit (and so the
 *    kernel's limit on its fds in flight) at 256, don't keep a new peer
 *    out: before, each pinned its whole greeting's fds in the kernel and
 *    the newcomer's greeting failed with ETOOMANYREFS;
 *  - peers that read their greeting and then go quiet (a library peer
 *    that never pumps) are not dropped;
 *  - a connection over --max-peers is told so in the protocol (ID -1):
 *    the library returns -EUSERS, not a reset connection.
 * The server core runs in a forked child, as an ordinary user when the
 * test runs as root (root's fds in flight are not limited).  Every wait is
 * bounded; no timing thresholds. */
#include "srv-test.h"
#include "../tap.h"
#include "../../src/server/server.h"
#include "proto/server-proto.h"

#include <errno.h>
#include <grp.h>
#include <sys/resource.h>

#define T 10000	     /* ms: bound of every wait */
#define NVEC 2
#define QUIET 8	     /* peers that read their greeting, then never again */
#define MUTE 20	     /* connections that never read */
#define FD_LIMIT 256 /* the server's RLIMIT_NOFILE */
#define SERVER_UID 4245 /* as root, the server runs as this user: root's fds
			 * in flight are not limited (CAP_SYS_RESOURCE) */

static char dir[64], sock[128], sock2[128], logpath[128];
static volatile sig_atomic_t stop_flag;
static FILE *logf_;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void log_line(void *ctx, enum ivs_log_level l, const char *line)
{
	(void)ctx;
	(void)l;
	fprintf(logf_, "%s\n", line);
	fflush(logf_);
}

/* The server core in a child, once it listens (-1 if it doesn't). */
static pid_t start_core(const char *path, const char *shm, unsigned max_peers, unsigned greeting_ms)
{
	/* A log of its own: checks must not find an earlier server's lines. */
	snprintf(logpath, sizeof(logpath), "%s/%s.log", dir, shm);
	/* Its shm is this run's own: runs in parallel or by other users
	 * never meet on a name (the core refuses one that exists). */
	char shm_name[64];
	snprintf(shm_name, sizeof(shm_name), "%s-%d", shm, (int)getpid());
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid != 0) {
		close(ready[1]);
		char c = 0;
		int r = read_bounded(ready[0], &c, 1, T);
		close(ready[0]);
		if (pid > 0 && (r < 0 || c != 'R')) {
			kill(pid, SIGKILL);
			reap_bounded(pid, T);
			return -1;
		}
		return pid;
	}
	close(ready[0]);
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	struct rlimit rl = {FD_LIMIT, FD_LIMIT};
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(2);
	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(SERVER_UID) < 0 || setuid(SERVER_UID) < 0))
		_exit(2);
	logf_ = fopen(logpath, "ae");
	if (!logf_)
		_exit(2);
	struct ivs_server_opts o = {
		.socket_path = path,
		.shm_name = shm_name,
		.size = 1 << 20,
		.nvectors = NVEC,
		.socket_mode = -1,
		.socket_uid = (uid_t)-1,
		.socket_gid = (gid_t)-1,
		.max_peers = max_peers,
		.greeting_timeout_ms = greeting_ms,
		.log = log_line,
	};
	struct ivs_server *s = ivs_server_alloc();
	int r = ivs_server_init(s, &o);
	if (r == 0)
		r = ivs_server_start(s);
	if (r < 0) {
		fprintf(logf_, "start: %s\n", strerror(-r));
		ivs_server_close(s);
		_exit(1);
	}
	(void)!write(ready[1], "R", 1);
	close(ready[1]);
	while (!stop_flag && ivs_server_handle(s, 100) >= 0)
		;
	ivs_server_close(s);
	_exit(0);
}

static int open_peer(const char *path, ivshmem_ep **ep)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", path);
	return ivshmem_open(spec, NULL, ep);
}

/* After the server closed a connection that never read: how many fds were
 * waiting in it (read and closed here), and how many messages. */
static int drain(int s, int *msgs)
{
	int fds = 0;
	*msgs = 0;
	for (int i = 0; i < 100000; i++) {
		char b[8];
		union {
			char buf[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {b, sizeof(b)};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				   .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(s, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		*msgs += n == 8;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int j = 0; j < k; j++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
				close(fd);
				fds++;
			}
		}
	}
	return fds;
}

/* Wait (until deadline) for the server to close its end of s. */
static bool closed_by_server(int s, uint64_t deadline)
{
	struct pollfd p = {.fd = s, .events = POLLRDHUP};
	return poll(&p, 1, ivs_remaining_ms(deadline)) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

static void test_quiet_and_mute(void)
{
	pid_t srv = start_core(sock, "ivs-greet-a", 64, 1000);
	ok(srv > 0, "server core: %d vectors, greeting deadline 1 s, fd limit %d", NVEC, FD_LIMIT);
	if (srv <= 0)
		return;
	ivshmem_ep *quiet[QUIET] = {0}, *late = NULL;
	int opened = 0;
	for (int i = 0; i < QUIET; i++)
		opened += open_peer(sock, &quiet[i]) == 0;
	is(opened, QUIET, "%d peers open, then never read again", QUIET);

	int mute[MUTE], nmute = 0;
	for (int i = 0; i < MUTE; i++)
		nmute += (mute[i] = connect_raw(sock)) >= 0;
	is(nmute, MUTE, "%d connections that never read", MUTE);
	int r = open_peer(sock, &late);
	is(r, 0, "with them all held, a new peer still gets in (server fd limit %d)", FD_LIMIT);
	int peers = late ? ivshmem_peers(late, NULL, 0) : -1;
	ok(peers >= QUIET, "and sees the %d quiet peers (%d peers)", QUIET, peers);

	int dropped = 0, most_fds = 0, most_msgs = 0;
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	for (int i = 0; i < MUTE; i++) {
		if (mute[i] < 0 || !closed_by_server(mute[i], deadline))
			continue;
		dropped++;
		int msgs, fds = drain(mute[i], &msgs);
		most_fds = IVS_MAX(most_fds, fds);
		most_msgs = IVS_MAX(most_msgs, msgs);
	}
	is(dropped, MUTE, "the server drops every connection that never reads");
	ok(wait_log(logpath, "did not read its greeting in time", T), "  saying why");
	ok(most_fds <= 2, "  none of them was ever sent more than 2 fds (most: %d fds, %d messages)",
	   most_fds, most_msgs);
	for (int i = 0; i < MUTE; i++)
		ivs_close(mute[i]);

	/* The quiet peers have long passed their deadline: still there. */
	ivshmem_ep *check = NULL;
	is(open_peer(sock, &check), 0, "another peer opens after the deadlines");
	struct ivshmem_peer list[IVSHMEM_MAX_PEERS < 128 ? IVSHMEM_MAX_PEERS : 128];
	int n = check ? ivshmem_peers(check, list, 128) : -1;
	int found = 0;
	for (int i = 0; i < QUIET; i++)
		for (int k = 0; k < n; k++)
			found += quiet[i] && list[k].id == ivshmem_id(quiet[i]);
	is(found, QUIET, "the quiet peers (who read their greeting) were not dropped");
	if (check && late)
		is(ivshmem_ring(check, (unsigned)ivshmem_id(late), 1), 0, "a doorbell to the new peer works");
	if (late)
		is(ivshmem_wait(late, 1, T), 1, "  and arrives");
	ivshmem_close(check);
	ivshmem_close(late);
	for (int i = 0; i < QUIET; i++)
		ivshmem_close(quiet[i]);
	kill(srv, SIGTERM);
	is(reap_bounded(srv, T), 0, "the server exits 0");
}

/* Read one message from raw socket s (bounded): value, and the fd if any
 * (closed).  1, or 0 on EOF/timeout. */
static int read_msg(int s, int64_t *value, bool *had_fd)
{
	uint8_t b[IVS_SRV_MSG_LEN];
	size_t got = 0;
	*had_fd = false;
	while (got < sizeof(b)) {
		if (ivs_poll1(s, POLLIN, T) <= 0)
			return 0;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {b + got, sizeof(b) - got};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				   .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(s, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return 0;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		if (c && c->cmsg_type == SCM_RIGHTS) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
			close(fd);
			*had_fd = true;
		}
		got += (size_t)n;
	}
	*value = ivs_srv_decode(b);
	return 1;
}

/* How many times a peer that opens now sees peer `id` in the list (-1:
 * no open). */
static int is_peer(int64_t id)
{
	ivshmem_ep *d = NULL;
	if (open_peer(sock, &d) < 0)
		return -1;
	struct ivshmem_peer list[16];
	int n = ivshmem_peers(d, list, 16), found = 0;
	for (int i = 0; i < n; i++)
		found += list[i].id == id;
	ivshmem_close(d);
	return found;
}

/* A peer leaves while a newcomer is halfway through its greeting: what
 * was queued of the leaver is taken out, and the newcomer that then reads
 * the rest has taken its greeting: it is not dropped at the deadline. */
static void test_leave_mid_greeting(void)
{
	/* The deadline is long enough for the test's own steps between reads
	 * (B's leave, read from the log) on a loaded machine. */
	pid_t srv = start_core(sock, "ivs-greet-c", 64, 2000);
	ok(srv > 0, "server core: greeting deadline 2 s");
	if (srv <= 0)
		return;
	ivshmem_ep *a = NULL, *b = NULL;
	ok(open_peer(sock, &a) == 0 && open_peer(sock, &b) == 0, "peers A and B");
	int r = connect_raw(sock);
	int64_t v[2] = {-5, -5};
	bool fd;
	/* Only the version: then the ID and the shm are unread, and with
	 * two messages unread nothing more is sent (B's vectors wait). */
	ok(r >= 0 && read_msg(r, &v[0], &fd) && v[0] == 0, "a newcomer reads the version, then pauses");
	char left[64];
	snprintf(left, sizeof(left), "peer %d disconnected (closed)", b ? ivshmem_id(b) : -1);
	b = ivshmem_close(b); /* leaves while the rest of the greeting waits */
	ok(wait_log(logpath, left, T), "B leaves meanwhile (%s)", left);
	ok(read_msg(r, &v[1], &fd) && v[1] >= 0, "then reads its ID (%lld)", (long long)v[1]);
	int own = 0, msgs = 0;
	int64_t x;
	while (own < NVEC && read_msg(r, &x, &fd)) {
		msgs++;
		own += x == v[1] && fd;
	}
	is(own, NVEC, "it reads on to its own vectors, the end of its greeting (%d more messages)", msgs);
	is(msgs, 1 + NVEC + NVEC, "  the shm, A's vectors and its own: none of B's");
	/* Nothing else is sent to it now: were its greeting still counted
	 * in full, it would wait for two messages that will never come, and
	 * be dropped at its deadline.  Give that twice the deadline. */
	struct pollfd pfd = {.fd = r, .events = POLLRDHUP};
	is(poll(&pfd, 1, 2 * 2000), 0, "it is not dropped at its deadline (nor in twice that)");
	is(is_peer(v[1]), 1, "the newcomer is still a peer: its shortened greeting counted as read");
	ivshmem_close(a);
	ivs_close(r);
	kill(srv, SIGTERM);
	is(reap_bounded(srv, T), 0, "the server exits 0");
}

/* A peer that reads its greeting slowly, one message every 250 ms, for
 * longer than the deadline (1.5 s) in all: the deadline counts from its
 * last read, so it is not cut off (a QEMU reading a big peer table while
 * the host is busy).  Each gap leaves 1.25 s for a loaded machine. */
static void test_slow_reader(void)
{
	pid_t srv = start_core(sock, "ivs-greet-d", 64, 1500);
	ok(srv > 0, "server core: greeting deadline 1.5 s");
	if (srv <= 0)
		return;
	ivshmem_ep *peers[4] = {0};
	int opened = 0;
	for (int i = 0; i < 4; i++)
		opened += open_peer(sock, &peers[i]) == 0;
	is(opened, 4, "4 peers with %d vectors each: a greeting of %d messages", NVEC, 3 + 4 * NVEC + NVEC);
	int r = connect_raw(sock);
	int64_t x, id = -1;
	bool fd;
	int msgs = 0, own = 0;
	uint64_t start = ivs_now_ns();
	while (own < NVEC && read_msg(r, &x, &fd)) {
		if (++msgs == 2)
			id = x;
		own += fd && x == id;
		usleep(250000); /* the slow reader: this is what is tested */
	}
	unsigned took = (unsigned)((ivs_now_ns() - start) / 1000000);
	is(own, NVEC, "it reads its whole greeting, %d messages in %u ms", msgs, took);
	is(is_peer(id), 1, "and is still a peer after (not dropped while it was reading)");
	for (int i = 0; i < 4; i++)
		ivshmem_close(peers[i]);
	ivs_close(r);
	kill(srv, SIGTERM);
	is(reap_bounded(srv, T), 0, "the server exits 0");
}

static void test_max_peers(void)
{
	pid_t srv = start_core(sock2, "ivs-greet-b", 1, 0);
	ok(srv > 0, "server core: --max-peers 1");
	if (srv <= 0)
		return;
	ivshmem_ep *a = NULL, *b = NULL;
	is(open_peer(sock2, &a), 0, "--max-peers 1: the first peer gets in");
	is(open_peer(sock2, &b), -EUSERS, "the second is told the server is full (-EUSERS)");
	ok(wait_log(logpath, "at the peer limit (--max-peers 1)", T), "  and the server says so");
	ivshmem_close(b);
	ivshmem_close(a);
	kill(srv, SIGTERM);
	is(reap_bounded(srv, T), 0, "the server exits 0");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-greet-XXXXXX");
	if (!mkdtemp(dir) || (geteuid() == 0 && chown(dir, SERVER_UID, SERVER_UID) < 0))
		fail_all("setup: cannot create %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/a.sock", dir);
	snprintf(sock2, sizeof(sock2), "%s/b.sock", dir);
	test_quiet_and_mute();
	test_leave_mid_greeting();
	test_slow_reader();
	test_max_peers();
	if (tap_failed) {
		printf("# server logs:\n");
		fflush(stdout);
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "sed 's/^/#   /' %s/*.log", dir);
		(void)!system(cmd);
	}
	char cmd[100];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
