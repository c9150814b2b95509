/* SPDX-License-Identifier: MIT */
/* Passed fds: refused by the kernel, or received and closed where a
 * sleeping close() harms nobody.  See passed-fds.h. */
#include "service/passed-fds.h"

#include "util/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16 */
#endif
#ifndef SCM_MAX_FD
#define SCM_MAX_FD 253 /* the kernel's limit per message */
#endif

int ivs_pf_refuse(int sock)
{
	int off = 0;
	if (setsockopt(sock, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off)) == 0)
		return 1;
	return errno == ENOPROTOOPT || errno == EINVAL ? 0 : -errno;
}

/* ---- the closers ------------------------------------------------------- */

static pthread_mutex_t closer_lock = PTHREAD_MUTEX_INITIALIZER;
static int closer_wr = -1;    /* write end of the closer's pipe */
static pid_t closer_pid = -1; /* the process it runs in (not a fork child) */
static int spare_closers;     /* one-shot closers running (queue full) */

#define SPARE_CLOSERS_MAX 64

static void *closer_main(void *arg)
{
	int rd = (int)(intptr_t)arg;
	for (;;) {
		int fd;
		ssize_t n = read(rd, &fd, sizeof(fd));
		if (n == (ssize_t)sizeof(fd))
			close(fd); /* may sleep: that is what this thread is for */
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	close(rd);
	return NULL;
}

static void *spare_main(void *arg)
{
	close((int)(intptr_t)arg);
	pthread_mutex_lock(&closer_lock);
	spare_closers--;
	pthread_mutex_unlock(&closer_lock);
	return NULL;
}

/* A detached thread running fn(arg), with every signal blocked (signals
 * stay with the service's own thread, its signalfd).  0 or -1. */
static int start_thread(void *(*fn)(void *), int arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_t a;
	pthread_t t;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	int r = pthread_create(&t, &a, fn, (void *)(intptr_t)arg);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r == 0 ? 0 : -1;
}

/* Hand fd to a thread that closes it; never close it here, where a close
 * that sleeps would stall the service.  The closer's queue is a pipe; while
 * a sleeping close holds it up and the pipe is full, a one-shot thread takes
 * each fd (at most SPARE_CLOSERS_MAX of them).  Beyond that the fd is left
 * open: the service's fd limit bounds what an attacker can make it hold,
 * and the service sheds connections at that limit. */
static void hand_off(int fd)
{
	pthread_mutex_lock(&closer_lock);
	if (closer_pid != getpid()) {
		/* First use, or a fork child: the thread lives in the parent. */
		closer_wr = ivs_close(closer_wr);
		int p[2];
		if (pipe2(p, O_CLOEXEC) == 0) {
			fcntl(p[1], F_SETFL, O_NONBLOCK);
			if (start_thread(closer_main, p[0]) == 0) {
				closer_wr = p[1];
				closer_pid = getpid();
				spare_closers = 0;
			} else {
				close(p[0]);
				close(p[1]);
			}
		}
	}
	ssize_t n = -1;
	if (closer_wr >= 0)
		do
			n = write(closer_wr, &fd, sizeof(fd));
		while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(fd) && spare_closers < SPARE_CLOSERS_MAX && start_thread(spare_main, fd) == 0)
		spare_closers++;
	pthread_mutex_unlock(&closer_lock);
}

void ivs_pf_discard(int fd)
{
	if (fd < 0)
		return;
	/* A socket closes abortively (RST, no lingering), so even the closer
	 * is rarely held up.  No fstat() to find out whether it is one: on a
	 * FUSE file that asks the attacker's server, who need not answer. */
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	hand_off(fd);
}

void ivs_pf_close_peer(int sock)
{
	if (sock < 0)
		return;
	int v = 1;
	socklen_t len = sizeof(v);
	if (getsockopt(sock, SOL_SOCKET, SO_PASSRIGHTS, &v, &len) == 0 && v == 0) {
		close(sock); /* the kernel refused it fds: nothing can be queued */
		return;
	}
	/* Its queue may hold fds: whoever closes it closes them. */
	shutdown(sock, SHUT_RDWR);
	hand_off(sock);
}

ssize_t ivs_pf_recv(int sock, void *buf, size_t len, int flags, unsigned *nfds)
{
	/* Every fd to the reaper (none kept), whatever else happens. */
	return ivs_recv_fds(sock, buf, len, flags, NULL, ivs_pf_discard, nfds, NULL);
}
