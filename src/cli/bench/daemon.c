/* SPDX-License-Identifier: MIT */
/* ivshmem bench daemon: doorbell round trip through the daemon, relayed and
 * by its fast path, against the direct path, in the same run, on the real
 * components.
 *
 * The benchmark starts an ivshmem server (forked, on a temporary socket with
 * its own POSIX shm) and two daemon cores (forked, ivsd_new + ivsd_run), each
 * owning a server:SOCKET endpoint of it: D0 hands out no direct fds
 * (`--no-direct`), D1 does (the default for its owner).  This process holds
 * peer A (a server:SOCKET endpoint), a client of D0 and a client of D1 opened
 * with IVSHMEM_OPEN_EXCLUSIVE_IRQ.  Each repetition forks an echo peer B
 * (server:SOCKET) per method, which answers every ring on its vector 0 by
 * ringing one peer back:
 *
 *   direct:  A rings B, B rings A back: ivshmem_ring + ivshmem_wait, the
 *            doorbell round trip between two server peers;
 *   relayed: the client of D0 rings B through the daemon (RING request, D0
 *            rings B), B rings D0 back, the daemon passes D0's interrupt to
 *            the client's pipe, the client's ivshmem_wait returns;
 *   fast:    the client of D1 writes B's doorbell eventfd (DOORBELL), B
 *            rings D1 back, the client reads D1's vector fd (CLAIM): the
 *            daemon is in neither path.
 *
 * The methods rotate within each repetition (and which goes first), so
 * drift hits all alike.  Every wait is bounded; the children and every file
 * are removed on every path.  The server and the daemon stop when their
 * pipe from this process closes, so they also go (and clean up) if this
 * process dies. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/daemon.h" /* the daemon core (src/daemon) */
#include "bench/bench.h"
#include "cli/cli.h"
#include "util/util.h"

/* The daemons: relaying everything, and handing out direct fds. */
enum { DM_RELAY, DM_FAST, DM_N };

struct bench_dmn {
	char sock[64], spec[80];
	pid_t pid; /* the daemon child, -1 once reaped */
	int stop;  /* write end: closing it stops the daemon */
};

struct bench {
	struct bench_server srv; /* the directory, the server and its child */
	struct bench_dmn dm[DM_N];
	ivshmem_ep *a;	       /* direct: server peer A */
	ivshmem_ep *cl[DM_N];  /* a client of each daemon */
};

/* The children (daemons, echo peers) close what keeps the others going. */
static void close_stops(const struct bench *b)
{
	close(b->srv.stop);
	for (int k = 0; k < DM_N; k++)
		if (b->dm[k].stop >= 0)
			close(b->dm[k].stop);
}

/* ---- children ------------------------------------------------------------ */

/* "exit status 3", "killed by signal 9" */
static const char *describe(int st, char *buf, size_t size)
{
	if (st == -1) /* bench_reap found no child */
		snprintf(buf, size, "lost");
	else if (WIFSIGNALED(st))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, size, "exit status %d", WEXITSTATUS(st));
	return buf;
}

/* Read a message (at most PIPE_BUF: one write) a child sends on a pipe,
 * bounded.  0, -ETIMEDOUT, -EPIPE (the child closed it first: it failed). */
static int read_msg(int fd, void *v, size_t size, int timeout_ms)
{
	int r = ivs_poll1(fd, POLLIN, timeout_ms);
	if (r < 0)
		return r;
	if (r == 0)
		return -ETIMEDOUT;
	ssize_t n;
	while ((n = read(fd, v, size)) < 0 && errno == EINTR)
		;
	return n == (ssize_t)size ? 0 : -EPIPE;
}

/* "; the daemon exited (killed by signal 9)" for the server and the daemons
 * if they are gone (they are reaped here). */
static const char *gone(struct bench *b, char *buf, size_t size)
{
	buf[0] = 0;
	pid_t *pids[1 + DM_N] = {&b->srv.pid, &b->dm[DM_RELAY].pid, &b->dm[DM_FAST].pid};
	static const char *const names[1 + DM_N] = {"server", "relaying daemon", "fast-path daemon"};
	for (int i = 0; i < 1 + DM_N; i++) {
		int st;
		if (*pids[i] > 0 && waitpid(*pids[i], &st, WNOHANG) == *pids[i]) {
			*pids[i] = -1;
			char why[40];
			size_t len = strlen(buf);
			snprintf(buf + len, size - len, "; the %s exited (%s)", names[i],
				 describe(st, why, sizeof(why)));
		}
	}
	return buf;
}

/* What the daemon child reports once it listens (one pipe write). */
struct ready_msg {
	int status;	/* 0 or -errno */
	char warn[200]; /* its first warning while starting, if any */
};

/* The daemon child's log: the first warning while starting goes to the
 * parent with the ready message (it explains a client's failure, e.g. memory
 * that can't be handed out); the rest is not the benchmark's business. */
static void daemon_log(void *ctx, enum ivs_log_level level, const char *msg)
{
	struct ready_msg *m = ctx;
	if (m && level <= IVS_LOG_WARN && !m->warn[0])
		snprintf(m->warn, sizeof(m->warn), "%s", msg);
}

/* Daemon k: a child owning a peer, serving its socket until its pipe
 * closes.  It reports 0 or -errno on a pipe once it listens (or failed). */
static int start_daemon(struct bench *b, int k, char warn[200])
{
	struct bench_dmn *dm = &b->dm[k];
	int stop[2], ready[2];
	if (pipe2(stop, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	if (pipe2(ready, O_CLOEXEC) < 0) {
		int e = errno;
		close(stop[0]);
		close(stop[1]);
		return cli_error("bench: pipe: %s", strerror(e));
	}
	pid_t pid = bench_fork("daemon", k == DM_RELAY ? "the relaying daemon's process"
							: "the fast-path daemon's process");
	if (pid == 0) {
		bench_child_signals();
		close(stop[1]);
		close(ready[0]);
		close_stops(b);
		ivshmem_ep *ep;
		static struct ready_msg m; /* the child's own copy */
		int r = ivshmem_open(b->srv.spec, NULL, &ep);
		struct ivsd *d = NULL;
		uid_t me = getuid(); /* the client is us: let it in (root always may) */
		struct ivsd_config cfg = {.socket_path = dm->sock,
					  .policy = {.allow = {.users = &me, .nusers = 1},
						     /* the relaying one hands out no direct fds */
						     .direct = k == DM_RELAY ? IVSD_RING_NONE : IVSD_RING_DEFAULT},
					  .log = daemon_log, .log_ctx = &m};
		if (r == 0)
			r = ivsd_new(&cfg, ep, &d); /* takes ep, also on failure */
		m.status = r;
		if (write(ready[1], &m, sizeof(m)) != (ssize_t)sizeof(m) || r < 0)
			_exit(3);
		close(ready[1]);
		m.warn[0] = 1; /* from now on the log is silent */
		r = ivsd_run(d, stop[0]);
		ivsd_free(d); /* removes the socket */
		rmdir(b->srv.dir); /* if the server's socket is gone already */
		_exit(r < 0 ? 4 : 0);
	}
	close(stop[0]);
	close(ready[1]);
	if (pid < 0) {
		close(stop[1]);
		close(ready[0]);
		return 1;
	}
	dm->pid = pid;
	dm->stop = stop[1];
	struct ready_msg m;
	int r = read_msg(ready[0], &m, sizeof(m), 2 * BENCH_TIMEOUT_MS);
	close(ready[0]);
	if (r == 0) {
		m.warn[sizeof(m.warn) - 1] = 0;
		memcpy(warn, m.warn, sizeof(m.warn));
	}
	if (r == 0 && m.status == 0)
		return 0;
	if (r == 0)
		return cli_error("bench: the daemon cannot serve %s on %s: %s", b->srv.spec, dm->sock,
				 strerror(-m.status));
	char why[40];
	if (r == -ETIMEDOUT)
		return cli_error("bench: the daemon did not start within %d s", 2 * BENCH_TIMEOUT_MS / 1000);
	int st = bench_reap(pid, BENCH_TIMEOUT_MS);
	dm->pid = -1;
	return cli_error("bench: the daemon failed to start (%s)", describe(st, why, sizeof(why)));
}

/* ---- one repetition of one method ------------------------------------------ */

/* The echo peer B: a server peer that rings `target` back for every ring,
 * iters + BENCH_WARMUP times.  It sends its ID on idfd once connected.  Its waits
 * outlast the parent's, so that a stall elsewhere is reported by the parent
 * as what it is, not as the echo peer giving up. */
static void echo_peer(const struct bench *b, int target, size_t n, int idfd)
{
	bench_child_signals();
	close_stops(b);
	ivshmem_ep *e;
	if (ivshmem_open(b->srv.spec, NULL, &e) < 0)
		_exit(2);
	int id = ivshmem_id(e);
	if (write(idfd, &id, sizeof(id)) != (ssize_t)sizeof(id))
		_exit(2);
	close(idfd);
	if (bench_echo(e, target, n, 2 * BENCH_TIMEOUT_MS) < 0)
		_exit(1);
	ivshmem_close(e);
	_exit(0);
}

/* Ping-pong `iters` round trips (after BENCH_WARMUP) between ep and a new echo
 * peer that rings `target` back.  0, or 1 after an error message. */
static int run_rep(struct bench *b, const char *what, ivshmem_ep *ep, int target, uint64_t *out,
		   size_t iters)
{
	int idp[2];
	if (pipe2(idp, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	pid_t pid = bench_fork("daemon", "the echo peer process");
	if (pid == 0) {
		close(idp[0]);
		echo_peer(b, target, iters + BENCH_WARMUP, idp[1]);
	}
	close(idp[1]);
	if (pid < 0) {
		close(idp[0]);
		return 1;
	}
	const char *step = "the echo peer's connection";
	int bid = -1;
	int r = read_msg(idp[0], &bid, sizeof(bid), 2 * BENCH_TIMEOUT_MS);
	close(idp[0]);
	if (r == 0) {
		step = "waiting for the echo peer to join";
		r = bench_wait_event(ep, IVSHMEM_EVENT_PEER_JOIN, &bid);
	}
	ivshmem_vector_ack(ep, 0); /* nothing stale */
	if (r == 0) {
		step = "the ping-pong";
		r = bench_pingpong(ep, bid, out, iters);
	}
	/* On an error, did the echo peer end by itself (a cause) before we
	 * kill it (no news)? */
	int st = 0;
	bool died = r < 0 && waitpid(pid, &st, WNOHANG) == pid;
	if (!died)
		st = bench_reap(pid, r < 0 ? 0 : BENCH_TIMEOUT_MS);
	char why[40], g[120];
	if (r == -EPIPE || (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)))
		return cli_error("bench: %s: the echo peer failed (%s)%s%s", what,
				 describe(st, why, sizeof(why)),
				 WIFEXITED(st) && WEXITSTATUS(st) == 2 ? ": cannot connect to the server" : "",
				 gone(b, g, sizeof(g)));
	if (r < 0) {
		char echo[80] = "";
		if (died)
			snprintf(echo, sizeof(echo), "; the echo peer exited (%s)",
				 describe(st, why, sizeof(why)));
		return cli_error("bench: %s: %s failed: %s%s%s", what, step, strerror(-r), echo,
				 gone(b, g, sizeof(g)));
	}
	return 0;
}

/* ---- setup, run, cleanup ---------------------------------------------------- */

static int setup(struct bench *b)
{
	if (bench_server_start(&b->srv))
		return 1;
	char warn[DM_N][200] = {""};
	for (int k = 0; k < DM_N; k++)
		if (start_daemon(b, k, warn[k]))
			return 1;
	int r = ivshmem_open(b->srv.spec, NULL, &b->a);
	if (r < 0)
		return cli_lib_error(b->srv.spec, "bench: open", r);
	for (int k = 0; k < DM_N; k++) {
		struct ivshmem_open_opts o = {.ready_timeout_ms = -1,
					      .flags = k == DM_FAST ? IVSHMEM_OPEN_EXCLUSIVE_IRQ : 0};
		r = ivshmem_open(b->dm[k].spec, &o, &b->cl[k]);
		if (r < 0 && warn[k][0]) {
			/* The library's wording for the error guesses (e.g. EPERM as
			 * the policy); the daemon's own warning says what went wrong. */
			char g[120];
			return cli_error("bench: cannot open %s: %s (the daemon: %s)%s%s", b->dm[k].spec,
					 strerror(-r), warn[k], gone(b, g, sizeof(g)),
					 geteuid() != 0 ? "; a daemon owning a server: peer needs root to hand "
							  "out its memory (/proc/self/map_files)"
							: "");
		}
		if (r < 0)
			return cli_lib_error(b->dm[k].spec, "bench: open", r);
		if (ivshmem_id(b->cl[k]) < 0 || ivshmem_vectors(b->cl[k]) < 1)
			return cli_error("bench: the peers have no ID or no vector");
	}
	if (ivshmem_id(b->a) < 0 || ivshmem_vectors(b->a) < 1)
		return cli_error("bench: the peers have no ID or no vector");
	return 0;
}

static void cleanup(struct bench *b)
{
	for (int k = 0; k < DM_N; k++)
		b->cl[k] = ivshmem_close(b->cl[k]);
	b->a = ivshmem_close(b->a);
	/* The daemons first: their server peers then leave a live server. */
	for (int k = 0; k < DM_N; k++) {
		struct bench_dmn *dm = &b->dm[k];
		if (dm->stop >= 0)
			dm->stop = ivs_close(dm->stop);
		if (dm->pid > 0)
			bench_reap(dm->pid, BENCH_TIMEOUT_MS);
		dm->pid = -1;
		if (dm->sock[0])
			bench_unlink_socket(dm->sock); /* normally gone already; not if it was killed */
	}
	bench_server_stop(&b->srv);
}

/* "met" / "not met" for a ratio against a target (at most). */
static const char *verdict(double ratio, double target)
{
	return ratio > 0 && ratio <= target ? "met" : "not met";
}

int bench_daemon(int argc, char **argv)
{
	struct bench_opts o = {.iters = 10000, .reps = 5};
	if (bench_parse_opts(argc, argv, &o))
		return 1;
	signal(SIGPIPE, SIG_IGN);

	struct bench b = {.srv = BENCH_SERVER_INIT};
	for (int k = 0; k < DM_N; k++)
		b.dm[k] = (struct bench_dmn){.pid = -1, .stop = -1};
	enum { S_DIRECT, S_RELAY, S_FAST, S_N };
	struct bench_series s[S_N] = {{0}};
	size_t total = (size_t)o.iters * o.reps;
	int rc = 1;
	if (bench_series_alloc(s, S_N, total) || bench_tmpdir(&b.srv, "daemon"))
		goto out;
	for (int k = 0; k < DM_N; k++) {
		snprintf(b.dm[k].sock, sizeof(b.dm[k].sock), "%s/daemon%d.sock", b.srv.dir, k);
		snprintf(b.dm[k].spec, sizeof(b.dm[k].spec), "daemon:%s", b.dm[k].sock);
	}

	if (setup(&b))
		goto out;
	static const char *const what[S_N] = {"direct", "through the daemon", "by the daemon's fast path"};
	for (unsigned rep = 0; rep < o.reps; rep++) {
		size_t off = (size_t)rep * o.iters;
		for (int j = 0; j < S_N; j++) {
			int k = (int)((rep + (unsigned)j) % S_N); /* rotate which goes first */
			ivshmem_ep *ep = k == S_DIRECT ? b.a : b.cl[k == S_RELAY ? DM_RELAY : DM_FAST];
			if (run_rep(&b, what[k], ep, ivshmem_id(ep), s[k].ns + off, o.iters))
				goto out;
		}
		for (int k = 0; k < S_N; k++)
			s[k].n = off + o.iters;
	}
	for (int k = 0; k < S_N; k++)
		bench_series_finish(&s[k]);
	double rm = bench_ratio(s[S_RELAY].median, s[S_DIRECT].median);
	double rp = bench_ratio(s[S_RELAY].p99, s[S_DIRECT].p99);
	double fm = bench_ratio(s[S_FAST].median, s[S_DIRECT].median);
	double fp = bench_ratio(s[S_FAST].p99, s[S_DIRECT].p99);
	if (o.json) {
		bench_json_head("daemon", &o);
		bench_json_series("direct", &s[S_DIRECT]);
		bench_json_series("daemon", &s[S_RELAY]);
		bench_json_series("fast", &s[S_FAST]);
		printf(",\"ratio_median\":%.3f,\"ratio_p99\":%.3f,\"ratio_fast_median\":%.3f,"
		       "\"ratio_fast_p99\":%.3f}\n", rm, rp, fm, fp);
	} else {
		printf("doorbell round trip between two processes, %u x %u iterations (interleaved)\n",
		       o.reps, o.iters);
		bench_text_head(44);
		bench_text_row(44, 7, "direct (server peers A <-> B)", &s[S_DIRECT]);
		bench_text_row(44, 7, "through the daemon (client -> D <-> B)", &s[S_RELAY]);
		bench_text_row(44, 7, "daemon fast path (client <-> B, D aside)", &s[S_FAST]);
		printf("  daemon / direct: %.2fx median, %.2fx p99\n", rm, rp);
		printf("  fast path / direct: %.2fx median, %.2fx p99 (target <= 1.2x median: %s)\n", fm, fp,
		       verdict(fm, 1.2));
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	cleanup(&b);
	bench_series_free(s, S_N);
	return rc;
}
