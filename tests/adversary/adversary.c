/* SPDX-License-Identifier: MIT */
/* The attacker's side of the adversarial suite, run as a real second local
 * user (test-adversary.sh starts it with setpriv).  Each command is one
 * attack from docs/security.md; it prints what it did on stdout and, where
 * the attack is a lasting one, holds on until it is killed.
 *
 *   swap-socket PATH TARGET   whenever PATH is a socket, rename a symlink to
 *                             TARGET over it (the chmod/chown-by-path race);
 *                             where the directory is sticky the rename fails,
 *                             and it keeps trying
 *   pass-fd PATH TYPE N       connect N times to the service at PATH
 *                             (TYPE stream or seqpacket) and pass each a TCP
 *                             socket whose close() lingers, then hold on
 *   hog-daemon PATH N         ivshmem_open("daemon:PATH") N times, keeping
 *                             every endpoint; print how many opened, how
 *                             many got -EUSERS and how many anything else
 *                             (with the first such error), then hold on
 *   silent-daemon PATH N      connect N SOCK_SEQPACKET sockets to PATH and
 *                             send nothing; print how many connected; at
 *                             once (well within the daemon's HELLO
 *                             deadline) try one ivshmem_open("daemon:PATH")
 *                             of its own and print what it got; hold on; at
 *                             SIGTERM print how many the daemon had not yet
 *                             closed
 *   mute-server PATH N        connect N SOCK_STREAM sockets to the server at
 *                             PATH and never read; print how many
 *                             connected, hold on; at SIGTERM read what
 *                             waited in them and print how many fds the
 *                             server had sent (in all, and to one at most)
 *                             and how many of them it had closed
 *   flap-producer DEV NAME    take the producer role of channel NAME in DEV
 *                             over and over, every 20 ms, never sending and
 *                             never detaching (a "restart" each time), until
 *                             killed; print "flapping" once attached
 *   scribble PATH SECONDS     write random bytes at random places of the
 *                             file PATH (mapped shared) for SECONDS; print
 *                             how many writes
 *   flood PATH SECONDS        connect to PATH (SOCK_SEQPACKET) and close, in
 *                             a loop for SECONDS (0: until SIGTERM), every
 *                             other connection sending one garbage byte
 *                             first; print how many connected */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem.h"
#include "../lingering.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Block until SIGTERM or SIGINT (no window between the check and the
 * sleep: the signals are blocked in between). */
static void hold(void)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!stop)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* N as a count of 1..max, or -1. */
static int parse_count(const char *s, int max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -1;
	return (int)v;
}

/* A SOCK_SEQPACKET socket connected to path (fl: extra socket() flags), or
 * -errno.  A blocking connect waits for room in the backlog at most 5 s. */
static int connect_seqpacket(const char *path, int fl)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | fl, 0);
	if (s < 0)
		return -errno;
	struct timeval tv = {.tv_sec = 5};
	if (setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	return s;
}

static int hog_daemon(const char *path, int n)
{
	char spec[4200];
	if ((size_t)snprintf(spec, sizeof(spec), "daemon:%s", path) >= sizeof(spec)) {
		printf("path too long\n");
		return 1;
	}
	ivshmem_ep **eps = calloc((size_t)n, sizeof(*eps));
	if (!eps) {
		printf("out of memory\n");
		return 1;
	}
	struct ivshmem_open_opts o = {.flags = IVSHMEM_OPEN_NO_IRQ, .ready_timeout_ms = -1};
	int opened = 0, users = 0, other = 0, first = 0;
	for (int i = 0; i < n; i++) {
		int r = ivshmem_open(spec, &o, &eps[opened]);
		if (r == 0)
			opened++;
		else if (r == -EUSERS)
			users++;
		else if (other++ == 0)
			first = r;
	}
	if (other)
		printf("opened %d users %d other %d (first: %s)\n", opened, users, other, strerror(-first));
	else
		printf("opened %d users %d other %d\n", opened, users, other);
	fflush(stdout);
	hold();
	for (int i = 0; i < opened; i++)
		ivshmem_close(eps[i]);
	free(eps);
	return 0;
}

static int silent_daemon(const char *path, int n)
{
	struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
	if (!pf) {
		printf("out of memory\n");
		return 1;
	}
	int got = 0, failed = 0, first = 0;
	for (int i = 0; i < n; i++) {
		int s = connect_seqpacket(path, 0);
		if (s >= 0)
			pf[got++].fd = s; /* events 0: poll reports only POLLHUP/POLLERR */
		else if (failed++ == 0)
			first = s;
	}
	if (failed)
		printf("connected %d failed %d (first: %s)\n", got, failed, strerror(-first));
	else
		printf("connected %d\n", got);
	char spec[4200];
	snprintf(spec, sizeof(spec), "daemon:%s", path);
	struct ivshmem_open_opts o = {.flags = IVSHMEM_OPEN_NO_IRQ, .ready_timeout_ms = -1};
	ivshmem_ep *ep = NULL;
	int r = ivshmem_open(spec, &o, &ep);
	printf("own open: %s\n", r == 0 ? "served" : r == -EUSERS ? "EUSERS" : strerror(-r));
	ivshmem_close(ep);
	fflush(stdout);
	hold();
	int held = got;
	if (got && poll(pf, (nfds_t)got, 0) < 0) {
		printf("poll: %s\n", strerror(errno));
		held = -1;
	} else {
		for (int i = 0; i < got; i++)
			if (pf[i].revents & (POLLHUP | POLLERR))
				held--;
	}
	printf("held %d\n", held);
	for (int i = 0; i < got; i++)
		close(pf[i].fd);
	free(pf);
	return held < 0;
}

/* Read what waits in s; close and count the fds that came with it. */
static int drain_fds(int s)
{
	int fds = 0;
	for (int i = 0; i < 1000000; i++) {
		char b[64];
		union {
			char buf[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {b, sizeof(b)};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				   .msg_controllen = sizeof(ctl.buf)};
		if (recvmsg(s, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k; j++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
				close(fd);
				fds++;
			}
		}
	}
	return fds;
}

static int mute_server(const char *path, int n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int *socks = calloc((size_t)n, sizeof(*socks));
	if (!socks || strlen(path) >= sizeof(sa.sun_path)) {
		printf("out of memory or path too long\n");
		free(socks);
		return 1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int got = 0, failed = 0, first = 0;
	for (int i = 0; i < n; i++) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			socks[got++] = s;
			continue;
		}
		if (failed++ == 0)
			first = errno;
		if (s >= 0)
			close(s);
	}
	if (failed)
		printf("connected %d failed %d (first: %s)\n", got, failed, strerror(first));
	else
		printf("connected %d\n", got);
	fflush(stdout);
	hold();
	int total = 0, most = 0, closed = 0;
	for (int i = 0; i < got; i++) {
		struct pollfd p = {.fd = socks[i], .events = POLLRDHUP};
		closed += poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
		int k = drain_fds(socks[i]);
		total += k;
		most = k > most ? k : most;
		close(socks[i]);
	}
	printf("fds %d most %d closed %d\n", total, most, closed);
	free(socks);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int scribble(const char *path, int seconds)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0) {
		printf("open %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	size_t size = (size_t)st.st_size;
	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		return 1;
	}
	uint64_t x = now_ns() | 1, end = now_ns() + (uint64_t)seconds * 1000000000u, n = 0;
	while (!stop && now_ns() < end) {
		for (int i = 0; i < 256; i++, n++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t at = (size_t)(x >> 16) % size, len = 1 + (size_t)(x & 15);
			for (size_t j = 0; j < len && at + j < size; j++)
				__atomic_store_n(&m[at + j], (unsigned char)(x >> (8 * (j & 7))), __ATOMIC_RELAXED);
		}
		struct timespec ts = {0, 100000}; /* let the victim run */
		nanosleep(&ts, NULL);
	}
	munmap(m, size);
	printf("writes %llu\n", (unsigned long long)n);
	return 0;
}

static int flap_producer(const char *dev, const char *name)
{
	ivshmem_ep *ep = NULL;
	int r = ivshmem_open(dev, NULL, &ep);
	if (r < 0) {
		printf("open: %s\n", strerror(-r));
		return 1;
	}
	ivshmem_chan *old = NULL;
	for (bool said = false; !stop;) {
		ivshmem_chan *ch = NULL;
		r = ivshmem_chan_open(ep, name, IVSHMEM_CHAN_PRODUCER, NULL, &ch);
		if (r < 0) {
			printf("chan open: %s\n", strerror(-r));
			break;
		}
		ivshmem_chan_close(old); /* taken over: frees it, detaches nothing */
		old = ch;
		if (!said) {
			printf("flapping\n");
			fflush(stdout);
			said = true;
		}
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	return r < 0;
}

static int flood(const char *path, int seconds)
{
	/* A full backlog makes connect() fail with EAGAIN (non-blocking):
	 * count that and go on, the flood must not wait for the daemon. */
	unsigned long connections = 0, busy = 0, failed = 0;
	int first = 0;
	printf("flooding\n");
	fflush(stdout);
	uint64_t end = seconds ? now_ns() + (uint64_t)seconds * 1000000000u : UINT64_MAX;
	while (!stop && now_ns() < end) {
		int s = connect_seqpacket(path, SOCK_NONBLOCK);
		if (s == -EAGAIN) {
			busy++;
			sched_yield();
			continue;
		}
		if (s == -EMFILE || s == -ENFILE || s == -ENOMEM || s == -ENOBUFS) {
			printf("socket: %s\n", strerror(-s));
			return 1;
		}
		if (s < 0) {
			if (failed++ == 0)
				first = s;
			continue;
		}
		connections++;
		/* Garbage instead of a HELLO; the daemon may already have
		 * closed its end (EPIPE, ECONNRESET): that's its answer. */
		if (connections % 2 && send(s, "\xff", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    errno != EPIPE && errno != ECONNRESET && errno != EAGAIN) {
			if (failed++ == 0)
				first = -errno;
		}
		close(s);
	}
	if (failed)
		printf("connections %lu busy %lu failed %lu (first: %s)\n", connections, busy, failed,
		       strerror(-first));
	else
		printf("connections %lu busy %lu failed 0\n", connections, busy);
	return 0;
}

static int swap_socket(const char *path, const char *target)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.adv%d", path, (int)getpid());
	unsigned long swaps = 0;
	bool ready = false;
	while (!stop) {
		/* The symlink waits beside the path, so that only rename() is
		 * left once the socket shows: the window is microseconds wide. */
		if (!ready) {
			unlink(tmp);
			ready = symlink(target, tmp) == 0;
			if (ready && swaps == 0)
				printf("ready\n"); /* spinning: start the service */
		}
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (rename(tmp, path) == 0) {
			swaps++;
			ready = false;
		}
	}
	unlink(tmp);
	printf("swaps %lu\n", swaps);
	return 0;
}

static int pass_fd(const char *path, const char *type, int n)
{
	int st = !strcmp(type, "seqpacket") ? SOCK_SEQPACKET : SOCK_STREAM;
	int keep[64];
	int sent = 0, refused = 0, other = 0;
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++) {
		int l = -1, t = lingering_socket(&l, 120);
		if (t < 0) {
			printf("setup failed: %s\n", strerror(errno));
			return 1;
		}
		keep[i] = l; /* the reader who never reads */
		int s = socket(AF_UNIX, st | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			printf("connect failed: %s\n", strerror(errno));
			return 1;
		}
		char msg[64] = {0};
		struct iovec iov = {.iov_base = msg, .iov_len = st == SOCK_SEQPACKET ? sizeof(msg) : 8};
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cm;
		memset(&cm, 0, sizeof(cm));
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
				   .msg_controllen = sizeof(cm.b)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &t, sizeof(int));
		if (sendmsg(s, &m, MSG_NOSIGNAL) >= 0) {
			sent++;
		} else {
			if (errno == EPERM)
				refused++;
			else
				other++;
			/* Ours is the last reference: don't sleep in our own trap. */
			struct linger now = {.l_onoff = 1, .l_linger = 0};
			setsockopt(t, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
		}
		close(t); /* if the service took it, it holds the last reference */
		close(s);
	}
	printf("sent %d refused %d failed %d\n", sent, refused, other);
	fflush(stdout);
	hold();
	for (int i = 0; i < n; i++)
		close(keep[i]);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (argc == 4 && !strcmp(argv[1], "swap-socket"))
		return swap_socket(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "pass-fd"))
		return pass_fd(argv[2], argv[3], atoi(argv[4]));
	int k = argc == 4 ? parse_count(argv[3], 100000) : -1;
	if (k > 0 && !strcmp(argv[1], "hog-daemon"))
		return hog_daemon(argv[2], k);
	if (k > 0 && !strcmp(argv[1], "silent-daemon"))
		return silent_daemon(argv[2], k);
	if (k > 0 && !strcmp(argv[1], "mute-server"))
		return mute_server(argv[2], k);
	if (argc == 4 && !strcmp(argv[1], "flap-producer"))
		return flap_producer(argv[2], argv[3]);
	if (k > 0 && k <= 3600 && !strcmp(argv[1], "scribble"))
		return scribble(argv[2], k);
	if (argc == 4 && !strcmp(argv[1], "flood") && (k > 0 || !strcmp(argv[3], "0")))
		return flood(argv[2], k > 0 ? k : 0);
	fprintf(stderr, "usage: adversary swap-socket PATH TARGET | pass-fd PATH stream|seqpacket N\n"
			"       | hog-daemon PATH N | silent-daemon PATH N | mute-server PATH N\n"
			"       | flap-producer DEV NAME | scribble PATH SECONDS | flood PATH SECONDS\n");
	return 2;
}
