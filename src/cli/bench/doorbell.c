/* SPDX-License-Identifier: MIT */
/* ivshmem bench doorbell: round-trip latency of a doorbell ping-pong between
 * two host peers of an ivshmem server (ivshmem_ring + ivshmem_wait), against
 * a raw eventfd ping-pong (blocking read: the strongest baseline) and an
 * 8-byte UNIX socketpair ping-pong, all between two processes, in the same
 * run.  The server runs in a forked process on a temporary socket; the
 * repetitions are interleaved so drift hits every method alike. */
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cli/cli.h"
#include "util/util.h"

/* Each *_rep: 0, -errno, or 1 after bench_fork reported a failure. */
static int bench_doorbell_rep(const struct bench_server *srv, ivshmem_ep *a, uint64_t *out,
			      size_t iters)
{
	pid_t pid = bench_fork("doorbell", "the echo peer process");
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(srv->stop);
		ivshmem_ep *b;
		if (ivshmem_open(srv->spec, NULL, &b) < 0)
			_exit(1);
		if (bench_echo(b, ivshmem_id(a), iters + BENCH_WARMUP, BENCH_TIMEOUT_MS) < 0)
			_exit(1);
		ivshmem_close(b);
		_exit(0);
	}
	int bid = -1;
	int r = bench_wait_event(a, IVSHMEM_EVENT_PEER_JOIN, &bid);
	if (r == 0)
		r = bench_pingpong(a, bid, out, iters);
	int st = bench_reap(pid, r < 0 ? 0 : BENCH_TIMEOUT_MS);
	if (r == 0)
		r = bench_wait_event(a, IVSHMEM_EVENT_PEER_LEAVE, &bid);
	return r < 0 ? r : (WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO);
}

/* An 8-byte ping-pong with a child: this process writes pw and reads pr
 * (blocking), the child reads cr and writes cw. */
static int bench_fd_rep(int pw, int pr, int cr, int cw, int stop, uint64_t *out, size_t iters)
{
	uint64_t one = 1, v;
	pid_t parent = getpid();
	pid_t pid = bench_fork("doorbell", "the ping-pong's second process");
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* Its blocking reads would outlive a parent that was killed. */
		if (bench_child_bind(parent, stop) < 0)
			_exit(1);
		for (size_t i = 0; i < iters + BENCH_WARMUP; i++)
			if (read(cr, &v, 8) != 8 || write(cw, &one, 8) != 8)
				_exit(1);
		_exit(0);
	}
	int r = 0;
	for (size_t i = 0; r == 0 && i < iters + BENCH_WARMUP; i++) {
		uint64_t t0 = ivs_now_ns();
		if (write(pw, &one, 8) != 8 || read(pr, &v, 8) != 8)
			r = -EIO;
		else if (i >= BENCH_WARMUP)
			out[i - BENCH_WARMUP] = ivs_now_ns() - t0;
	}
	bench_reap(pid, r < 0 ? 0 : BENCH_TIMEOUT_MS);
	return r;
}

/* Raw eventfds, blocking reads. */
static int bench_eventfd_rep(int stop, uint64_t *out, size_t iters)
{
	int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
	int r = ping < 0 || pong < 0 ? -errno : bench_fd_rep(ping, pong, ping, pong, stop, out, iters);
	ivs_close(ping);
	ivs_close(pong);
	return r;
}

static int bench_unix_rep(int stop, uint64_t *out, size_t iters)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	int r = bench_fd_rep(sv[0], sv[0], sv[1], sv[1], stop, out, iters);
	close(sv[0]);
	close(sv[1]);
	return r;
}

int bench_doorbell(int argc, char **argv)
{
	struct bench_opts o = {.iters = 20000, .reps = 5};
	if (bench_parse_opts(argc, argv, &o))
		return 1;
	signal(SIGPIPE, SIG_IGN);

	struct bench_server srv = BENCH_SERVER_INIT;
	if (bench_tmpdir(&srv, "doorbell"))
		return 1;
	int rc = 0;
	ivshmem_ep *a = NULL;
	static const char *const name[3] = {"doorbell", "eventfd", "unix"};
	struct bench_series s[3] = {{0}};
	size_t total = (size_t)o.iters * o.reps;
	if (bench_series_alloc(s, 3, total) || bench_server_start(&srv)) {
		rc = 1;
		goto out;
	}
	int r = ivshmem_open(srv.spec, NULL, &a);
	if (r < 0) {
		rc = cli_lib_error(srv.spec, "open", r);
		goto out;
	}
	for (unsigned rep = 0; rep < o.reps; rep++) {
		size_t off = (size_t)rep * o.iters;
		r = bench_doorbell_rep(&srv, a, s[0].ns + off, o.iters);
		if (r != 0) {
			rc = r > 0 ? 1 : cli_error("bench: doorbell ping-pong failed: %s", strerror(-r));
			goto out;
		}
		r = bench_eventfd_rep(srv.stop, s[1].ns + off, o.iters);
		if (r == 0)
			r = bench_unix_rep(srv.stop, s[2].ns + off, o.iters);
		if (r != 0) {
			rc = r > 0 ? 1 : cli_error("bench: baseline ping-pong failed: %s", strerror(-r));
			goto out;
		}
		s[0].n = s[1].n = s[2].n = off + o.iters;
	}
	for (int k = 0; k < 3; k++)
		bench_series_finish(&s[k]);
	double r_ev = bench_ratio(s[0].median, s[1].median);
	double r_ux = bench_ratio(s[0].median, s[2].median);
	if (o.json) {
		bench_json_head("doorbell", &o);
		for (int k = 0; k < 3; k++)
			bench_json_series(name[k], &s[k]);
		printf(",\"ratio_doorbell_eventfd\":%.3f,\"ratio_doorbell_unix\":%.3f}\n", r_ev, r_ux);
	} else {
		printf("round trip between two processes, %u x %u iterations\n", o.reps, o.iters);
		bench_text_head(28);
		static const char *const label[] = {"doorbell (server peers)", "raw eventfd", "unix socketpair (8 B)"};
		for (int k = 0; k < 3; k++)
			bench_text_row(28, 8, label[k], &s[k]);
		printf("  doorbell / eventfd: %.2fx   doorbell / unix: %.2fx\n", r_ev, r_ux);
	}
out:
	ivshmem_close(a);
	bench_server_stop(&srv); /* the server child shuts down */
	bench_series_free(s, 3);
	return rc;
}
