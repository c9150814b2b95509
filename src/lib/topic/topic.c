/* SPDX-License-Identifier: MIT */
/* Topics (docs/topics.md): one publisher writes each message once into one
 * ring; up to 64 subscribers read the same bytes.
 *
 * Lossless mode.  The publisher may write only below floor + ring_size,
 * where floor is the smallest head of the subscribers it counts (or, with
 * none, the oldest record it keeps).  It raises the floor only when the
 * ring is full for it, and publishes it (cold line) before writing under
 * the new limit.  A subscriber whose data could have been overwritten sees
 * it: after reading a record it checks that floor <= the record's index (a
 * floor past it means the publisher stopped counting it: -ENOBUFS) and that
 * its own epoch is unchanged (an eviction detaches it first).
 *
 * Joining is a Dekker pair on (the subscriber's head, the proposed floor):
 * the subscriber publishes its head, fences, reads floor_next and picks
 * again if it passed its head; the publisher stores floor_next, fences,
 * and re-reads the slots: a joiner it had not counted is counted now (the
 * proposal is lowered to its head, which is safe: nothing above the old
 * limit is written yet).  One of the two sees the other.  Only then is
 * the floor itself stored: the floor subscribers check their reads
 * against never passes a head the publisher counts, even for a moment.
 *
 * Everything a subscriber writes is untrusted: a head outside the live
 * window, an epoch flapping under the publisher, garbage: that subscriber
 * is evicted and nobody else notices.  A subscriber that blocks the
 * publisher without progress for the stall timeout, or whose process on
 * this host is gone, is evicted too. */
#include "topic/topic.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "channel/wake.h"
#include "endpoint/endpoint.h"

#define RLX memory_order_relaxed
#define ACQ memory_order_acquire
#define REL memory_order_release
#define SC memory_order_seq_cst

#define SLICE_MS 100		/* longest sleep between liveness checks */
#define POLL_MAX_NS 1000000ull	/* fallback poll: back off up to 1 ms */
#define IDLE_MAX_NS 50000000ull /* publisher not attached: up to 50 ms */
#define REAP_EVERY_NS 50000000ull
#define JOIN_TRIES 100000
#define DEFAULT_SUBS 8
#define DEFAULT_STALL_MS 1000

/* The publisher's private view of one subscriber slot. */
struct sub_view {
	uint32_t epoch;	    /* counted at this epoch (0: not counted) */
	uint32_t banned;    /* epoch it was evicted at (its CAS may have failed) */
	uint32_t kick_epoch; /* kick list: epoch, 0 if not in it */
	int kick_m;	    /* how to wake it */
	uint64_t head;	    /* last validated head */
	uint64_t stall_since;  /* the slot (whoever holds it) in our way since (0: not) */
	uint64_t stall_target; /* ... of the room at this index */
	uint64_t last_reap;
};

struct ivshmem_topic {
	ivshmem_ep *ep; /* NULL for raw memory */
	unsigned char *mem;
	size_t size;
	void *block;
	struct ivs_topic_hdr *h;
	struct ivs_topic_pub_cold *cold;
	struct ivs_topic_joins *joins;
	unsigned char *ring;
	uint64_t ring_size, mask;
	uint32_t max_msg;
	unsigned nsubs;
	uint32_t mode, stall_ms;
	uint64_t gen, instance;
	uint32_t tag_salt;
	char name[IVS_NAME_MAX];
	int role;
	int slot; /* subscriber slot, -1 */
	struct ivs_topic_party *me, *pub;
	uint32_t my_epoch, pub_epoch;
	bool pub_seen;
	int broken;
	uint64_t host;
	uint32_t caps;
	int vec_fd;
	unsigned vector;
	struct ivs_spin spin; /* before sleeping: configured, adaptive */
	int wake;
	uint64_t last_reap;
	struct ivs_peer_watch watch;
	uint32_t watch_epoch;
	/* publisher */
	uint64_t tail, tail_msgs, floor;
	uint64_t joins_seen;
	bool reserved;
	uint64_t res_start;
	size_t res_cap;
	struct sub_view *subs;
	/* subscriber */
	uint64_t head, tail_cache, next_seq;
	bool seq_known;
	bool peeked;
	uint64_t peek_at, peek_next, peek_seq;
	uint32_t peek_len;
	uint64_t n_msgs, n_bytes, n_rings, n_sleeps;
	struct ivs_chan_wait_stats ws;
};

#define PREFETCH_AHEAD 2048u

static inline uint64_t align8(uint64_t x)
{
	return (x + 7) & ~7ull;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = ivs_now_ns() ^ ((uint64_t)getpid() << 32);
	return v ? v : 1;
}

static inline uint32_t rec_tag(const ivshmem_topic *t, uint64_t idx)
{
	return (uint32_t)(idx >> 3) ^ t->tag_salt;
}

static inline uint32_t *word_at(ivshmem_topic *t, uint64_t idx, unsigned off)
{
	return (uint32_t *)(t->ring + (idx & t->mask) + off);
}

static inline uint64_t *seq_at(ivshmem_topic *t, uint64_t idx)
{
	return (uint64_t *)(t->ring + (idx & t->mask) + 8);
}

static int fail(ivshmem_topic *t, int err)
{
	t->broken = err;
	return err;
}

/* x lies in [lo, hi] of the free-running indices (hi - lo <= 2^63). */
static inline bool within(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x - lo <= hi - lo;
}

/* The floor f is past index idx: the publisher no longer keeps idx (a
 * legitimate floor is at most a ring behind every head it counts). */
static inline bool floor_passed(const ivshmem_topic *t, uint64_t f, uint64_t idx)
{
	return idx - f > t->ring_size;
}

/* ---- create ----------------------------------------------------------- */

struct create_arg {
	uint64_t ring_size;
	unsigned nsubs, mode, stall_ms;
};

static void init_block(void *block, unsigned index, uint64_t gen, void *arg)
{
	const struct create_arg *a = arg;
	memset(block, 0, ivs_topic_ctrl_bytes(a->nsubs));
	struct ivs_topic_hdr *h = block;
	for (unsigned k = 0; k <= a->nsubs; k++) {
		struct ivs_topic_party *p = ivs_topic_party(block, k);
		atomic_store_explicit(&p->side.id, IVS_NO_PEER, RLX);
		atomic_store_explicit(&p->ev.idx, UINT64_MAX, RLX);
	}
	atomic_store_explicit(&h->ring_size, a->ring_size, RLX);
	atomic_store_explicit(&h->index, index, RLX);
	atomic_store_explicit(&h->gen, gen, RLX);
	atomic_store_explicit(&h->instance, random_u64(), RLX);
	atomic_store_explicit(&h->nsubs, a->nsubs, RLX);
	atomic_store_explicit(&h->mode, a->mode, RLX);
	atomic_store_explicit(&h->stall_ms, a->stall_ms, RLX);
	atomic_store_explicit(&h->magic, IVS_TOPIC_MAGIC, RLX); /* the entry publishes it */
}

static int create(void *mem, size_t size, const char *name, const struct ivshmem_topic_config *cfg,
		  int peer_id)
{
	struct ivshmem_topic_config c = {0};
	if (cfg)
		c = *cfg;
	if (!ivs_all_zero(c.reserved, sizeof(c.reserved)) || c.mode != IVSHMEM_TOPIC_LOSSLESS ||
	    c.subscribers > IVSHMEM_TOPIC_MAX_SUBSCRIBERS || c.stall_timeout_ms > IVS_TOPIC_MAX_STALL_MS)
		return -EINVAL;
	uint64_t ring = c.size;
	if (!ring) { /* as channels: 1 MiB, or a quarter of a small region */
		ring = 1u << 20;
		while (ring > IVS_CHAN_MIN_RING && ring > size / 4)
			ring >>= 1;
	}
	if (ring > IVS_TOPIC_MAX_RING)
		return -EINVAL;
	uint64_t p2 = IVS_CHAN_MIN_RING;
	while (p2 < ring)
		p2 <<= 1;
	uint64_t max_msg = c.max_msg ? c.max_msg : IVS_MIN((uint64_t)65536, p2 / 2 - IVS_TREC_HDR);
	if (max_msg > UINT32_MAX || 2 * (align8(max_msg) + IVS_TREC_HDR) > p2)
		return -EINVAL;
	struct create_arg a = {p2, c.subscribers ? c.subscribers : DEFAULT_SUBS, c.mode,
			       c.stall_timeout_ms ? c.stall_timeout_ms : DEFAULT_STALL_MS};
	return ivs_layout_create_kind(mem, size, name, IVSHMEM_KIND_TOPIC, ivs_topic_ctrl_bytes(a.nsubs), p2,
				      (uint32_t)max_msg, peer_id, init_block, &a);
}

int ivs_topic_create_mem(void *mem, size_t size, const char *name, const struct ivshmem_topic_config *cfg)
{
	return create(mem, size, name, cfg, -1);
}

int ivshmem_topic_create(ivshmem_ep *ep, const char *name, const struct ivshmem_topic_config *cfg)
{
	if (!ep)
		return -EINVAL;
	if (!ivshmem_mem(ep))
		return -ENOTSUP;
	if (ivshmem_mem_readonly(ep) == 1)
		return -EROFS;
	return create(ivshmem_mem(ep), ivshmem_mem_size(ep), name, cfg, ivshmem_id(ep));
}

/* ---- liveness --------------------------------------------------------- */

/* Deleted (its block may hold something else now) or re-formatted. */
static bool gone(const ivshmem_topic *t)
{
	return atomic_load_explicit(&((struct ivs_layout_hdr *)t->mem)->generation, RLX) != t->gen ||
	       atomic_load_explicit(&t->h->instance, RLX) != t->instance;
}

/* Publisher: our role still ours. */
static int check_pub(ivshmem_topic *t)
{
	if (t->broken)
		return t->broken;
	if (gone(t) || atomic_load_explicit(&t->me->side.epoch, RLX) != t->my_epoch)
		return fail(t, -ESTALE);
	return 0;
}

/* Subscriber: our slot still ours (else the publisher dropped us), the
 * publisher's epoch (restart: -ECONNRESET once; backwards: -EPROTO). */
static int check_sub(ivshmem_topic *t)
{
	if (t->broken)
		return t->broken;
	if (gone(t))
		return fail(t, -ESTALE);
	if (atomic_load_explicit(&t->me->side.epoch, ACQ) != t->my_epoch)
		return fail(t, -ENOBUFS);
	uint32_t before = t->pub_epoch;
	int r = ivs_peer_epoch(&t->pub->side, &t->pub_epoch, &t->pub_seen);
	if (t->pub_epoch != before)
		t->seq_known = false; /* a new publisher may number on from elsewhere */
	return r == -EPROTO ? fail(t, r) : r;
}

static bool pub_gone(const ivshmem_topic *t)
{
	return t->pub_seen && !(t->pub_epoch & 1);
}

/* Our data may have been overwritten (the publisher stopped counting us,
 * or evicted us) or the ring is corrupt: which one?  idx: the record. */
static int lapped_or_corrupt(ivshmem_topic *t, uint64_t idx)
{
	atomic_thread_fence(ACQ);
	uint64_t f = atomic_load_explicit(&t->cold->floor, ACQ);
	if (atomic_load_explicit(&t->me->side.epoch, ACQ) != t->my_epoch || floor_passed(t, f, idx))
		return fail(t, -ENOBUFS);
	return fail(t, -EBADMSG);
}

/* The publisher detached: a clean end only if the block is as at open and
 * the publisher's info says it detached (else corruption). */
static int confirm_pub_gone(ivshmem_topic *t)
{
	if (atomic_load_explicit(&t->h->magic, ACQ) != IVS_TOPIC_MAGIC)
		return fail(t, gone(t) ? -ESTALE : -EPROTO);
	uint32_t info = atomic_load_explicit(&t->pub->side.info_epoch, ACQ);
	if (atomic_load_explicit(&t->pub->side.epoch, ACQ) != t->pub_epoch)
		return 0; /* came back: look again */
	if (info != t->pub_epoch - 1)
		return fail(t, -EPROTO);
	return -EPIPE;
}

/* ---- wakeups ---------------------------------------------------------- */

static void count_ring(ivshmem_topic *t)
{
	t->n_rings++;
	atomic_store_explicit(&t->me->side.rings, atomic_load_explicit(&t->me->side.rings, RLX) + 1, RLX);
}

/* Publisher: wake every subscriber that is waiting (armed), whatever it
 * waits for: we attached or left, it must look again. */
static void kick_armed(ivshmem_topic *t)
{
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
		if (atomic_load_explicit(&p->ev.idx, RLX) != UINT64_MAX &&
		    ivs_wake_kick(t->ep, ivs_wake_method(t->caps, t->host, &p->side, false), &p->side, &p->ev))
			count_ring(t);
	}
}

static void count_sleep(ivshmem_topic *t)
{
	t->n_sleeps++;
	atomic_store_explicit(&t->me->side.sleeps, atomic_load_explicit(&t->me->side.sleeps, RLX) + 1, RLX);
}

/* Publisher: the subscribers it may have to wake (attached, info
 * published, not banned), and how. */
static void rebuild_kicks(ivshmem_topic *t)
{
	t->joins_seen = atomic_load_explicit(&t->joins->joins, ACQ);
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct ivs_side *s = &ivs_topic_party(t->block, k + 1)->side;
		struct sub_view *v = &t->subs[k];
		uint32_t e = atomic_load_explicit(&s->epoch, ACQ);
		v->kick_epoch = 0;
		if (!(e & 1) || e == v->banned || atomic_load_explicit(&s->info_epoch, ACQ) != e)
			continue;
		v->kick_m = ivs_wake_method(t->caps, t->host, s, false);
		if (v->kick_m != IVSHMEM_CHAN_WAKE_POLL)
			v->kick_epoch = e;
	}
}

/* Publisher, after publishing the tail moving from old to now: wake each
 * subscriber that asked to be woken when the tail passes its index. */
static void notify_subs(ivshmem_topic *t, uint64_t old, uint64_t now)
{
	atomic_thread_fence(SC);
	if (atomic_load_explicit(&t->joins->joins, RLX) != t->joins_seen)
		rebuild_kicks(t);
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct sub_view *v = &t->subs[k];
		if (!v->kick_epoch)
			continue;
		struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
		uint64_t ev = atomic_load_explicit(&p->ev.idx, RLX);
		if (now - ev - 1 < now - old && ivs_wake_kick(t->ep, v->kick_m, &p->side, &p->ev))
			count_ring(t);
	}
}

/* Subscriber, after its head moved from old to now (or a leave): wake
 * the publisher if it waits for room we just gave. */
static void notify_pub(ivshmem_topic *t, uint64_t old, uint64_t now)
{
	atomic_thread_fence(SC);
	uint64_t ev = atomic_load_explicit(&t->pub->ev.idx, RLX);
	if (now - ev - 1 < now - old &&
	    ivs_wake_kick(t->ep, ivs_wake_method(t->caps, t->host, &t->pub->side, false), &t->pub->side,
			  &t->pub->ev))
		count_ring(t);
}

/* ---- publisher: the floor --------------------------------------------- */

static void evict(ivshmem_topic *t, unsigned k, uint32_t e)
{
	struct ivs_side *s = &ivs_topic_party(t->block, k + 1)->side;
	uint32_t want = e;
	atomic_compare_exchange_strong_explicit(&s->epoch, &want, e + 1, SC, RLX);
	struct sub_view *v = &t->subs[k];
	v->banned = e; /* if it writes the epoch back, we still ignore it */
	v->epoch = 0;
	v->kick_epoch = 0;
	/* The stall clock stays: a new attach in this slot that is still in
	 * the way of the same room gets no new allowance until the slot is
	 * seen free. */
	atomic_store_explicit(&t->cold->evictions, atomic_load_explicit(&t->cold->evictions, RLX) + 1, RLX);
	/* It may be asleep: let it learn at once. */
	struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
	ivs_wake_kick(t->ep, ivs_wake_method(t->caps, t->host, s, false), s, &p->ev);
}

enum { SUB_FREE, SUB_NONE, SUB_OK, SUB_BEHIND, SUB_GARBAGE };

/* Slot k: SUB_FREE (detached), SUB_NONE (attaching, banned), SUB_OK (its head is
 * 8-aligned in [lo, tail]: one we may count), SUB_BEHIND (below lo: a
 * joiner about to pick again, or one we stopped counting), SUB_GARBAGE
 * (unaligned, or past the tail).  *ep, *head: what it published. */
static int sub_head(ivshmem_topic *t, unsigned k, uint64_t lo, uint32_t *ep, uint64_t *head)
{
	struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
	uint32_t e = atomic_load_explicit(&p->side.epoch, SC);
	if (!(e & 1))
		return SUB_FREE;
	if (e == t->subs[k].banned || atomic_load_explicit(&p->side.info_epoch, ACQ) != e)
		return SUB_NONE;
	uint64_t h = atomic_load_explicit(&p->hot.idx, ACQ);
	*ep = e;
	*head = h;
	if (h & 7)
		return SUB_GARBAGE;
	if (within(h, lo, t->tail))
		return SUB_OK;
	return lo - h < (1ull << 63) ? SUB_BEHIND : SUB_GARBAGE; /* past the tail: garbage */
}

/* Count slot v from now on, at epoch e with head h.  Its stall clock is
 * the slot's, not the epoch's: re-attaching in the way does not restart
 * it (police), so a subscriber that re-attaches behind us over and over
 * is evicted again at once. */
static bool adopt(ivshmem_topic *t, struct sub_view *v, uint32_t e, uint64_t h)
{
	(void)t;
	v->epoch = e;
	v->head = h;
	return true;
}

/* The first record boundary at or after target walking from the floor
 * (records we wrote, but in shared memory: checked), or the tail if the
 * ring there is not what we wrote. */
static uint64_t walk_floor(ivshmem_topic *t, uint64_t target)
{
	uint64_t f = t->floor;
	for (uint64_t steps = 0; f != t->tail && within(f, t->floor, target) && f != target &&
				 steps <= t->ring_size / 8;
	     steps++) {
		uint32_t len = __atomic_load_n(word_at(t, f, 0), __ATOMIC_RELAXED);
		uint32_t tag = __atomic_load_n(word_at(t, f, 4), __ATOMIC_RELAXED);
		uint64_t pos = f & t->mask, step;
		if (tag != rec_tag(t, f))
			return t->tail;
		if (len == IVS_REC_PAD)
			step = t->ring_size - pos;
		else if (len <= t->max_msg && pos + IVS_TREC_HDR + align8(len) <= t->ring_size)
			step = IVS_TREC_HDR + align8(len);
		else
			return t->tail;
		if (step > t->tail - f)
			return t->tail;
		f += step;
	}
	return within(f, t->floor, t->tail) ? f : t->tail;
}

/* Raise the floor towards target (the smallest floor at which the next
 * record fits): as far as the slowest counted subscriber allows.  Garbage
 * in a slot evicts it.  Returns true if floor >= target now. */
static bool refresh(ivshmem_topic *t, uint64_t target)
{
	uint64_t old = t->floor;
	uint64_t lowest = t->tail; /* the slowest counted head */
	bool any = false;
	/* Joiners bump `joins` after announcing themselves: one that did
	 * before this load is seen by the pass below. */
	uint64_t j0 = atomic_load_explicit(&t->joins->joins, SC);
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct sub_view *v = &t->subs[k];
		uint32_t e;
		uint64_t h;
		int st = sub_head(t, k, old, &e, &h);
		if (st == SUB_GARBAGE || (st == SUB_BEHIND && v->epoch == e)) {
			evict(t, k, e); /* garbage, or counted and now behind the floor */
			continue;
		}
		if (st != SUB_OK) {
			v->epoch = 0; /* left, or not (yet) one we count */
			if (st == SUB_FREE)
				v->stall_since = 0; /* seen free: a new holder starts afresh */
			continue;
		}
		if (v->epoch != e) { /* a new one */
			if (!adopt(t, v, e, h))
				continue;
		} else if (!within(h, v->head, t->tail)) {
			evict(t, k, e); /* went back */
			continue;
		} else {
			v->head = h;
		}
		if (h - old < lowest - old)
			lowest = h;
		any = true;
	}
	/* As far as the slowest allows.  With nobody counted, keep the oldest
	 * records that fit, but free a quarter of the ring at once so that
	 * such a publisher doesn't come here for each message. */
	uint64_t f = lowest;
	if (!any && within(target, old, lowest)) {
		uint64_t goal = target + t->ring_size / 4;
		if (!within(goal, old, lowest))
			goal = lowest;
		f = IVS_MIN(walk_floor(t, goal) - old, lowest - old) + old;
	}
	if (f == old) { /* nothing to raise (a wait looks again): no stores */
		if (j0 != t->joins_seen)
			rebuild_kicks(t);
		return within(target, old, f);
	}
	/* Propose it, then look for joiners we missed (Dekker with open):
	 * lowering it to one of them is safe, nothing above the old limit is
	 * written yet.  Only a joiner that bumped `joins` since j0 can have
	 * been missed: the same count means none (a party that writes the
	 * count back harms only a joiner, which then sees the floor passed
	 * its reads: -ENOBUFS, never a wrong message). */
	atomic_store_explicit(&t->cold->floor_next, f, SC);
	atomic_thread_fence(SC);
	uint64_t j1 = atomic_load_explicit(&t->joins->joins, SC);
	for (unsigned k = 0; k < t->nsubs && j1 != j0; k++) {
		struct sub_view *v = &t->subs[k];
		uint32_t e;
		uint64_t h;
		if (sub_head(t, k, old, &e, &h) != SUB_OK || v->epoch == e || !adopt(t, v, e, h))
			continue;
		if (h - old < f - old) {
			f = h;
			atomic_store_explicit(&t->cold->floor_next, f, SC);
		}
	}
	/* The floor, before any byte is written under the new limit: a
	 * subscriber that reads overwritten bytes sees it after them. */
	atomic_store_explicit(&t->cold->floor, f, SC);
	atomic_thread_fence(SC);
	t->floor = f;
	if (j1 != t->joins_seen)
		rebuild_kicks(t);
	return within(target, old, f);
}

/* ---- publisher: reserve, commit, waiting ------------------------------ */

/* Room for len bytes: 1 (res_* set), 0 full, -errno. */
static int try_reserve(ivshmem_topic *t, size_t len, uint64_t *target)
{
	int r = check_pub(t);
	if (r < 0)
		return r;
	uint64_t rec = IVS_TREC_HDR + align8(len);
	uint64_t pos = t->tail & t->mask;
	uint64_t pad = pos + rec > t->ring_size ? t->ring_size - pos : 0;
	uint64_t need = pad + rec;
	*target = t->tail + need - t->ring_size;
	if (t->tail + need - t->floor > t->ring_size && !refresh(t, *target))
		return 0;
	if (pad) {
		__atomic_store_n(word_at(t, t->tail, 0), IVS_REC_PAD, __ATOMIC_RELAXED);
		__atomic_store_n(word_at(t, t->tail, 4), rec_tag(t, t->tail), __ATOMIC_RELAXED);
	}
	t->res_start = t->tail + pad;
	t->res_cap = len;
	t->reserved = true;
	return 1;
}

/* While the ring is full: start or check each blocking subscriber's stall
 * clock, evict those past the stall timeout or dead.  The clock runs while
 * a slot is in the way of the room we wait for (a head short of target);
 * it starts again once the slot has freed the room it held up (its head
 * reached that target) or is seen free, not when its head merely moves:
 * a subscriber that crawls byte by byte without freeing the room for one
 * message is evicted as one that stopped.
 * Returns how many were evicted, and in *next the time of the next
 * expiry. */
static unsigned police(ivshmem_topic *t, uint64_t target, uint64_t now, uint64_t *next)
{
	unsigned evicted = 0;
	uint64_t stall_ns = (uint64_t)t->stall_ms * 1000000ull;
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct sub_view *v = &t->subs[k];
		if (!v->epoch || within(target, t->floor, v->head))
			continue; /* not counted, or not in the way */
		struct ivs_side *s = &ivs_topic_party(t->block, k + 1)->side;
		if (now - v->last_reap >= REAP_EVERY_NS) {
			v->last_reap = now;
			if (ivs_side_dead(NULL, t->host, s, v->epoch, NULL, NULL, 0)) {
				evict(t, k, v->epoch);
				evicted++;
				continue;
			}
		}
		if (!v->stall_since || v->head - v->stall_target < (1ull << 63)) {
			v->stall_since = now; /* a new wait, or it freed the room of the last */
			v->stall_target = target;
		} else if (now - v->stall_since >= stall_ns) {
			evict(t, k, v->epoch);
			evicted++;
			continue;
		}
		uint64_t at = v->stall_since + stall_ns;
		if (at < *next)
			*next = at;
		if (now + REAP_EVERY_NS < *next)
			*next = now + REAP_EVERY_NS;
	}
	return evicted;
}

/* How the publisher may sleep so that every subscriber in the way can
 * wake it: futex if all of them can, doorbell if all can ring, else poll. */
static int pub_sleep_method(ivshmem_topic *t, uint64_t target)
{
	bool futex_ok = true, bell_ok = true, any = false;
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct sub_view *v = &t->subs[k];
		if (!v->epoch || within(target, t->floor, v->head))
			continue;
		struct ivs_side *s = &ivs_topic_party(t->block, k + 1)->side;
		int m = ivs_wake_method(t->caps, t->host, s, true);
		any = true;
		futex_ok &= m == IVSHMEM_CHAN_WAKE_FUTEX;
		bell_ok &= m == IVSHMEM_CHAN_WAKE_DOORBELL;
	}
	return !any ? IVSHMEM_CHAN_WAKE_POLL
	       : futex_ok ? IVSHMEM_CHAN_WAKE_FUTEX
	       : bell_ok  ? IVSHMEM_CHAN_WAKE_DOORBELL
			  : IVSHMEM_CHAN_WAKE_POLL;
}

static void nap(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	nanosleep(&ts, NULL);
}

static int wait_room(ivshmem_topic *t, size_t len, int timeout_ms)
{
	uint64_t target;
	int r = try_reserve(t, len, &target);
	if (r != 0)
		return r;
	if (timeout_ms == 0) {
		/* A publisher that never waits still evicts (the stall clocks
		 * run across calls). */
		uint64_t next = UINT64_MAX;
		if (police(t, target, ivs_now_ns(), &next) && (r = try_reserve(t, len, &target)) != 0)
			return r;
		return -EAGAIN;
	}
	uint64_t start = ivs_now_ns();
	uint64_t deadline = timeout_ms < 0 ? 0 : start + (uint64_t)timeout_ms * 1000000ull;
	for (uint64_t spins = 0; t->spin.ns && ivs_now_ns() - start < t->spin.cur; spins++) {
		for (int k = 0; k < 16; k++)
			ivs_cpu_relax();
		if ((r = try_reserve(t, len, &target)) != 0)
			return r;
	}
	uint64_t backoff = 10000, slept_from = ivs_now_ns();
	for (;;) {
		uint64_t now = ivs_now_ns(), next = UINT64_MAX;
		if (police(t, target, now, &next)) {
			if ((r = try_reserve(t, len, &target)) != 0)
				return r;
			continue;
		}
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		if (deadline && deadline < next)
			next = deadline;
		int m = pub_sleep_method(t, target);
		if (m == IVSHMEM_CHAN_WAKE_DOORBELL)
			ivshmem_vector_ack(t->ep, t->vector);
		uint32_t fv = atomic_load_explicit(&t->me->ev.futex, SC);
		/* Wake me when a head reaches target plus a quarter of the ring
		 * (heads are 8-aligned; at most the tail): woken for the room
		 * of one message, we would fill it and sleep again at once, and
		 * the subscribers, never far behind, would sleep and need
		 * waking too.  The clocks and the re-checks use target. */
		uint64_t wake_at = target + t->ring_size / 4;
		if (!within(wake_at, target, t->tail))
			wake_at = t->tail;
		atomic_store_explicit(&t->me->ev.idx, wake_at - 8, RLX);
		atomic_thread_fence(SC);
		if ((r = try_reserve(t, len, &target)) != 0)
			break;
		uint64_t ns = next == UINT64_MAX ? (uint64_t)SLICE_MS * 1000000ull : next - now;
		if (ns > (uint64_t)SLICE_MS * 1000000ull)
			ns = (uint64_t)SLICE_MS * 1000000ull;
		t->wake = m;
		count_sleep(t);
		if (m == IVSHMEM_CHAN_WAKE_POLL) {
			nap(IVS_MIN(ns, IVS_MIN(backoff, POLL_MAX_NS)));
			backoff *= 2;
		} else {
			ivs_wake_sleep(m, &t->me->ev.futex, fv, t->vec_fd, (int)((ns + 999999) / 1000000), &t->ws);
		}
		atomic_store_explicit(&t->me->ev.idx, UINT64_MAX, RLX);
		if ((r = try_reserve(t, len, &target)) != 0) {
			if (r > 0)
				ivs_spin_adapt(&t->spin, slept_from);
			return r;
		}
	}
	atomic_store_explicit(&t->me->ev.idx, UINT64_MAX, RLX);
	return r;
}

int ivshmem_topic_reserve(ivshmem_topic *t, size_t len, void **ptr, int timeout_ms)
{
	if (!t || !ptr)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_PUBLISHER)
		return -EPERM;
	if (len > t->max_msg)
		return -EMSGSIZE;
	t->reserved = false;
	int r = wait_room(t, len, timeout_ms);
	if (r < 0)
		return r;
	*ptr = t->ring + (t->res_start & t->mask) + IVS_TREC_HDR;
	return 0;
}

int ivshmem_topic_commit(ivshmem_topic *t, size_t len)
{
	if (!t)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_PUBLISHER)
		return -EPERM;
	if (!t->reserved || len > t->res_cap)
		return -EINVAL;
	int r = check_pub(t);
	if (r < 0)
		return r;
	uint64_t s = t->res_start;
	__atomic_store_n(word_at(t, s, 0), (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(word_at(t, s, 4), rec_tag(t, s), __ATOMIC_RELAXED);
	__atomic_store_n(seq_at(t, s), t->tail_msgs, __ATOMIC_RELAXED);
	uint64_t old = t->tail;
	t->tail = s + IVS_TREC_HDR + align8(len);
	t->reserved = false;
	t->tail_msgs++;
	t->n_msgs++;
	t->n_bytes += len;
	atomic_store_explicit(&t->me->hot.msgs, t->tail_msgs, RLX);
	atomic_store_explicit(&t->me->hot.idx, t->tail, REL);
	/* As channels do: ask now for the ring line 2 KiB ahead, last read by
	 * subscribers on other cores, but never one a subscriber may still be
	 * reading (below the floor's limit). */
	uint64_t ahead = t->tail + PREFETCH_AHEAD;
	if (ahead - t->floor <= t->ring_size)
		ivs_prefetch_w(t->ring + (ahead & t->mask));
	notify_subs(t, old, t->tail);
	return 0;
}

int ivshmem_topic_publish(ivshmem_topic *t, const void *buf, size_t len, int timeout_ms)
{
	if (!t || (!buf && len))
		return -EINVAL;
	void *p;
	int r = ivshmem_topic_reserve(t, len, &p, timeout_ms);
	if (r < 0)
		return r;
	if (len)
		memcpy(p, buf, len);
	return ivshmem_topic_commit(t, len);
}

/* ---- subscriber ------------------------------------------------------- */

/* Refresh tail_cache: 0 or -EBADMSG. */
static int load_tail(ivshmem_topic *t)
{
	uint64_t x = atomic_load_explicit(&t->pub->hot.idx, ACQ);
	if ((x & 7) || x - t->head < t->tail_cache - t->head)
		return fail(t, -EBADMSG);
	if (x - t->head > t->ring_size) /* more than a ring ahead of us */
		return lapped_or_corrupt(t, t->head);
	t->tail_cache = x;
	return 0;
}

/* The next message: 1 (peek_* set), 0 none, -errno. */
static int try_peek(ivshmem_topic *t)
{
	if (t->peeked)
		return 1;
	int r = check_sub(t);
	if (r < 0)
		return r;
	uint64_t h = t->head;
	for (int step = 0; step < 2; step++) {
		if (t->tail_cache == h) {
			if ((r = load_tail(t)) < 0)
				return r;
			if (t->tail_cache == h) {
				if (step)
					return lapped_or_corrupt(t, h); /* padding without a record */
				if ((r = check_sub(t)) < 0)
					return r;
				if (!pub_gone(t))
					return 0;
				if ((r = load_tail(t)) < 0)
					return r;
				if (t->tail_cache == h)
					return confirm_pub_gone(t);
			}
		}
		uint64_t avail = t->tail_cache - h, pos = h & t->mask;
		if (avail < 8)
			return lapped_or_corrupt(t, h);
		uint32_t len = __atomic_load_n(word_at(t, h, 0), __ATOMIC_RELAXED);
		uint32_t tag = __atomic_load_n(word_at(t, h, 4), __ATOMIC_RELAXED);
		if (tag != rec_tag(t, h))
			return lapped_or_corrupt(t, h);
		if (len == IVS_REC_PAD) {
			uint64_t pad = t->ring_size - pos;
			if (pos == 0 || pad > avail)
				return lapped_or_corrupt(t, h);
			h += pad;
			continue;
		}
		uint64_t rec = IVS_TREC_HDR + align8(len);
		if (len > t->max_msg || rec > avail || pos + rec > t->ring_size)
			return lapped_or_corrupt(t, h);
		uint64_t seq = __atomic_load_n(seq_at(t, h), __ATOMIC_RELAXED);
		if (t->seq_known && seq != t->next_seq)
			return lapped_or_corrupt(t, h);
		t->head = h; /* skipped padding goes out with the release */
		t->peek_at = h;
		t->peek_len = len;
		t->peek_next = h + rec;
		t->peek_seq = seq;
		t->peeked = true;
		return 1;
	}
	return lapped_or_corrupt(t, h);
}

/* After the caller read the peeked bytes: were they still ours?  Then
 * publish the new head. */
static int do_release(ivshmem_topic *t)
{
	atomic_thread_fence(ACQ);
	uint64_t f = atomic_load_explicit(&t->cold->floor, ACQ);
	t->peeked = false;
	if (atomic_load_explicit(&t->me->side.epoch, ACQ) != t->my_epoch || floor_passed(t, f, t->peek_at))
		return fail(t, -ENOBUFS);
	uint64_t old = atomic_load_explicit(&t->me->hot.idx, RLX);
	t->head = t->peek_next;
	t->next_seq = t->peek_seq + 1;
	t->seq_known = true;
	t->n_msgs++;
	t->n_bytes += t->peek_len;
	atomic_store_explicit(&t->me->hot.msgs, t->next_seq, RLX);
	atomic_store_explicit(&t->me->hot.idx, t->head, REL);
	notify_pub(t, old, t->head);
	return 0;
}

/* Slow checks while waiting: re-formatted, deleted, publisher died. */
static int check_slow(ivshmem_topic *t, uint64_t deadline)
{
	if (gone(t))
		return fail(t, -ESTALE);
	uint64_t now = ivs_now_ns();
	if (now - t->last_reap < REAP_EVERY_NS)
		return 0;
	t->last_reap = now;
	struct ivs_side *ps = &t->pub->side;
	uint32_t e = atomic_load_explicit(&ps->epoch, ACQ);
	if (!(e & 1) || atomic_load_explicit(&ps->info_epoch, ACQ) != e)
		return 0;
	int max = IVS_CATCH_UP_MAX_MS;
	if (deadline)
		max = IVS_MAX(IVS_MIN(ivs_remaining_ms(deadline), max), IVS_CATCH_UP_MIN_MS);
	if (!ivs_side_dead(t->ep, t->host, ps, e, &t->watch, &t->watch_epoch, max))
		return 0;
	uint32_t want = e;
	bool reaped = atomic_compare_exchange_strong_explicit(&ps->epoch, &want, e + 1, SC, RLX);
	int r = check_sub(t);
	return r < 0 ? r : reaped ? -EOWNERDEAD : 0;
}

static int arm(ivshmem_topic *t, uint32_t *fv)
{
	*fv = atomic_load_explicit(&t->me->ev.futex, SC);
	atomic_store_explicit(&t->me->ev.idx, t->head, RLX);
	atomic_thread_fence(SC);
	return try_peek(t);
}

static int wait_msg(ivshmem_topic *t, int timeout_ms)
{
	int r = try_peek(t);
	if (r != 0)
		return r;
	if (timeout_ms == 0)
		return -EAGAIN;
	uint64_t start = ivs_now_ns();
	uint64_t deadline = timeout_ms < 0 ? 0 : start + (uint64_t)timeout_ms * 1000000ull;
	for (unsigned i = 0; t->spin.ns; i++) {
		for (int k = 0; k < 16; k++)
			ivs_cpu_relax();
		if ((r = try_peek(t)) != 0)
			return r;
		if ((i & 15) == 15) {
			uint64_t now = ivs_now_ns();
			if (now - start > t->spin.cur || (deadline && now >= deadline))
				break;
		}
	}
	uint64_t backoff = 10000, slept_from = ivs_now_ns();
	for (;;) {
		if ((r = check_slow(t, deadline)) < 0)
			break;
		int m = ivs_wake_method(t->caps, t->host, &t->pub->side, true);
		uint32_t e = atomic_load_explicit(&t->pub->side.epoch, ACQ);
		bool idle = !(e & 1) || atomic_load_explicit(&t->pub->side.info_epoch, ACQ) != e;
		if (m == IVSHMEM_CHAN_WAKE_DOORBELL || (idle && (t->caps & IVS_SIDE_DOORBELL)))
			ivshmem_vector_ack(t->ep, t->vector);
		uint32_t fv;
		if ((r = arm(t, &fv)) != 0)
			break;
		int rem = ivs_remaining_ms(deadline);
		if (deadline && rem == 0) {
			r = -ETIMEDOUT;
			break;
		}
		int slice = rem < 0 || rem > SLICE_MS ? SLICE_MS : rem;
		t->wake = m;
		count_sleep(t);
		if (m != IVSHMEM_CHAN_WAKE_POLL) {
			ivs_wake_sleep(m, &t->me->ev.futex, fv, t->vec_fd, slice, &t->ws);
		} else {
			uint64_t cap = idle ? IDLE_MAX_NS : POLL_MAX_NS;
			uint64_t ns = IVS_MIN(backoff, cap);
			if (deadline) {
				uint64_t now = ivs_now_ns();
				if (deadline > now && deadline - now < ns)
					ns = deadline - now;
			}
			/* Not attached yet: sleep where its first publish (our
			 * index is armed) or its open can reach us. */
			if (idle && (t->caps & IVS_SIDE_DOORBELL))
				ivs_poll1(t->vec_fd, POLLIN, (int)((ns + 999999) / 1000000));
			else if (idle && (t->caps & IVS_SIDE_FUTEX))
				ivs_wake_sleep(IVSHMEM_CHAN_WAKE_FUTEX, &t->me->ev.futex, fv, -1,
					       (int)((ns + 999999) / 1000000), &t->ws);
			else
				nap(ns);
			backoff = backoff * 2 > cap ? cap : backoff * 2;
		}
		if ((r = try_peek(t)) != 0) {
			if (r > 0)
				ivs_spin_adapt(&t->spin, slept_from);
			break;
		}
	}
	atomic_store_explicit(&t->me->ev.idx, UINT64_MAX, RLX);
	return r;
}

ssize_t ivshmem_topic_peek(ivshmem_topic *t, const void **ptr, int timeout_ms)
{
	if (!t || !ptr)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER)
		return -EPERM;
	int r = wait_msg(t, timeout_ms);
	if (r < 0)
		return r;
	*ptr = t->ring + (t->peek_at & t->mask) + IVS_TREC_HDR;
	return (ssize_t)t->peek_len;
}

int ivshmem_topic_release(ivshmem_topic *t)
{
	if (!t)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER)
		return -EPERM;
	if (!t->peeked)
		return t->broken ? t->broken : -EINVAL;
	if (t->broken)
		return t->broken;
	return do_release(t);
}

ssize_t ivshmem_topic_receive(ivshmem_topic *t, void *buf, size_t cap, int timeout_ms)
{
	if (!t || (!buf && cap))
		return -EINVAL;
	const void *p;
	ssize_t n = ivshmem_topic_peek(t, &p, timeout_ms);
	if (n < 0)
		return n;
	if ((size_t)n > cap)
		return -EMSGSIZE;
	if (n)
		memcpy(buf, p, (size_t)n);
	int r = do_release(t);
	return r < 0 ? r : n;
}

int ivshmem_topic_arm(ivshmem_topic *t)
{
	if (!t)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER)
		return -EPERM;
	int r = check_slow(t, 0);
	if (r < 0)
		return r;
	uint32_t fv;
	r = arm(t, &fv);
	return r < 0 ? r : r > 0;
}

int ivshmem_topic_fd(ivshmem_topic *t)
{
	if (!t)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER || t->vec_fd < 0 ||
	    ivs_wake_method(t->caps, t->host, &t->pub->side, true) != IVSHMEM_CHAN_WAKE_DOORBELL)
		return -ENOTSUP;
	return t->vec_fd;
}

/* ---- open / close ----------------------------------------------------- */

static void publish_info(ivshmem_topic *t, uint32_t e)
{
	ivs_side_publish(&t->me->side, &t->me->ev, t->ep, t->vector, t->caps, t->host, e);
}

/* Undo our attach. */
static void detach(ivshmem_topic *t)
{
	ivs_side_leave(&t->me->side, t->my_epoch);
}

/* Block still ours after the epoch CAS (Dekker with delete). */
static bool block_alive(ivshmem_topic *t)
{
	return atomic_load_explicit(&t->h->magic, SC) == IVS_TOPIC_MAGIC &&
	       atomic_load_explicit(&t->h->instance, SC) == t->instance;
}

static int open_publisher(ivshmem_topic *t, unsigned flags)
{
	t->subs = calloc(t->nsubs, sizeof(*t->subs));
	if (!t->subs)
		return -ENOMEM;
	uint32_t next;
	int r = ivs_side_claim(&t->me->side, flags & IVSHMEM_TOPIC_EXCLUSIVE, &next);
	if (r < 0)
		return r;
	t->my_epoch = next;
	if (!block_alive(t)) {
		detach(t);
		return -ENOENT;
	}
	uint64_t tail = atomic_load_explicit(&t->me->hot.idx, ACQ);
	uint64_t floor = atomic_load_explicit(&t->cold->floor, ACQ);
	if ((tail & 7) || (floor & 7) || tail - floor > t->ring_size) {
		detach(t);
		return -EBADMSG;
	}
	t->tail = tail;
	t->floor = floor;
	atomic_store_explicit(&t->cold->floor_next, floor, SC); /* a predecessor may have died mid-refresh */
	t->tail_msgs = atomic_load_explicit(&t->me->hot.msgs, RLX);
	publish_info(t, next);
	atomic_thread_fence(SC);
	rebuild_kicks(t);
	/* Subscribers already waiting (armed) re-check, and from now on
	 * sleep where we can reach them. */
	kick_armed(t);
	return 0;
}

/* Does a record (or the padding before one) start at index i < tail?  The
 * floor is the slowest head, which a hostile subscriber may have put in
 * the middle of a record: a joiner from the oldest message starts at the
 * tail instead.  Only once the join is safe (the publisher doesn't write
 * over i any more). */
static bool is_record(ivshmem_topic *t, uint64_t i, uint64_t tail)
{
	if (i == tail)
		return true;
	uint32_t len = __atomic_load_n(word_at(t, i, 0), __ATOMIC_RELAXED);
	uint32_t tag = __atomic_load_n(word_at(t, i, 4), __ATOMIC_RELAXED);
	return tag == rec_tag(t, i) && (len == IVS_REC_PAD || len <= t->max_msg);
}

static int open_subscriber(ivshmem_topic *t, unsigned flags)
{
	/* A free slot, or one whose process on this host is gone. */
	uint32_t next = 0;
	int slot = -1;
	for (unsigned k = 0; k < t->nsubs && slot < 0; k++) {
		struct ivs_side *s = &ivs_topic_party(t->block, k + 1)->side;
		uint32_t e = atomic_load_explicit(&s->epoch, ACQ);
		if ((e & 1) && !ivs_side_dead(NULL, t->host, s, e, NULL, NULL, 0))
			continue;
		next = e + ((e & 1) ? 2 : 1);
		if (atomic_compare_exchange_strong_explicit(&s->epoch, &e, next, SC, RLX))
			slot = (int)k;
	}
	if (slot < 0)
		return -EUSERS;
	t->slot = slot;
	t->me = ivs_topic_party(t->block, (unsigned)slot + 1);
	t->my_epoch = next;
	if (!block_alive(t)) {
		detach(t);
		return -ENOENT;
	}
	/* Start at the tail, or at the proposed floor (the oldest record the
	 * publisher keeps, even once its refresh in progress ends); pick
	 * again while a new proposal passes us (the publisher had not counted
	 * us yet).  The two indices are read apart, so a pair that doesn't
	 * fit together is read again before it counts as corrupt. */
	bool oldest = flags & IVSHMEM_TOPIC_FROM_OLDEST;
	int bad = 0;
	bool announced = false;
	for (int tries = 0;; tries++) {
		if (tries == JOIN_TRIES) {
			detach(t);
			return bad > JOIN_TRIES / 2 ? -EBADMSG : -EAGAIN;
		}
		if (tries > 16)
			ivs_cpu_relax();
		uint64_t tail = atomic_load_explicit(&t->pub->hot.idx, ACQ);
		uint64_t f = atomic_load_explicit(&t->cold->floor_next, SC);
		if ((f & 7) || (tail & 7) || !within(f, tail - t->ring_size, tail)) {
			bad++;
			continue;
		}
		uint64_t h = oldest ? f : tail;
		t->head = t->tail_cache = h;
		atomic_store_explicit(&t->me->hot.msgs, oldest ? 0 : atomic_load_explicit(&t->pub->hot.msgs, RLX),
				      RLX);
		atomic_store_explicit(&t->me->hot.idx, h, SC);
		if (!announced)
			publish_info(t, next);
		announced = true;
		atomic_fetch_add_explicit(&t->joins->joins, 1, SC);
		atomic_thread_fence(SC);
		uint64_t f2 = atomic_load_explicit(&t->cold->floor_next, SC);
		if (floor_passed(t, f2, h))
			continue;
		/* Counted, or the publisher won't write over h: only now may
		 * its bytes be read. */
		if (oldest && !is_record(t, h, tail)) {
			oldest = false;
			continue;
		}
		break;
	}
	t->pub_epoch = atomic_load_explicit(&t->pub->side.epoch, ACQ);
	t->pub_seen = t->pub_epoch & 1;
	return 0;
}

static int open_common(ivshmem_topic *t, const char *name, int role, const struct ivshmem_topic_opts *opts)
{
	unsigned flags = opts ? opts->flags : 0;
	if (flags & ~(IVSHMEM_TOPIC_EXCLUSIVE | IVSHMEM_TOPIC_NO_FUTEX | IVSHMEM_TOPIC_FROM_OLDEST))
		return -EINVAL;
	if (role != IVSHMEM_TOPIC_MONITOR && role != IVSHMEM_TOPIC_PUBLISHER && role != IVSHMEM_TOPIC_SUBSCRIBER)
		return -EINVAL;
	if (!name || !*name || strlen(name) >= IVS_NAME_MAX)
		return -EINVAL;
	struct ivs_layout_view v;
	int r = ivs_layout_read(t->mem, t->size, &v);
	if (r == -ENOMSG)
		return -ENOENT;
	if (r < 0)
		return r;
	struct ivs_entry_view e;
	if ((r = ivs_layout_find(t->mem, t->size, &v, name, &e)) < 0)
		return r;
	if (e.kind != IVSHMEM_KIND_TOPIC)
		return -EPROTOTYPE;
	struct ivs_topic_hdr *h = (struct ivs_topic_hdr *)(t->mem + e.offset);
	uint32_t nsubs = atomic_load_explicit(&h->nsubs, RLX);
	uint32_t mode = atomic_load_explicit(&h->mode, RLX);
	uint32_t stall = atomic_load_explicit(&h->stall_ms, RLX);
	if (atomic_load_explicit(&h->magic, ACQ) != IVS_TOPIC_MAGIC ||
	    atomic_load_explicit(&h->ring_size, RLX) != e.ring_size ||
	    atomic_load_explicit(&h->max_msg, RLX) != e.max_msg || atomic_load_explicit(&h->index, RLX) != e.index ||
	    atomic_load_explicit(&h->gen, RLX) != v.generation || nsubs == 0 ||
	    nsubs > IVSHMEM_TOPIC_MAX_SUBSCRIBERS || mode != IVSHMEM_TOPIC_LOSSLESS || stall == 0 ||
	    e.ring_size > IVS_TOPIC_MAX_RING ||
	    stall > IVS_TOPIC_MAX_STALL_MS || e.size < ivs_topic_ctrl_bytes(nsubs) + e.ring_size ||
	    2 * (align8(e.max_msg) + IVS_TREC_HDR) > e.ring_size) {
		struct ivs_entry_view e2;
		if (ivs_layout_find(t->mem, t->size, &v, name, &e2) == -ENOENT)
			return -ENOENT; /* deleted while we looked */
		return -EPROTO;
	}
	t->block = h;
	t->h = h;
	t->instance = atomic_load_explicit(&h->instance, RLX);
	t->tag_salt = ((uint32_t)t->instance ^ (uint32_t)(t->instance >> 32)) | 1u;
	t->nsubs = nsubs;
	t->mode = mode;
	t->stall_ms = stall;
	t->cold = (struct ivs_topic_pub_cold *)((char *)h + ivs_topic_ctrl_bytes(nsubs) - 128);
	t->joins = (struct ivs_topic_joins *)((char *)h + ivs_topic_ctrl_bytes(nsubs) - 64);
	t->ring = t->mem + e.offset + ivs_topic_ctrl_bytes(nsubs);
	t->ring_size = e.ring_size;
	t->mask = e.ring_size - 1;
	t->max_msg = e.max_msg;
	t->gen = v.generation;
	memcpy(t->name, e.name, sizeof(t->name));
	t->role = role;
	t->slot = -1;
	t->pub = ivs_topic_party(h, 0);
	t->vector = opts ? opts->vector : 0;
	ivs_spin_init(&t->spin, opts != NULL, opts ? opts->spin_us : 0);
	t->host = ivs_host_token();
	t->vec_fd = -1;
	if (role == IVSHMEM_TOPIC_MONITOR)
		return 0;
	if (t->ep && ivshmem_mem_readonly(t->ep) == 1)
		return -EROFS;
	t->caps = ivs_side_caps(t->ep, t->vector, t->host, flags & IVSHMEM_TOPIC_NO_FUTEX, &t->vec_fd);
	if (role == IVSHMEM_TOPIC_PUBLISHER) {
		t->me = t->pub;
		return open_publisher(t, flags);
	}
	return open_subscriber(t, flags);
}

static int open_mem(ivshmem_ep *ep, void *mem, size_t size, const char *name, int role,
		    const struct ivshmem_topic_opts *opts, ivshmem_topic **out)
{
	if (!out || !mem)
		return -EINVAL;
	ivshmem_topic *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ep = ep;
	t->mem = mem;
	t->size = size;
	int r = open_common(t, name, role, opts);
	if (r < 0) {
		free(t->subs);
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

int ivs_topic_open_mem(void *mem, size_t size, const char *name, int role, unsigned flags, ivshmem_topic **out)
{
	struct ivshmem_topic_opts o = {.flags = flags, .spin_us = -1};
	return open_mem(NULL, mem, size, name, role, &o, out);
}

int ivshmem_topic_open(ivshmem_ep *ep, const char *name, enum ivshmem_topic_role role,
		       const struct ivshmem_topic_opts *opts, ivshmem_topic **out)
{
	if (!ep)
		return -EINVAL;
	if (opts && (opts->vector >= IVSHMEM_MAX_VECTORS || !ivs_all_zero(opts->reserved, sizeof(opts->reserved))))
		return -EINVAL;
	if (!ivshmem_mem(ep))
		return -ENOTSUP;
	return open_mem(ep, ivshmem_mem(ep), ivshmem_mem_size(ep), name, (int)role, opts, out);
}

ivshmem_topic *ivshmem_topic_close(ivshmem_topic *t)
{
	if (!t)
		return NULL;
	if (t->me && !gone(t) && atomic_load_explicit(&t->me->side.epoch, RLX) == t->my_epoch) {
		uint32_t want = t->my_epoch;
		bool left = atomic_compare_exchange_strong_explicit(&t->me->side.epoch, &want, t->my_epoch + 1, SC,
								    RLX);
		/* Dekker with a sleeper (it stores its index, fences, reads
		 * our epoch): the CAS, a fence, then its index. */
		atomic_thread_fence(SC);
		if (left && t->role == IVSHMEM_TOPIC_PUBLISHER) {
			kick_armed(t); /* sleeping subscribers learn we left */
		} else if (left) {
			/* A publisher waiting for us re-checks. */
			atomic_fetch_add_explicit(&t->joins->joins, 1, SC);
			uint64_t ev = atomic_load_explicit(&t->pub->ev.idx, SC);
			if (ev != UINT64_MAX)
				ivs_wake_kick(t->ep, ivs_wake_method(t->caps, t->host, &t->pub->side, false),
					      &t->pub->side, &t->pub->ev);
		}
	}
	free(t->subs);
	free(t);
	return NULL;
}

/* ---- stat ------------------------------------------------------------- */

int ivshmem_topic_stat(ivshmem_topic *t, struct ivshmem_topic_stat *st)
{
	if (!t || !st)
		return -EINVAL;
	if (gone(t))
		return fail(t, -ESTALE);
	if (t->broken)
		return t->broken;
	struct ivshmem_topic_stat *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s->name, t->name, sizeof(s->name));
	s->role = t->role;
	s->mode = t->mode;
	s->ring_size = t->ring_size;
	s->max_msg = t->max_msg;
	s->subscribers = t->nsubs;
	s->stall_timeout_ms = t->stall_ms;
	struct ivs_side *ps = &t->pub->side;
	s->publisher_epoch = atomic_load_explicit(&ps->epoch, ACQ);
	s->publisher_attached = s->publisher_epoch & 1;
	uint32_t pid = atomic_load_explicit(&ps->id, RLX);
	s->publisher_id = s->publisher_attached && pid < IVSHMEM_MAX_PEERS ? (int)pid : -1;
	s->tail = atomic_load_explicit(&t->pub->hot.idx, ACQ);
	s->published = atomic_load_explicit(&t->pub->hot.msgs, RLX);
	s->floor = atomic_load_explicit(&t->cold->floor, ACQ);
	s->evictions = atomic_load_explicit(&t->cold->evictions, RLX);
	bool sane = !(s->tail & 7) && !(s->floor & 7) && s->tail - s->floor <= t->ring_size;
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
		struct ivshmem_topic_sub_stat *u = &s->sub[k];
		u->epoch = atomic_load_explicit(&p->side.epoch, ACQ);
		uint32_t info = atomic_load_explicit(&p->side.info_epoch, ACQ);
		uint32_t id = atomic_load_explicit(&p->side.id, RLX);
		u->id = id < IVSHMEM_MAX_PEERS ? (int)id : -1;
		u->pid = atomic_load_explicit(&p->side.pid, RLX);
		u->head = atomic_load_explicit(&p->hot.idx, ACQ);
		u->received = atomic_load_explicit(&p->hot.msgs, RLX);
		u->sleeps = atomic_load_explicit(&p->side.sleeps, RLX);
		u->rings = atomic_load_explicit(&p->side.rings, RLX);
		if (!(u->epoch & 1))
			u->state = IVSHMEM_TOPIC_SUB_FREE;
		else if (info != u->epoch)
			u->state = IVSHMEM_TOPIC_SUB_JOINING;
		else if (!sane || (u->head & 7) || s->tail - u->head > t->ring_size)
			u->state = IVSHMEM_TOPIC_SUB_BAD;
		else
			u->state = IVSHMEM_TOPIC_SUB_LIVE;
		u->lag = u->state == IVSHMEM_TOPIC_SUB_LIVE && s->published - u->received <= t->ring_size / 8
				 ? s->published - u->received
				 : 0;
	}
	s->messages = t->n_msgs;
	s->bytes = t->n_bytes;
	s->rings = t->n_rings;
	s->sleeps = t->n_sleeps;
	s->slot = t->slot;
	s->wake = t->wake;
	*st = *s;
	free(s);
	return 0;
}
