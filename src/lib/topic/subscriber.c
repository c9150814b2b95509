/* SPDX-License-Identifier: MIT */
/* A subscriber of a topic (docs/topics.md, Protocol): joining at the tail
 * or the oldest record (the Dekker with the publisher's proposed floor),
 * reading records and checking after each that the publisher did not
 * overwrite it, waiting, and waking a publisher that waits for room. */
#include "topic/topic-impl.h"

#include <poll.h>
#include <string.h>

/* Subscriber: our slot still ours (else the publisher dropped us), the
 * publisher's epoch (restart: -ECONNRESET once; backwards: -EPROTO). */
static int check_sub(ivshmem_topic *t)
{
	if (t->broken)
		return t->broken;
	if (ivs_topic_gone(t))
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
		return fail(t, ivs_topic_gone(t) ? -ESTALE : -EPROTO);
	uint32_t info = atomic_load_explicit(&t->pub->side.info_epoch, ACQ);
	if (atomic_load_explicit(&t->pub->side.epoch, ACQ) != t->pub_epoch)
		return 0; /* came back: look again */
	if (info != t->pub_epoch - 1)
		return fail(t, -EPROTO);
	return -EPIPE;
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
	if (ivs_topic_gone(t))
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
		ivs_topic_count_sleep(t);
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
				ivs_topic_nap(ns);
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

int ivs_topic_open_subscriber(ivshmem_topic *t, unsigned flags)
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
	if (!ivs_topic_block_alive(t)) {
		ivs_topic_detach(t);
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
