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
 * Each round: a server (ivshmem server, path in $IVSHMEM), a consumer R
 * that then reads nothing, FILLERS other peers with 4 vectors each (their
 * announcements fill R's socket and the server's queue for R), then the
 * producer P in a child, whose attach info says "another machine".
 *   backlog    P alive behind the others; then P ends: R gets -EOWNERDEAD
 *   stalled    the server is stopped (SIGSTOP) while R waits: a quiet
 *              socket is no proof, P stays alive
 *   talkative  peers connect and leave without pause, so R's socket is
 *              never quiet: P's leave, read, is the evidence
 *   novec      a server with -n 0 announces nobody: no list, P is never
 *              judged dead (R's waits time out)
 * Only the server's word (a leave) makes a verdict: each round but novec
 * waits until R has heard of P before P ends. */
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

static char dir[64], sock[128], logpath[160], shm[64], spec[160];

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

enum mode { BACKLOG, STALLED, TALKATIVE, NOVEC };
static const char *const mode_name[] = {"backlog", "stalled", "talkative", "novec"};

/* Connect and hang up, again and again, until killed. */
static void churn(void)
{
	for (;;) {
		int s = connect_raw(sock);
		if (s >= 0)
			close(s);
		usleep(2000); /* pacing only */
	}
}

static void round_(enum mode m)
{
	const char *nm = mode_name[m];
	int fillers = m == BACKLOG || m == STALLED ? FILLERS : 0;
	snprintf(sock, sizeof(sock), "%s/%s.sock", dir, nm);
	snprintf(logpath, sizeof(logpath), "%s/%s.log", dir, nm);
	snprintf(shm, sizeof(shm), "ivs-remote-%d-%s", (int)getpid(), nm);
	snprintf(spec, sizeof(spec), "server:%s", sock);
	pid_t srv = start_server(sock, shm, m == NOVEC ? 0 : 4, logpath, NULL);
	ok(srv > 0, "%s: server started", nm);
	if (srv <= 0)
		return;

	ivshmem_ep *r = ep_open(), *fill[FILLERS] = {0};
	ivshmem_chan *c = NULL;
	ok(r && ivshmem_chan_create(r, "c", 4096, 0) == 0 &&
		   ivshmem_chan_open(r, "c", IVSHMEM_CHAN_CONSUMER, NULL, &c) == 0,
	   "%s: R: channel created, consumer attached", nm);
	int nfill = 0;
	for (int i = 0; i < fillers; i++)
		nfill += (fill[i] = ep_open()) != NULL;
	is(nfill, fillers, "%s: %d filler peers joined while R read nothing", nm, fillers);

	int ready[2] = {-1, -1}, go[2] = {-1, -1};
	pid_t p = -1, ch = -1;
	char b = 'g', buf[64];
	if (c && (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0))
		fail_all("setup: pipe: %s", strerror(errno));
	if (!c)
		goto out;
	fflush(stdout);
	p = fork();
	if (p == 0)
		producer(ready[1], go[0]);
	ok(p > 0 && read(ready[0], &b, 1) == 1, "%s: P joined last and attached as producer on 'another machine'",
	   nm);
	if (m == TALKATIVE) {
		ch = fork();
		if (ch == 0)
			churn();
	}
	if (m == STALLED)
		ok(kill(srv, SIGSTOP) == 0, "%s: server stopped", nm);
	/* Several liveness checks (every 50 ms) with P alive. */
	/* (Stopped for 3 s: no time makes a quiet server's silence a verdict.) */
	is(ivshmem_chan_recv(c, buf, sizeof(buf), m == STALLED ? 3000 : 600), -ETIMEDOUT,
	   "%s: R waits: live P is not judged dead", nm);
	if (m == STALLED)
		ok(kill(srv, SIGCONT) == 0, "%s: server continued", nm);
	ok(write(go[1], &b, 1) == 1, "%s: P told to send", nm);
	ssize_t n = ivshmem_chan_recv(c, buf, sizeof(buf), 5000);
	ok(n == 5 && memcmp(buf, "hello", 5) == 0, "%s: R receives P's message (got %zd)", nm, n);

	if (m != NOVEC) {
		/* The verdict needs the server's word: once R has heard of P
		 * (its JOIN), P's leave will follow.  (A peer R never heard of
		 * gets no leave: no verdict, a timeout.) */
		struct ivshmem_chan_stat cs;
		int pid_ = ivshmem_chan_stat(c, &cs) == 0 ? cs.producer_id : -1;
		ok(pid_ >= 0 && wait_event_type(r, IVSHMEM_EVENT_PEER_JOIN, pid_, NULL, 10000) == 1,
		   "%s: R has heard of P (peer %d) from the server", nm, pid_);
	}
	ok(write(go[1], &b, 1) == 1, "%s: P told to end without detaching", nm);
	int st = -1;
	waitpid(p, &st, 0);
	p = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: P ended (status %d)", nm, st);
	if (m == NOVEC) {
		is(ivshmem_chan_recv(c, buf, sizeof(buf), 600), -ETIMEDOUT,
		   "%s: without a peer list, R can't tell: its wait times out", nm);
	} else {
		is(ivshmem_chan_recv(c, buf, sizeof(buf), 5000), -EOWNERDEAD,
		   "%s: R: the server said P left: it died without detaching", nm);
		is(ivshmem_chan_recv(c, buf, sizeof(buf), 0), -EPIPE, "%s: R: then P is detached", nm);
	}
out:
	if (ch > 0) {
		kill(ch, SIGKILL);
		waitpid(ch, NULL, 0);
	}
	if (p > 0) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	ivshmem_chan_close(c);
	for (int i = 0; i < fillers; i++)
		ivshmem_close(fill[i]);
	ivshmem_close(r);
	kill(srv, SIGCONT);
	stop_child(srv, SIGTERM);
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/%s", shm);
	unlink(path);
	unlink(sock);
	unlink(logpath);
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
	for (enum mode m = BACKLOG; m <= NOVEC; m++)
		round_(m);
	rmdir(dir);
	return tap_done();
}
