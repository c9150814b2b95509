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
 * this host is gone, is evicted too.
 *
 * Latest mode (latest.c) keeps the block, the parties and the wakeups, but
 * its ring is a few seqlocked buffers: the publisher never waits.
 *
 * This file: create, open, close, stat, and the entry points, which check
 * the arguments and the role, then call the mode's table. */
#include "topic/topic-impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- create ----------------------------------------------------------- */

struct create_arg {
	unsigned nsubs, mode, stall_ms;
};

/* The topic's own fields of line 0 (the layout writes the rest). */
static void init_block(void *block, void *arg)
{
	const struct create_arg *a = arg;
	struct ivs_topic_hdr *h = block;
	atomic_store_explicit(&h->nsubs, a->nsubs, RLX);
	atomic_store_explicit(&h->mode, a->mode, RLX);
	atomic_store_explicit(&h->stall_ms, a->stall_ms, RLX);
}

static int create(void *mem, size_t size, const char *name, const struct ivshmem_topic_config *cfg,
		  int peer_id)
{
	struct ivshmem_topic_config c = {0};
	if (cfg)
		c = *cfg;
	bool latest = c.mode == IVSHMEM_TOPIC_LATEST;
	if (!ivs_all_zero(c.reserved, sizeof(c.reserved)) || (c.mode != IVSHMEM_TOPIC_LOSSLESS && !latest) ||
	    c.subscribers > IVSHMEM_TOPIC_MAX_SUBSCRIBERS || c.stall_timeout_ms > IVS_TOPIC_MAX_STALL_MS ||
	    (latest && c.stall_timeout_ms))
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
	uint64_t max_msg = c.max_msg;
	if (!max_msg)
		max_msg = latest ? IVS_MIN((uint64_t)65536, p2 / 4 - IVS_TBUF_HDR)
				 : IVS_MIN((uint64_t)65536, p2 / 2 - IVS_TREC_HDR);
	if (!c.max_msg && latest && max_msg < 64)
		max_msg = p2 / 2 - IVS_TBUF_HDR; /* a 256-byte ring: 2 buffers of 64 */
	if (max_msg > UINT32_MAX || !ivs_topic_sizes_ok(c.mode, p2, max_msg))
		return -EINVAL;
	struct create_arg a = {c.subscribers ? c.subscribers : DEFAULT_SUBS, c.mode,
			       latest ? 0 : c.stall_timeout_ms ? c.stall_timeout_ms : DEFAULT_STALL_MS};
	return ivs_layout_create_kind(mem, size, name, IVSHMEM_KIND_TOPIC, IVS_TOPIC_MAGIC,
				      ivs_topic_ctrl_bytes(a.nsubs), 1 + a.nsubs, p2, (uint32_t)max_msg, peer_id,
				      init_block, &a);
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

/* ---- liveness, counters, shared by both roles -------------------------- */

/* Deleted (its block may hold something else now) or re-formatted. */
bool ivs_topic_gone(const ivshmem_topic *t)
{
	return atomic_load_explicit(&((struct ivs_layout_hdr *)t->mem)->generation, RLX) != t->gen ||
	       atomic_load_explicit(&t->h->instance, RLX) != t->instance;
}

void ivs_topic_count_ring(ivshmem_topic *t)
{
	t->n_rings++;
	atomic_store_explicit(&t->me->side.rings, atomic_load_explicit(&t->me->side.rings, RLX) + 1, RLX);
}

/* Publisher: wake every subscriber that is waiting (armed), whatever it
 * waits for: we attached or left, it must look again. */
void ivs_topic_kick_armed(ivshmem_topic *t)
{
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
		if (atomic_load_explicit(&p->ev.idx, RLX) != UINT64_MAX &&
		    ivs_wake_kick(t->ep, ivs_wake_method(t->caps, t->host, &p->side, false), &p->side, &p->ev))
			ivs_topic_count_ring(t);
	}
}

/* Publisher: the subscribers it may have to wake (attached, info
 * published, not banned), and how. */
void ivs_topic_rebuild_kicks(ivshmem_topic *t)
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
void ivs_topic_notify_subs(ivshmem_topic *t, uint64_t old, uint64_t now)
{
	atomic_thread_fence(SC);
	if (atomic_load_explicit(&t->joins->joins, RLX) != t->joins_seen)
		ivs_topic_rebuild_kicks(t);
	for (unsigned k = 0; k < t->nsubs; k++) {
		struct sub_view *v = &t->subs[k];
		if (!v->kick_epoch)
			continue;
		struct ivs_topic_party *p = ivs_topic_party(t->block, k + 1);
		uint64_t ev = atomic_load_explicit(&p->ev.idx, RLX);
		if (now - ev - 1 < now - old && ivs_wake_kick(t->ep, v->kick_m, &p->side, &p->ev))
			ivs_topic_count_ring(t);
	}
}

void ivs_topic_count_sleep(ivshmem_topic *t)
{
	t->n_sleeps++;
	if (!t->passive) /* it writes nothing */
		atomic_store_explicit(&t->me->side.sleeps, atomic_load_explicit(&t->me->side.sleeps, RLX) + 1, RLX);
}

void ivs_topic_nap(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	nanosleep(&ts, NULL);
}

/* ---- open / close ------------------------------------------------------ */

void ivs_topic_publish_info(ivshmem_topic *t, uint32_t e)
{
	ivs_side_publish(&t->me->side, &t->me->ev, t->ep, t->vector, t->caps, t->host, e);
}

/* Undo our attach. */
void ivs_topic_detach(ivshmem_topic *t)
{
	ivs_side_leave(&t->me->side, t->my_epoch);
}

/* Block still ours after the epoch CAS (Dekker with delete). */
bool ivs_topic_block_alive(ivshmem_topic *t)
{
	return atomic_load_explicit(&t->h->magic, SC) == IVS_TOPIC_MAGIC &&
	       atomic_load_explicit(&t->h->instance, SC) == t->instance;
}

void ivs_topic_announce_publisher(ivshmem_topic *t)
{
	ivs_topic_publish_info(t, t->my_epoch);
	atomic_thread_fence(SC);
	ivs_topic_rebuild_kicks(t);
	/* Subscribers already waiting (armed) re-check, and from now on
	 * sleep where we can reach them. */
	ivs_topic_kick_armed(t);
}

int ivs_topic_claim_publisher(ivshmem_topic *t, unsigned flags)
{
	t->subs = calloc(t->nsubs, sizeof(*t->subs));
	if (!t->subs)
		return -ENOMEM;
	uint32_t next;
	int r = ivs_side_claim(&t->me->side, flags & IVSHMEM_TOPIC_EXCLUSIVE, &next);
	if (r < 0)
		return r;
	t->my_epoch = next;
	if (!ivs_topic_block_alive(t)) {
		ivs_topic_detach(t);
		return -ENOENT;
	}
	return 0;
}

static int open_common(ivshmem_topic *t, const char *name, int role, const struct ivshmem_topic_opts *opts)
{
	unsigned flags = opts ? opts->flags : 0;
	if (flags & ~(IVSHMEM_TOPIC_EXCLUSIVE | IVSHMEM_TOPIC_NO_FUTEX | IVSHMEM_TOPIC_FROM_OLDEST |
		      IVSHMEM_TOPIC_PASSIVE))
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
	    nsubs > IVSHMEM_TOPIC_MAX_SUBSCRIBERS || (mode != IVSHMEM_TOPIC_LOSSLESS && mode != IVSHMEM_TOPIC_LATEST) ||
	    (mode == IVSHMEM_TOPIC_LATEST ? stall != 0 : stall == 0) || e.ring_size > IVS_TOPIC_MAX_RING ||
	    stall > IVS_TOPIC_MAX_STALL_MS || e.size < ivs_topic_ctrl_bytes(nsubs) + e.ring_size ||
	    !ivs_topic_sizes_ok(mode, e.ring_size, e.max_msg)) {
		struct ivs_entry_view e2;
		if (ivs_layout_find(t->mem, t->size, &v, name, &e2) == -ENOENT)
			return -ENOENT; /* deleted while we looked */
		return -EPROTO;
	}
	t->block = h;
	t->h = h;
	t->instance = atomic_load_explicit(&h->instance, RLX);
	t->tag_salt = ivs_tag_salt(t->instance);
	t->nsubs = nsubs;
	t->mode = mode;
	t->ops = mode == IVSHMEM_TOPIC_LATEST ? &ivs_topic_latest : &ivs_topic_lossless;
	t->stall_ms = stall;
	t->cold = (struct ivs_topic_pub_cold *)((char *)h + ivs_topic_ctrl_bytes(nsubs) - 128);
	t->joins = (struct ivs_topic_joins *)((char *)h + ivs_topic_ctrl_bytes(nsubs) - 64);
	t->ring = t->mem + e.offset + ivs_topic_ctrl_bytes(nsubs);
	t->ring_size = e.ring_size;
	t->mask = e.ring_size - 1;
	t->max_msg = e.max_msg;
	if (mode == IVSHMEM_TOPIC_LATEST) {
		t->buf_bytes = ivs_topic_buf_bytes(e.max_msg);
		t->nbufs = (unsigned)(e.ring_size / t->buf_bytes);
	}
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
	bool ro = t->ep && ivshmem_mem_readonly(t->ep) == 1;
	if (role == IVSHMEM_TOPIC_SUBSCRIBER && (flags & IVSHMEM_TOPIC_PASSIVE) && mode != IVSHMEM_TOPIC_LATEST)
		return -EINVAL; /* lossless: the publisher must see every reader */
	if (role == IVSHMEM_TOPIC_SUBSCRIBER && mode == IVSHMEM_TOPIC_LATEST && (ro || (flags & IVSHMEM_TOPIC_PASSIVE))) {
		/* Writes nothing: no slot, no attach info, polls. */
		t->passive = true;
		return t->ops->open_subscriber(t, flags);
	}
	if (ro)
		return -EROFS;
	t->caps = ivs_side_caps(t->ep, t->vector, t->host, flags & IVSHMEM_TOPIC_NO_FUTEX, &t->vec_fd);
	if (role == IVSHMEM_TOPIC_PUBLISHER) {
		t->me = t->pub;
		return t->ops->open_publisher(t, flags);
	}
	if ((r = ivs_topic_claim_slot(t)) < 0)
		return r;
	return t->ops->open_subscriber(t, flags);
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
	if (t->me && !ivs_topic_gone(t) && atomic_load_explicit(&t->me->side.epoch, RLX) == t->my_epoch) {
		uint32_t want = t->my_epoch;
		bool left = atomic_compare_exchange_strong_explicit(&t->me->side.epoch, &want, t->my_epoch + 1, SC,
								    RLX);
		/* Dekker with a sleeper (it stores its index, fences, reads
		 * our epoch): the CAS, a fence, then its index. */
		atomic_thread_fence(SC);
		if (left && t->role == IVSHMEM_TOPIC_PUBLISHER) {
			ivs_topic_kick_armed(t); /* sleeping subscribers learn we left */
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

/* ---- the entry points ---------------------------------------------------- */

int ivs_topic_check_pub(ivshmem_topic *t)
{
	if (t->broken)
		return t->broken;
	if (ivs_topic_gone(t) || atomic_load_explicit(&t->me->side.epoch, RLX) != t->my_epoch)
		return fail(t, -ESTALE);
	return 0;
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
	return t->ops->reserve(t, len, ptr, timeout_ms);
}

int ivshmem_topic_commit(ivshmem_topic *t, size_t len)
{
	if (!t)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_PUBLISHER)
		return -EPERM;
	if (!t->reserved || len > t->res_cap)
		return -EINVAL;
	return t->ops->commit(t, len);
}

int ivshmem_topic_publish(ivshmem_topic *t, const void *buf, size_t len, int timeout_ms)
{
	if (!t || (!buf && len))
		return -EINVAL;
	void *p;
	int r = ivshmem_topic_reserve(t, len, &p, timeout_ms);
	if (r < 0)
		return r;
	ivs_shared_copy(p, buf, len);
	return ivshmem_topic_commit(t, len);
}

ssize_t ivshmem_topic_peek(ivshmem_topic *t, const void **ptr, int timeout_ms)
{
	if (!t || !ptr)
		return -EINVAL;
	if (t->role != IVSHMEM_TOPIC_SUBSCRIBER)
		return -EPERM;
	int r = ivs_topic_wait_msg(t, timeout_ms);
	if (r < 0)
		return r;
	*ptr = t->peek_ptr;
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
	return t->ops->release(t);
}

#define TEAR_TRIES 1000

ssize_t ivshmem_topic_receive(ivshmem_topic *t, void *buf, size_t cap, int timeout_ms)
{
	if (!t || (!buf && cap))
		return -EINVAL;
	for (int tries = 1;; tries++) {
		const void *p;
		ssize_t n = ivshmem_topic_peek(t, &p, timeout_ms);
		if (n < 0)
			return n;
		if ((size_t)n > cap)
			return -EMSGSIZE;
		ivs_shared_copy(buf, p, (size_t)n);
		int r = t->ops->release(t);
		/* Latest: overwritten while we copied; the newest is there. */
		if (r != -EAGAIN || tries == TEAR_TRIES)
			return r < 0 ? r : n;
	}
}

/* ---- stat -------------------------------------------------------------- */

int ivshmem_topic_stat(ivshmem_topic *t, struct ivshmem_topic_stat *st)
{
	if (!t || !st)
		return -EINVAL;
	if (ivs_topic_gone(t))
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
	s->buffers = t->nbufs;
	struct ivs_side *ps = &t->pub->side;
	s->publisher_epoch = atomic_load_explicit(&ps->epoch, ACQ);
	s->publisher_attached = s->publisher_epoch & 1;
	uint32_t pid = atomic_load_explicit(&ps->id, RLX);
	s->publisher_id = s->publisher_attached && pid < IVSHMEM_MAX_PEERS ? (int)pid : -1;
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
		else
			u->state = IVSHMEM_TOPIC_SUB_LIVE; /* the mode may say BAD */
	}
	t->ops->stat(t, s); /* tail, published, floor, evictions; BAD, lag */
	s->messages = t->n_msgs;
	s->bytes = t->n_bytes;
	s->rings = t->n_rings;
	s->sleeps = t->n_sleeps;
	s->skipped = t->n_skipped;
	s->slot = t->slot;
	s->wake = t->wake;
	*st = *s;
	free(s);
	return 0;
}
