/* SPDX-License-Identifier: MIT */
/* A `server:` endpoint against hostile or stuck servers: one that never
 * stops talking (open() and ivshmem_next_event() must still return, within
 * the open timeout) and one that never accepts (connect() must not sleep
 * forever).  Each client runs in a child, waited for with a bound. */
#include "proto/server-proto.h"
#include "srv-test.h"
#include "../tap.h"
#include "../proc-util.h"

#include <sys/mman.h>

#define T 5000

static char dir[64], sock[100];

static void stop_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A fake server: greeting for peer 0 with `own` vectors, then (once a
 * byte or EOF comes on go[0], if go is not NULL) an endless stream of
 * leaves of a peer nobody knows, 4 KiB per write, until the client goes. */
static pid_t chatty_server(int lfd, unsigned own, const int *go)
{
	pid_t pid = fork();
	if (pid != 0) {
		setpgid(pid, pid); /* its writers go with it: see stop_group */
		return pid;
	}
	setpgid(0, 0);
	signal(SIGPIPE, SIG_IGN);
	if (go)
		close(go[1]);
	int c = accept(lfd, NULL, NULL);
	int mem = memfd_create("t", MFD_CLOEXEC);
	if (c < 0 || mem < 0 || ftruncate(mem, 65536) < 0)
		_exit(1);
	ivs_srv_send_msg(c, 0, -1, T);
	ivs_srv_send_msg(c, 0, -1, T);
	ivs_srv_send_msg(c, -1, mem, T);
	for (unsigned v = 0; v < own; v++) {
		int e = ivs_eventfd();
		ivs_srv_send_msg(c, 0, e, T);
		close(e);
	}
	if (go) {
		char b;
		while (read(go[0], &b, 1) < 0 && errno == EINTR)
			;
		close(go[0]);
	}
	static uint8_t buf[4096]; /* small writes: the socket never runs dry */
	for (size_t i = 0; i < sizeof(buf); i += 8)
		ivs_srv_encode(4242, buf + i);
	/* Several writers: the reader can never catch up and see the socket
	 * idle (each 4 KiB write is one skb: messages stay whole). */
	for (int i = 0; i < 3; i++)
		if (fork() == 0)
			break;
	for (;;)
		if (send(c, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
			_exit(0);
}

static void test_chatty_greeting(void)
{
	int lfd = listen_unix(sock, SOCK_STREAM, 4);
	ok(lfd >= 0, "fake server listens");
	pid_t srv = chatty_server(lfd, 1, NULL); /* streams right after our own ID */
	close(lfd);
	pid_t kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "server:%s", sock);
		struct ivshmem_open_opts o = {.ready_timeout_ms = 2000};
		ivshmem_ep *ep;
		int r = ivshmem_open(spec, &o, &ep);
		_exit(r == 0 && ivshmem_id(ep) == 0 && ivshmem_vectors(ep) == 1 ? 0 : 10);
	}
	is(reap_bounded(kid, T), 0, "open() returns within its timeout while the server never pauses");
	stop_group(srv);
}

static void test_chatty_pump(void)
{
	int lfd = listen_unix(sock, SOCK_STREAM, 4);
	int go[2];
	if (lfd < 0 || pipe2(go, O_CLOEXEC) < 0) {
		ok(0, "fake server listens, with a pipe to start its flood");
		return;
	}
	pid_t srv = chatty_server(lfd, 1, go); /* greeting; the flood once told */
	close(lfd);
	close(go[0]);
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "server:%s", sock);
		ivshmem_ep *ep;
		if (ivshmem_open(spec, NULL, &ep) < 0)
			_exit(10);
		/* Opened: now the flood, and until it has started (data on
		 * the control socket the greeting left empty). */
		if (write(go[1], "g", 1) != 1)
			_exit(13);
		close(go[1]);
		if (ivs_poll1(ivshmem_event_fd(ep), POLLIN, T) <= 0)
			_exit(14);
		struct ivshmem_event ev;
		for (int i = 0; i < 20; i++)
			if (ivshmem_next_event(ep, &ev) < 0)
				_exit(11);
		/* wait() watches the control socket too: it must time out. */
		int r = ivshmem_wait(ep, 0, 200);
		ivshmem_close(ep);
		_exit(r == -ETIMEDOUT ? 0 : 12);
	}
	close(go[1]);
	is(reap_bounded(kid, T), 0, "ivshmem_next_event() and ivshmem_wait() return during an endless flood");
	stop_group(srv);
}

static void test_backlog_full(void)
{
	int lfd = listen_unix(sock, SOCK_STREAM, 0); /* never accepts */
	ok(lfd >= 0, "a server that never accepts");
	int fill[16];
	int n = fill_backlog(sock, SOCK_STREAM, fill, 16);
	ok(n < 16, "its backlog is full (%d connections)", n);
	pid_t kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "server:%s", sock);
		struct ivshmem_open_opts o = {.ready_timeout_ms = 300};
		ivshmem_ep *ep;
		int r = ivshmem_open(spec, &o, &ep);
		_exit(r == -ETIMEDOUT ? 0 : 10);
	}
	is(reap_bounded(kid, T), 0, "open() gives -ETIMEDOUT instead of sleeping in connect()");
	for (int i = 0; i < n; i++)
		close(fill[i]);
	close(lfd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-hostile-XXXXXX");
	if (!mkdtemp(dir))
		fail_all("setup: mkdtemp %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	test_chatty_greeting();
	test_chatty_pump();
	test_backlog_full();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
