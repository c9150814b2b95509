/* SPDX-License-Identifier: MIT */
/* ivshmem bench daemon: doorbell round trip through the daemon against the
 * direct path, in the same run, on the real components.
 *
 * The benchmark starts an ivshmem server (forked, on a temporary socket with
 * its own POSIX shm) and the daemon core (forked, ivsd_new + ivsd_run) owning
 * a server:SOCKET endpoint of it, peer D.  This process holds peer A (a
 * server:SOCKET endpoint) and a daemon:DSOCKET client.  Each repetition forks
 * an echo peer B (server:SOCKET) per method, which answers every ring on its
 * vector 0 by ringing one peer back:
 *
 *   direct:  A rings B, B rings A back: ivshmem_ring + ivshmem_wait, the
 *            doorbell round trip between two server peers;
 *   daemon:  the client rings B through the daemon (RING request, D rings
 *            B), B rings D back, the daemon passes D's interrupt to the
 *            client's subscribed eventfd, the client's ivshmem_wait returns.
 *
 * The methods alternate within each repetition (and which goes first), so
 * drift hits both alike.  Every wait is bounded; the children and every file
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

struct bench {
	struct bench_server srv; /* the directory, the server and its child */
	char dsock[64], dspec[80];
	pid_t dmn;		 /* the daemon child, -1 once reaped */
	int dmn_stop;		 /* write end: closing it stops the daemon */
	ivshmem_ep *a;		 /* direct: server peer A */
	ivshmem_ep *cl;		 /* through the daemon: daemon:DSOCK client */
};

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

/* "; the daemon exited (killed by signal 9)" for the server and the daemon
 * if they are gone (they are reaped here). */
static const char *gone(struct bench *b, char *buf, size_t size)
{
	buf[0] = 0;
	pid_t *pids[2] = {&b->srv.pid, &b->dmn};
	static const char *const names[2] = {"server", "daemon"};
	for (int i = 0; i < 2; i++) {
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

/* The daemon: a child owning peer D, serving b->dsock until its pipe closes.
 * It reports 0 or -errno on a pipe once it listens (or failed). */
static int start_daemon(struct bench *b, char warn[200])
{
	int stop[2], ready[2];
	if (pipe2(stop, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	if (pipe2(ready, O_CLOEXEC) < 0) {
		int e = errno;
		close(stop[0]);
		close(stop[1]);
		return cli_error("bench: pipe: %s", strerror(e));
	}
	pid_t pid = bench_fork("daemon", "the daemon process");
	if (pid == 0) {
		bench_child_signals();
		close(stop[1]);
		close(ready[0]);
		close(b->srv.stop);
		ivshmem_ep *ep;
		static struct ready_msg m; /* the child's own copy */
		int r = ivshmem_open(b->srv.spec, NULL, &ep);
		struct ivsd *d = NULL;
		uid_t me = getuid(); /* the client is us: let it in (root always may) */
		struct ivsd_config cfg = {.socket_path = b->dsock, .policy = {.allow = {.users = &me, .nusers = 1}},
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
	b->dmn = pid;
	b->dmn_stop = stop[1];
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
		return cli_error("bench: the daemon cannot serve %s on %s: %s", b->srv.spec, b->dsock,
				 strerror(-m.status));
	char why[40];
	if (r == -ETIMEDOUT)
		return cli_error("bench: the daemon did not start within %d s", 2 * BENCH_TIMEOUT_MS / 1000);
	int st = bench_reap(pid, BENCH_TIMEOUT_MS);
	b->dmn = -1;
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
	close(b->srv.stop);
	close(b->dmn_stop);
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
	char warn[200] = "";
	if (start_daemon(b, warn))
		return 1;
	int r = ivshmem_open(b->srv.spec, NULL, &b->a);
	if (r < 0)
		return cli_lib_error(b->srv.spec, "bench: open", r);
	r = ivshmem_open(b->dspec, NULL, &b->cl);
	if (r < 0 && warn[0]) {
		/* The library's wording for the error guesses (e.g. EPERM as the
		 * policy); the daemon's own warning says what went wrong. */
		char g[120];
		return cli_error("bench: cannot open %s: %s (the daemon: %s)%s%s", b->dspec,
				 strerror(-r), warn, gone(b, g, sizeof(g)),
				 geteuid() != 0 ? "; a daemon owning a server: peer needs root to hand "
						  "out its memory (/proc/self/map_files)"
						: "");
	}
	if (r < 0)
		return cli_lib_error(b->dspec, "bench: open", r);
	if (ivshmem_id(b->a) < 0 || ivshmem_id(b->cl) < 0 || ivshmem_vectors(b->a) < 1 ||
	    ivshmem_vectors(b->cl) < 1)
		return cli_error("bench: the peers have no ID or no vector");
	return 0;
}

static void cleanup(struct bench *b)
{
	b->cl = ivshmem_close(b->cl);
	b->a = ivshmem_close(b->a);
	/* The daemon first: its server peer then leaves a live server. */
	if (b->dmn_stop >= 0)
		b->dmn_stop = ivs_close(b->dmn_stop);
	if (b->dmn > 0)
		bench_reap(b->dmn, BENCH_TIMEOUT_MS);
	b->dmn = -1;
	if (b->dsock[0])
		bench_unlink_socket(b->dsock); /* normally gone already; not if the daemon was killed */
	bench_server_stop(&b->srv);
}

int bench_daemon(int argc, char **argv)
{
	struct bench_opts o = {.iters = 10000, .reps = 5};
	if (bench_parse_opts(argc, argv, &o))
		return 1;
	signal(SIGPIPE, SIG_IGN);

	struct bench b = {.srv = BENCH_SERVER_INIT, .dmn = -1, .dmn_stop = -1};
	struct bench_series s[2] = {{0}}; /* direct, daemon */
	size_t total = (size_t)o.iters * o.reps;
	int rc = 1;
	if (bench_series_alloc(s, 2, total) || bench_tmpdir(&b.srv, "daemon"))
		goto out;
	snprintf(b.dsock, sizeof(b.dsock), "%s/daemon.sock", b.srv.dir);
	snprintf(b.dspec, sizeof(b.dspec), "daemon:%s", b.dsock);

	if (setup(&b))
		goto out;
	int aid = ivshmem_id(b.a), did = ivshmem_id(b.cl);
	for (unsigned rep = 0; rep < o.reps; rep++) {
		size_t off = (size_t)rep * o.iters;
		for (int j = 0; j < 2; j++) {
			int k = (int)((rep + (unsigned)j) % 2); /* alternate which goes first */
			if (k == 0 ? run_rep(&b, "direct", b.a, aid, s[0].ns + off, o.iters)
				   : run_rep(&b, "through the daemon", b.cl, did, s[1].ns + off, o.iters))
				goto out;
		}
		s[0].n = s[1].n = off + o.iters;
	}
	for (int k = 0; k < 2; k++)
		bench_series_finish(&s[k]);
	double rm = bench_ratio(s[1].median, s[0].median);
	double rp = bench_ratio(s[1].p99, s[0].p99);
	if (o.json) {
		bench_json_head("daemon", &o);
		bench_json_series("direct", &s[0]);
		bench_json_series("daemon", &s[1]);
		printf(",\"ratio_median\":%.3f,\"ratio_p99\":%.3f}\n", rm, rp);
	} else {
		printf("doorbell round trip between two processes, %u x %u iterations (interleaved)\n",
		       o.reps, o.iters);
		bench_text_head(40);
		bench_text_row(40, 7, "direct (server peers A <-> B)", &s[0]);
		bench_text_row(40, 7, "through the daemon (client -> D <-> B)", &s[1]);
		printf("  daemon / direct: %.2fx median, %.2fx p99\n", rm, rp);
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	cleanup(&b);
	bench_series_free(s, 2);
	return rc;
}
