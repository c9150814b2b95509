/* SPDX-License-Identifier: MIT */
/* Transport of QEMU's ivshmem server protocol: a stream of 8-byte
 * messages, an fd on a message's first byte (SCM_RIGHTS, through
 * ivs_send_fd / ivs_recv_fds); sends are nonblocking (the server queues),
 * receives resumable (a message may come in pieces).  The codec and the
 * decoder are server-proto.c. */
#include "proto/server-proto.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t ivs_srv_send(int sock, const void *buf, size_t len, int fd)
{
	return ivs_send_fd(sock, buf, len, fd, MSG_DONTWAIT);
}

int ivs_srv_send_msg(int sock, int64_t value, int fd, int timeout_ms)
{
	uint8_t b[IVS_SRV_MSG_LEN];
	ivs_srv_encode(value, b);
	size_t off = 0;
	uint64_t deadline = timeout_ms < 0 ? 0 : ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (off < sizeof(b)) {
		ssize_t n = ivs_srv_send(sock, b + off, sizeof(b) - off, off ? -1 : fd);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n != -EAGAIN && n != 0)
			return (int)n;
		int rem = ivs_remaining_ms(deadline);
		if (deadline && rem == 0)
			return -ETIMEDOUT;
		int r = ivs_poll1(sock, POLLOUT, rem);
		if (r < 0)
			return r;
	}
	return 0;
}

void ivs_srv_rx_init(struct ivs_srv_rx *rx)
{
	rx->have = 0;
	rx->fd = -1;
}

void ivs_srv_rx_reset(struct ivs_srv_rx *rx)
{
	rx->fd = ivs_close(rx->fd);
	rx->have = 0;
}

int ivs_srv_recv(int sock, struct ivs_srv_rx *rx, int64_t *value, int *fd)
{
	while (rx->have < IVS_SRV_MSG_LEN) {
		int f, mflags;
		ssize_t n = ivs_recv_fds(sock, rx->buf + rx->have, IVS_SRV_MSG_LEN - rx->have, MSG_DONTWAIT,
					 &f, NULL, NULL, &mflags);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		/* One fd per message: a second one is closed, never leaked. */
		if (f >= 0 && (rx->fd >= 0 || (mflags & MSG_CTRUNC)))
			f = ivs_close(f);
		if (f >= 0)
			rx->fd = f;
		if (mflags & MSG_CTRUNC) {
			ivs_srv_rx_reset(rx);
			return -EPROTO;
		}
		if (n == 0) {
			ivs_srv_rx_reset(rx);
			return -ECONNRESET;
		}
		rx->have += (unsigned)n;
	}
	*value = ivs_srv_decode(rx->buf);
	*fd = rx->fd;
	rx->fd = -1;
	rx->have = 0;
	return 1;
}

int ivs_srv_recv_wait(int sock, struct ivs_srv_rx *rx, int64_t *value, int *fd, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		int r = ivs_srv_recv(sock, rx, value, fd);
		if (r != 0)
			return r;
		int rem = ivs_remaining_ms(deadline);
		if (deadline && rem == 0)
			return -ETIMEDOUT;
		r = ivs_poll1(sock, POLLIN, rem);
		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;
	}
}
