/* SPDX-License-Identifier: MIT */
/* Channels between processes over a "file:" endpoint: ordering and no loss
 * with varying sizes, blocking mode, crash and restart of either side. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel/channel.h"
#include "ivshmem.h"
#include "tap.h"
#include "proc-util.h"

#define REGION (4 << 20)
#define MAXMSG 4000
#define T 10000 /* ms: hang guard of the waits on the other side, never the property tested */

static char path[64], spec[80];

static size_t msg_len(unsigned i)
{
	return ((i * 2654435761u) >> 13) % (MAXMSG + 1);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (unsigned char)(seed * 131 + k);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != (unsigned char)(seed * 131 + k))
			return 0;
	return 1;
}

static ivshmem_ep *ep_open(void)
{
	ivshmem_ep *ep = NULL;
	if (ivshmem_open(spec, NULL, &ep) < 0)
		return NULL;
	return ep;
}

static ivshmem_chan *chan(ivshmem_ep *ep, const char *name, int role, int spin_us)
{
	struct ivshmem_chan_opts o = {.spin_us = spin_us};
	ivshmem_chan *ch = NULL;
	if (ivshmem_chan_open(ep, name, role, &o, &ch) < 0)
		return NULL;
	return ch;
}

/* The consumer's sleeps (a shared total, counted as it arms its wakeup),
 * or `dflt` if the snapshot fails. */
static uint64_t consumer_sleeps(ivshmem_chan *ch, uint64_t dflt)
{
	struct ivshmem_chan_stat st;
	return ivshmem_chan_stat(ch, &st) == 0 ? st.consumer_sleeps : dflt;
}

/* Until the consumer sleeps more than `before` times: it has emptied the
 * ring and armed its wakeup, so the next send must wake it.  false if it
 * didn't within T (the hang guard). */
static bool consumer_slept(ivshmem_chan *ch, uint64_t before)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	while (consumer_sleeps(ch, before) == before) {
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(100); /* poll interval */
	}
	return true;
}

/* Child: send n messages of varying sizes; exit 0 if all went in.  With
 * burst_pause, after every burst_pause-th message it stops until the
 * consumer has gone to sleep on the empty ring (no guess at how long that
 * takes), so the next message has to wake it. */
static void producer(const char *name, unsigned first, unsigned n, int spin_us, unsigned burst_pause)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_chan *ch = ep ? chan(ep, name, IVSHMEM_CHAN_PRODUCER, spin_us) : NULL;
	if (!ch)
		_exit(2);
	unsigned char buf[MAXMSG];
	bool pausing = burst_pause != 0;
	for (unsigned i = first; i < first + n; i++) {
		size_t len = msg_len(i);
		fill(buf, len, i);
		bool pause_after = pausing && i % burst_pause == 0;
		uint64_t before = pause_after ? consumer_sleeps(ch, 0) : 0;
		int r;
		while ((r = ivshmem_chan_send(ch, buf, len, 20000)) == -ECONNRESET)
			;
		if (r < 0)
			_exit(3);
		if (pause_after && !consumer_slept(ch, before))
			pausing = false; /* it never sleeps: the check on its sleeps says so */
	}
	ivshmem_chan_close(ch);
	ivshmem_close(ep);
	_exit(0);
}

static int child_status(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Receive until -EPIPE, checking order and content from `first`. */
static unsigned consume(ivshmem_chan *ch, unsigned first, unsigned *bad, int *end)
{
	static unsigned char buf[MAXMSG];
	unsigned i = first;
	*bad = 0;
	for (;;) {
		ssize_t r = ivshmem_chan_recv(ch, buf, sizeof(buf), 20000);
		if (r == -ECONNRESET)
			continue;
		if (r < 0) {
			*end = (int)r;
			break;
		}
		if ((size_t)r != msg_len(i) || !check(buf, (size_t)r, i))
			(*bad)++;
		i++;
	}
	return i - first;
}

static void test_stream(const char *name, unsigned n, int spin_us, unsigned pause)
{
	ivshmem_ep *ep = ep_open();
	ok(ivshmem_chan_create(ep, name, 64 * 1024, MAXMSG) == 0, "%s: create", name);
	ivshmem_chan *c = chan(ep, name, IVSHMEM_CHAN_CONSUMER, spin_us);
	pid_t pid = fork();
	if (pid == 0)
		producer(name, 0, n, spin_us, pause);
	unsigned bad;
	int end = 0;
	unsigned got = consume(c, 0, &bad, &end);
	is(got, n, "%s: every message arrived", name);
	is(bad, 0, "%s: in order, sizes and contents intact", name);
	is(end, -EPIPE, "%s: ends with -EPIPE when the producer closes", name);
	is(child_status(pid), 0, "%s: producer sent all", name);
	struct ivshmem_chan_stat st;
	ivshmem_chan_stat(c, &st);
	printf("# %s: consumer slept %llu times (wake %d), producer sent %llu wakeups for %u messages\n", name,
	       (unsigned long long)st.sleeps, st.wake, (unsigned long long)st.producer_rings, n);
	if (pause)
		ok(st.sleeps > 0 && st.producer_rings > 0, "%s: consumer slept and was woken", name);
	ivshmem_chan_close(c);
	ivshmem_close(ep);
}

/* A producer that attaches and detaches in a tight loop for 2 s (each one
 * a real detach, then a new attach) against a consumer polling with 1 ms
 * timeouts: a new attach between the consumer's reads of the epoch and of
 * its info is a restart, never corruption (-EPROTO). */
static void test_restart_race(void)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_chan_create(ep, "race", 8192, 100);
	ivshmem_chan *c = chan(ep, "race", IVSHMEM_CHAN_CONSUMER, -1);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		ivshmem_ep *e2 = ep_open();
		uint64_t end = ivs_now_ns() + 2000000000ull;
		while (e2 && ivs_now_ns() < end)
			ivshmem_chan_close(chan(e2, "race", IVSHMEM_CHAN_PRODUCER, -1));
		_exit(e2 ? 0 : 2);
	}
	unsigned long calls = 0, proto = 0, other = 0;
	unsigned char buf[128];
	int st = -1;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		ssize_t r = ivshmem_chan_recv(c, buf, sizeof(buf), 1);
		calls++;
		if (r == -EPROTO)
			proto++;
		if (r == -EPROTO || r == -EBADMSG || r == -ESTALE) {
			ivshmem_chan_close(c); /* sticky: start again to keep looking */
			c = chan(ep, "race", IVSHMEM_CHAN_CONSUMER, -1);
			other += r != -EPROTO;
		}
	}
	printf("# %lu calls during 2 s of producer restarts\n", calls);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the restarting producer ran");
	is(proto, 0, "no -EPROTO from a producer that restarts for real");
	is(other, 0, "nor -EBADMSG or -ESTALE");
	ivshmem_chan_close(c);
	ivshmem_close(ep);
}

static void test_producer_crash(void)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_chan_create(ep, "crash", 8192, 100);
	ivshmem_chan *c = chan(ep, "crash", IVSHMEM_CHAN_CONSUMER, 0);
	int pfd[2];
	if (pipe(pfd) < 0)
		fail_all("setup: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		ivshmem_ep *e2 = ep_open();
		ivshmem_chan *p = chan(e2, "crash", IVSHMEM_CHAN_PRODUCER, 0);
		for (int i = 0; i < 3; i++)
			ivshmem_chan_send(p, "m", 1, 0);
		void *w;
		ivshmem_chan_reserve(p, 5, &w, 0);
		memcpy(w, "stale", 5);
		if (write(pfd[1], "x", 1) < 0)
			_exit(1);
		pause(); /* killed while holding an uncommitted reservation */
		_exit(0);
	}
	char x;
	ok(read(pfd[0], &x, 1) == 1, "producer ready");
	kill(pid, SIGKILL);
	child_status(pid);
	char buf[100];
	int got = 0;
	ssize_t r;
	while ((r = ivshmem_chan_recv(c, buf, sizeof(buf), 10000)) == 1)
		got++;
	is(got, 3, "committed messages of the dead producer delivered");
	is(r, -EOWNERDEAD, "dead producer (no detach) reported as -EOWNERDEAD (died), not waited on");
	is(ivshmem_chan_recv(c, buf, sizeof(buf), 0), -EPIPE, "  then it is detached: -EPIPE");

	/* A restarted producer resumes; the stale reservation never shows. */
	pid = fork();
	if (pid == 0)
		producer("crash", 0, 0, 0, 0);
	child_status(pid);
	pid = fork();
	if (pid == 0) {
		ivshmem_ep *e2 = ep_open();
		ivshmem_chan *p = chan(e2, "crash", IVSHMEM_CHAN_PRODUCER, 0);
		ivshmem_chan_send(p, "fresh", 5, 0);
		ivshmem_chan_close(p);
		_exit(0);
	}
	child_status(pid);
	r = ivshmem_chan_recv(c, buf, sizeof(buf), 10000);
	is(r, 5, "restarted producer's message");
	ok(r == 5 && memcmp(buf, "fresh", 5) == 0, "not the dead one's reservation");
	ivshmem_chan_close(c);
	close(pfd[0]);
	close(pfd[1]);
	ivshmem_close(ep);
}

static void test_consumer_restart(void)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_chan_create(ep, "crec", 8192, 100);
	ivshmem_chan *p = chan(ep, "crec", IVSHMEM_CHAN_PRODUCER, 0);
	for (unsigned char i = 1; i <= 6; i++)
		ivshmem_chan_send(p, &i, 1, 0);
	pid_t pid = fork();
	if (pid == 0) {
		ivshmem_ep *e2 = ep_open();
		ivshmem_chan *c = chan(e2, "crec", IVSHMEM_CHAN_CONSUMER, 0);
		unsigned char b;
		for (int i = 0; i < 3; i++)
			if (ivshmem_chan_recv(c, &b, 1, 0) != 1 || b != i + 1)
				_exit(1);
		const void *q;
		ivshmem_chan_peek(c, &q, 0); /* then die without release or close */
		_exit(0);
	}
	is(child_status(pid), 0, "first consumer read 1..3 and died holding 4");
	ivshmem_chan *c = chan(ep, "crec", IVSHMEM_CHAN_CONSUMER, 0);
	unsigned char b = 0;
	int ok_seq = 1;
	for (unsigned char i = 4; i <= 6; i++)
		if (ivshmem_chan_recv(c, &b, 1, 0) != 1 || b != i)
			ok_seq = 0;
	ok(ok_seq, "restarted consumer resumes at 4 (the unreleased one), no stale 1..3");
	is(ivshmem_chan_recv(c, &b, 1, 0), -EAGAIN, "and nothing else");
	ivshmem_chan_close(c);
	ivshmem_chan_close(p);
	ivshmem_close(ep);
}

/* Blocking ping-pong, no spinning: every receive sleeps on the futex and
 * must be woken by the peer (or find the wake already happened).  A
 * receive sleeps only after arming its wakeup and finding the ring still
 * empty, so the message it then gets was published after the arm, and its
 * producer must have seen the arm and rung: the peer's wakeups sent are at
 * least the receives that slept.  A lost wakeup (a publish that missed the
 * arm) leaves a receive that slept without a ring.  Sleeps that ran out
 * their slice (100 ms: the peer was slow to run, or a wake did not land)
 * are reported, not asserted: on a busy machine a peer may be that slow. */
#define PP_ROUNDS 2000
struct pp_report {
	struct ivs_chan_wait_stats ws;
	uint64_t slept; /* receives that slept */
};

/* Whether a receive slept: its wait stats moved. */
static uint64_t pp_sleeps(const ivshmem_chan *ch)
{
	struct ivs_chan_wait_stats w = {0};
	ivs_chan_wait_stats(ch, &w);
	return w.woken + w.raced + w.timeouts + w.polls;
}

static void test_pingpong_wakeups(void)
{
	ivshmem_ep *ep = ep_open();
	ok(ivshmem_chan_create(ep, "pp-a", 64 * 1024, 64) == 0 && ivshmem_chan_create(ep, "pp-b", 64 * 1024, 64) == 0,
	   "ping-pong: create");
	int fds[2], ready[2];
	if (pipe(fds) < 0 || pipe(ready) < 0) {
		ok(0, "ping-pong: pipe");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		close(ready[0]);
		ivshmem_ep *e2 = ep_open();
		ivshmem_chan *in = e2 ? chan(e2, "pp-a", IVSHMEM_CHAN_CONSUMER, -1) : NULL;
		ivshmem_chan *out = e2 ? chan(e2, "pp-b", IVSHMEM_CHAN_PRODUCER, -1) : NULL;
		if (!in || !out || write(ready[1], "r", 1) != 1)
			_exit(2);
		char b[64];
		struct pp_report rep = {0};
		for (int i = 0; i < PP_ROUNDS; i++) {
			ssize_t k;
			uint64_t s0 = pp_sleeps(in);
			while ((k = ivshmem_chan_recv(in, b, sizeof(b), 20000)) == -ECONNRESET)
				;
			rep.slept += pp_sleeps(in) != s0;
			if (k < 0 || ivshmem_chan_send(out, b, (size_t)k, 20000) < 0)
				_exit(3);
		}
		ivs_chan_wait_stats(in, &rep.ws);
		if (write(fds[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			_exit(4);
		ivshmem_chan_close(out);
		ivshmem_chan_close(in);
		ivshmem_close(e2);
		_exit(0);
	}
	close(fds[1]);
	close(ready[1]);
	char c;
	ok(read(ready[0], &c, 1) == 1, "ping-pong: peer attached");
	ivshmem_chan *out = chan(ep, "pp-a", IVSHMEM_CHAN_PRODUCER, -1);
	ivshmem_chan *in = chan(ep, "pp-b", IVSHMEM_CHAN_CONSUMER, -1);
	int done = 0;
	uint64_t slept = 0, polls_first = 0;
	char b[64] = {0};
	for (; in && out && done < PP_ROUNDS; done++) {
		int r;
		while ((r = ivshmem_chan_send(out, b, 16, 20000)) == -ECONNRESET)
			;
		if (r < 0)
			break;
		ssize_t k;
		uint64_t s0 = pp_sleeps(in);
		while ((k = ivshmem_chan_recv(in, b, sizeof(b), 20000)) == -ECONNRESET)
			;
		slept += pp_sleeps(in) != s0;
		if (k != 16)
			break;
		if (done == 0) {
			struct ivs_chan_wait_stats w0 = {0};
			ivs_chan_wait_stats(in, &w0);
			polls_first = w0.polls;
		}
	}
	is(done, PP_ROUNDS, "ping-pong: %d blocking round trips", PP_ROUNDS);
	struct ivs_chan_wait_stats mine = {0};
	struct pp_report peer = {0};
	ivs_chan_wait_stats(in, &mine);
	ok(read(fds[0], &peer, sizeof(peer)) == (ssize_t)sizeof(peer), "ping-pong: peer's wait stats");
	is(child_status(pid), 0, "ping-pong: peer echoed all");
	struct ivshmem_chan_stat st = {0}, st_out = {0};
	ok(in && out && ivshmem_chan_stat(in, &st) == 0 && ivshmem_chan_stat(out, &st_out) == 0,
	   "ping-pong: channel stats");
	printf("# ping-pong: wake %d; here %llu receives slept, %llu sleeps: %llu woken, %llu raced, %llu timeouts, "
	       "%llu polls; peer %llu receives slept: %llu woken, %llu raced, %llu timeouts, %llu polls\n",
	       st.wake, (unsigned long long)slept, (unsigned long long)st.sleeps, (unsigned long long)mine.woken,
	       (unsigned long long)mine.raced, (unsigned long long)mine.timeouts, (unsigned long long)mine.polls,
	       (unsigned long long)peer.slept, (unsigned long long)peer.ws.woken, (unsigned long long)peer.ws.raced,
	       (unsigned long long)peer.ws.timeouts, (unsigned long long)peer.ws.polls);
	is(st.wake, IVSHMEM_CHAN_WAKE_FUTEX, "ping-pong: slept on the futex");
	ok(mine.woken > 0, "ping-pong: sleeps ended by a futex wake");
	ok(slept > 0 && st.producer_rings >= slept,
	   "ping-pong: every receive here that slept was rung by the peer (%llu wakeups for %llu): no lost wakeup",
	   (unsigned long long)st.producer_rings, (unsigned long long)slept);
	ok(peer.slept > 0 && st_out.producer_rings >= peer.slept,
	   "ping-pong: every receive of the peer that slept was rung from here (%llu wakeups for %llu)",
	   (unsigned long long)st_out.producer_rings, (unsigned long long)peer.slept);
	ok(st.sleeps == mine.woken + mine.raced + mine.timeouts + mine.polls, "ping-pong: every sleep accounted for");
	/* Polls: only before the peer, attached first, followed our attach:
	 * it does at its first send, published before the message. */
	is(mine.polls, polls_first, "ping-pong: polled only in the first round trip (until the peer followed us)");
	ivshmem_chan_close(in);
	ivshmem_chan_close(out);
	ivshmem_close(ep);
	close(fds[0]);
	close(ready[0]);
}

/* A consumer waiting for a producer that attaches late: it backs off (few
 * sleeps, not one per millisecond) and still gets the first message. */
static void test_late_producer(const char *name, unsigned flags)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_chan_create(ep, name, 8192, 64);
	struct ivshmem_chan_opts o = {.flags = flags, .spin_us = -1};
	ivshmem_chan *c = NULL;
	ivshmem_chan_open(ep, name, IVSHMEM_CHAN_CONSUMER, &o, &c);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {1, 500000000};
		nanosleep(&ts, NULL);
		ivshmem_ep *e2 = ep_open();
		ivshmem_chan *p = chan(e2, name, IVSHMEM_CHAN_PRODUCER, -1);
		uint64_t now = ivs_now_ns();
		_exit(p && ivshmem_chan_send(p, &now, sizeof(now), 1000) == 0 ? 0 : 1);
	}
	uint64_t sent = 0, t0 = ivs_now_ns();
	ssize_t n = ivshmem_chan_recv(c, &sent, sizeof(sent), 3 * T);
	uint64_t now = ivs_now_ns(), lat = now - sent, waited_ms = (now - t0) / 1000000;
	is(child_status(pid), 0, "%s: late producer sent", name);
	ok(n == (ssize_t)sizeof(sent), "%s: received its message", name);
	struct ivshmem_chan_stat st = {0};
	ivshmem_chan_stat(c, &st);
	/* Against the wait as it was, however long the machine made it: a
	 * sleep lasts at least what it asked for, so once backed off (a few
	 * short ones first) there can't be many per second.  One per
	 * millisecond would be about waited_ms sleeps. */
	ok(st.sleeps <= 20 + waited_ms / 10, "%s: waited %llu ms in %llu sleeps (backoff, not one per ms)", name,
	   (unsigned long long)waited_ms, (unsigned long long)st.sleeps);
	/* Latency is reported, not asserted: this machine is noisy. */
	printf("# %s: woken %.1f ms after the send\n", name, (double)lat / 1e6);
	ivshmem_chan_close(c);
	ivshmem_close(ep);
}

/* Delete against real processes: refused while a live process is attached,
 * allowed once it died without detaching. */
static void test_delete_proc(void)
{
	ivshmem_ep *ep = ep_open();
	is(ivshmem_chan_create(ep, "del", 8192, 64), 0, "delete: create");
	int go[2], ready[2];
	if (pipe(go) < 0 || pipe(ready) < 0)
		fail_all("setup: pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		ivshmem_ep *e2 = ep_open();
		ivshmem_chan *p = chan(e2, "del", IVSHMEM_CHAN_PRODUCER, -1);
		char b;
		if (!p || write(ready[1], "a", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(1);
		_exit(0); /* die attached */
	}
	close(go[0]);
	close(ready[1]);
	char a = 0;
	ok(read_bounded(ready[0], &a, 1, T) == 0 && a == 'a', "delete: the producer is attached");
	close(ready[0]);
	is(ivshmem_chan_delete(ep, "del"), -EBUSY, "delete: live producer attached: -EBUSY");
	ssize_t w = write(go[1], "x", 1);
	(void)w;
	close(go[1]);
	is(child_status(pid), 0, "delete: producer exited without detaching");
	is(ivshmem_chan_delete(ep, "del"), 0, "delete: dead producer: deleted");
	is(ivshmem_chan_delete(ep, "del"), -ENOENT, "delete: again: -ENOENT");
	ivshmem_close(ep);
}

int main(void)
{
	snprintf(path, sizeof(path), "/dev/shm/ivs-chan-test-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/tmp/ivs-chan-test-XXXXXX");
		fd = mkstemp(path);
	}
	if (fd < 0 || ftruncate(fd, REGION) < 0)
		fail_all("setup: cannot create %s: %s", path, strerror(errno));
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s", path);
	test_stream("spin", 200000, 0, 0);
	test_stream("sleepy", 20000, -1, 1000);
	test_producer_crash();
	test_restart_race();
	test_consumer_restart();
	test_pingpong_wakeups();
	test_late_producer("late-futex", 0);
	test_late_producer("late-poll", IVSHMEM_CHAN_NO_FUTEX);
	test_delete_proc();
	unlink(path);
	return tap_done();
}
