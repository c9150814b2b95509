/* SPDX-License-Identifier: MIT */
/* Latest mode (docs/topics.md, Latest mode): the publisher never waits.
 * Message m goes into buffer m % nbufs under that buffer's sequence lock
 * (2 m + 1 while written, 2 m + 2 once complete); then the publisher's
 * count (hot.msgs) becomes m + 1.  A subscriber reads the count, takes
 * the newest message, and checks the buffer's lock after reading: a lock
 * that moved means the bytes may be torn, and they never count.
 *
 * The writer: lock = 2m+1; release fence; data; len; lock = 2m+2
 * (release); count = m+1 (release).  The reader: n = count (acquire);
 * s1 = lock (acquire), which must be 2(n-1)+2 or a later write into the
 * same buffer; len, data; acquire fence; s2 = lock; s1 == s2 or retry.
 * If the reader saw any byte of a later write, the fences order that
 * write's odd lock before its s2 (Boehm, "Can seqlocks get along with
 * programming language memory models?", 2012).
 *
 * Everything a subscriber reads is untrusted: a count that goes back or
 * passes 2^62, a lock that is neither the message's nor a later one's in
 * that buffer, a length past max_msg: -EBADMSG, never a read outside the
 * buffer.  The publisher reads nothing of the subscribers but their
 * attach info and wakeup words. */
#include "topic/topic-impl.h"

#define LOOK_TRIES 64 /* looks for a stable newest message per try_peek */

static struct ivs_topic_buf *buf_of(const ivshmem_topic *t, uint64_t m)
{
	return (struct ivs_topic_buf *)(t->ring + (m % t->nbufs) * t->buf_bytes);
}

static unsigned char *data_of(struct ivs_topic_buf *b)
{
	return (unsigned char *)b + IVS_TBUF_HDR;
}

/* ---- publisher ---------------------------------------------------------- */

static int latest_reserve(ivshmem_topic *t, size_t len, void **ptr, int timeout_ms)
{
	(void)timeout_ms; /* never waits */
	int r = ivs_topic_check_pub(t);
	if (r < 0)
		return r;
	struct ivs_topic_buf *b = buf_of(t, t->tail_msgs);
	/* Readers of what the buffer held see it torn from here on. */
	atomic_store_explicit(&b->lock, 2 * t->tail_msgs + 1, RLX);
	atomic_thread_fence(REL);
	t->res_start = t->tail_msgs;
	t->res_cap = len;
	t->reserved = true;
	*ptr = data_of(b);
	return 0;
}

static int latest_commit(ivshmem_topic *t, size_t len)
{
	int r = ivs_topic_check_pub(t);
	if (r < 0)
		return r;
	uint64_t m = t->res_start;
	struct ivs_topic_buf *b = buf_of(t, m);
	atomic_store_explicit(&b->len, (uint32_t)len, RLX);
	atomic_store_explicit(&b->lock, 2 * m + 2, REL);
	t->reserved = false;
	t->tail_msgs = m + 1;
	t->n_msgs++;
	t->n_bytes += len;
	atomic_store_explicit(&t->me->hot.msgs, t->tail_msgs, REL);
	ivs_topic_notify_subs(t, m, m + 1);
	return 0;
}

static int latest_open_publisher(ivshmem_topic *t, unsigned flags)
{
	int r = ivs_topic_claim_publisher(t, flags);
	if (r < 0)
		return r;
	/* Number on from the last one published (a predecessor that died
	 * mid-write left its buffer odd: we write that message again). */
	uint64_t n = atomic_load_explicit(&t->me->hot.msgs, ACQ);
	if (n >= IVS_TOPIC_MAX_COUNT) {
		ivs_topic_detach(t);
		return -EBADMSG;
	}
	t->tail_msgs = n;
	ivs_topic_announce_publisher(t);
	return 0;
}

/* ---- subscriber --------------------------------------------------------- */

/* The newest message: 1 (peek_* set), 0 none new, -errno. */
static int latest_try_peek(ivshmem_topic *t)
{
	if (t->peeked)
		return 1;
	int r = ivs_topic_check_sub(t);
	if (r < 0)
		return r;
	for (int tries = 0; tries < LOOK_TRIES; tries++) {
		uint64_t n = atomic_load_explicit(&t->pub->hot.msgs, ACQ);
		if (n >= IVS_TOPIC_MAX_COUNT || n < t->seen)
			return fail(t, -EBADMSG); /* garbage, or went back */
		if (n == t->seen) {
			if (!ivs_topic_pub_gone(t))
				return 0;
			if (atomic_load_explicit(&t->pub->hot.msgs, ACQ) != n)
				continue;
			return ivs_topic_confirm_pub_gone(t);
		}
		uint64_t m = n - 1;
		struct ivs_topic_buf *b = buf_of(t, m);
		uint64_t s1 = atomic_load_explicit(&b->lock, ACQ);
		if (s1 != 2 * m + 2) {
			/* A later message being written into this buffer (or
			 * written, its count not yet out) is a race: look again.
			 * Anything else is not what a publisher writes. */
			uint64_t n2 = atomic_load_explicit(&t->pub->hot.msgs, ACQ);
			uint64_t m2 = (s1 - 1) / 2;
			if (s1 > 2 * m + 2 && n2 < IVS_TOPIC_MAX_COUNT && m2 <= n2 && m2 % t->nbufs == m % t->nbufs)
				continue;
			return fail(t, -EBADMSG);
		}
		/* The length, then the lock again: unchanged, the length is
		 * message m's (a later writer's would show its odd lock). */
		uint32_t len = atomic_load_explicit(&b->len, RLX);
		atomic_thread_fence(ACQ);
		if (atomic_load_explicit(&b->lock, RLX) != s1)
			continue;
		if (len > t->max_msg)
			return fail(t, -EBADMSG);
		t->peek_seq = m;
		t->peek_lock = s1;
		t->peek_len = len;
		t->peek_ptr = data_of(b);
		t->peeked = true;
		return 1;
	}
	/* Overtaken at every look: the publisher laps the buffers faster
	 * than we look (sleeping now would wait for a wakeup past an index
	 * the publisher has left behind). */
	return -EAGAIN;
}

/* After the caller read the bytes: 0 if the lock never moved (the message
 * is taken), -EAGAIN if it did (they may be torn: peek again). */
static int latest_release(ivshmem_topic *t)
{
	atomic_thread_fence(ACQ);
	uint64_t s2 = atomic_load_explicit(&buf_of(t, t->peek_seq)->lock, RLX);
	t->peeked = false;
	/* Deleted or re-formatted meanwhile: a new topic in the same block
	 * may have brought the lock back to the same value (a passive reader
	 * holds no slot, so delete doesn't wait for it). */
	if (ivs_topic_gone(t))
		return fail(t, -ESTALE);
	if (s2 != t->peek_lock)
		return -EAGAIN;
	/* Our slot taken from us (judged dead): don't write into another's. */
	if (!t->passive && atomic_load_explicit(&t->me->side.epoch, ACQ) != t->my_epoch)
		return fail(t, -ENOBUFS);
	uint64_t skipped = t->peek_seq - t->seen;
	t->seen = t->peek_seq + 1;
	ivs_topic_took(t, t->peek_seq, skipped, t->peek_len);
	if (!t->passive) {
		atomic_store_explicit(&t->me->hot.skipped, t->n_skipped, RLX);
		atomic_store_explicit(&t->me->hot.msgs, t->n_msgs, RLX);
		atomic_store_explicit(&t->me->hot.idx, t->seen, REL);
	}
	return 0;
}

static uint64_t latest_arm_index(const ivshmem_topic *t)
{
	return t->seen; /* the publisher's notify: its count passed this */
}

static int latest_open_subscriber(ivshmem_topic *t, unsigned flags)
{
	uint64_t n = atomic_load_explicit(&t->pub->hot.msgs, ACQ);
	if (n >= IVS_TOPIC_MAX_COUNT) {
		if (!t->passive)
			ivs_topic_detach(t);
		return -EBADMSG;
	}
	/* At the tail; from the oldest: with the newest published, the only
	 * one this mode keeps. */
	t->seen = (flags & IVSHMEM_TOPIC_FROM_OLDEST) && n ? n - 1 : n;
	if (!t->passive) {
		atomic_store_explicit(&t->me->hot.skipped, 0, RLX);
		atomic_store_explicit(&t->me->hot.msgs, 0, RLX);
		atomic_store_explicit(&t->me->hot.idx, t->seen, RLX);
		ivs_topic_publish_info(t, t->my_epoch);
		/* The publisher re-reads the slots (whom to wake) after a
		 * change of joins. */
		atomic_fetch_add_explicit(&t->joins->joins, 1, SC);
	}
	t->pub_epoch = atomic_load_explicit(&t->pub->side.epoch, ACQ);
	t->pub_seen = t->pub_epoch & 1;
	return 0;
}

/* ---- snapshot ------------------------------------------------------------ */

static void latest_stat(ivshmem_topic *t, struct ivshmem_topic_stat *s)
{
	s->published = atomic_load_explicit(&t->pub->hot.msgs, ACQ);
	bool sane = s->published < IVS_TOPIC_MAX_COUNT;
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct ivshmem_topic_sub_stat *u = &s->sub[k];
		struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
		u->skipped = atomic_load_explicit(&p->hot.skipped, RLX);
		if (u->state == IVSHMEM_TOPIC_SUB_LIVE && (!sane || u->head > s->published))
			u->state = IVSHMEM_TOPIC_SUB_BAD;
		u->lag = u->state == IVSHMEM_TOPIC_SUB_LIVE ? s->published - u->head : 0;
	}
}

const struct ivs_topic_mode ivs_topic_latest = {
	.open_publisher = latest_open_publisher,
	.open_subscriber = latest_open_subscriber,
	.reserve = latest_reserve,
	.commit = latest_commit,
	.try_peek = latest_try_peek,
	.release = latest_release,
	.arm_index = latest_arm_index,
	.stat = latest_stat,
};
