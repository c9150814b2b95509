/* SPDX-License-Identifier: MIT */
/* Unit tests of the server protocol: codec, the receive helper (short
 * reads, extra fds, truncated control data) and the client decoder. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/server-proto.h"
#include "../tap.h"

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* Send raw bytes with n fds attached. */
static void send_raw(int sock, const void *buf, size_t len, const int *fds, int n)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr a;
	} ctl;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL) != (ssize_t)len)
		perror("sendmsg");
}

static void test_codec(void)
{
	uint8_t b[8];
	ivs_srv_encode(-1, b);
	ok(b[0] == 0xff && b[7] == 0xff, "encode -1");
	ivs_srv_encode(0x0102030405060708ll, b);
	ok(b[0] == 8 && b[7] == 1, "encode is little-endian");
	is(ivs_srv_decode(b), 0x0102030405060708ll, "decode round-trips");
	ivs_srv_encode(INT64_MIN, b);
	ok(ivs_srv_decode(b) == INT64_MIN, "INT64_MIN round-trips");
}

static void test_recv(void)
{
	int base = count_fds();
	int sv[2];
	ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	struct ivs_srv_rx rx;
	ivs_srv_rx_init(&rx);
	int64_t v;
	int fd;

	/* Whole message with an fd. */
	int e = ivs_eventfd();
	is(ivs_srv_send_msg(sv[0], 42, e, 1000), 0, "send_msg with fd");
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), 1, "recv a message");
	is(v, 42, "value");
	ok(fd_open(fd) && fd != e, "fd received");
	ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "received fd is CLOEXEC");
	close(fd);
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), 0, "nothing more: 0");

	/* Short reads: 3 bytes, then 5. */
	uint8_t b[8];
	ivs_srv_encode(7, b);
	send_raw(sv[0], b, 3, &e, 1);
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), 0, "partial message: 0");
	is(rx.have, 3, "3 bytes kept");
	send_raw(sv[0], b + 3, 5, NULL, 0);
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), 1, "completed message");
	is(v, 7, "value across short reads");
	ok(fd_open(fd), "fd from the first piece");
	close(fd);

	/* Two fds in one message: the second is closed. */
	int two[2] = {e, e};
	ivs_srv_encode(9, b);
	send_raw(sv[0], b, 8, two, 2);
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), 1, "message with 2 fds");
	ok(fd_open(fd), "first fd kept");
	close(fd);
	is(count_fds(), base + 3, "extra fd closed (only socketpair + eventfd open)");

	/* An fd on the second piece of a message already carrying one. */
	send_raw(sv[0], b, 4, &e, 1);
	send_raw(sv[0], b + 4, 4, &e, 1);
	is(ivs_srv_recv_wait(sv[1], &rx, &v, &fd, 1000), 1, "fd on both pieces");
	close(fd);
	is(count_fds(), base + 3, "no leak with an fd on each piece");

	/* As many fds as the kernel passes in one message (SCM_MAX_FD): the
	 * receiver has room for all (none is dropped inside recvmsg, where
	 * its last close could block); the first is kept, the rest closed. */
	int many[253];
	for (int i = 0; i < 253; i++)
		many[i] = e;
	send_raw(sv[0], b, 8, many, 253);
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), 1, "a message with 253 fds");
	ok(fd_open(fd), "its first fd kept");
	close(fd);
	is(count_fds(), base + 3, "the other 252 closed");

	/* Timeout and EOF. */
	is(ivs_srv_recv_wait(sv[1], &rx, &v, &fd, 50), -ETIMEDOUT, "recv_wait times out");
	send_raw(sv[0], b, 5, &e, 1);
	close(sv[0]);
	is(ivs_srv_recv(sv[1], &rx, &v, &fd), -ECONNRESET, "EOF mid-message is -ECONNRESET");
	is(rx.have, 0, "partial dropped");
	close(sv[1]);
	close(e);
	is(count_fds(), base, "recv tests leak nothing");
}

static int feed(struct ivs_srv_dec *d, int64_t v, bool with_fd, struct ivs_srv_dec_out *o)
{
	return ivs_srv_dec_feed(d, v, with_fd ? ivs_eventfd() : -1, o);
}

static void test_decoder(void)
{
	int base = count_fds();
	struct ivs_srv_dec d;
	struct ivs_srv_dec_out o;
	ivs_srv_dec_init(&d);
	is(feed(&d, 0, false, &o), 0, "version 0");
	is(o.what, IVS_SRV_GOT_VERSION, "-> GOT_VERSION");
	is(feed(&d, 3, false, &o), 0, "id 3");
	is(d.id, 3, "own id recorded");
	is(feed(&d, -1, true, &o), 0, "shm");
	is(o.what, IVS_SRV_GOT_SHM, "-> GOT_SHM");
	is(d.state, IVS_SRV_DEC_RUN, "running");
	is(feed(&d, 1, true, &o), 0, "peer 1 vector 0");
	is(o.what, IVS_SRV_GOT_PEER_VECTOR, "-> PEER_VECTOR");
	is(feed(&d, 1, true, &o), 0, "peer 1 vector 1");
	is(o.vector, 1, "vector index 1");
	is(feed(&d, 3, true, &o), 0, "own vector 0");
	is(o.what, IVS_SRV_GOT_OWN_VECTOR, "-> OWN_VECTOR");
	is(feed(&d, 0, true, &o), 0, "peer 0 joins");
	is(feed(&d, 65535, true, &o), 0, "peer 65535 joins");
	is(d.npeers, 3, "3 peers");
	ok(d.peers[0].id == 0 && d.peers[1].id == 1 && d.peers[2].id == 65535, "sorted by id");
	ok(ivs_srv_dec_find(&d, 1) && ivs_srv_dec_find(&d, 1)->nvec == 2, "find peer 1 with 2 vectors");
	ok(!ivs_srv_dec_find(&d, 2), "no peer 2");
	is(feed(&d, 1, false, &o), 0, "peer 1 leaves");
	is(o.what, IVS_SRV_GOT_PEER_GONE, "-> PEER_GONE");
	is(o.vector, 2, "it had 2 vectors");
	is(feed(&d, 1234, false, &o), 0, "leave of an unknown peer");
	is(o.what, IVS_SRV_GOT_UNKNOWN_GONE, "-> UNKNOWN_GONE (ignored)");
	is(feed(&d, 1, true, &o), 0, "ID 1 reused");
	is(ivs_srv_dec_find(&d, 1)->nvec, 1, "fresh vector count");
	int shm = ivs_srv_dec_take_shm(&d);
	ok(fd_open(shm), "take shm");
	close(shm);
	ivs_srv_dec_free(&d);
	is(count_fds(), base, "decoder free closes everything");

	/* Malformed inputs: each must fail with -EPROTO and leak nothing. */
	static const struct {
		const char *name;
		int n;
		int64_t v[6];
		bool fd[6];
	} bad[] = {
		{"version 1", 1, {1}, {0}},
		{"version with fd", 1, {0}, {1}},
		{"negative id", 2, {0, -5}, {0, 0}},
		{"id 65536", 2, {0, 65536}, {0, 0}},
		{"id with fd", 2, {0, 2}, {0, 1}},
		{"shm without fd", 3, {0, 2, -1}, {0, 0, 0}},
		{"peer before shm", 3, {0, 2, 4}, {0, 0, 1}},
		{"second shm", 4, {0, 2, -1, -1}, {0, 0, 1, 1}},
		{"value -2 after shm", 4, {0, 2, -1, -2}, {0, 0, 1, 0}},
		{"huge value", 4, {0, 2, -1, INT64_MAX}, {0, 0, 1, 1}},
		{"own id without fd", 4, {0, 2, -1, 2}, {0, 0, 1, 0}},
		{"INT64_MIN", 1, {INT64_MIN}, {0}},
	};
	for (size_t i = 0; i < IVS_ARRAY_SIZE(bad); i++) {
		ivs_srv_dec_init(&d);
		int r = 0;
		for (int k = 0; k < bad[i].n && r == 0; k++)
			r = feed(&d, bad[i].v[k], bad[i].fd[k], &o);
		is(r, -EPROTO, "malformed: %s", bad[i].name);
		is(feed(&d, 1, true, &o), -EPROTO, "after an error everything is refused (%s)", bad[i].name);
		ivs_srv_dec_free(&d);
		is(count_fds(), base, "no fd leak (%s)", bad[i].name);
	}

	/* A server that turns us away: version, then ID -1. */
	ivs_srv_dec_init(&d);
	is(feed(&d, 0, false, &o), 0, "refusal: the version");
	is(feed(&d, IVS_SRV_FULL_ID, false, &o), -EUSERS, "ID -1 (IVS_SRV_FULL_ID): -EUSERS, the server is full");
	is(feed(&d, -1, true, &o), -EPROTO, "and nothing after it is taken");
	ivs_srv_dec_free(&d);
	is(count_fds(), base, "no fd leak (refusal)");

	/* Vector limits: 64 per peer and for ourselves. */
	ivs_srv_dec_init(&d);
	feed(&d, 0, false, &o);
	feed(&d, 5, false, &o);
	feed(&d, -1, true, &o);
	int r = 0;
	for (int i = 0; i < IVSHMEM_MAX_VECTORS && r == 0; i++)
		r = feed(&d, 7, true, &o);
	is(r, 0, "64 vectors for a peer");
	is(feed(&d, 7, true, &o), -EPROTO, "65th vector for a peer is -EPROTO");
	ivs_srv_dec_free(&d);
	ivs_srv_dec_init(&d);
	feed(&d, 0, false, &o);
	feed(&d, 5, false, &o);
	feed(&d, -1, true, &o);
	for (int i = 0; i < IVSHMEM_MAX_VECTORS && r == 0; i++)
		r = feed(&d, 5, true, &o);
	is(r, 0, "64 own vectors");
	is(feed(&d, 5, true, &o), -EPROTO, "65th own vector is -EPROTO");
	ivs_srv_dec_free(&d);
	is(count_fds(), base, "limit tests leak nothing");
}

int main(void)
{
	test_codec();
	test_recv();
	test_decoder();
	return tap_done();
}
