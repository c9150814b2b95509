/* SPDX-License-Identifier: MIT */
/* Process helpers shared by the server, daemon and channel tests: fd
 * counting, a process's state (asleep or not: what a test waits on instead
 * of sleeping), bounded reads and waits for the child processes they fork,
 * listeners, and the start-up race rounds. */
#ifndef IVS_PROC_UTIL_H
#define IVS_PROC_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

/* Open fds of a process (from /proc/PID/fd), or -1. */
static inline int count_pid_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The state letter of a process from /proc/PID/stat (R running, S asleep
 * in the kernel, Z zombie...), or 0 if it can't be read. */
static inline char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold anything */
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Where a process sleeps (/proc/PID/wchan: "do_epoll_wait", "futex_wait"...)
 * into buf, for TAP comments; "?" if unknown. */
static inline const char *proc_wchan(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		snprintf(buf, len, "?");
	else
		buf[n] = 0;
	return buf;
}

/* Wait until pid sleeps in the kernel (state S: in poll, epoll_wait, on a
 * futex): true once it does, false if it is still not asleep after
 * timeout_ms (a hang guard, never the property tested). */
static inline bool wait_asleep(pid_t pid, int timeout_ms)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (proc_state(pid) != 'S') {
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(1000); /* poll interval */
	}
	return true;
}

/* Read exactly len bytes within timeout_ms: 0, -ETIMEDOUT or -EIO. */
static inline int read_bounded(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t have = 0;
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (have < len) {
		int rem = ivs_remaining_ms(deadline);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (rem == 0 || poll(&p, 1, rem) <= 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, buf + have, len - have);
		if (n <= 0)
			return -EIO;
		have += (size_t)n;
	}
	return 0;
}

/* Reap a child within timeout_ms: its exit status (128 + signal if killed),
 * or -1 after killing it when it didn't exit in time. */
static inline int reap_bounded(pid_t pid, int timeout_ms)
{
	int st = 0;
	for (int i = 0; i < timeout_ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000); /* poll interval */
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* A UNIX listener of `type` at path (replacing any file there), or -1. */
static inline int listen_unix(const char *path, int type, int backlog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, backlog) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

/* Connect nonblocking to path until the listener's backlog refuses more (at
 * most max): fills fill[] and returns how many connected. */
static inline int fill_backlog(const char *path, int type, int *fill, int max)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int n = 0;
	for (; n < max; n++) {
		fill[n] = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fill[n] < 0 || connect(fill[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (fill[n] >= 0)
				close(fill[n]);
			break;
		}
	}
	return n;
}

/* The start-up race tests: two children each report {index, 'R' (running)
 * or 'U' (refused)} on fd.  Returns the index of the one that runs while the
 * other was refused, or -1 (printing what was reported). */
static inline int race_winner(int fd, int timeout_ms, int round, bool stale)
{
	char msg[4] = {0};
	int r = read_bounded(fd, msg, sizeof(msg), timeout_ms);
	char res[2] = {'?', '?'};
	for (int i = 0; r == 0 && i < 2; i++)
		if ((unsigned char)msg[2 * i] < 2)
			res[(unsigned char)msg[2 * i]] = msg[2 * i + 1];
	int winner = res[0] == 'R' && res[1] == 'U' ? 0 : res[1] == 'R' && res[0] == 'U' ? 1 : -1;
	if (winner < 0)
		printf("# round %d (%s): results %c %c\n", round, stale ? "stale socket" : "no socket",
		       res[0], res[1]);
	return winner;
}

/* A start-up race: `rounds` times, two children started at one moment try
 * to take the socket at `sock` (guarded by the lock file `lock`).  Exactly
 * one must run and the other exit 1; `serves` then checks that the socket
 * answers as the winner's.  One round in three stops the winner cleanly
 * (SIGTERM: the socket and lock file must go), the others SIGKILL it,
 * leaving both stale for the next round. */
struct race {
	const char *sock, *lock;
	int rounds, timeout_ms;
	/* In the child: start instance `who` (its unlink() of sock slowed by
	 * delay_us), write {who, 'R'|'U'|'E'} to report, serve; never returns. */
	void (*child)(unsigned who, int report, unsigned delay_us);
	/* In the parent: does the socket answer as `winner`'s?  Prints a
	 * "# round" line and returns false if not. */
	bool (*serves)(int winner, int round);
};

struct race_result {
	int good;	 /* rounds where everything held */
	int stale;	 /* rounds started over a stale socket */
};

static inline struct race_result race_rounds(const struct race *rc)
{
	struct race_result res = {0, 0};
	for (int round = 0; round < rc->rounds; round++) {
		struct stat st;
		bool stale = lstat(rc->sock, &st) == 0;
		res.stale += stale;
		int go[2], rep[2];
		if (pipe2(go, O_CLOEXEC) < 0)
			break;
		if (pipe2(rep, O_CLOEXEC) < 0) {
			close(go[0]);
			close(go[1]);
			break;
		}
		pid_t kid[2];
		fflush(stdout);
		for (unsigned i = 0; i < 2; i++) {
			kid[i] = fork();
			if (kid[i] == 0) {
				close(go[1]);
				close(rep[0]);
				char c;
				while (read(go[0], &c, 1) < 0 && errno == EINTR)
					;
				close(go[0]);
				rc->child(i, rep[1], i == (unsigned)round % 2 ? 20000 : 0);
				_exit(99);
			}
		}
		close(go[0]);
		close(rep[1]);
		close(go[1]); /* go: EOF releases both */
		int winner = race_winner(rep[0], rc->timeout_ms, round, stale);
		close(rep[0]);
		bool round_ok = winner >= 0;
		bool reaped[2] = {false, false};
		if (winner >= 0) {
			int lost = reap_bounded(kid[!winner], rc->timeout_ms);
			reaped[!winner] = true;
			if (lost != 1) {
				printf("# round %d: the loser exited %d\n", round, lost);
				round_ok = false;
			}
			if (!rc->serves(winner, round))
				round_ok = false;
			if (access(rc->lock, F_OK) < 0) {
				printf("# round %d: no lock file while the winner runs\n", round);
				round_ok = false;
			}
		}
		bool clean = round % 3 == 2;
		for (int i = 0; i < 2; i++)
			if (!reaped[i] && kid[i] > 0) {
				kill(kid[i], clean ? SIGTERM : SIGKILL);
				reap_bounded(kid[i], rc->timeout_ms);
			}
		if (clean && winner >= 0 && (access(rc->sock, F_OK) == 0 || access(rc->lock, F_OK) == 0)) {
			printf("# round %d: a clean stop left the socket or the lock file\n", round);
			round_ok = false;
		}
		res.good += round_ok;
	}
	return res;
}

#endif
