/* SPDX-License-Identifier: MIT */
/* The topic handle and what its three files share: topic.c (create, open,
 * close, stat), publisher.c (the floor, eviction, reserve/commit),
 * subscriber.c (joining, peek/release, waiting).  docs/topics.md has the
 * protocol; topic.h the shared block. */
#ifndef IVS_TOPIC_IMPL_H
#define IVS_TOPIC_IMPL_H

#include "channel/wake.h"
#include "endpoint/endpoint.h"
#include "topic/topic.h"

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

/* ---- publisher.c, subscriber.c: attach in the role (after open_common
 * has set up t).  0 or -errno, attached or not. */
int ivs_topic_open_publisher(ivshmem_topic *t, unsigned flags);
int ivs_topic_open_subscriber(ivshmem_topic *t, unsigned flags);

#endif
