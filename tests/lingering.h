/* SPDX-License-Identifier: MIT */
/* The weapon of the passed-fd attacks: a loopback TCP connection nobody
 * reads, its send queue full, closing with a long linger, so whoever drops
 * its last reference sleeps in close() for `linger` seconds or until the
 * other end (*listener, never accepted) is drained or closed. */
#ifndef IVS_TEST_LINGERING_H
#define IVS_TEST_LINGERING_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int lingering_socket(int *listener, int linger)
{
	int small = 4096;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
		close(l);
		return -1;
	}
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || (setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
		      connect(c, (struct sockaddr *)&a, sizeof(a))) < 0) {
		if (c >= 0)
			close(c);
		close(l);
		return -1;
	}
	/* Fill both buffers: the peer is never accepted, nothing is read. */
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	for (int i = 0; i < 10000; i++) {
		ssize_t n = send(c, junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
	}
	struct linger lg = {.l_onoff = 1, .l_linger = linger};
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	*listener = l;
	return c;
}

#endif
