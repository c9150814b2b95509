/* SPDX-License-Identifier: MIT */
/* The channel benchmark's hardware floors (chan.h): what the same two
 * processes (fork), pinned to the same CPUs, get from the same memory (a
 * span of the region past the channels: b->floor) with nothing but the
 * bare algorithm, measured for the same time as the channel:
 *
 *   raw ring    an SPSC ring of fixed slots, each an 8-byte header (the
 *               message's length and number) and the payload, in as many
 *               bytes as the channel's ring; the producer's index and the
 *               consumer's each on a cache line (pair) of its own; each side caches
 *               the other's index and reads it again only when its cache
 *               says full (empty).  64 B: the producer copies the message in
 *               from a hot buffer, the consumer copies it out; 64 KiB: the
 *               producer writes it in place (memcpy from a hot buffer, as the
 *               channel's zero-copy producer does), the consumer reads it in
 *               place.  Either consumer reads every byte (chan_take).
 *   waiting     as the channel in the measure the floor is for: the producer
 *               polls a full ring with 16 pauses between polls (a channel's
 *               default spin); the consumer of an empty one with 16 pauses
 *               (the blocking consumer's spin) or 1 (the timeout-0 poller).
 *               The producer asks for the lines ahead in exclusive state
 *               (ring_prefetch), as the channel's does.
 *   round trip  one cache line bounced between the two (an odd number from
 *               the parent, the next even one from the child), and 64 B
 *               there and back through two raw rings as large as the ping
 *               and pong channels', both sides polling with 1 pause between
 *               polls; timed in batches as the channel's (chan.h).
 *
 * Every wait is bounded (BENCH_TIMEOUT_MS): a side that stops answering
 * ends the measure with -ETIMEDOUT.
 *
 * A floor is only an upper bound if the ring runs in the same regime as
 * the channel: a consumer that keeps catching up with its producer (the
 * ring empty every few dozen messages) reads lines the producer is still
 * writing, and both sides wait for line transfers; a slower consumer that
 * lets the ring fill streams old lines instead.  On the 2-vCPU VM this
 * ring's consumer is fast enough to catch up and the channel's is not, so
 * the channel can beat its 64 B floor: the report says so where it does. */
#include "bench/chan.h"

#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

#define HDR 8 /* a slot's header: number (high 32 bits), length (low 32) */
#define WAIT_NS ((uint64_t)BENCH_TIMEOUT_MS * 1000000u)

/* Each index on a line of its own, and on a 128-byte pair of its own: the
 * adjacent-line prefetcher moves lines in pairs (the channel's indices are
 * 192 bytes apart). */
#define LINE 128
struct ring_ctl {
	_Alignas(LINE) _Atomic uint64_t tail; /* slots published: the producer's */
	_Alignas(LINE) _Atomic uint64_t head; /* slots consumed: the consumer's */
};

/* The start of b->floor; the slots are at CHAN_FLOOR_SLOTS. */
struct floor_ctl {
	struct ring_ctl a;		      /* the throughput ring; the round trip's ping */
	struct ring_ctl b;		      /* the round trip's pong */
	_Alignas(LINE) _Atomic uint64_t line; /* the cache-line ping-pong */
};
_Static_assert(sizeof(struct floor_ctl) <= CHAN_FLOOR_SLOTS, "the floor's control lines overlap its slots");

/* One side's view of a ring: each process has its own copy. */
struct ring {
	struct ring_ctl *ctl;
	unsigned char *first, *end, *at; /* the slots; the slot of `mine` */
	size_t stride;
	uint64_t n;	 /* slots */
	uint64_t mine;	 /* my index: tail (producer) or head (consumer) */
	uint64_t theirs; /* the other side's, as last read */
};

static double now_s(void)
{
	return (double)ivs_now_ns() / 1e9;
}

/* Before the fork: an empty ring of bytes / (HDR + payload) slots. */
static void ring_init(struct ring *r, struct ring_ctl *ctl, unsigned char *slots, uint64_t bytes,
		      size_t payload)
{
	r->ctl = ctl;
	r->stride = HDR + payload;
	r->n = bytes / r->stride;
	r->first = r->at = slots;
	r->end = slots + r->n * r->stride;
	r->mine = r->theirs = 0;
	atomic_store(&ctl->tail, 0);
	atomic_store(&ctl->head, 0);
}

/* Poll *w, `pauses` pauses between polls, until it is no longer old: true
 * with *got set, or false after WAIT_NS. */
static bool wait_change(_Atomic uint64_t *w, uint64_t old, uint64_t *got, unsigned pauses)
{
	uint64_t deadline = 0;
	for (unsigned i = 1;; i++) {
		for (unsigned k = 0; k < pauses; k++)
			bench_cpu_relax();
		uint64_t v = atomic_load_explicit(w, memory_order_acquire);
		if (v != old) {
			*got = v;
			return true;
		}
		if ((i & 1023) == 0) {
			uint64_t now = ivs_now_ns();
			if (!deadline)
				deadline = now + WAIT_NS;
			else if (now >= deadline)
				return false;
		}
	}
}

/* Producer: where to write the next payload, or NULL (the consumer stopped
 * taking). */
static inline unsigned char *ring_room(struct ring *r)
{
	if (r->mine - r->theirs == r->n) {
		r->theirs = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
		if (r->mine - r->theirs == r->n && !wait_change(&r->ctl->head, r->theirs, &r->theirs, 16))
			return NULL;
	}
	return r->at + HDR;
}

/* Producer: ask for the line AHEAD bytes past the next slot in exclusive
 * state, if its slot is free as far as the cached head says (never where
 * the consumer may still read): it was last read on the consumer's core,
 * and a store into it would wait for that transfer.  The channel's
 * producer does the same; a floor without it would be no floor. */
#define AHEAD 2048
static inline void ring_prefetch(const struct ring *r)
{
	if (r->mine + AHEAD / r->stride + 1 - r->theirs > r->n)
		return;
	const unsigned char *p = r->at + AHEAD;
	if (p >= r->end)
		p -= r->end - r->first;
#if defined(__x86_64__)
	__asm__ __volatile__("prefetchw %0" ::"m"(*p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* Producer: publish the payload written (len 0: the end). */
static inline void ring_publish(struct ring *r, uint32_t len)
{
	uint64_t h = (uint64_t)(uint32_t)r->mine << 32 | len;
	memcpy(r->at, &h, HDR);
	atomic_store_explicit(&r->ctl->tail, ++r->mine, memory_order_release);
	if ((r->at += r->stride) == r->end)
		r->at = r->first;
	ring_prefetch(r);
}

/* Consumer: the next payload and its length (UINT32_MAX: a header out of
 * sequence), or NULL (the producer stopped).  Polls an empty ring with
 * `pauses` pauses between polls. */
static inline const unsigned char *ring_next(struct ring *r, unsigned pauses, uint32_t *len)
{
	if (r->mine == r->theirs) {
		r->theirs = atomic_load_explicit(&r->ctl->tail, memory_order_acquire);
		if (r->mine == r->theirs && !wait_change(&r->ctl->tail, r->mine, &r->theirs, pauses))
			return NULL;
	}
	uint64_t h;
	memcpy(&h, r->at, HDR);
	*len = (uint32_t)(h >> 32) == (uint32_t)r->mine ? (uint32_t)h : UINT32_MAX;
	return r->at + HDR;
}

/* Consumer: done with the payload ring_next gave. */
static inline void ring_release(struct ring *r)
{
	atomic_store_explicit(&r->ctl->head, ++r->mine, memory_order_release);
	if ((r->at += r->stride) == r->end)
		r->at = r->first;
}

/* The copy a consumer makes must happen: what is copied is read from the
 * copy, and the compiler may not read it from the slot instead. */
static inline void keep(void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- throughput ------------------------------------------------------- */

/* The producer (a child): len-byte messages, each stamped with its number,
 * for b->secs, then the end. */
static inline __attribute__((always_inline, noreturn)) void produce(const struct chan_bench *b,
								      struct ring *r, size_t len)
{
	if (bench_child_bind(b->parent, b->keep_out) < 0)
		_exit(1);
	bench_pin(&b->cpus, 1);
	static unsigned char buf[CHAN_BIG];
	memset(buf, 'p', sizeof(buf));
	double end = now_s() + b->secs;
	for (uint64_t i = 0;; i++) {
		if ((i & 63) == 0 && now_s() > end)
			break;
		unsigned char *p = ring_room(r);
		if (!p)
			_exit(2);
		memcpy(buf, &i, 8);
		memcpy(p, buf, len);
		ring_publish(r, (uint32_t)len);
	}
	if (!ring_room(r))
		_exit(2);
	ring_publish(r, 0);
	_exit(0);
}

/* The consumer (this process) until the end: 0, -ETIMEDOUT, -EBADMSG (a
 * slot out of sequence or of the wrong length). */
static inline __attribute__((always_inline)) int consume(struct ring *r, unsigned pauses, size_t len,
							 bool in_place, struct chan_taker *t, double *t0)
{
	unsigned char out[CHAN_SMALL];
	for (;;) {
		uint32_t k;
		const unsigned char *p = ring_next(r, pauses, &k);
		if (!p)
			return -ETIMEDOUT;
		if (k == 0)
			return 0;
		if (k != len)
			return -EBADMSG;
		if (in_place) {
			chan_take(t, p, len);
		} else {
			memcpy(out, p, len);
			keep(out);
			chan_take(t, out, len);
		}
		ring_release(r);
		if (t->n == 1)
			*t0 = now_s();
	}
}

int chan_floor_tput(const struct chan_bench *b, enum chan_m m, struct chan_val *out)
{
	bool big = m == CM_FLOOR64K;
	struct floor_ctl *c = (struct floor_ctl *)b->floor;
	struct ring r;
	ring_init(&r, &c->a, (unsigned char *)b->floor + CHAN_FLOOR_SLOTS, big ? b->ring_64k : b->ring_64b,
		  big ? CHAN_BIG : CHAN_SMALL);
	pid_t pid = bench_fork("chan", "the raw ring's producer");
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (big)
			produce(b, &r, CHAN_BIG);
		produce(b, &r, CHAN_SMALL);
	}
	struct chan_taker t = {0};
	double t0 = 0;
	int err = m == CM_FLOOR64	 ? consume(&r, 16, CHAN_SMALL, false, &t, &t0)
		  : m == CM_FLOOR64_POLL ? consume(&r, 1, CHAN_SMALL, false, &t, &t0)
					 : consume(&r, 16, CHAN_BIG, true, &t, &t0);
	double dt = now_s() - t0;
	int st = bench_reap(pid, err ? 0 : BENCH_TIMEOUT_MS);
	if (err == -EBADMSG)
		return cli_error("bench chan: %s: slot %llu out of sequence or of the wrong length",
				 chan_m_info(m)->name, (unsigned long long)r.mine);
	if (err)
		return err;
	if (chan_taker_check(&t, chan_m_info(m)->name))
		return 1;
	if (t.n < 2 || dt <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	out->v = (double)(t.n - 1) / dt * (big ? CHAN_BIG : 1);
	return 0;
}

/* ---- round trips ------------------------------------------------------ */

/* *w as it is now if it is no longer old, else after polling it with 1
 * pause between polls; false if it stayed old for WAIT_NS. */
static inline bool await_change(_Atomic uint64_t *w, uint64_t old, uint64_t *got)
{
	*got = atomic_load_explicit(w, memory_order_acquire);
	return *got != old || wait_change(w, old, got, 1);
}

/* The cache line's far side: answer each odd number with the next even
 * one, until UINT64_MAX. */
static void line_child(_Atomic uint64_t *w)
{
	uint64_t v = 0;
	while (await_change(w, v, &v) && v != UINT64_MAX)
		atomic_store_explicit(w, ++v, memory_order_release);
}

/* The rings' far side: take each message from a (copy it out, read it),
 * send it back on b, until the end. */
static void rings_child(struct ring *a, struct ring *b)
{
	unsigned char m[CHAN_SMALL];
	for (;;) {
		uint32_t k;
		const unsigned char *p = ring_next(a, 1, &k);
		if (!p || k != CHAN_SMALL)
			return;
		memcpy(m, p, CHAN_SMALL);
		keep(m);
		chan_sink = chan_consume(m, CHAN_SMALL);
		ring_release(a);
		unsigned char *q = ring_room(b);
		if (!q)
			return;
		memcpy(q, m, CHAN_SMALL);
		ring_publish(b, CHAN_SMALL);
	}
}

/* One round trip from this side: true, or false when the other side
 * stopped answering (or sent something out of sequence). */
static inline bool line_rt(_Atomic uint64_t *w, uint64_t *num)
{
	uint64_t v, sent = 2 * *num + 1;
	atomic_store_explicit(w, sent, memory_order_release);
	++*num;
	return await_change(w, sent, &v) && v == sent + 1;
}

static inline bool rings_rt(struct ring *a, struct ring *b, uint64_t *num, struct chan_taker *t)
{
	unsigned char m[CHAN_SMALL];
	memset(m, 'q', sizeof(m));
	unsigned char *q = ring_room(a);
	if (!q)
		return false;
	memcpy(m, num, 8);
	memcpy(q, m, CHAN_SMALL);
	ring_publish(a, CHAN_SMALL);
	++*num;
	uint32_t k;
	const unsigned char *p = ring_next(b, 1, &k);
	if (!p || k != CHAN_SMALL)
		return false;
	memcpy(m, p, CHAN_SMALL);
	keep(m);
	chan_take(t, m, CHAN_SMALL);
	ring_release(b);
	return true;
}

int chan_floor_rt(const struct chan_bench *b, enum chan_m m, struct chan_val *out)
{
	bool line = m == CM_RT_LINE;
	struct floor_ctl *c = (struct floor_ctl *)b->floor;
	unsigned char *slots = (unsigned char *)b->floor + CHAN_FLOOR_SLOTS;
	struct ring ping, pong;
	atomic_store(&c->line, 0);
	ring_init(&ping, &c->a, slots, CHAN_RT_RING, CHAN_SMALL);
	ring_init(&pong, &c->b, slots + CHAN_RT_RING, CHAN_RT_RING, CHAN_SMALL);
	pid_t pid = bench_fork("chan", line ? "the raw cache-line round trip's child" : "the raw rings' echo");
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (bench_child_bind(b->parent, b->keep_out) < 0)
			_exit(1);
		bench_pin(&b->cpus, 1);
		if (line)
			line_child(&c->line);
		else
			rings_child(&ping, &pong);
		_exit(0);
	}
	struct chan_taker t = {0};
	struct chan_batches bt = {0};
	uint64_t num = 0;
	bool ok = true;
	chan_batches_init(&bt, CHAN_BATCH_POLL, b->secs / 2);
	do
		for (unsigned j = 0; ok && j < bt.size; j++)
			ok = line ? line_rt(&c->line, &num) : rings_rt(&ping, &pong, &num, &t);
	while (ok && chan_batches_next(&bt));
	/* The end: UINT64_MAX on the line, an empty message on the ring. */
	if (line)
		atomic_store_explicit(&c->line, UINT64_MAX, memory_order_release);
	else if (ring_room(&ping))
		ring_publish(&ping, 0);
	int st = bench_reap(pid, ok ? BENCH_TIMEOUT_MS : 0);
	if (!ok)
		return -ETIMEDOUT;
	if (chan_taker_check(&t, chan_m_info(m)->name))
		return 1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	chan_batches_finish(&bt, out);
	return 0;
}
