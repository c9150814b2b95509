/* SPDX-License-Identifier: MIT */
/* The one server child of the benchmarks: a temporary directory, an
 * ivshmem server core listening in it before the fork, served in a child
 * until its pipe closes.  See bench.h. */
#include "bench/bench.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h" /* the server core (src/server) */
#include "util/util.h"

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

int bench_server_start(struct bench_server *b)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return cli_error("bench: pipe: %s", strerror(errno));
	struct ivs_server_opts o = {.socket_path = b->sock, .shm_name = b->shm,
				    .size = b->size ? b->size : 1u << 20,
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
		return 2;
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
