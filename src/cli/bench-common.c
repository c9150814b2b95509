/* SPDX-License-Identifier: MIT */
/* Scaffolding of the benchmarks that run against their own ivshmem server;
 * see bench-common.h. */
#include "bench-common.h"

#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../server/server.h" /* the server core (src/server) */
#include "cli.h"
#include "util/util.h"

enum { OPT_ITER = CLI_OPT_FIRST_FREE, OPT_REPS };

int bench_parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, CLI_OPT_JSON},
		{"iterations", required_argument, NULL, OPT_ITER},
		{"repetitions", required_argument, NULL, OPT_REPS},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == CLI_OPT_JSON)
			o->json = true;
		else if (c == OPT_ITER) {
			if (cli_parse_uint("iterations", optarg, 10000000, &o->iters))
				return 1;
		} else if (c == OPT_REPS) {
			if (cli_parse_uint("repetitions", optarg, 1000, &o->reps))
				return 1;
		} else
			return cli_bad_option(argv);
	}
	return 0;
}

/* ---- the temporary directory and the server ------------------------------ */

int bench_tmpdir(struct bench_server *s, const char *name)
{
	s->name = name;
	snprintf(s->dir, sizeof(s->dir), "/tmp/ivshmem-bench-XXXXXX");
	if (!mkdtemp(s->dir)) {
		int e = errno;
		s->dir[0] = 0;
		return cli_error("bench: cannot create a temporary directory in /tmp: %s", strerror(e));
	}
	snprintf(s->sock, sizeof(s->sock), "%s/server.sock", s->dir);
	snprintf(s->shm, sizeof(s->shm), "ivshmem-bench-%s-%d-%llx", name, (int)getpid(),
		 (unsigned long long)(ivs_now_ns() & 0xffffffffffull));
	snprintf(s->spec, sizeof(s->spec), "server:%s", s->sock);
	return 0;
}

void bench_child_signals(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
}

pid_t bench_fork(const char *name, const char *who)
{
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		const char *way = e == EAGAIN ? " (raise the process limit, ulimit -u)"
				  : e == ENOMEM ? " (free some memory)" : "";
		cli_error("bench %s: cannot start %s: fork: %s%s", name, who, strerror(e), way);
		errno = e;
	}
	return pid;
}

int bench_reap(pid_t pid, int ms)
{
	if (pid <= 0)
		return -1;
	int st;
	uint64_t deadline = ivs_now_ns() + (uint64_t)ms * 1000000ull;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1; /* not our child: nothing to kill */
		if (ivs_now_ns() >= deadline)
			break;
		usleep(2000);
	}
	kill(pid, SIGKILL);
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	return r == pid ? st : -1;
}

int bench_server_start(struct bench_server *b)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	struct ivs_server_opts o = {.socket_path = b->sock, .shm_name = b->shm, .size = 1 << 20,
				    .nvectors = 1, .socket_mode = -1, .socket_uid = (uid_t)-1,
				    .socket_gid = (gid_t)-1};
	struct ivs_server *s = ivs_server_alloc();
	int r = ivs_server_init(s, &o);
	b->shm_owned = s && ivs_server_shm_created(s);
	if (r == 0)
		r = ivs_server_start(s);
	if (r < 0) {
		ivs_server_close(s);
		b->shm_owned = false; /* ivs_server_close removed it */
		close(pfd[0]);
		close(pfd[1]);
		return cli_error("bench: cannot start a server on %s: %s", b->sock, strerror(-r));
	}
	pid_t pid = bench_fork(b->name, "the server process");
	if (pid == 0) {
		bench_child_signals();
		close(pfd[1]);
		for (;;) {
			struct pollfd p[2] = {{.fd = ivs_server_fd(s), .events = POLLIN},
					      {.fd = pfd[0], .events = POLLIN}};
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (p[1].revents)
				break;
			if (p[0].revents && ivs_server_handle(s, 0) < 0)
				break;
		}
		ivs_server_close(s); /* removes the socket and the shm */
		rmdir(b->dir);	      /* if other sockets in it are gone already */
		_exit(0);
	}
	close(pfd[0]);
	if (pid < 0) {
		ivs_server_close(s); /* no child: remove the socket and the shm here */
		close(pfd[1]);
		b->shm_owned = false;
		return 1;
	}
	/* This process keeps nothing of the server but the pipe. */
	ivs_server_forget(s);
	b->pid = pid;
	b->stop = pfd[1];
	return 0;
}

void bench_server_stop(struct bench_server *s)
{
	if (s->stop >= 0)
		s->stop = ivs_close(s->stop); /* the child shuts down */
	if (s->pid > 0)
		bench_reap(s->pid, BENCH_TIMEOUT_MS);
	s->pid = -1;
	if (!s->dir[0])
		return;
	bench_unlink_socket(s->sock); /* normally gone already; not if the child was killed */
	if (s->shm_owned)
		shm_unlink(s->shm);
	s->shm_owned = false;
	rmdir(s->dir);
}

void bench_unlink_socket(const char *path)
{
	char lock[128];
	unlink(path);
	if (snprintf(lock, sizeof(lock), "%s.lock", path) < (int)sizeof(lock))
		unlink(lock);
}

/* ---- the doorbell ping-pong ------------------------------------------------- */

int bench_wait_event(ivshmem_ep *ep, enum ivshmem_event_type t, int *peer)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)BENCH_TIMEOUT_MS * 1000000ull;
	for (;;) {
		struct ivshmem_event ev;
		int r = ivshmem_next_event(ep, &ev);
		if (r < 0)
			return r;
		if (r == 1 && ev.type == IVSHMEM_EVENT_DISCONNECT)
			return -ECONNRESET;
		if (r == 1 && ev.type == t && (*peer < 0 || ev.peer == *peer)) {
			*peer = ev.peer;
			return 0;
		}
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

int bench_echo(ivshmem_ep *ep, int target, size_t n, int timeout_ms)
{
	for (size_t i = 0; i < n; i++) {
		int r = ivshmem_wait(ep, 0, timeout_ms);
		if (r >= 0)
			r = ivshmem_ring(ep, (unsigned)target, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

int bench_pingpong(ivshmem_ep *ep, int peer, uint64_t *out, size_t iters)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < iters + BENCH_WARMUP; i++) {
		uint64_t t0 = ivs_now_ns();
		r = ivshmem_ring(ep, (unsigned)peer, 0);
		if (r == 0) {
			r = ivshmem_wait(ep, 0, BENCH_TIMEOUT_MS);
			r = r > 0 ? 0 : r;
		}
		if (i >= BENCH_WARMUP)
			out[i - BENCH_WARMUP] = ivs_now_ns() - t0;
	}
	return r;
}

/* ---- statistics and printing ------------------------------------------------ */

int bench_series_alloc(struct bench_series *s, int n, size_t total)
{
	for (int k = 0; k < n; k++) {
		s[k].ns = calloc(total, sizeof(uint64_t));
		if (!s[k].ns)
			return cli_error("bench: out of memory for %zu samples: use fewer --iterations",
					 total);
	}
	return 0;
}

void bench_series_free(struct bench_series *s, int n)
{
	for (int k = 0; k < n; k++) {
		free(s[k].ns);
		s[k].ns = NULL;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void bench_series_finish(struct bench_series *s)
{
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	size_t i99 = s->n * 99 / 100;
	s->median = s->n ? (double)s->ns[s->n / 2] : 0;
	s->p99 = s->n ? (double)s->ns[i99 < s->n ? i99 : s->n - 1] : 0;
}

double bench_ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

void bench_json_head(const char *name, const struct bench_opts *o)
{
	printf("{\"benchmark\":\"%s\",\"iterations\":%u,\"repetitions\":%u", name, o->iters, o->reps);
}

void bench_json_series(const char *name, const struct bench_series *s)
{
	printf(",\"%s\":{\"median_ns\":%.0f,\"p99_ns\":%.0f}", name, s->median, s->p99);
}

void bench_text_head(int label_w)
{
	printf("  %-*s %10s %10s\n", label_w, "", "median", "p99");
}

void bench_text_row(int label_w, int num_w, const char *label, const struct bench_series *s)
{
	printf("  %-*s %*.2f us %*.2f us\n", label_w, label, num_w, s->median / 1000, num_w,
	       s->p99 / 1000);
}
