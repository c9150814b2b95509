/* SPDX-License-Identifier: MIT */
/* What every subscriber of a topic does, whatever the mode: take a slot,
 * follow the publisher's epoch and liveness, and wait for the next message
 * (spin, arm its event word, sleep the way the publisher can wake it, or
 * poll).  A passive subscriber (no slot: a read-only mapping, latest mode)
 * writes nothing at all: it polls, and reports a dead publisher without
 * reaping it. */
#include "topic/topic-impl.h"

#include <poll.h>

int ivs_topic_claim_slot(ivshmem_topic *t)
{
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
	return 0;
}

int ivs_topic_check_sub(ivshmem_topic *t)
{
	if (t->broken)
		return t->broken;
	if (ivs_topic_gone(t))
		return fail(t, -ESTALE);
	if (t->me && atomic_load_explicit(&t->me->side.epoch, ACQ) != t->my_epoch)
		return fail(t, -ENOBUFS);
	uint32_t before = t->pub_epoch;
	int r = ivs_peer_epoch(&t->pub->side, &t->pub_epoch, &t->pub_seen);
	if (t->pub_epoch != before)
		t->seq_known = false; /* a new publisher may number on from elsewhere */
	return r == -EPROTO ? fail(t, r) : r;
}

bool ivs_topic_pub_gone(const ivshmem_topic *t)
{
	/* A passive subscriber can't reap a dead publisher: dead and
	 * reported counts as gone for it. */
	return t->pub_seen && (!(t->pub_epoch & 1) || (t->passive && t->reaped_epoch == t->pub_epoch));
}

int ivs_topic_confirm_pub_gone(ivshmem_topic *t)
{
	if (atomic_load_explicit(&t->h->magic, ACQ) != IVS_TOPIC_MAGIC)
		return fail(t, ivs_topic_gone(t) ? -ESTALE : -EPROTO);
	uint32_t info = atomic_load_explicit(&t->pub->side.info_epoch, ACQ);
	if (atomic_load_explicit(&t->pub->side.epoch, ACQ) != t->pub_epoch)
		return 0; /* came back: look again */
	if (t->pub_epoch & 1) /* passive, the publisher dead and left attached */
		return info == t->pub_epoch ? -EPIPE : fail(t, -EPROTO);
	if (info != t->pub_epoch - 1)
		return fail(t, -EPROTO);
	return -EPIPE;
}

void ivs_topic_took(ivshmem_topic *t, uint64_t seq, uint64_t skipped, uint32_t len)
{
	t->last_seq = seq;
	t->last_skipped = skipped;
	t->n_msgs++;
	t->n_bytes += len;
	t->n_skipped += skipped;
}

/* Slow checks while waiting: re-formatted, deleted, publisher died (a
 * passive subscriber says so once per publisher epoch; one with a slot
 * reaps it, so everyone hears it once). */
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
	if (!(e & 1) || atomic_load_explicit(&ps->info_epoch, ACQ) != e || (t->passive && t->reaped_epoch == e))
		return 0;
	int max = IVS_CATCH_UP_MAX_MS;
	if (deadline)
		max = IVS_MAX(IVS_MIN(ivs_remaining_ms(deadline), max), IVS_CATCH_UP_MIN_MS);
	if (!ivs_side_dead(t->ep, t->host, ps, e, &t->watch, &t->watch_epoch, max))
		return 0;
	if (t->passive) {
		t->reaped_epoch = e;
		return -EOWNERDEAD;
	}
	uint32_t want = e;
	bool reaped = atomic_compare_exchange_strong_explicit(&ps->epoch, &want, e + 1, SC, RLX);
	int r = ivs_topic_check_sub(t);
	return r < 0 ? r : reaped ? -EOWNERDEAD : 0;
}

/* Ask to be woken past our index, then look (Dekker with the publisher's
 * notify).  A passive subscriber only looks. */
static int arm(ivshmem_topic *t, uint32_t *fv)
{
	*fv = 0;
	if (!t->passive) {
		*fv = atomic_load_explicit(&t->me->ev.futex, SC);
		atomic_store_explicit(&t->me->ev.idx, t->ops->arm_index(t), RLX);
		atomic_thread_fence(SC);
	}
	return t->ops->try_peek(t);
}

int ivs_topic_wait_msg(ivshmem_topic *t, int timeout_ms)
{
	int r = t->ops->try_peek(t);
	if (r != 0)
		return r;
	if (timeout_ms == 0)
		return -EAGAIN;
	uint64_t start = ivs_now_ns();
	uint64_t deadline = timeout_ms < 0 ? 0 : start + (uint64_t)timeout_ms * 1000000ull;
	for (unsigned i = 0; t->spin.ns; i++) {
		for (int k = 0; k < 16; k++)
			ivs_cpu_relax();
		if ((r = t->ops->try_peek(t)) != 0)
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
		int m = t->passive ? IVSHMEM_CHAN_WAKE_POLL : ivs_wake_method(t->caps, t->host, &t->pub->side, true);
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
			else if (idle && (t->caps & IVS_SIDE_FUTEX) && !t->passive)
				ivs_wake_sleep(IVSHMEM_CHAN_WAKE_FUTEX, &t->me->ev.futex, fv, -1,
					       (int)((ns + 999999) / 1000000), &t->ws);
			else
				ivs_topic_nap(ns);
			backoff = backoff * 2 > cap ? cap : backoff * 2;
		}
		if ((r = t->ops->try_peek(t)) != 0) {
			if (r > 0)
				ivs_spin_adapt(&t->spin, slept_from);
			break;
		}
	}
	if (!t->passive)
		atomic_store_explicit(&t->me->ev.idx, UINT64_MAX, RLX);
	return r;
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
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER || t->passive || t->vec_fd < 0 ||
	    ivs_wake_method(t->caps, t->host, &t->pub->side, true) != IVSHMEM_CHAN_WAKE_DOORBELL)
		return -ENOTSUP;
	return t->vec_fd;
}

int ivshmem_topic_last(const ivshmem_topic *t, uint64_t *seq, uint64_t *skipped)
{
	if (!t)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER)
		return -EPERM;
	if (!t->n_msgs)
		return -ENODATA;
	if (seq)
		*seq = t->last_seq;
	if (skipped)
		*skipped = t->last_skipped;
	return 0;
}
