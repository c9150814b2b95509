/* SPDX-License-Identifier: MIT */
/* Helpers for tests that run `ivshmem server` (path in $IVSHMEM). */
#ifndef IVS_SRV_TEST_H
#define IVS_SRV_TEST_H

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ivshmem.h"
#include "util/util.h"

#include "../proc-util.h"

/* Spawn argv with stdout to /dev/null and stderr to log (append). */
static inline pid_t spawn_logged(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		int n = open("/dev/null", O_RDWR);
		int l = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(n, 0);
		dup2(n, 1);
		dup2(l >= 0 ? l : n, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static inline bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[1024];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Wait (bounded) until the log contains needle. */
static inline bool wait_log(const char *path, const char *needle, int timeout_ms)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (!file_contains(path, needle)) {
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(10000);
	}
	return true;
}

/* Start `ivshmem server -F -S sock -M shm -n nvec -l 1M [extra]`; waits for
 * "listening".  Returns the pid or -1. */
static inline pid_t start_server(const char *sock, const char *shm, unsigned nvec, const char *log,
			  const char *extra)
{
	const char *cli = getenv("IVSHMEM");
	if (!cli)
		return -1;
	char n[16];
	snprintf(n, sizeof(n), "%u", nvec);
	char *argv[16] = {(char *)cli, "server", "-F", "-S", (char *)sock, "-M", (char *)shm, "-n", n, "-l", "1M"};
	int k = 11;
	if (extra)
		argv[k++] = (char *)extra;
	argv[k] = NULL;
	unlink(log);
	pid_t pid = spawn_logged(argv, log);
	if (pid < 0 || !wait_log(log, "listening on", 10000))
		return -1;
	return pid;
}

/* Next event within timeout_ms: 1 with *ev, 0 on timeout, -errno. */
static inline int wait_event(ivshmem_ep *ep, struct ivshmem_event *ev, int timeout_ms)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		int r = ivshmem_next_event(ep, ev);
		if (r != 0)
			return r;
		int rem = ivs_remaining_ms(deadline);
		if (rem == 0)
			return 0;
		int fd = ivshmem_event_fd(ep);
		if (fd < 0) { /* disconnected: nothing more can come */
			usleep(1000);
			continue;
		}
		ivs_poll1(fd, POLLIN, rem);
	}
}

/* Wait for an event of a type (skipping others) for a peer (-1 any). */
static inline int wait_event_type(ivshmem_ep *ep, enum ivshmem_event_type t, int peer, struct ivshmem_event *out,
			   int timeout_ms)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		struct ivshmem_event ev;
		int rem = ivs_remaining_ms(deadline);
		int r = wait_event(ep, &ev, rem);
		if (r <= 0)
			return r;
		if (ev.type == t && (peer < 0 || ev.peer == peer)) {
			if (out)
				*out = ev;
			return 1;
		}
	}
}

static inline int connect_raw(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static inline void stop_child(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	kill(pid, sig);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

#endif
