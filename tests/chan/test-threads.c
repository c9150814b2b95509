/* SPDX-License-Identifier: MIT */
/* One endpoint, several threads (ivshmem.h, Threads): a producer thread
 * and a consumer thread, each with its own channel handle on the same
 * endpoint, woken by doorbells (no futex), while a third thread reads the
 * endpoint's peers and events.  On a server: endpoint and on a daemon:
 * endpoint, whose doorbells and peer lists are requests on one socket
 * (two threads must not take each other's replies).  The other side is an
 * echo process on the server; another process joins and leaves the server
 * meanwhile, so the endpoint's peer table changes under the threads.  Run under ThreadSanitizer by make check
 * (build-tsan, suite threads). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/srv-test.h"
#include "tap.h"

#define MSGS 2000
#define T_MS 20000

static char dir[64], sock[128], dsock[128], logpath[160], dlog[160], shm[64], srv_spec[160];

struct run {
	ivshmem_ep *ep;
	int sent, got, bad, peers_calls, peers_err, events;
	atomic_bool done;
};

static ivshmem_chan *chan(ivshmem_ep *ep, const char *name, int role, unsigned vector)
{
	struct ivshmem_chan_opts o = {.flags = IVSHMEM_CHAN_NO_FUTEX, .vector = vector, .spin_us = -1};
	ivshmem_chan *ch = NULL;
	return ivshmem_chan_open(ep, name, role, &o, &ch) < 0 ? NULL : ch;
}

static void *producer(void *arg)
{
	struct run *r = arg;
	ivshmem_chan *up = chan(r->ep, "up", IVSHMEM_CHAN_PRODUCER, 0);
	for (int i = 0; up && i < MSGS; i++) {
		int k;
		while ((k = ivshmem_chan_send(up, &i, sizeof(i), T_MS)) == -ECONNRESET)
			;
		if (k < 0)
			break;
		r->sent++;
	}
	ivshmem_chan_close(up);
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	ivshmem_chan *down = chan(r->ep, "down", IVSHMEM_CHAN_CONSUMER, 1);
	for (int i = 0; down && i < MSGS; i++) {
		int v = -1;
		ssize_t k;
		while ((k = ivshmem_chan_recv(down, &v, sizeof(v), T_MS)) == -ECONNRESET)
			;
		if (k < 0)
			break;
		if (k != sizeof(v) || v != i)
			r->bad++;
		r->got++;
	}
	ivshmem_chan_close(down);
	atomic_store(&r->done, true);
	return NULL;
}

/* Reads peer lists and events while the other threads move messages, and
 * on until it has seen an event of the churning peer (bounded by T_MS): a
 * transfer that ends before this thread first runs must not make the
 * checks vacuous or fail them. */
static void *watcher(void *arg)
{
	struct run *r = arg;
	uint64_t deadline = ivs_now_ns() + (uint64_t)T_MS * 1000000u;
	do {
		struct ivshmem_peer p[8];
		r->peers_calls++;
		if (ivshmem_peers(r->ep, p, 8) < 0)
			r->peers_err++;
		struct ivshmem_event ev;
		while (ivshmem_next_event(r->ep, &ev) == 1)
			r->events++;
	} while (!atomic_load(&r->done) || (r->events == 0 && ivs_now_ns() < deadline));
	return NULL;
}

/* Join and leave the server until killed. */
static void churn(void)
{
	for (;;) {
		ivshmem_ep *ep = NULL;
		if (ivshmem_open(srv_spec, NULL, &ep) == 0)
			ivshmem_close(ep);
	}
}

/* The echo side, a peer of the server: up -> down. */
static void echo(int ready)
{
	ivshmem_ep *ep = NULL;
	if (ivshmem_open(srv_spec, NULL, &ep) < 0)
		_exit(2);
	ivshmem_chan *in = chan(ep, "up", IVSHMEM_CHAN_CONSUMER, 0);
	ivshmem_chan *out = chan(ep, "down", IVSHMEM_CHAN_PRODUCER, 1);
	if (!in || !out || write(ready, "r", 1) != 1)
		_exit(3);
	for (int i = 0; i < MSGS; i++) {
		int v;
		ssize_t k;
		while ((k = ivshmem_chan_recv(in, &v, sizeof(v), T_MS)) == -ECONNRESET)
			;
		int s = -1;
		if (k == sizeof(v))
			while ((s = ivshmem_chan_send(out, &v, sizeof(v), T_MS)) == -ECONNRESET)
				;
		if (s < 0)
			_exit(4);
	}
	ivshmem_chan_close(in);
	ivshmem_chan_close(out);
	ivshmem_close(ep);
	_exit(0);
}

static void run(const char *what, const char *spec)
{
	ivshmem_ep *ep = NULL;
	ok(ivshmem_open(spec, NULL, &ep) == 0, "%s: the shared endpoint", what);
	if (!ep)
		return;
	ivshmem_chan_delete(ep, "up");
	ivshmem_chan_delete(ep, "down");
	ok(ivshmem_chan_create(ep, "up", 4096, 0) == 0 && ivshmem_chan_create(ep, "down", 4096, 0) == 0,
	   "%s: channels up and down (4 KiB rings: they fill)", what);
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) < 0)
		fail_all("setup: pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t e = fork();
	if (e == 0)
		echo(rp[1]);
	char c;
	ok(read(rp[0], &c, 1) == 1, "%s: the echo peer attached", what);
	close(rp[0]);
	close(rp[1]);
	fflush(stdout);
	pid_t ch = fork();
	if (ch == 0)
		churn();
	struct run r = {.ep = ep};
	pthread_t t[3];
	pthread_create(&t[0], NULL, producer, &r);
	pthread_create(&t[1], NULL, consumer, &r);
	pthread_create(&t[2], NULL, watcher, &r);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	is(r.sent, MSGS, "%s: the producer thread sent %d", what, MSGS);
	is(r.got, MSGS, "%s: the consumer thread got them back", what);
	is(r.bad, 0, "%s: in order, intact", what);
	ok(r.peers_calls > 0 && r.peers_err == 0, "%s: %d peer lists read meanwhile, none failed", what,
	   r.peers_calls);
	kill(ch, SIGKILL);
	waitpid(ch, NULL, 0);
	ok(r.events > 0, "%s: %d peer events read meanwhile", what, r.events);
	int st = -1;
	waitpid(e, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the echo peer echoed all (status %d)", what, st);
	ivshmem_close(ep);
}

int main(void)
{
	const char *cli = getenv("IVSHMEM");
	if (!cli)
		skip_all("IVSHMEM (the CLI) not set");
	snprintf(dir, sizeof(dir), "/tmp/ivs-threads-XXXXXX");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	snprintf(dsock, sizeof(dsock), "%s/d.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
	snprintf(dlog, sizeof(dlog), "%s/daemon.log", dir);
	snprintf(shm, sizeof(shm), "ivs-threads-%d", (int)getpid());
	snprintf(srv_spec, sizeof(srv_spec), "server:%s", sock);
	pid_t srv = start_server(sock, shm, 2, logpath, NULL);
	ok(srv > 0, "server started (2 vectors)");
	if (srv > 0) {
		run("server", srv_spec);
		char *argv[] = {(char *)cli, "daemon", srv_spec, "--socket", dsock, NULL};
		pid_t d = spawn_logged(argv, dlog);
		ok(d > 0 && wait_log(dlog, "serving", 10000), "a daemon owns a peer of the server");
		char dspec[160];
		snprintf(dspec, sizeof(dspec), "daemon:%s", dsock);
		if (d > 0)
			run("daemon", dspec);
		stop_child(d, SIGTERM);
		stop_child(srv, SIGTERM);
	}
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/%s", shm);
	unlink(path);
	unlink(logpath);
	unlink(dlog);
	unlink(sock);
	unlink(dsock);
	rmdir(dir);
	return tap_done();
}
