/* SPDX-License-Identifier: MIT */
/* QEMU ivshmem server protocol: codec, socket helpers, client decoder.
 * See server-proto.h and docs/server.md. */
#include "proto/server-proto.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void ivs_srv_encode(int64_t value, uint8_t out[IVS_SRV_MSG_LEN])
{
	uint64_t v = (uint64_t)value;
	for (int i = 0; i < IVS_SRV_MSG_LEN; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

int64_t ivs_srv_decode(const uint8_t in[IVS_SRV_MSG_LEN])
{
	uint64_t v = 0;
	for (int i = 0; i < IVS_SRV_MSG_LEN; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return (int64_t)v;
}

ssize_t ivs_srv_send(int sock, const void *buf, size_t len, int fd)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
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

/* Room for a few fds per recvmsg: a sender that attaches several gets them
 * closed here rather than truncated by the kernel. */
#define RX_MAX_FDS 8

int ivs_srv_recv(int sock, struct ivs_srv_rx *rx, int64_t *value, int *fd)
{
	while (rx->have < IVS_SRV_MSG_LEN) {
		struct iovec iov = {.iov_base = rx->buf + rx->have, .iov_len = IVS_SRV_MSG_LEN - rx->have};
		union {
			char buf[CMSG_SPACE(sizeof(int) * RX_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf)};
		ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		/* Collect fds first: whatever happens next, none may leak. */
		bool bad = (msg.msg_flags & MSG_CTRUNC) != 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (f < 0)
					continue;
				if (!bad && rx->fd < 0)
					rx->fd = f;
				else
					close(f);
			}
		}
		if (bad) {
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

/* ---- decoder ----------------------------------------------------------- */

void ivs_srv_dec_init(struct ivs_srv_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->state = IVS_SRV_DEC_VERSION;
	d->id = -1;
	d->shm_fd = -1;
}

static void close_peer(struct ivs_srv_dec_peer *p)
{
	for (unsigned i = 0; i < p->nvec; i++)
		close(p->fds[i]);
	p->nvec = 0;
}

void ivs_srv_dec_free(struct ivs_srv_dec *d)
{
	d->shm_fd = ivs_close(d->shm_fd);
	for (unsigned i = 0; i < d->own_nvec; i++)
		close(d->own_fds[i]);
	d->own_nvec = 0;
	for (size_t i = 0; i < d->npeers; i++)
		close_peer(&d->peers[i]);
	free(d->peers);
	d->peers = NULL;
	d->npeers = d->cap = 0;
}

/* Index of the first peer with id >= id. */
static size_t lower_bound(const struct ivs_srv_dec *d, unsigned id)
{
	size_t lo = 0, hi = d->npeers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->peers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct ivs_srv_dec_peer *ivs_srv_dec_find(const struct ivs_srv_dec *d, unsigned id)
{
	size_t i = lower_bound(d, id);
	return i < d->npeers && d->peers[i].id == id ? &d->peers[i] : NULL;
}

int ivs_srv_dec_take_shm(struct ivs_srv_dec *d)
{
	int fd = d->shm_fd;
	d->shm_fd = -1;
	return fd;
}

static int fail(struct ivs_srv_dec *d, int fd)
{
	ivs_close(fd);
	d->state = IVS_SRV_DEC_FAILED;
	return -EPROTO;
}

static int peer_vector(struct ivs_srv_dec *d, uint16_t id, int fd, struct ivs_srv_dec_out *out)
{
	size_t i = lower_bound(d, id);
	if (i == d->npeers || d->peers[i].id != id) {
		if (d->npeers == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 8;
			struct ivs_srv_dec_peer *np = realloc(d->peers, cap * sizeof(*np));
			if (!np) {
				ivs_close(fd);
				return -ENOMEM;
			}
			d->peers = np;
			d->cap = cap;
		}
		memmove(&d->peers[i + 1], &d->peers[i], (d->npeers - i) * sizeof(*d->peers));
		d->npeers++;
		d->peers[i].id = id;
		d->peers[i].nvec = 0;
	}
	struct ivs_srv_dec_peer *p = &d->peers[i];
	if (p->nvec >= IVSHMEM_MAX_VECTORS)
		return fail(d, fd);
	p->fds[p->nvec] = fd;
	*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_PEER_VECTOR, id, p->nvec};
	p->nvec++;
	return 0;
}

static int peer_gone(struct ivs_srv_dec *d, uint16_t id, struct ivs_srv_dec_out *out)
{
	size_t i = lower_bound(d, id);
	if (i == d->npeers || d->peers[i].id != id) {
		/* A peer without vectors is never announced, so its leave may
		 * be the first we hear of it: harmless, ignored. */
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_UNKNOWN_GONE, id, 0};
		return 0;
	}
	*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_PEER_GONE, id, d->peers[i].nvec};
	close_peer(&d->peers[i]);
	memmove(&d->peers[i], &d->peers[i + 1], (d->npeers - i - 1) * sizeof(*d->peers));
	d->npeers--;
	return 0;
}

int ivs_srv_dec_feed(struct ivs_srv_dec *d, int64_t value, int fd, struct ivs_srv_dec_out *out)
{
	switch (d->state) {
	case IVS_SRV_DEC_VERSION:
		if (value != IVS_SRV_PROTO_VERSION || fd >= 0)
			return fail(d, fd);
		d->state = IVS_SRV_DEC_ID;
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_VERSION, 0, 0};
		return 0;
	case IVS_SRV_DEC_ID:
		if (value == IVS_SRV_FULL_ID && fd < 0) {
			fail(d, fd);
			return -EUSERS; /* the server turned us away: it is full */
		}
		if (value < 0 || value >= IVSHMEM_MAX_PEERS || fd >= 0)
			return fail(d, fd);
		d->id = (int)value;
		d->state = IVS_SRV_DEC_SHM;
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_ID, (uint16_t)value, 0};
		return 0;
	case IVS_SRV_DEC_SHM:
		if (value != IVS_SRV_SHM_ID || fd < 0)
			return fail(d, fd);
		d->shm_fd = fd;
		d->shm_seen = true;
		d->state = IVS_SRV_DEC_RUN;
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_SHM, 0, 0};
		return 0;
	case IVS_SRV_DEC_RUN:
		/* A second shm message, or anything outside 0..65535. */
		if (value < 0 || value >= IVSHMEM_MAX_PEERS)
			return fail(d, fd);
		if (value == d->id) {
			/* Our own vectors; "we left" makes no sense. */
			if (fd < 0 || d->own_nvec >= IVSHMEM_MAX_VECTORS)
				return fail(d, fd);
			d->own_fds[d->own_nvec] = fd;
			*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_OWN_VECTOR, (uint16_t)value,
							(uint16_t)d->own_nvec};
			d->own_nvec++;
			return 0;
		}
		if (fd >= 0)
			return peer_vector(d, (uint16_t)value, fd, out);
		return peer_gone(d, (uint16_t)value, out);
	case IVS_SRV_DEC_FAILED:
	default:
		return fail(d, fd);
	}
}
