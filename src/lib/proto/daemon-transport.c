/* SPDX-License-Identifier: MIT */
/* Transport of the daemon's user-client protocol: one message per
 * SOCK_SEQPACKET record, at most one fd with it (SCM_RIGHTS, through
 * ivs_send_fd / ivs_recv_fds).  The codec is daemon-proto.c. */
#include "proto/daemon-proto.h"

#include <sys/socket.h>

int ivs_dp_send(int sock, const void *buf, size_t len, int fd, int flags)
{
	ssize_t n = ivs_send_fd(sock, buf, len, fd, flags);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t ivs_dp_recv(int sock, void *buf, size_t cap, int *fd, int flags)
{
	int first, mflags;
	unsigned extra;
	ssize_t n = ivs_recv_fds(sock, buf, cap, flags, &first, NULL, &extra, &mflags);
	*fd = -1;
	if (n < 0)
		return n;
	if (extra || (mflags & MSG_CTRUNC)) {
		ivs_close(first);
		return -EBADMSG;
	}
	if (mflags & MSG_TRUNC) {
		ivs_close(first);
		return -EMSGSIZE;
	}
	*fd = first;
	return n;
}
