/* SPDX-License-Identifier: MIT */
/* UNIX-socket plumbing shared by the endpoints (clients) and the server and
 * daemon (listeners): bounded connects, and the one sender
 * and receiver of SCM_RIGHTS that both protocols' transports use. */
#include "util/util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int ivs_unix_connect(const char *path, int type, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* connect() to a listener whose backlog is full, and a send to one
	 * that doesn't read, sleep: bound both by the timeout (EAGAIN). */
	int t = IVS_MAX(timeout_ms, 1);
	struct timeval tv = {.tv_sec = t / 1000, .tv_usec = (t % 1000) * 1000};
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		ivs_close(s);
		return r;
	}
	return s;
}

ssize_t ivs_send_fd(int sock, const void *buf, size_t len, int fd, int flags)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		m.msg_control = cm.b;
		m.msg_controllen = sizeof(cm.b);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL | flags);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

#ifndef SCM_MAX_FD
#define SCM_MAX_FD 253 /* include/net/scm.h */
#endif

ssize_t ivs_recv_fds(int sock, void *buf, size_t cap, int flags, int *fd, void (*discard)(int),
		     unsigned *extra, int *mflags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(SCM_MAX_FD * sizeof(int))];
	} cm;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			   .msg_controllen = sizeof(cm.b)};
	ssize_t n;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (fd)
		*fd = -1;
	if (extra)
		*extra = 0;
	if (mflags)
		*mflags = 0;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (f < 0)
				continue;
			if (fd && *fd < 0) {
				*fd = f;
				continue;
			}
			if (discard)
				discard(f);
			else
				close(f);
			if (extra)
				++*extra;
		}
	}
	if (mflags)
		*mflags = m.msg_flags;
	return n;
}
