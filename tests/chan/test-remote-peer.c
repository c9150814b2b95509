/* SPDX-License-Identifier: MIT */
/* A channel's other side on another machine (a VM) is judged dead by the
 * server's peer list, not by its pid.  That list is what the endpoint has
 * read from its socket, and the server sends at most a message or two
 * with an fd ahead of the reader (docs/server.md): an endpoint that has
 * not read its socket for a while (a consumer waiting for a producer to
 * attach) knows only the first announcements.  The verdict must come
 * from the whole list: a live peer announced behind the others is alive
 * (the guest suite's chan-doorbell caught a live VM detached on its
 * behalf), and one the server says left is dead.
 *
 * Run: the server (ivshmem server, path in $IVSHMEM), a consumer R that
 * then reads nothing, FILLERS other peers with 4 vectors each (their
 * announcements fill R's socket and the server's queue for R), then the
 * producer P in a child, whose attach info says "another machine". */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel/channel.h"
#include "server/srv-test.h"
#include "tap.h"

#define FILLERS 16

static char dir[64], sock[128], logpath[128], shm[64], spec[160];

static ivshmem_ep *ep_open(void)
{
	ivshmem_ep *ep = NULL;
	return ivshmem_open(spec, NULL, &ep) < 0 ? NULL : ep;
}

/* P: attach as producer, say "another machine", wait for the go, send
 * one message, wait again, then end without detaching. */
static void producer(int ready_w, int go_r)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_chan *ch = NULL;
	if (!ep || ivshmem_chan_open(ep, "c", IVSHMEM_CHAN_PRODUCER, NULL, &ch) < 0)
		_exit(2);
	unsigned char *m = ivshmem_mem(ep);
	struct ivs_layout_view v;
	struct ivs_entry_view en;
	if (ivs_layout_read(m, ivshmem_mem_size(ep), &v) < 0 ||
	    ivs_layout_find(m, ivshmem_mem_size(ep), &v, "c", &en) < 0)
		_exit(3);
	struct ivs_chan_ctrl *ctl = (struct ivs_chan_ctrl *)(m + en.offset);
	atomic_store(&ctl->prod.host, ~atomic_load(&ctl->prod.host));
	char b = 'r';
	if (write(ready_w, &b, 1) != 1 || read(go_r, &b, 1) != 1)
		_exit(4);
	if (ivshmem_chan_send(ch, "hello", 5, 5000) < 0)
		_exit(5);
	if (read(go_r, &b, 1) != 1)
		_exit(6);
	_exit(0); /* no detach: the server announces that P left */
}

int main(void)
{
	if (!getenv("IVSHMEM"))
		skip_all("IVSHMEM (the CLI) not set");
	snprintf(dir, sizeof(dir), "/tmp/ivs-remote-XXXXXX");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
	snprintf(shm, sizeof(shm), "ivs-remote-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "server:%s", sock);
	pid_t srv = start_server(sock, shm, 4, logpath, NULL);
	ok(srv > 0, "server started");
	if (srv <= 0)
		return tap_done();

	ivshmem_ep *r = ep_open(), *fill[FILLERS] = {0};
	ivshmem_chan *c = NULL;
	ok(r && ivshmem_chan_create(r, "c", 4096, 0) == 0 &&
		   ivshmem_chan_open(r, "c", IVSHMEM_CHAN_CONSUMER, NULL, &c) == 0,
	   "R: channel created, consumer attached");
	int nfill = 0;
	for (int i = 0; i < FILLERS; i++)
		nfill += (fill[i] = ep_open()) != NULL;
	is(nfill, FILLERS, "%d filler peers joined while R read nothing", FILLERS);

	int ready[2], go[2];
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || !c)
		return tap_done();
	pid_t p = fork();
	if (p == 0) {
		producer(ready[1], go[0]);
	}
	char b;
	ok(p > 0 && read(ready[0], &b, 1) == 1, "P joined last and attached as producer on 'another machine'");

	char buf[64];
	/* Several liveness checks (every 50 ms) with P alive. */
	is(ivshmem_chan_recv(c, buf, sizeof(buf), 400), -ETIMEDOUT,
	   "R waits: a live peer announced behind %d others is not judged dead", FILLERS);
	b = 'g';
	ok(write(go[1], &b, 1) == 1, "P told to send");
	ssize_t n = ivshmem_chan_recv(c, buf, sizeof(buf), 5000);
	ok(n == 5 && memcmp(buf, "hello", 5) == 0, "R receives P's message (got %zd)", n);

	ok(write(go[1], &b, 1) == 1, "P told to end without detaching");
	int st = -1;
	waitpid(p, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "P ended (status %d)", st);
	is(ivshmem_chan_recv(c, buf, sizeof(buf), 5000), -EOWNERDEAD,
	   "R: the server said P left: it died without detaching");
	is(ivshmem_chan_recv(c, buf, sizeof(buf), 0), -EPIPE, "R: then P is detached");

	ivshmem_chan_close(c);
	for (int i = 0; i < FILLERS; i++)
		ivshmem_close(fill[i]);
	ivshmem_close(r);
	stop_child(srv, SIGTERM);
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/%s", shm);
	unlink(path);
	unlink(sock);
	unlink(logpath);
	rmdir(dir);
	return tap_done();
}
