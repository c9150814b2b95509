/* SPDX-License-Identifier: MIT */
/* Lost wakeups, provoked: a producer and a consumer in two processes over
 * a 256-byte ring, both blocking without spinning and pausing at random
 * (0 to ~50 us) between calls, so that each side keeps arming its wakeup
 * just as the other publishes.  docs/channels.md, "Notification
 * suppression" and "Skipping the fence"; the protocol is model-checked in
 * tests/model/wakeup.pml, this runs the C.
 *
 * Every sleep must end by a wakeup from the peer: a receive (send) that
 * slept, found the message (the room) after the peer published it, and
 * the peer published only after the sleeper armed (it re-checked after
 * arming), so the peer saw the arm and kicked.  Sleeps here are sliced at
 * SLICE_MS (5 s, not 100 ms) while the peer publishes every few
 * microseconds: a sleep that times out is a lost wakeup.  (With the fence
 * and the membarrier both removed, about one sleep in 10^4 does.)  Run
 * with both parties membarrier users (the producer commits without a
 * fence), with one of them not (fences on both sides), and with
 * a takeover of the consumer's role by a party whose membarrier cannot
 * reach the producer (it must poll until the producer follows it); then
 * again with batches of 1 to 16 messages on both sides (more than the ring
 * holds) (one publication,
 * at most one kick per batch; commit_more's records published by the last
 * commit or by a reserve that waits for room). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel/channel.h"
#include "channel/wake.h"
#include "ivshmem.h"
#include "proc-util.h"
#include "tap.h"

#define REGION (1 << 20)
#define RING 256
#define MSG 16
#define N_MSGS 20000
#define T 60000 /* ms: hang guard of every call, never the property tested */
#define SLICE_MS 5000
#define BATCH 16 /* at most, per call: more than the ring holds (10) */

static char path[64], spec[80];
/* Batches of 1 to BATCH messages (send_batch, reserve + commit_more + commit;
 * recv_batch, peek_batch + release) instead of one-message calls: set
 * before the children fork. */
static bool batches;

/* What a child reports through its pipe. */
struct report {
	int ok;			   /* every call and every message as expected */
	uint64_t done;		   /* messages sent / received */
	uint64_t slept;		   /* calls that slept */
	uint64_t rings;		   /* kicks this handle sent */
	uint64_t polls_late;	   /* polls after its first 100 messages */
	struct ivs_chan_wait_stats ws;
	int fence_skipped;	   /* as its stat said after 100 messages */
	int fence_late;		   /* producer: after N_MSGS / 2 + 100 (past a takeover) */
};

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Most calls right away, some after a few hundred pauses, a few after
 * many: each side now outruns the other, now lags. */
static void random_pause(uint32_t *seed)
{
	uint32_t r = next_rand(seed) % 64, n = r < 40 ? 0 : r < 60 ? r * 8 : r * 200;
	for (uint32_t i = 0; i < n; i++)
		ivs_cpu_relax();
}

static uint64_t sleeps_of(const ivshmem_chan *ch)
{
	struct ivs_chan_wait_stats w = {0};
	ivs_chan_wait_stats(ch, &w);
	return w.woken + w.raced + w.timeouts + w.polls;
}

static ivshmem_chan *open_chan(ivshmem_ep **ep, int role)
{
	ivshmem_chan *ch = NULL;
	struct ivshmem_chan_opts o = {.spin_us = -1};
	if (ivshmem_open(spec, NULL, ep) < 0 || ivshmem_chan_open(*ep, "wk", role, &o, &ch) < 0)
		return NULL;
	ivs_chan_set_slice(ch, SLICE_MS);
	return ch;
}

/* Report the handle's kicks, sleeps and fence, through fd. */
static void report(int fd, struct report *rep, ivshmem_chan *ch)
{
	struct ivshmem_chan_stat st = {0};
	if (ivshmem_chan_stat(ch, &st) < 0)
		rep->ok = 0;
	rep->rings = st.rings;
	ivs_chan_wait_stats(ch, &rep->ws);
	if (write(fd, rep, sizeof(*rep)) != (ssize_t)sizeof(*rep))
		_exit(4);
}

/* Once the handle runs (after its first 100 messages: the peer follows it
 * by then, and is still there): its polls so far, and whether it skips the
 * fence. */
static void running(ivshmem_chan *ch, struct report *rep, uint64_t *polls0)
{
	if (rep->done != 100)
		return;
	struct ivs_chan_wait_stats w = {0};
	ivs_chan_wait_stats(ch, &w);
	*polls0 = w.polls;
	struct ivshmem_chan_stat st = {0};
	if (ivshmem_chan_stat(ch, &st) < 0)
		rep->ok = 0;
	rep->fence_skipped = st.fence_skipped;
}

static void late(ivshmem_chan *ch, struct report *rep)
{
	struct ivshmem_chan_stat st = {0};
	if (rep->done == N_MSGS / 2 + 100)
		rep->fence_late = ivshmem_chan_stat(ch, &st) == 0 ? st.fence_skipped : -1;
}

/* n messages by reserve and commit_more, the last committed (which
 * publishes them all).  Returns n or -errno. */
static int commit_batch(ivshmem_chan *ch, unsigned char m[][MSG], unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		void *w;
		int r;
		while ((r = ivshmem_chan_reserve(ch, MSG, &w, T)) == -ECONNRESET)
			;
		if (r < 0)
			return r;
		memcpy(w, m[k], MSG);
		if ((r = k + 1 < n ? ivshmem_chan_commit_more(ch, MSG) : ivshmem_chan_commit(ch, MSG)) < 0)
			return r;
	}
	return (int)n;
}

/* Send messages from..N_MSGS-1 (each carries its number). */
static void producer(int fd, bool mb, unsigned from, uint32_t seed)
{
	if (!mb)
		ivs_membarrier_disable();
	ivshmem_ep *ep = NULL;
	ivshmem_chan *ch = open_chan(&ep, IVSHMEM_CHAN_PRODUCER);
	if (!ch)
		_exit(2);
	struct report rep = {.ok = 1};
	uint64_t polls0 = 0;
	for (unsigned i = from; i < N_MSGS;) {
		unsigned char m[BATCH][MSG];
		unsigned n = batches ? 1 + next_rand(&seed) % BATCH : 1;
		if (n > N_MSGS - i)
			n = N_MSGS - i;
		struct ivshmem_chan_msg v[BATCH];
		for (unsigned k = 0; k < n; k++) {
			unsigned x = i + k;
			memset(m[k], (int)(x & 0xff), MSG);
			memcpy(m[k], &x, sizeof(x));
			v[k] = (struct ivshmem_chan_msg){.data = m[k], .len = MSG};
		}
		random_pause(&seed);
		uint64_t s0 = sleeps_of(ch);
		int r;
		if (!batches)
			while ((r = ivshmem_chan_send(ch, m[0], MSG, T)) == -ECONNRESET)
				; /* the consumer's role was taken over: once */
		else if (i & 1)
			while ((r = ivshmem_chan_send_batch(ch, v, n, T)) == -ECONNRESET)
				;
		else
			r = commit_batch(ch, m, n); /* may sleep for room for each */
		if (r == 0)
			r = 1;
		if (r < 0) {
			rep.ok = 0;
			break;
		}
		rep.slept += sleeps_of(ch) != s0;
		for (int k = 0; k < r; k++, i++) {
			rep.done++;
			running(ch, &rep, &polls0);
			late(ch, &rep);
		}
	}
	report(fd, &rep, ch);
	ivshmem_chan_close(ch);
	ivshmem_close(ep);
	_exit(0);
}

/* Receive messages from..until-1, in order; then hold (until the pipe
 * `hold` closes) without closing if until < N_MSGS (a takeover follows). */
static void consumer(int fd, bool mb, unsigned from, unsigned until, int ready, int hold, uint32_t seed)
{
	if (!mb)
		ivs_membarrier_disable();
	ivshmem_ep *ep = NULL;
	ivshmem_chan *ch = open_chan(&ep, IVSHMEM_CHAN_CONSUMER);
	if (!ch || write(ready, "r", 1) != 1)
		_exit(2);
	struct report rep = {.ok = 1};
	uint64_t polls0 = 0;
	for (unsigned i = from; i < until && rep.ok;) {
		unsigned char m[BATCH][64];
		struct ivshmem_chan_msg v[BATCH];
		unsigned n = batches ? 1 + next_rand(&seed) % BATCH : 1;
		if (n > until - i)
			n = until - i;
		for (unsigned j = 0; j < n; j++)
			v[j] = (struct ivshmem_chan_msg){.data = m[j], .cap = sizeof(m[j])};
		random_pause(&seed);
		uint64_t s0 = sleeps_of(ch);
		ssize_t k;
		bool peeked = batches && (i & 1);
		if (!batches) {
			while ((k = ivshmem_chan_recv(ch, m[0], sizeof(m[0]), T)) == -ECONNRESET)
				;
			v[0].data = m[0];
			v[0].len = (size_t)k;
			k = k == MSG ? 1 : -EBADMSG;
		} else if (peeked) {
			while ((k = ivshmem_chan_peek_batch(ch, v, n, T)) == -ECONNRESET)
				;
		} else {
			while ((k = ivshmem_chan_recv_batch(ch, v, n, T)) == -ECONNRESET)
				;
		}
		if (k <= 0) {
			rep.ok = 0;
			break;
		}
		rep.slept += sleeps_of(ch) != s0;
		for (ssize_t j = 0; j < k; j++, i++) {
			const unsigned char *b = v[j].data;
			unsigned got;
			memcpy(&got, b, sizeof(got));
			if (v[j].len != MSG || got != i || b[MSG - 1] != (unsigned char)(i & 0xff)) {
				rep.ok = 0;
				break;
			}
			rep.done++;
			running(ch, &rep, &polls0);
		}
		if (peeked && ivshmem_chan_release(ch) < 0)
			rep.ok = 0;
	}
	struct ivs_chan_wait_stats w = {0};
	ivs_chan_wait_stats(ch, &w);
	rep.polls_late = w.polls - polls0;
	report(fd, &rep, ch);
	if (until < N_MSGS) { /* hold the role (not closed) until taken over */
		char c;
		(void)!read(hold, &c, 1);
		_exit(0);
	}
	ivshmem_chan_close(ch);
	ivshmem_close(ep);
	_exit(0);
}

struct child {
	pid_t pid;
	int rep; /* read end of its report pipe */
};

static bool start(struct child *c, void (*body)(int, void *), void *arg)
{
	int fds[2];
	if (pipe(fds) < 0)
		return false;
	c->pid = fork();
	if (c->pid == 0) {
		close(fds[0]);
		body(fds[1], arg);
		_exit(5);
	}
	close(fds[1]);
	c->rep = fds[0];
	return c->pid > 0;
}

static bool get_report(struct child *c, struct report *r)
{
	char buf[sizeof(*r)];
	int n = read_bounded(c->rep, buf, sizeof(buf), 60000);
	close(c->rep);
	if (n < 0)
		return false;
	memcpy(r, buf, sizeof(*r));
	return true;
}

struct run {
	bool prod_mb, cons_mb, cons2_mb; /* membarrier users */
	unsigned take_at;		 /* takeover after this many (N_MSGS: none) */
	int ready[2], hold[2];
};

static void body_producer(int fd, void *arg)
{
	struct run *r = arg;
	close(r->ready[0]);
	close(r->hold[1]);
	producer(fd, r->prod_mb, 0, 0x9e3779b9u);
}

static void body_consumer(int fd, void *arg)
{
	struct run *r = arg;
	close(r->ready[0]);
	close(r->hold[1]);
	consumer(fd, r->cons_mb, 0, r->take_at, r->ready[1], r->hold[0], 0x85ebca6bu);
}

static void body_consumer2(int fd, void *arg)
{
	struct run *r = arg;
	close(r->ready[0]);
	close(r->hold[1]);
	consumer(fd, r->cons2_mb, r->take_at, N_MSGS, r->ready[1], r->hold[0], 0xc2b2ae35u);
}

static void check_rung(const char *what, const struct report *sleeper, const struct report *waker,
		       const char *who)
{
	ok(sleeper->slept > 0 && waker->rings >= sleeper->slept && sleeper->ws.timeouts == 0,
	   "%s: every %s that slept was woken by the peer, none timed out (%llu kicks for %llu sleeping "
	   "calls; %llu woken, %llu raced, %llu timeouts, %llu polls)",
	   what, who, (unsigned long long)waker->rings, (unsigned long long)sleeper->slept,
	   (unsigned long long)sleeper->ws.woken, (unsigned long long)sleeper->ws.raced,
	   (unsigned long long)sleeper->ws.timeouts, (unsigned long long)sleeper->ws.polls);
}

static void run(const char *what, struct run *r, bool mb_here)
{
	ivshmem_ep *ep = NULL;
	if (ivshmem_open(spec, NULL, &ep) < 0 || ivshmem_layout_init(ep) < 0 ||
	    ivshmem_chan_create(ep, "wk", RING, MSG) < 0) {
		ok(0, "%s: set-up", what);
		ivshmem_close(ep);
		return;
	}
	ivshmem_close(ep);
	if (pipe(r->ready) < 0 || pipe(r->hold) < 0) {
		ok(0, "%s: pipes", what);
		return;
	}
	struct child cons = {0}, prod = {0}, cons2 = {0};
	char c;
	bool up = start(&cons, body_consumer, r) && read_bounded(r->ready[0], &c, 1, T) == 0 &&
		  start(&prod, body_producer, r);
	ok(up, "%s: producer and consumer started", what);
	struct report rc = {0}, rp = {0}, rc2 = {0};
	bool got_c = up && get_report(&cons, &rc);
	if (got_c && r->take_at < N_MSGS) {
		/* The first consumer holds its role, taken over now. */
		bool up2 = start(&cons2, body_consumer2, r) && read_bounded(r->ready[0], &c, 1, T) == 0;
		ok(up2, "%s: second consumer took over", what);
		got_c = up2 && get_report(&cons2, &rc2);
	}
	bool got_p = up && get_report(&prod, &rp);
	close(r->hold[1]); /* let the first consumer go */
	close(r->hold[0]);
	close(r->ready[0]);
	close(r->ready[1]);
	is(reap_bounded(cons.pid, T), 0, "%s: consumer exited 0", what);
	is(reap_bounded(prod.pid, T), 0, "%s: producer exited 0", what);
	if (r->take_at < N_MSGS)
		is(reap_bounded(cons2.pid, T), 0, "%s: second consumer exited 0", what);
	bool all = got_c && got_p && rc.ok && rp.ok && rp.done == N_MSGS &&
		   rc.done + rc2.done == N_MSGS && (r->take_at == N_MSGS || rc2.ok);
	ok(all, "%s: %d messages, all in order, none lost (sent %llu, received %llu + %llu)", what, N_MSGS,
	   (unsigned long long)rp.done, (unsigned long long)rc.done, (unsigned long long)rc2.done);
	if (!all)
		return;
	bool skip = r->prod_mb && r->cons_mb && mb_here;
	if (r->take_at == N_MSGS) {
		check_rung(what, &rc, &rp, "receive");
		check_rung(what, &rp, &rc, "send");
		is(rp.fence_skipped, skip, "%s: the producer publishes %s a fence", what, skip ? "without" : "with");
		is(rc.fence_skipped, 0, "%s: the consumer releases with a fence (always)", what);
		ok(rc.polls_late == 0, "%s: the consumer never polled once running (%llu polls)", what,
		   (unsigned long long)rc.polls_late);
		return;
	}
	/* Takeover: the second consumer cannot reach the producer with a
	 * membarrier; it polls until the producer follows it (its first call
	 * after the takeover), then sleeps for real. */
	check_rung(what, &rc2, &rp, "receive of the second consumer");
	is(rp.fence_skipped, skip, "%s: before: the producer committed %s a fence", what,
	   skip ? "without" : "with");
	is(rp.fence_late, 0, "%s: after: the producer publishes with a fence (its consumer is not a "
	   "membarrier user)", what);
	ok(rc2.polls_late == 0, "%s: the second consumer polled only until the producer followed it "
	   "(%llu polls later)", what, (unsigned long long)rc2.polls_late);
}

int main(void)
{
	snprintf(path, sizeof(path), "/dev/shm/ivs-wakeup-test-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, REGION) < 0)
		fail_all("setup: cannot create %s: %s", path, strerror(errno));
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s", path);
	bool mb = ivs_membarrier_ready();
	printf("# membarrier (global expedited) %s on this kernel\n", mb ? "available" : "NOT available");
	ok(mb, "membarrier is available here (Debian 12's kernel has it): the fence-free path is tested");
	struct run both = {.prod_mb = true, .cons_mb = true, .take_at = N_MSGS};
	run("membarrier users", &both, mb);
	struct run one = {.prod_mb = true, .cons_mb = false, .take_at = N_MSGS};
	run("consumer without membarrier", &one, mb);
	struct run other = {.prod_mb = false, .cons_mb = true, .take_at = N_MSGS};
	run("producer without membarrier", &other, mb);
	struct run take = {.prod_mb = true, .cons_mb = true, .cons2_mb = false, .take_at = N_MSGS / 2};
	run("takeover by a consumer without membarrier", &take, mb);
	batches = true;
	run("batches, membarrier users", &both, mb);
	run("batches, consumer without membarrier", &one, mb);
	unlink(path);
	return tap_done();
}
