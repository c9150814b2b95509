/* SPDX-License-Identifier: MIT */
/* Passed fds (src/service/passed-fds.h) where the kernel does not refuse
 * them: the path services take on kernels before SO_PASSRIGHTS.  Each weapon
 * is a TCP socket whose close() lingers for a minute; the caller must get
 * past every call at once, and the fd must still get closed (by the closer
 * thread) once its linger can end.  Every wait is bounded. */
#include "service/passed-fds.h"

#include "../lingering.h"
#include "../tap.h"
#include "util/util.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#define T 10000

static int send_fd(int sock, int fd)
{
	char b = 'x';
	struct iovec iov = {.iov_base = &b, .iov_len = 1};
	union {
		struct cmsghdr h;
		char c[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.c, .msg_controllen = sizeof(cm.c)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* The listener's end of a lingering socket: accept it, and wait until the
 * lingering side is gone (EOF or RST), draining what it sent.  true if it
 * went within the timeout. */
static bool peer_sees_close(int listener, int timeout_ms)
{
	int a = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0)
		return false;
	uint64_t deadline = ivs_now_ns() + (uint64_t)timeout_ms * 1000000u;
	char buf[65536];
	bool gone = false;
	while (!gone && ivs_remaining_ms(deadline) > 0) {
		if (ivs_poll1(a, POLLIN, ivs_remaining_ms(deadline)) <= 0)
			break;
		ssize_t n = recv(a, buf, sizeof(buf), MSG_DONTWAIT);
		gone = n == 0 || (n < 0 && errno == ECONNRESET);
	}
	close(a);
	return gone;
}

int main(void)
{
	int sp[2];
	ok(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0, "a service socket pair");

	/* 1. A lingering socket, passed directly: disposed of abortively. */
	int l1 = -1, t1 = lingering_socket(&l1, 60);
	ok(t1 >= 0, "a TCP socket whose close lingers 60 s");
	is(send_fd(sp[0], t1), 0, "passed to the service");
	close(t1);
	char buf[8];
	unsigned nfds = 0;
	is(ivs_pf_recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT, &nfds), 1, "ivs_pf_recv returns the byte at once");
	is(nfds, 1, "and counts the fd");
	ok(peer_sees_close(l1, T), "the fd is closed without lingering (its peer sees the end)");
	close(l1);

	/* 2. Nested: a UNIX socket whose queue holds the lingering socket.
	 * Closing it closes the TCP socket with its linger: only the closer
	 * thread may sleep on that. */
	int l2 = -1, t2 = lingering_socket(&l2, 60);
	int u[2];
	ok(t2 >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u) == 0, "a UNIX pair and a weapon");
	is(send_fd(u[0], t2), 0, "the weapon queued inside the UNIX socket");
	close(t2);
	close(u[0]);
	is(send_fd(sp[0], u[1]), 0, "the UNIX socket passed to the service");
	close(u[1]);
	is(ivs_pf_recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT, &nfds), 1, "ivs_pf_recv returns at once");
	/* The caller goes on working while the closer sleeps. */
	int e = eventfd(0, EFD_CLOEXEC);
	is(send_fd(sp[0], e), 0, "another fd passed");
	close(e);
	is(ivs_pf_recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT, &nfds), 1, "and received at once, behind the sleeping closer");
	ok(peer_sees_close(l2, T), "once its peer drains it, the nested weapon is closed too");
	close(l2);

	/* 3. A client connection whose queue still holds a weapon. */
	int l3 = -1, t3 = lingering_socket(&l3, 60);
	int c[2];
	ok(t3 >= 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c) == 0, "a client connection");
	is(send_fd(c[0], t3), 0, "the client queues a weapon and never sees it read");
	close(t3);
	ivs_pf_close_peer(c[1]);
	ok(true, "ivs_pf_close_peer returns at once");
	ok(peer_sees_close(l3, T), "and the queued weapon gets closed once it can");
	close(l3);
	close(c[0]);

	/* 4. Where the kernel can, it refuses them. */
	int r[2];
	ok(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r) == 0, "another pair");
	int refused = ivs_pf_refuse(r[1]);
	ok(refused == 0 || refused == 1, "ivs_pf_refuse: %s", refused == 1 ? "this kernel refuses fds" : "not supported here");
	if (refused == 1) {
		int e2 = eventfd(0, EFD_CLOEXEC);
		is(send_fd(r[0], e2), -EPERM, "a sender's fd is refused with EPERM");
		close(e2);
		ivs_pf_close_peer(r[1]); /* the direct close */
		ok(true, "and the connection closes directly");
	} else {
		close(r[1]);
	}
	close(r[0]);
	close(sp[0]);
	close(sp[1]);
	return tap_done();
}
