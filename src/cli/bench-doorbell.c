/* SPDX-License-Identifier: MIT */
/* ivshmem bench doorbell: round-trip latency of a doorbell ping-pong between
 * two host peers of an ivshmem server (ivshmem_ring + ivshmem_wait), against
 * a raw eventfd ping-pong (blocking read: the strongest baseline) and an
 * 8-byte UNIX socketpair ping-pong, all between two processes, in the same
 * run.  The server runs in a forked process on a temporary socket; the
 * repetitions are interleaved so drift hits every method alike. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../server/server.h"
#include "cli.h"

enum { OPT_ITER = CLI_OPT_FIRST_FREE, OPT_REPS };
enum { WARMUP = 200, TIMEOUT_MS = 5000 };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct series {
	const char *name;
	uint64_t *ns;
	size_t n;
	double median, p99;
};

static void finish(struct series *s)
{
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	s->median = s->n ? (double)s->ns[s->n / 2] : 0;
	s->p99 = s->n ? (double)s->ns[(s->n * 99) / 100 < s->n ? (s->n * 99) / 100 : s->n - 1] : 0;
}

/* ---- the server, in a child that ends when the pipe closes ---------- */

static pid_t run_server(const char *sock, const char *shm, int *stop_fd)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	struct ivs_server_opts o = {.socket_path = sock, .shm_name = shm, .size = 1 << 20, .nvectors = 1,
				    .socket_mode = -1, .socket_uid = (uid_t)-1, .socket_gid = (gid_t)-1};
	struct ivs_server s;
	int r = ivs_server_init(&s, &o);
	if (r == 0)
		r = ivs_server_start(&s);
	if (r < 0) {
		ivs_server_close(&s);
		close(pfd[0]);
		close(pfd[1]);
		cli_error("bench: cannot start a server on %s: %s", sock, strerror(-r));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
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
		ivs_server_close(&s);
		_exit(0);
	}
	/* The parent keeps nothing of the server but the pipe. */
	s.shm_created = false; /* the child unlinks it */
	s.socket_bound = false;
	ivs_server_close(&s);
	close(pfd[0]);
	*stop_fd = pfd[1];
	return pid;
}

/* Wait for a JOIN (or LEAVE) event, bounded. */
static int wait_ev(ivshmem_ep *ep, enum ivshmem_event_type t, int *peer)
{
	uint64_t deadline = now_ns() + (uint64_t)TIMEOUT_MS * 1000000ull;
	for (;;) {
		struct ivshmem_event ev;
		int r = ivshmem_next_event(ep, &ev);
		if (r < 0)
			return r;
		if (r == 1 && ev.type == t) {
			if (peer)
				*peer = ev.peer;
			return 0;
		}
		if (r == 1)
			continue;
		uint64_t n = now_ns();
		if (n >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = ivshmem_event_fd(ep), .events = POLLIN};
		poll(&p, 1, (int)((deadline - n) / 1000000) + 1);
	}
}

static int bench_doorbell_rep(const char *spec, ivshmem_ep *a, uint64_t *out, size_t iters)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		ivshmem_ep *b;
		if (ivshmem_open(spec, NULL, &b) < 0)
			_exit(1);
		int aid = ivshmem_id(a);
		for (size_t i = 0; i < iters + WARMUP; i++) {
			if (ivshmem_wait(b, 0, TIMEOUT_MS) < 0 || ivshmem_ring(b, (unsigned)aid, 0) < 0)
				_exit(1);
		}
		ivshmem_close(b);
		_exit(0);
	}
	int bid = -1;
	int r = wait_ev(a, IVSHMEM_EVENT_PEER_JOIN, &bid);
	for (size_t i = 0; r == 0 && i < iters + WARMUP; i++) {
		uint64_t t0 = now_ns();
		r = ivshmem_ring(a, (unsigned)bid, 0);
		if (r == 0) {
			r = ivshmem_wait(a, 0, TIMEOUT_MS);
			r = r > 0 ? 0 : r;
		}
		if (i >= WARMUP)
			out[i - WARMUP] = now_ns() - t0;
	}
	if (r < 0)
		kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	if (r == 0)
		r = wait_ev(a, IVSHMEM_EVENT_PEER_LEAVE, NULL);
	return r < 0 ? r : (WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO);
}

/* Raw eventfds, blocking reads. */
static int bench_eventfd_rep(uint64_t *out, size_t iters)
{
	int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
	if (ping < 0 || pong < 0)
		return -errno;
	uint64_t one = 1, v;
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < iters + WARMUP; i++)
			if (read(ping, &v, 8) != 8 || write(pong, &one, 8) != 8)
				_exit(1);
		_exit(0);
	}
	int r = 0;
	for (size_t i = 0; i < iters + WARMUP; i++) {
		uint64_t t0 = now_ns();
		if (write(ping, &one, 8) != 8 || read(pong, &v, 8) != 8) {
			r = -EIO;
			kill(pid, SIGKILL);
			break;
		}
		if (i >= WARMUP)
			out[i - WARMUP] = now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	close(ping);
	close(pong);
	return r;
}

static int bench_unix_rep(uint64_t *out, size_t iters)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	uint64_t v = 0;
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < iters + WARMUP; i++)
			if (read(sv[1], &v, 8) != 8 || write(sv[1], &v, 8) != 8)
				_exit(1);
		_exit(0);
	}
	int r = 0;
	for (size_t i = 0; i < iters + WARMUP; i++) {
		uint64_t t0 = now_ns();
		if (write(sv[0], &v, 8) != 8 || read(sv[0], &v, 8) != 8) {
			r = -EIO;
			kill(pid, SIGKILL);
			break;
		}
		if (i >= WARMUP)
			out[i - WARMUP] = now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	close(sv[0]);
	close(sv[1]);
	return r;
}

int bench_doorbell(int argc, char **argv)
{
	unsigned iters = 20000, reps = 5;
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
	if (iters == 0 || reps == 0)
		return cli_usage_error("iterations and repetitions must be at least 1");
	signal(SIGPIPE, SIG_IGN);

	char dir[] = "/tmp/ivshmem-bench-XXXXXX";
	if (!mkdtemp(dir))
		return cli_error("bench: cannot create a temporary directory in /tmp: %s", strerror(errno));
	char sock[64], shm[64], spec[80];
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(shm, sizeof(shm), "ivshmem-bench-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "server:%s", sock);

	int rc = 0, stop = -1;
	ivshmem_ep *a = NULL;
	struct series s[3] = {{.name = "doorbell"}, {.name = "eventfd"}, {.name = "unix"}};
	size_t total = (size_t)iters * reps;
	for (int k = 0; k < 3; k++) {
		s[k].ns = calloc(total, sizeof(uint64_t));
		if (!s[k].ns) {
			rc = cli_error("bench: out of memory for %zu samples: use fewer --iterations", total);
			goto out;
		}
	}
	pid_t srv = run_server(sock, shm, &stop);
	if (srv < 0) {
		rc = 1;
		goto out;
	}
	int r = ivshmem_open(spec, NULL, &a);
	if (r < 0) {
		rc = cli_lib_error(spec, "open", r);
		goto out_srv;
	}
	for (unsigned rep = 0; rep < reps; rep++) {
		size_t off = (size_t)rep * iters;
		r = bench_doorbell_rep(spec, a, s[0].ns + off, iters);
		if (r < 0) {
			rc = cli_error("bench: doorbell ping-pong failed: %s", strerror(-r));
			goto out_srv;
		}
		r = bench_eventfd_rep(s[1].ns + off, iters);
		if (r == 0)
			r = bench_unix_rep(s[2].ns + off, iters);
		if (r < 0) {
			rc = cli_error("bench: baseline ping-pong failed: %s", strerror(-r));
			goto out_srv;
		}
		s[0].n = s[1].n = s[2].n = off + iters;
	}
	for (int k = 0; k < 3; k++)
		finish(&s[k]);
	double r_ev = s[1].median > 0 ? s[0].median / s[1].median : 0;
	double r_ux = s[2].median > 0 ? s[0].median / s[2].median : 0;
	if (json) {
		printf("{\"benchmark\":\"doorbell\",\"iterations\":%u,\"repetitions\":%u", iters, reps);
		for (int k = 0; k < 3; k++)
			printf(",\"%s\":{\"median_ns\":%.0f,\"p99_ns\":%.0f}", s[k].name, s[k].median, s[k].p99);
		printf(",\"ratio_doorbell_eventfd\":%.3f,\"ratio_doorbell_unix\":%.3f}\n", r_ev, r_ux);
	} else {
		printf("round trip between two processes, %u x %u iterations\n", reps, iters);
		printf("  %-28s %10s %10s\n", "", "median", "p99");
		static const char *const label[] = {"doorbell (server peers)", "raw eventfd", "unix socketpair (8 B)"};
		for (int k = 0; k < 3; k++)
			printf("  %-28s %8.2f us %8.2f us\n", label[k], s[k].median / 1000, s[k].p99 / 1000);
		printf("  doorbell / eventfd: %.2fx   doorbell / unix: %.2fx\n", r_ev, r_ux);
	}
out_srv:
	ivshmem_close(a);
	if (stop >= 0)
		close(stop); /* the server child shuts down */
	waitpid(srv, NULL, 0);
out:
	for (int k = 0; k < 3; k++)
		free(s[k].ns);
	rmdir(dir);
	return rc;
}
