/* SPDX-License-Identifier: MIT */
/* A subscriber of a lossless topic (docs/topics.md, Protocol): joining at
 * the tail or the oldest record (the Dekker with the publisher's proposed
 * floor), reading records and checking after each that the publisher did
 * not overwrite it, and waking a publisher that waits for room. */
#include "topic/topic-impl.h"

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

/* Subscriber, after its head moved from old to now (or a leave): wake
 * the publisher if it waits for room we just gave. */
static void notify_pub(ivshmem_topic *t, uint64_t old, uint64_t now)
{
	atomic_thread_fence(SC);
	uint64_t ev = atomic_load_explicit(&t->pub->ev.idx, RLX);
	if (now - ev - 1 < now - old &&
	    ivs_wake_kick(t->ep, ivs_wake_method(t->caps, t->host, &t->pub->side, false), &t->pub->side,
			  &t->pub->ev))
		ivs_topic_count_ring(t);
}

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
static int lossless_try_peek(ivshmem_topic *t)
{
	if (t->peeked)
		return 1;
	int r = ivs_topic_check_sub(t);
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
				if ((r = ivs_topic_check_sub(t)) < 0)
					return r;
				if (!ivs_topic_pub_gone(t))
					return 0;
				if ((r = load_tail(t)) < 0)
					return r;
				if (t->tail_cache == h)
					return ivs_topic_confirm_pub_gone(t);
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
		uint64_t rec = IVS_TREC_HDR + ivs_align8(len);
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
		t->peek_ptr = t->ring + (h & t->mask) + IVS_TREC_HDR;
		t->peeked = true;
		return 1;
	}
	return lapped_or_corrupt(t, h);
}

/* After the caller read the peeked bytes: were they still ours?  Then
 * publish the new head. */
static int lossless_release(ivshmem_topic *t)
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
	ivs_topic_took(t, t->peek_seq, 0, t->peek_len);
	atomic_store_explicit(&t->me->hot.msgs, t->next_seq, RLX);
	atomic_store_explicit(&t->me->hot.idx, t->head, REL);
	notify_pub(t, old, t->head);
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

static int lossless_open_subscriber(ivshmem_topic *t, unsigned flags)
{
	uint32_t next = t->my_epoch;
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
			ivs_topic_detach(t);
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
			ivs_topic_publish_info(t, next);
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

static uint64_t lossless_arm_index(const ivshmem_topic *t)
{
	return t->head;
}

const struct ivs_topic_mode ivs_topic_lossless = {
	.open_publisher = ivs_lossless_open_publisher,
	.open_subscriber = lossless_open_subscriber,
	.reserve = ivs_lossless_reserve,
	.commit = ivs_lossless_commit,
	.try_peek = lossless_try_peek,
	.release = lossless_release,
	.arm_index = lossless_arm_index,
	.stat = ivs_lossless_stat,
};
