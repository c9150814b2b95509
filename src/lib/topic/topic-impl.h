/* SPDX-License-Identifier: MIT */
/* The topic handle and what its files share: topic.c (create, open, close,
 * stat, the entry points), subscriber.c (what every subscriber does: its
 * slot, the publisher's liveness, waiting), and one ops table per mode:
 * lossless-pub.c and lossless-sub.c (the floor, eviction, records),
 * latest.c (seqlocked buffers).  docs/topics.md has the protocol; topic.h
 * the shared block. */
#ifndef IVS_TOPIC_IMPL_H
#define IVS_TOPIC_IMPL_H

#include "channel/wake.h"
#include "endpoint/endpoint.h"
#include "topic/topic.h"

#include <string.h>

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

/* What a mode does; topic.c checks the arguments and the role first. */
struct ivs_topic_mode {
	/* Attach in the role: 0 or -errno, attached or not (the subscriber's
	 * slot, if it takes one, is claimed already). */
	int (*open_publisher)(ivshmem_topic *t, unsigned flags);
	int (*open_subscriber)(ivshmem_topic *t, unsigned flags);
	/* len <= max_msg. */
	int (*reserve)(ivshmem_topic *t, size_t len, void **ptr, int timeout_ms);
	int (*commit)(ivshmem_topic *t, size_t len); /* reserved, len fits */
	/* The next message: 1 (peek_ptr, peek_len set), 0 none, -errno. */
	int (*try_peek)(ivshmem_topic *t);
	/* After the caller read the peeked bytes: 0 (taken), -errno. */
	int (*release)(ivshmem_topic *t);
	/* The index an armed subscriber waits past (its event word). */
	uint64_t (*arm_index)(const ivshmem_topic *t);
	/* The mode's part of a snapshot: tail, published, floor, and each
	 * slot's state, head, lag (the rest is filled in). */
	void (*stat)(ivshmem_topic *t, struct ivshmem_topic_stat *s);
};
extern const struct ivs_topic_mode ivs_topic_lossless, ivs_topic_latest;

struct ivshmem_topic {
	ivshmem_ep *ep; /* NULL for raw memory */
	const struct ivs_topic_mode *ops;
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
	int slot;     /* subscriber slot, -1 */
	bool passive; /* subscriber without a slot: writes nothing (latest) */
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
	const void *peek_ptr;
	uint64_t last_seq, last_skipped; /* of the last message taken (if n_msgs) */
	uint32_t reaped_epoch;		 /* passive: publisher death reported */
	/* latest mode: the buffers */
	unsigned nbufs;
	uint64_t buf_bytes;   /* header line + data, multiple of 64 */
	uint64_t peek_lock;   /* the buffer's lock when peeked */
	uint64_t seen;	      /* messages published when we last took one */
	uint64_t n_msgs, n_bytes, n_rings, n_sleeps, n_skipped;
	struct ivs_chan_wait_stats ws;
};

#define PREFETCH_AHEAD 2048u

/* Copy to or from a message in shared memory.  Under ThreadSanitizer, by
 * relaxed atomic bytes: a latest-mode reader copies while the publisher
 * may overwrite (the sequence lock makes the result count only if it did
 * not), which is a formal race for memcpy (docs/topics.md, Known limits). */
#if defined(__SANITIZE_THREAD__)
#define IVS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IVS_TSAN 1
#endif
#endif
static inline void ivs_shared_copy(void *dst, const void *src, size_t n)
{
#ifdef IVS_TSAN
	for (size_t i = 0; i < n; i++)
		__atomic_store_n((unsigned char *)dst + i, __atomic_load_n((const unsigned char *)src + i, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
#else
	if (n)
		memcpy(dst, src, n);
#endif
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

static inline int fail(ivshmem_topic *t, int err)
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

/* ---- topic.c ---- */

/* Deleted (its block may hold something else now) or re-formatted. */
bool ivs_topic_gone(const ivshmem_topic *t);
/* Count a wakeup this handle sent / a sleep it took (here and shared). */
void ivs_topic_count_ring(ivshmem_topic *t);
void ivs_topic_count_sleep(ivshmem_topic *t);
/* Publisher: wake every subscriber that is waiting (armed). */
void ivs_topic_kick_armed(ivshmem_topic *t);
void ivs_topic_nap(uint64_t ns);
/* Our attach info, then info_epoch = e. */
void ivs_topic_publish_info(ivshmem_topic *t, uint32_t e);
/* Undo our attach. */
void ivs_topic_detach(ivshmem_topic *t);
/* Block still ours after the epoch CAS (Dekker with delete). */
bool ivs_topic_block_alive(ivshmem_topic *t);
/* Publisher, either mode: its view of the slots, then the role (a takeover
 * unless IVSHMEM_TOPIC_EXCLUSIVE): 0 (my_epoch set) or -ENOMEM, -EBUSY,
 * -ENOENT (deleted meanwhile). */
int ivs_topic_claim_publisher(ivshmem_topic *t, unsigned flags);
/* Publisher, either mode, once its own state is set: publish the attach
 * info, learn whom to wake, and wake those already waiting. */
void ivs_topic_announce_publisher(ivshmem_topic *t);

/* Publisher: our role still ours (-ESTALE: taken over, deleted). */
int ivs_topic_check_pub(ivshmem_topic *t);
/* Publisher: the subscribers it may have to wake (attached, info
 * published, not banned), and how: after each change of `joins`. */
void ivs_topic_rebuild_kicks(ivshmem_topic *t);
/* Publisher, after its index moved from old to now: wake each subscriber
 * that asked to be woken when the index passes its event word. */
void ivs_topic_notify_subs(ivshmem_topic *t, uint64_t old, uint64_t now);

/* ---- lossless-pub.c: the publisher's half of the lossless table ---- */
int ivs_lossless_open_publisher(ivshmem_topic *t, unsigned flags);
int ivs_lossless_reserve(ivshmem_topic *t, size_t len, void **ptr, int timeout_ms);
int ivs_lossless_commit(ivshmem_topic *t, size_t len);
void ivs_lossless_stat(ivshmem_topic *t, struct ivshmem_topic_stat *s);

/* ---- subscriber.c: what every subscriber does ---- */

/* Take a free slot (or one whose process on this host is gone): 0,
 * -EUSERS, -ENOENT (deleted meanwhile). */
int ivs_topic_claim_slot(ivshmem_topic *t);
/* Our slot still ours (else -ENOBUFS: dropped), the publisher's epoch
 * (restart: -ECONNRESET once; backwards: -EPROTO). */
int ivs_topic_check_sub(ivshmem_topic *t);
/* The publisher was seen attached and is detached now. */
bool ivs_topic_pub_gone(const ivshmem_topic *t);
/* The publisher detached: -EPIPE if the block says so cleanly, 0 if it
 * came back, -EPROTO / -ESTALE otherwise. */
int ivs_topic_confirm_pub_gone(ivshmem_topic *t);
/* Wait for the next message (mode's try_peek): 1, or -errno. */
int ivs_topic_wait_msg(ivshmem_topic *t, int timeout_ms);
/* The message taken: seq, skipped before it; counters. */
void ivs_topic_took(ivshmem_topic *t, uint64_t seq, uint64_t skipped, uint32_t len);

#endif
