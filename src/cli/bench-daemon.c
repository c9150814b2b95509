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
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../daemon/daemon.h" /* the daemon core (src/daemon) */
#include "../server/server.h" /* the server core (src/server) */
#include "cli.h"
#include "endpoint/endpoint.h"

enum { OPT_ITER = CLI_OPT_FIRST_FREE, OPT_REPS };
enum { WARMUP = 200, TIMEOUT_MS = 5000 };

struct bench {
	char dir[32];
	char sock[64], dsock[64], shm[64];
	char spec[80], dspec[80];
	bool shm_owned;	       /* we created the shm: remove it at the end */
	pid_t srv, dmn;	       /* children, -1 once reaped */
	int srv_stop, dmn_stop; /* write ends: closing one stops that child */
	ivshmem_ep *a;	       /* direct: server peer A */
	ivshmem_ep *cl;	       /* through the daemon: daemon:DSOCK client */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct series {
	uint64_t *ns;
	size_t n;
	double median, p99;
};

static void finish(struct series *s)
{
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	size_t i99 = s->n * 99 / 100;
	s->median = s->n ? (double)s->ns[s->n / 2] : 0;
	s->p99 = s->n ? (double)s->ns[i99 < s->n ? i99 : s->n - 1] : 0;
}

/* ---- children ------------------------------------------------------------ */

/* Children stop through their pipe (or their own timeouts), not through the
 * terminal's signals: a Ctrl-C ends this process, which closes the pipes, and
 * the server and the daemon then remove their socket and shm themselves. */
static void child_signals(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
}

/* Wait up to ms for a child, then kill it.  Returns its wait status. */
static int reap(pid_t pid, int ms)
{
	int st = 0;
	uint64_t deadline = ivs_now_ns() + (uint64_t)ms * 1000000ull;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return st;
		if (ivs_now_ns() >= deadline)
			break;
		usleep(2000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* "exit status 3", "killed by signal 9" */
static const char *describe(int st, char *buf, size_t size)
{
	if (WIFSIGNALED(st))
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
	pid_t *pids[2] = {&b->srv, &b->dmn};
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

/* The server: created here, served by a child until its pipe closes. */
static int start_server(struct bench *b)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	struct ivs_server_opts o = {.socket_path = b->sock, .shm_name = b->shm, .size = 1 << 20,
				    .nvectors = 1, .socket_mode = -1, .socket_uid = (uid_t)-1,
				    .socket_gid = (gid_t)-1};
	struct ivs_server s;
	int r = ivs_server_init(&s, &o);
	b->shm_owned = s.shm_created;
	if (r == 0)
		r = ivs_server_start(&s);
	if (r < 0) {
		ivs_server_close(&s);
		b->shm_owned = false; /* ivs_server_close removed it */
		close(pfd[0]);
		close(pfd[1]);
		return cli_error("bench: cannot start a server on %s: %s", b->sock, strerror(-r));
	}
	pid_t pid = fork();
	if (pid == 0) {
		child_signals();
		close(pfd[1]);
		for (;;) {
			struct pollfd p[2] = {{.fd = ivs_server_fd(&s), .events = POLLIN},
					      {.fd = pfd[0], .events = POLLIN}};
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (p[1].revents)
				break;
			if (p[0].revents && ivs_server_handle(&s, 0) < 0)
				break;
		}
		ivs_server_close(&s); /* removes the socket and the shm */
		rmdir(b->dir);	      /* if the daemon's socket is gone already */
		_exit(0);
	}
	int e = errno;
	close(pfd[0]);
	if (pid < 0) {
		ivs_server_close(&s); /* no child: remove the socket and the shm here */
		close(pfd[1]);
		b->shm_owned = false;
		return cli_error("bench: fork: %s", strerror(e));
	}
	/* This process keeps nothing of the server but the pipe. */
	s.shm_created = false;
	s.socket_bound = false;
	ivs_server_close(&s);
	b->srv = pid;
	b->srv_stop = pfd[1];
	return 0;
}

/* What the daemon child reports once it listens (one pipe write). */
struct ready_msg {
	int status;	/* 0 or -errno */
	char warn[200]; /* its first warning while starting, if any */
};

/* The daemon child's log: the first warning while starting goes to the
 * parent with the ready message (it explains a client's failure, e.g. memory
 * that can't be handed out); the rest is not the benchmark's business. */
static void daemon_log(void *ctx, enum ivsd_log_level level, const char *msg)
{
	struct ready_msg *m = ctx;
	if (m && level <= IVSD_LOG_WARN && !m->warn[0])
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
	pid_t pid = fork();
	if (pid == 0) {
		child_signals();
		close(stop[1]);
		close(ready[0]);
		close(b->srv_stop);
		ivshmem_ep *ep;
		static struct ready_msg m; /* the child's own copy */
		int r = ivshmem_open(b->spec, NULL, &ep);
		struct ivsd *d = NULL;
		uid_t me = getuid(); /* the client is us: let it in (root always may) */
		struct ivsd_config cfg = {.socket_path = b->dsock, .policy = {.users = &me, .nusers = 1},
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
		rmdir(b->dir); /* if the server's socket is gone already */
		_exit(r < 0 ? 4 : 0);
	}
	int e = errno;
	close(stop[0]);
	close(ready[1]);
	if (pid < 0) {
		close(stop[1]);
		close(ready[0]);
		return cli_error("bench: fork: %s", strerror(e));
	}
	b->dmn = pid;
	b->dmn_stop = stop[1];
	struct ready_msg m;
	int r = read_msg(ready[0], &m, sizeof(m), 2 * TIMEOUT_MS);
	close(ready[0]);
	if (r == 0) {
		m.warn[sizeof(m.warn) - 1] = 0;
		memcpy(warn, m.warn, sizeof(m.warn));
	}
	if (r == 0 && m.status == 0)
		return 0;
	if (r == 0)
		return cli_error("bench: the daemon cannot serve %s on %s: %s", b->spec, b->dsock,
				 strerror(-m.status));
	char why[40];
	if (r == -ETIMEDOUT)
		return cli_error("bench: the daemon did not start within %d s", 2 * TIMEOUT_MS / 1000);
	int st = reap(pid, TIMEOUT_MS);
	b->dmn = -1;
	return cli_error("bench: the daemon failed to start (%s)", describe(st, why, sizeof(why)));
}

/* ---- one repetition of one method ------------------------------------------ */

/* Wait for a PEER_JOIN of `peer`, bounded.  Other events are skipped. */
static int wait_join(ivshmem_ep *ep, int peer)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)TIMEOUT_MS * 1000000ull;
	for (;;) {
		struct ivshmem_event ev;
		int r = ivshmem_next_event(ep, &ev);
		if (r < 0)
			return r;
		if (r == 1 && ev.type == IVSHMEM_EVENT_DISCONNECT)
			return -ECONNRESET;
		if (r == 1 && ev.type == IVSHMEM_EVENT_PEER_JOIN && ev.peer == peer)
			return 0;
		if (r == 1)
			continue;
		int rem = ivs_remaining_ms(deadline);
		if (rem == 0)
			return -ETIMEDOUT;
		r = ivs_poll1(ivshmem_event_fd(ep), POLLIN, rem);
		if (r < 0)
			return r;
	}
}

/* The echo peer B: a server peer that rings `target` back for every ring,
 * iters + WARMUP times.  It sends its ID on idfd once connected.  Its waits
 * outlast the parent's, so that a stall elsewhere is reported by the parent
 * as what it is, not as the echo peer giving up. */
static void echo_peer(const struct bench *b, int target, size_t n, int idfd)
{
	child_signals();
	close(b->srv_stop);
	close(b->dmn_stop);
	ivshmem_ep *e;
	if (ivshmem_open(b->spec, NULL, &e) < 0)
		_exit(2);
	int id = ivshmem_id(e);
	if (write(idfd, &id, sizeof(id)) != (ssize_t)sizeof(id))
		_exit(2);
	close(idfd);
	for (size_t i = 0; i < n; i++)
		if (ivshmem_wait(e, 0, 2 * TIMEOUT_MS) < 0 || ivshmem_ring(e, (unsigned)target, 0) < 0)
			_exit(1);
	ivshmem_close(e);
	_exit(0);
}

/* Ping-pong `iters` round trips (after WARMUP) between ep and a new echo
 * peer that rings `target` back.  0, or 1 after an error message. */
static int run_rep(struct bench *b, const char *what, ivshmem_ep *ep, int target, uint64_t *out,
		   size_t iters)
{
	int idp[2];
	if (pipe2(idp, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		close(idp[0]);
		echo_peer(b, target, iters + WARMUP, idp[1]);
	}
	int e = errno;
	close(idp[1]);
	if (pid < 0) {
		close(idp[0]);
		return cli_error("bench: fork: %s", strerror(e));
	}
	const char *step = "the echo peer's connection";
	int bid = -1;
	int r = read_msg(idp[0], &bid, sizeof(bid), 2 * TIMEOUT_MS);
	close(idp[0]);
	if (r == 0) {
		step = "waiting for the echo peer to join";
		r = wait_join(ep, bid);
	}
	ivshmem_vector_ack(ep, 0); /* nothing stale */
	for (size_t i = 0; r == 0 && i < iters + WARMUP; i++) {
		step = "the ping-pong";
		uint64_t t0 = ivs_now_ns();
		r = ivshmem_ring(ep, (unsigned)bid, 0);
		if (r == 0) {
			r = ivshmem_wait(ep, 0, TIMEOUT_MS);
			r = r > 0 ? 0 : r;
		}
		if (i >= WARMUP)
			out[i - WARMUP] = ivs_now_ns() - t0;
	}
	/* On an error, did the echo peer end by itself (a cause) before we
	 * kill it (no news)? */
	int st = 0;
	bool died = r < 0 && waitpid(pid, &st, WNOHANG) == pid;
	if (!died)
		st = reap(pid, r < 0 ? 0 : TIMEOUT_MS);
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
	if (start_server(b))
		return 1;
	char warn[200] = "";
	if (start_daemon(b, warn))
		return 1;
	int r = ivshmem_open(b->spec, NULL, &b->a);
	if (r < 0)
		return cli_lib_error(b->spec, "bench: open", r);
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
		reap(b->dmn, TIMEOUT_MS);
	if (b->srv_stop >= 0)
		b->srv_stop = ivs_close(b->srv_stop);
	if (b->srv > 0)
		reap(b->srv, TIMEOUT_MS);
	b->dmn = b->srv = -1;
	/* Normally gone already; not if a child was killed. */
	unlink(b->dsock);
	unlink(b->sock);
	if (b->shm_owned)
		shm_unlink(b->shm);
	rmdir(b->dir);
}

int bench_daemon(int argc, char **argv)
{
	unsigned iters = 10000, reps = 5;
	bool json = false;
	static const struct option longopts[] = {
		{"json", no_argument, NULL, CLI_OPT_JSON},
		{"iterations", required_argument, NULL, OPT_ITER},
		{"repetitions", required_argument, NULL, OPT_REPS},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == CLI_OPT_JSON)
			json = true;
		else if (c == OPT_ITER) {
			if (cli_parse_uint("iterations", optarg, 10000000, &iters))
				return 1;
		} else if (c == OPT_REPS) {
			if (cli_parse_uint("repetitions", optarg, 1000, &reps))
				return 1;
		} else
			return cli_bad_option(argv);
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (iters == 0 || reps == 0)
		return cli_usage_error("iterations and repetitions must be at least 1");
	signal(SIGPIPE, SIG_IGN);

	struct bench b = {.dir = "/tmp/ivshmem-bench-XXXXXX", .srv = -1, .dmn = -1, .srv_stop = -1,
			  .dmn_stop = -1};
	struct series s[2] = {{0}}; /* direct, daemon */
	size_t total = (size_t)iters * reps;
	int rc = 1;
	for (int k = 0; k < 2; k++) {
		s[k].ns = calloc(total, sizeof(uint64_t));
		if (!s[k].ns) {
			rc = cli_error("bench: out of memory for %zu samples: use fewer --iterations", total);
			goto out;
		}
	}
	if (!mkdtemp(b.dir)) {
		rc = cli_error("bench: cannot create a temporary directory in /tmp: %s", strerror(errno));
		goto out;
	}
	snprintf(b.sock, sizeof(b.sock), "%s/server.sock", b.dir);
	snprintf(b.dsock, sizeof(b.dsock), "%s/daemon.sock", b.dir);
	snprintf(b.shm, sizeof(b.shm), "ivshmem-bench-daemon-%d-%llx", (int)getpid(),
		 (unsigned long long)(ivs_now_ns() & 0xffffffffffull));
	snprintf(b.spec, sizeof(b.spec), "server:%s", b.sock);
	snprintf(b.dspec, sizeof(b.dspec), "daemon:%s", b.dsock);

	if (setup(&b))
		goto out_clean;
	int aid = ivshmem_id(b.a), did = ivshmem_id(b.cl);
	for (unsigned rep = 0; rep < reps; rep++) {
		size_t off = (size_t)rep * iters;
		for (int j = 0; j < 2; j++) {
			int k = (int)((rep + (unsigned)j) % 2); /* alternate which goes first */
			if (k == 0 ? run_rep(&b, "direct", b.a, aid, s[0].ns + off, iters)
				   : run_rep(&b, "through the daemon", b.cl, did, s[1].ns + off, iters))
				goto out_clean;
		}
		s[0].n = s[1].n = off + iters;
	}
	for (int k = 0; k < 2; k++)
		finish(&s[k]);
	double rm = s[0].median > 0 ? s[1].median / s[0].median : 0;
	double rp = s[0].p99 > 0 ? s[1].p99 / s[0].p99 : 0;
	if (json) {
		printf("{\"benchmark\":\"daemon\",\"iterations\":%u,\"repetitions\":%u,"
		       "\"direct\":{\"median_ns\":%.0f,\"p99_ns\":%.0f},"
		       "\"daemon\":{\"median_ns\":%.0f,\"p99_ns\":%.0f},"
		       "\"ratio_median\":%.3f,\"ratio_p99\":%.3f}\n",
		       iters, reps, s[0].median, s[0].p99, s[1].median, s[1].p99, rm, rp);
	} else {
		printf("doorbell round trip between two processes, %u x %u iterations (interleaved)\n",
		       reps, iters);
		printf("  %-40s %10s %10s\n", "", "median", "p99");
		printf("  %-40s %7.2f us %7.2f us\n", "direct (server peers A <-> B)", s[0].median / 1000,
		       s[0].p99 / 1000);
		printf("  %-40s %7.2f us %7.2f us\n", "through the daemon (client -> D <-> B)",
		       s[1].median / 1000, s[1].p99 / 1000);
		printf("  daemon / direct: %.2fx median, %.2fx p99\n", rm, rp);
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out_clean:
	cleanup(&b);
out:
	for (int k = 0; k < 2; k++)
		free(s[k].ns);
	return rc;
}
