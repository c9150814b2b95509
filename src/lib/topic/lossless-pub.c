/* SPDX-License-Identifier: MIT */
/* The publisher of a lossless topic (docs/topics.md, Protocol): the floor
 * and its refresh (counting subscribers, the joiners' Dekker, walking its
 * own records when nobody is counted), eviction and the stall clocks,
 * waiting for room, reserve/commit, waking subscribers; and the mode's
 * part of a snapshot. */
#include "topic/topic-impl.h"

#include <string.h>

enum { SUB_FREE, SUB_NONE, SUB_OK, SUB_BEHIND, SUB_GARBAGE };

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
		else if (len <= t->max_msg && pos + IVS_TREC_HDR + ivs_align8(len) <= t->ring_size)
			step = IVS_TREC_HDR + ivs_align8(len);
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
			ivs_topic_rebuild_kicks(t);
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
		ivs_topic_rebuild_kicks(t);
	return within(target, old, f);
}

/* Room for len bytes: 1 (res_* set), 0 full, -errno. */
static int try_reserve(ivshmem_topic *t, size_t len, uint64_t *target)
{
	int r = ivs_topic_check_pub(t);
	if (r < 0)
		return r;
	uint64_t rec = IVS_TREC_HDR + ivs_align8(len);
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
		ivs_topic_count_sleep(t);
		if (m == IVSHMEM_CHAN_WAKE_POLL) {
			ivs_topic_nap(IVS_MIN(ns, IVS_MIN(backoff, POLL_MAX_NS)));
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

int ivs_lossless_reserve(ivshmem_topic *t, size_t len, void **ptr, int timeout_ms)
{
	int r = wait_room(t, len, timeout_ms);
	if (r < 0)
		return r;
	*ptr = t->ring + (t->res_start & t->mask) + IVS_TREC_HDR;
	return 0;
}

int ivs_lossless_commit(ivshmem_topic *t, size_t len)
{
	int r = ivs_topic_check_pub(t);
	if (r < 0)
		return r;
	uint64_t s = t->res_start;
	__atomic_store_n(word_at(t, s, 0), (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(word_at(t, s, 4), rec_tag(t, s), __ATOMIC_RELAXED);
	__atomic_store_n(seq_at(t, s), t->tail_msgs, __ATOMIC_RELAXED);
	uint64_t old = t->tail;
	t->tail = s + IVS_TREC_HDR + ivs_align8(len);
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
	ivs_topic_notify_subs(t, old, t->tail);
	return 0;
}

int ivs_lossless_open_publisher(ivshmem_topic *t, unsigned flags)
{
	int r = ivs_topic_claim_publisher(t, flags);
	if (r < 0)
		return r;
	uint64_t tail = atomic_load_explicit(&t->me->hot.idx, ACQ);
	uint64_t floor = atomic_load_explicit(&t->cold->floor, ACQ);
	if ((tail & 7) || (floor & 7) || tail - floor > t->ring_size) {
		ivs_topic_detach(t);
		return -EBADMSG;
	}
	t->tail = tail;
	t->floor = floor;
	atomic_store_explicit(&t->cold->floor_next, floor, SC); /* a predecessor may have died mid-refresh */
	t->tail_msgs = atomic_load_explicit(&t->me->hot.msgs, RLX);
	ivs_topic_announce_publisher(t);
	return 0;
}

void ivs_lossless_stat(ivshmem_topic *t, struct ivshmem_topic_stat *s)
{
	s->tail = atomic_load_explicit(&t->pub->hot.idx, ACQ);
	s->published = atomic_load_explicit(&t->pub->hot.msgs, RLX);
	s->floor = atomic_load_explicit(&t->cold->floor, ACQ);
	s->evictions = atomic_load_explicit(&t->cold->evictions, RLX);
	bool sane = !(s->tail & 7) && !(s->floor & 7) && s->tail - s->floor <= t->ring_size;
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct ivshmem_topic_sub_stat *u = &s->sub[k];
		if (u->state == IVSHMEM_TOPIC_SUB_LIVE &&
		    (!sane || (u->head & 7) || s->tail - u->head > t->ring_size))
			u->state = IVSHMEM_TOPIC_SUB_BAD;
		u->lag = u->state == IVSHMEM_TOPIC_SUB_LIVE && s->published - u->received <= t->ring_size / 8
				 ? s->published - u->received
				 : 0;
	}
}
