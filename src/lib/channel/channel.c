/* SPDX-License-Identifier: MIT */
/* SPSC message queue in shared memory (docs/channels.md).
 *
 * Each side keeps its own index locally (authoritative) and only publishes
 * it; the other side's index is read once per refill, validated (8-byte
 * aligned, monotonic, never more than the ring apart), and cached.  Records
 * are [u32 len][u32 tag][data, padded to 8]; tag = (start index >> 3) xor
 * a salt from the channel's instance, so stale bytes (of an earlier lap, of
 * an earlier channel in the same block), a zero-filled ring and forged
 * records are detected.  A record that does not fit before
 * the ring's end is preceded by a padding record (len = IVS_REC_PAD).
 *
 * Wakeups follow virtio's event index: a side about to sleep stores the
 * index it is waiting past ("wake me when your index passes X"), a full
 * fence, re-checks; the other side, after publishing, fences and kicks only
 * if its publish crossed X.  A busy stream never kicks.  Between two
 * membarrier users on one host the producer's fence goes: the consumer's
 * membarrier before it sleeps stands for it (follow_peer, arm;
 * tests/model/wakeup.pml). */
#include "channel/channel.h"

#include <limits.h>
#include <poll.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "channel/wake.h"
#include "endpoint/endpoint.h"

#define RLX memory_order_relaxed
#define ACQ memory_order_acquire
#define REL memory_order_release
#define SC memory_order_seq_cst

#define PREFETCH_AHEAD 2048u  /* producer: prefetch ring lines this far ahead */
#define SLICE_MS 100	      /* longest sleep between liveness checks */
#define POLL_MAX_NS 1000000ull /* fallback poll: back off up to 1 ms */
#define IDLE_MAX_NS 50000000ull /* peer not attached: back off up to 50 ms */
#define REAP_EVERY_NS 50000000ull
/* Before a leave read outside a watch is believed, the endpoint reads its
 * socket until it stays quiet IVS_CATCH_UP_QUIET_MS, for at most
 * IVS_CATCH_UP_MAX_MS (or what is left of the caller's timeout, but at
 * least IVS_CATCH_UP_MIN_MS; calls that don't wait: the minimum). */
#define CHECK_NOW UINT64_MAX /* check_slow's deadline for calls that don't wait */

struct ivshmem_chan {
	ivshmem_ep *ep; /* NULL for raw memory */
	unsigned char *mem;
	size_t size;
	struct ivs_chan_ctrl *c;
	unsigned char *ring;
	uint64_t ring_size, mask;
	uint32_t max_msg;
	uint64_t gen;
	uint64_t instance; /* of the channel block at open (delete changes it) */
	uint32_t tag_salt; /* from instance: record tags (never 0) */
	char name[IVS_NAME_MAX];
	int role;
	struct ivs_side *me, *peer;
	struct ivs_event *my_ev, *peer_ev;
	uint32_t my_epoch, peer_epoch;
	bool peer_seen; /* the peer was attached at some point of our session */
	uint32_t follow_epoch; /* the peer epoch skip_fence was set for */
	bool skip_fence;       /* publish without a fence (follow_peer) */
	int mb_err;	       /* the last membarrier's error, or 0 */
	int broken;	/* sticky error */
	bool reset_due;	/* a peer restart met by a call that went on (commit,
			   flush, release): the next call that can report it does */
	uint64_t host;
	uint32_t caps;
	int vec_fd;
	unsigned vector;
	struct ivs_spin spin; /* before sleeping: configured, adaptive */
	int slice_ms;	      /* longest sleep: SLICE_MS (tests: ivs_chan_set_slice) */
	/* producer: tail is ours (tail_pub: as published; records between
	 * them were committed with commit_more), head_cache the last
	 * validated head */
	uint64_t tail, tail_pub, head_cache, tail_msgs;
	/* consumer: head is ours, tail_cache the last validated tail */
	uint64_t head, head_pub, tail_cache, head_msgs;
	bool reserved;
	uint64_t res_start; /* index of the reserved record */
	size_t res_cap;
	/* consumer: peek_count records peeked from head on, the first
	 * peek_len bytes long ending at peek_first_end, the last ending at
	 * peek_next, peek_bytes in all (lengths as validated: never read
	 * from the ring again) */
	bool peeked;
	unsigned peek_count;
	uint64_t peek_first_end, peek_next, peek_bytes;
	uint32_t peek_len;
	uint64_t last_reap;
	struct ivs_peer_watch watch; /* the peer, as its server sees it */
	uint32_t watch_epoch;	     /* the peer epoch watch was begun for (0: none) */
	int wake;
	uint64_t n_msgs, n_bytes, n_rings, n_sleeps, n_spins;
	struct ivs_chan_wait_stats ws; /* how sleeps ended */
};

/* The tag of a record starting at index idx. */
static inline uint32_t rec_tag(const ivshmem_chan *ch, uint64_t idx)
{
	return (uint32_t)(idx >> 3) ^ ch->tag_salt;
}

static inline uint32_t *word_at(ivshmem_chan *ch, uint64_t idx, unsigned off)
{
	return (uint32_t *)(ch->ring + (idx & ch->mask) + off);
}

static int fail(ivshmem_chan *ch, int err)
{
	ch->broken = err;
	return err;
}

/* ---- liveness --------------------------------------------------------- */

/* The channel this handle opened is no longer there: deleted (its block
 * may hold another channel) or the region formatted again. */
static bool gone(const ivshmem_chan *ch)
{
	return atomic_load_explicit(&((struct ivs_layout_hdr *)ch->mem)->generation, RLX) != ch->gen ||
	       atomic_load_explicit(&ch->c->instance, RLX) != ch->instance;
}

/* Cheap checks on every operation: own role still ours, peer epoch. */
static void follow_peer(ivshmem_chan *ch);

static int check_epochs(ivshmem_chan *ch)
{
	if (ch->broken)
		return ch->broken;
	if (atomic_load_explicit(&ch->me->epoch, RLX) != ch->my_epoch || gone(ch))
		return fail(ch, -ESTALE);
	if (ch->reset_due) { /* after the takeover check: never past it */
		ch->reset_due = false;
		return -ECONNRESET;
	}
	/* The peer's epoch as last seen, the common case, without a call. */
	int r = atomic_load_explicit(&ch->peer->epoch, ACQ) == ch->peer_epoch
			? 0
			: ivs_peer_epoch(ch->peer, &ch->peer_epoch, &ch->peer_seen);
	if (ch->peer_epoch != ch->follow_epoch)
		follow_peer(ch);
	return r == -EPROTO ? fail(ch, r) : r;
}

/* check_epochs for a call that finishes what an earlier one began (commit,
 * flush, release): a peer restart does not stop it; the next call that
 * can say so without having done anything reports it (-ECONNRESET is
 * reported once, by a call that did nothing). */
static int going_on(ivshmem_chan *ch)
{
	int r = check_epochs(ch);
	if (r == -ECONNRESET) {
		ch->reset_due = true;
		r = 0;
	}
	return r;
}

static bool peer_gone(const ivshmem_chan *ch)
{
	return ch->peer_seen && !(ch->peer_epoch & 1);
}

/* Is our channel still the one we opened: the layout (same generation),
 * its entry (same name, block and geometry) and the block (magic,
 * instance, geometry)?  0, -ESTALE (re-formatted or deleted, on purpose),
 * -EPROTO (malformed). */
static int check_block(ivshmem_chan *ch)
{
	struct ivs_layout_view v;
	if (ivs_layout_read(ch->mem, ch->size, &v) < 0)
		return -EPROTO;
	if (v.generation != ch->gen)
		return -ESTALE;
	struct ivs_entry_view e;
	int r = ivs_layout_find(ch->mem, ch->size, &v, ch->name, &e);
	if (r == -ENOENT)
		return -ESTALE;
	if (r < 0 || ch->mem + e.offset != (unsigned char *)ch->c || e.ring_size != ch->ring_size ||
	    e.max_msg != ch->max_msg || e.kind != IVSHMEM_KIND_CHANNEL)
		return -EPROTO;
	uint64_t magic = atomic_load_explicit(&ch->c->magic, ACQ);
	if (magic == 0 || atomic_load_explicit(&ch->c->instance, RLX) != ch->instance)
		return -ESTALE; /* deleted (the magic goes first), maybe reused */
	if (magic != IVS_CHAN_MAGIC || atomic_load_explicit(&ch->c->ring_size, RLX) != ch->ring_size ||
	    atomic_load_explicit(&ch->c->max_msg, RLX) != ch->max_msg ||
	    atomic_load_explicit(&ch->c->index, RLX) != e.index ||
	    atomic_load_explicit(&ch->c->gen, RLX) != ch->gen)
		return -EPROTO;
	return 0;
}

/* The peer's epoch says it detached.  That is a clean end (-EPIPE) only if
 * everything that says so holds: the layout, our entry and our block are
 * as at open, and the attach state is one a detach leaves (the epoch one
 * past an attached one whose info the peer had published).  Otherwise the
 * error naming what is corrupt.  0 if the peer came back meanwhile. */
static int confirm_gone(ivshmem_chan *ch)
{
	int r = check_block(ch);
	if (r < 0)
		return fail(ch, r);
	if ((r = check_epochs(ch)) < 0)
		return r;
	if (!peer_gone(ch))
		return 0;
	uint32_t info = atomic_load_explicit(&ch->peer->info_epoch, ACQ);
	/* A new attach between the two reads (epoch first, then its info)
	 * is a restart, not corruption: look again. */
	if (atomic_load_explicit(&ch->peer->epoch, ACQ) != ch->peer_epoch)
		return 0;
	if (info != ch->peer_epoch - 1)
		return fail(ch, -EPROTO);
	return -EPIPE;
}

/* Slow checks while waiting: re-formatted region, deleted channel, crashed
 * peer. */
static int check_slow(ivshmem_chan *ch, uint64_t deadline)
{
	struct ivs_layout_hdr *h = (struct ivs_layout_hdr *)ch->mem;
	if (atomic_load_explicit(&h->magic, ACQ) != IVS_LAYOUT_MAGIC ||
	    atomic_load_explicit(&h->generation, RLX) != ch->gen ||
	    atomic_load_explicit(&ch->c->instance, RLX) != ch->instance)
		return fail(ch, -ESTALE);
	uint64_t now = ivs_now_ns();
	if (now - ch->last_reap < REAP_EVERY_NS)
		return 0;
	ch->last_reap = now;
	uint32_t e = atomic_load_explicit(&ch->peer->epoch, ACQ);
	if (!(e & 1) || atomic_load_explicit(&ch->peer->info_epoch, ACQ) != e)
		return 0;
	int max = IVS_CATCH_UP_MAX_MS; /* no deadline */
	if (deadline == CHECK_NOW)
		max = IVS_CATCH_UP_MIN_MS;
	else if (deadline)
		max = IVS_MAX(IVS_MIN(ivs_remaining_ms(deadline), max), IVS_CATCH_UP_MIN_MS);
	bool dead = ivs_side_dead(ch->ep, ch->host, ch->peer, e, &ch->watch, &ch->watch_epoch, max);
	if (dead) {
		/* Detach it on its behalf, so that its role is free again; but
		 * it did not end cleanly (and the pid that says it is dead may
		 * be scribbled): say that it died, once.  Later calls see a
		 * detached peer. */
		uint32_t want = e;
		bool reaped =
			atomic_compare_exchange_strong_explicit(&ch->peer->epoch, &want, e + 1, SC, RLX);
		int r = check_epochs(ch);
		return r < 0 ? r : reaped ? -EOWNERDEAD : 0;
	}
	return 0;
}

/* ---- wakeups ---------------------------------------------------------- */

/* The peer is attached and its attach info is published. */
static bool peer_ready(const ivshmem_chan *ch)
{
	uint32_t e = atomic_load_explicit(&ch->peer->epoch, ACQ);
	return (e & 1) && atomic_load_explicit(&ch->peer->info_epoch, ACQ) == e;
}

/* How the peer can be woken / how we may sleep, from the peer's info. */
static int method(ivshmem_chan *ch, bool for_sleep)
{
	return ivs_wake_method(ch->caps, ch->host, ch->peer, for_sleep);
}

static void kick(ivshmem_chan *ch)
{
	if (!ivs_wake_kick(ch->ep, method(ch, false), ch->peer, ch->peer_ev))
		return;
	ch->n_rings++;
	atomic_store_explicit(&ch->me->rings, atomic_load_explicit(&ch->me->rings, RLX) + 1, RLX);
}

/* Our publishes follow the peer's attach info of one epoch: a producer
 * may skip the fence after a commit when both of us are membarrier users
 * on this host (the consumer issues one before it sleeps, which orders our
 * store before its look, or its event index before our load).  We then say in
 * our side's acked word whose info we follow.  A view that is stale (the
 * peer restarted elsewhere and we haven't looked yet) is harmless: a
 * sleeper sleeps long only once acked names its epoch (arm).  Called for
 * every new peer epoch; detached or not published yet: fence. */
static void follow_peer(ivshmem_chan *ch)
{
	uint32_t e = ch->peer_epoch;
	ch->skip_fence = false;
	if ((e & 1) && atomic_load_explicit(&ch->peer->info_epoch, ACQ) != e)
		return; /* its info is not out yet: look again at the next call */
	ch->follow_epoch = e;
	if (!(e & 1))
		return;
	uint32_t caps = atomic_load_explicit(&ch->peer->caps, RLX);
	uint64_t host = atomic_load_explicit(&ch->peer->host, RLX);
	/* The producer only: a consumer without its fence catches up with the
	 * producer and both then stall on lines the other is writing (64 B
	 * messages: about half the throughput, docs/channels.md). */
	ch->skip_fence = ch->role == IVSHMEM_CHAN_PRODUCER && (ch->caps & IVS_SIDE_MEMBARRIER) &&
			 (caps & IVS_SIDE_MEMBARRIER) && host == ch->host;
	atomic_store_explicit(&ch->me->acked, (uint64_t)ch->my_epoch << 32 | e, REL);
	/* A publish made on the stale view may have missed the peer's arm,
	 * and no later publish crosses it again: with a fence after both,
	 * either the peer's re-check after its arm saw our publish, or we see
	 * its event index now and kick.  (A spurious kick is harmless.)  This
	 * is also open's kick of a peer already waiting. */
	atomic_thread_fence(SC);
	if (atomic_load_explicit(&ch->peer_ev->idx, RLX) != UINT64_MAX)
		kick(ch);
}

/* After publishing our index moving from old to now: kick the peer if it
 * asked to be woken when we pass its event index. */
static void notify(ivshmem_chan *ch, uint64_t old, uint64_t now)
{
	if (ch->skip_fence)
		atomic_signal_fence(SC); /* the peer's membarrier is the other half */
	else
		atomic_thread_fence(SC);
	uint64_t ev = atomic_load_explicit(&ch->peer_ev->idx, RLX);
	if (now - ev - 1 < now - old)
		kick(ch);
}

/* ---- queue core (no waiting) ----------------------------------------- */

/* Consumer: refresh tail_cache.  0 or -EBADMSG. */
static int load_tail(ivshmem_chan *ch)
{
	uint64_t t = atomic_load_explicit(&ch->c->tail, ACQ);
	if ((t & 7) || t - ch->head > ch->ring_size || t - ch->head < ch->tail_cache - ch->head)
		return fail(ch, -EBADMSG);
	ch->tail_cache = t;
	return 0;
}

/* Producer: refresh head_cache.  0 or -EBADMSG. */
static int load_head(ivshmem_chan *ch)
{
	uint64_t h = atomic_load_explicit(&ch->c->head, ACQ);
	/* Never past what we published (commit_more's records are not). */
	if ((h & 7) || ch->tail - h > ch->ring_size || h - ch->head_cache > ch->tail_pub - ch->head_cache)
		return fail(ch, -EBADMSG);
	ch->head_cache = h;
	return 0;
}

/* Consumer: the record at index h, padding before it skipped, within the
 * tail we have (reloaded once when it ends at h).  Each length and tag is
 * read once and bounds-checked.  1 (*at: the record's start, *len, *end),
 * 0 nothing at h, -EBADMSG. */
static int locate(ivshmem_chan *ch, uint64_t h, uint64_t *at, uint32_t *len, uint64_t *end)
{
	for (int step = 0; step < 2; step++) {
		if (ch->tail_cache == h) {
			int r = load_tail(ch);
			if (r < 0)
				return r;
			if (ch->tail_cache == h)
				return step ? fail(ch, -EBADMSG) : 0; /* padding without a record */
		}
		uint64_t avail = ch->tail_cache - h;
		uint64_t pos = h & ch->mask;
		if (avail < IVS_REC_HDR)
			return fail(ch, -EBADMSG);
		uint32_t n = __atomic_load_n(word_at(ch, h, 0), __ATOMIC_RELAXED);
		uint32_t tag = __atomic_load_n(word_at(ch, h, 4), __ATOMIC_RELAXED);
		if (tag != rec_tag(ch, h))
			return fail(ch, -EBADMSG);
		if (n == IVS_REC_PAD) {
			uint64_t pad = ch->ring_size - pos;
			if (pos == 0 || pad > avail)
				return fail(ch, -EBADMSG);
			h += pad;
			continue;
		}
		uint64_t rec = IVS_REC_HDR + ivs_align8(n);
		if (n > ch->max_msg || rec > avail || pos + rec > ch->ring_size)
			return fail(ch, -EBADMSG);
		*at = h;
		*len = n;
		*end = h + rec;
		return 1;
	}
	return fail(ch, -EBADMSG);
}

/* Consumer: peek the record at head: 1, 0 none yet, -EBADMSG.  No
 * liveness checks: try_peek makes them. */
static int peek_first(ivshmem_chan *ch)
{
	uint64_t at, end;
	uint32_t len;
	int r = locate(ch, ch->head, &at, &len, &end);
	if (r <= 0)
		return r;
	ch->head = at; /* skipped padding is published with the release */
	ch->peek_len = len;
	ch->peek_first_end = ch->peek_next = end;
	ch->peek_count = 1;
	ch->peek_bytes = len;
	ch->peeked = true;
	return 1;
}

/* Consumer: after a single peek, only the first message is peeked (a
 * release then releases it alone): a batch peeked before is cut back. */
static void peek_one(ivshmem_chan *ch)
{
	ch->peek_count = 1;
	ch->peek_next = ch->peek_first_end;
	ch->peek_bytes = ch->peek_len;
}

/* Consumer: locate the next message.  1 (peek_* set), 0 empty, -errno. */
static int try_peek(ivshmem_chan *ch)
{
	if (ch->broken)
		return ch->broken;
	if (ch->peeked)
		return 1;
	int r = check_epochs(ch);
	if (r < 0)
		return r;
	if ((r = peek_first(ch)) != 0)
		return r;
	/* Empty: re-read the peer's epoch after the empty tail (a detach
	 * published after its last message). */
	if ((r = check_epochs(ch)) < 0)
		return r;
	if (!peer_gone(ch))
		return 0;
	if ((r = load_tail(ch)) < 0)
		return r;
	if (ch->tail_cache == ch->head)
		return confirm_gone(ch);
	return (r = peek_first(ch)) != 0 ? r : fail(ch, -EBADMSG);
}

/* Consumer: publish the release of the first peeked record (all: false)
 * or of all of them. */
static void do_release(ivshmem_chan *ch, bool all)
{
	uint64_t old = ch->head_pub;
	uint64_t n = all ? ch->peek_count : 1;
	ch->head = all ? ch->peek_next : ch->peek_first_end;
	ch->head_pub = ch->head;
	ch->peeked = false; /* after a first-only release, the rest is located again */
	ch->head_msgs += n;
	ch->n_msgs += n;
	ch->n_bytes += all ? ch->peek_bytes : ch->peek_len;
	atomic_store_explicit(&ch->c->head_msgs, ch->head_msgs, RLX);
	atomic_store_explicit(&ch->c->head, ch->head, REL);
	notify(ch, old, ch->head);
}

/* Producer: bytes a record of len bytes takes at the tail (padding too). */
static uint64_t need_bytes(const ivshmem_chan *ch, size_t len)
{
	uint64_t rec = IVS_REC_HDR + ivs_align8(len);
	uint64_t pos = ch->tail & ch->mask;
	return (pos + rec > ch->ring_size ? ch->ring_size - pos : 0) + rec;
}

/* Producer's event index while waiting for room: the consumer wakes us when
 * its head passes this, i.e. reaches the first head at which len bytes fit
 * (not at every release: a release that frees too little is no reason to
 * wake).  Both indices are 8-aligned, so "passes X - 8" is "reaches X".
 * Only used after try_reserve() found the ring full (X > head_cache). */
static uint64_t room_index(const ivshmem_chan *ch, size_t len)
{
	uint64_t x = ch->tail + need_bytes(ch, len) - ch->ring_size;
	return x - ch->head_cache > ch->tail - ch->head_cache ? ch->head_cache : x - IVS_REC_HDR;
}

/* Producer: room for len bytes at the tail, without liveness checks.  1
 * (res_* set), 0 full, -EBADMSG. */
static int reserve_room(ivshmem_chan *ch, size_t len)
{
	int r;
	uint64_t rec = IVS_REC_HDR + ivs_align8(len);
	uint64_t pos = ch->tail & ch->mask;
	uint64_t pad = pos + rec > ch->ring_size ? ch->ring_size - pos : 0;
	uint64_t need = pad + rec;
	if (ch->tail + need - ch->head_cache > ch->ring_size) {
		if ((r = load_head(ch)) < 0)
			return r;
		if (ch->tail + need - ch->head_cache > ch->ring_size)
			return 0;
	}
	if (pad) {
		__atomic_store_n(word_at(ch, ch->tail, 0), IVS_REC_PAD, __ATOMIC_RELAXED);
		__atomic_store_n(word_at(ch, ch->tail, 4), rec_tag(ch, ch->tail), __ATOMIC_RELAXED);
	}
	ch->res_start = ch->tail + pad;
	ch->res_cap = len;
	ch->reserved = true;
	return 1;
}

/* Producer: find room for len bytes.  1 (res_* set), 0 full, -errno. */
static int try_reserve(ivshmem_chan *ch, size_t len)
{
	int r = check_epochs(ch);
	if (r < 0)
		return r;
	if (peer_gone(ch) && (r = confirm_gone(ch)) != 0)
		return r;
	return reserve_room(ch, len);
}

/* Producer: write the reserved record's header, len bytes long, and move
 * our tail past it (published by publish()). */
static void finish(ivshmem_chan *ch, size_t len)
{
	uint64_t s = ch->res_start;
	__atomic_store_n(word_at(ch, s, 0), (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(word_at(ch, s, 4), rec_tag(ch, s), __ATOMIC_RELAXED);
	ch->tail = s + IVS_REC_HDR + ivs_align8(len);
	ch->reserved = false;
	ch->tail_msgs++;
	ch->n_msgs++;
	ch->n_bytes += len;
}

/* Producer: publish the tail (every record finished since the last
 * publish, in one store) and wake the consumer if it waits for it. */
static void publish(ivshmem_chan *ch)
{
	uint64_t old = ch->tail_pub;
	if (old == ch->tail)
		return;
	ch->tail_pub = ch->tail;
	atomic_store_explicit(&ch->c->tail_msgs, ch->tail_msgs, RLX);
	atomic_store_explicit(&ch->c->tail, ch->tail, REL);
	/* The next records' lines were last read by the consumer, on another
	 * core: ask for them in exclusive state now, so small messages don't
	 * wait for that transfer one store at a time.  Never past the
	 * consumer's head (it may still be reading there). */
	uint64_t ahead = ch->tail + PREFETCH_AHEAD;
	if (ahead - ch->head_cache <= ch->ring_size)
		ivs_prefetch_w(ch->ring + (ahead & ch->mask));
	notify(ch, old, ch->tail);
}

/* Our role and our channel are still ours: not taken over (a new producer
 * resumes at the published tail, past which nothing is ours to publish),
 * not deleted (the block may hold another channel), not re-formatted. */
static bool ours(const ivshmem_chan *ch)
{
	return atomic_load_explicit(&ch->me->epoch, RLX) == ch->my_epoch && !gone(ch);
}

/* Producer: publish what commit_more left, if it is still ours to (and
 * nothing made the handle fail since: as commit and flush). */
static void flush_pending(ivshmem_chan *ch)
{
	if (ch->tail != ch->tail_pub && !ch->broken && ours(ch))
		publish(ch);
}

/* ---- waiting ---------------------------------------------------------- */

/* Publish "wake me when you pass X", the barrier, then re-check.  A
 * consumer that is a membarrier user issues a membarrier (a producer on
 * this host may have skipped its fence; consumers never skip theirs).  *may_sleep: the peer follows our attach info
 * (acked names the peer's and our epoch; read after the barrier, before
 * the re-check), so a long sleep is safe; else the caller only polls.
 * Returns the result of the re-check (1 ready, 0 armed, -errno). */
static int arm(ivshmem_chan *ch, size_t len, uint32_t *futex_val, bool *may_sleep)
{
	if (futex_val)
		*futex_val = atomic_load_explicit(&ch->my_ev->futex, SC);
	if (ch->role == IVSHMEM_CHAN_CONSUMER)
		atomic_store_explicit(&ch->my_ev->idx, ch->head, RLX);
	else
		atomic_store_explicit(&ch->my_ev->idx, room_index(ch, len), RLX);
	atomic_thread_fence(SC);
	*may_sleep = true;
	if ((ch->caps & IVS_SIDE_MEMBARRIER) && ch->role == IVSHMEM_CHAN_CONSUMER) {
		/* Refused after we registered (a seccomp filter installed
		 * since): a producer may skip its fence for us, so we can only
		 * back off; the event loop's arm reports it. */
		ch->mb_err = ivs_membarrier();
		*may_sleep = ch->mb_err == 0;
	}
	uint32_t pe = atomic_load_explicit(&ch->peer->epoch, ACQ);
	uint64_t acked = atomic_load_explicit(&ch->peer->acked, ACQ);
	if (acked != ((uint64_t)pe << 32 | ch->my_epoch))
		*may_sleep = false;
	return ch->role == IVSHMEM_CHAN_CONSUMER ? try_peek(ch) : try_reserve(ch, len);
}

static int try_op(ivshmem_chan *ch, size_t len)
{
	return ch->role == IVSHMEM_CHAN_CONSUMER ? try_peek(ch) : try_reserve(ch, len);
}

/* After sleeping: withdraw the event index so a later publish doesn't kick
 * a side that is no longer asleep. */
static int disarm(ivshmem_chan *ch, int r)
{
	atomic_store_explicit(&ch->my_ev->idx, UINT64_MAX, RLX);
	return r;
}

/* Woken with what we waited for: adapt the spin (ivs_spin_adapt). */
static int woken(ivshmem_chan *ch, int r, uint64_t slept_from)
{
	if (r > 0)
		ivs_spin_adapt(&ch->spin, slept_from);
	return disarm(ch, r);
}

/* wait_op after its first try found nothing: flush, spin, sleep.  Out of
 * line, so that the call that finds its message or room at once pays for
 * none of it. */
static __attribute__((noinline)) int wait_slow(ivshmem_chan *ch, size_t len, int timeout_ms)
{
	int r;
	/* Full: what we committed with commit_more may be what the consumer
	 * waits for, and is what frees the room. */
	if (ch->role == IVSHMEM_CHAN_PRODUCER)
		flush_pending(ch);
	if (timeout_ms == 0)
		return -EAGAIN;
	/* One absolute deadline for the whole call: nothing the peer does
	 * (restarts, wakeups, flapping state) moves it. */
	uint64_t start = ivs_now_ns();
	uint64_t deadline = timeout_ms < 0 ? 0 : start + (uint64_t)timeout_ms * 1000000ull;
	if (ch->spin.ns) {
		for (unsigned i = 0;; i++) {
			for (int k = 0; k < 16; k++)
				ivs_cpu_relax();
			if ((r = try_op(ch, len)) != 0) {
				ch->n_spins++;
				return r;
			}
			if ((i & 15) == 15) {
				uint64_t now = ivs_now_ns();
				if (now - start > ch->spin.cur || (deadline && now >= deadline))
					break;
			}
		}
	}
	uint64_t backoff = 10000, slept_from = ivs_now_ns();
	for (;;) {
		if ((r = check_slow(ch, deadline)) < 0)
			return disarm(ch, r);
		/* A peer that is not attached (yet) cannot wake us by the
		 * method it will choose, so we back off up to IDLE_MAX_NS.
		 * Meanwhile we sleep where its wakeups can reach us (our
		 * doorbell, else our futex word): its first publish (our
		 * event index is armed) or its attach (open kicks an armed
		 * peer) then ends the sleep at once. */
		int m = method(ch, true);
		bool absent = !peer_ready(ch);
		int how = m;
		if (absent)
			how = (ch->caps & IVS_SIDE_DOORBELL) ? IVSHMEM_CHAN_WAKE_DOORBELL
			      : (ch->caps & IVS_SIDE_FUTEX) ? IVSHMEM_CHAN_WAKE_FUTEX
							     : IVSHMEM_CHAN_WAKE_POLL;
		if (how == IVSHMEM_CHAN_WAKE_DOORBELL)
			ivshmem_vector_ack(ch->ep, ch->vector);
		uint32_t fv;
		bool may_sleep;
		if ((r = arm(ch, len, &fv, &may_sleep)) != 0)
			return woken(ch, r, slept_from);
		int rem = ivs_remaining_ms(deadline);
		if (deadline && rem == 0)
			return disarm(ch, -ETIMEDOUT);
		int slice = rem < 0 || rem > ch->slice_ms ? ch->slice_ms : rem;
		ch->wake = m;
		ch->n_sleeps++;
		atomic_store_explicit(&ch->me->sleeps, atomic_load_explicit(&ch->me->sleeps, RLX) + 1, RLX);
		if (!absent && may_sleep && m != IVSHMEM_CHAN_WAKE_POLL) {
			ivs_wake_sleep(m, &ch->my_ev->futex, fv, ch->vec_fd, slice, &ch->ws);
		} else {
			/* Back off: no way to be woken (poll), the peer absent,
			 * or not following our attach info yet (arm: it has not
			 * looked since it or we came; its wakeups reach us). */
			ch->ws.polls++;
			uint64_t cap = how == IVSHMEM_CHAN_WAKE_POLL && !absent ? POLL_MAX_NS : IDLE_MAX_NS;
			uint64_t ns = backoff < cap ? backoff : cap;
			if (deadline) {
				uint64_t now = ivs_now_ns();
				if (deadline > now && deadline - now < ns)
					ns = deadline - now;
			}
			struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
			if (how == IVSHMEM_CHAN_WAKE_DOORBELL)
				ivs_poll1(ch->vec_fd, POLLIN, (int)((ns + 999999) / 1000000));
			else if (how == IVSHMEM_CHAN_WAKE_FUTEX)
				ivs_futex(&ch->my_ev->futex, FUTEX_WAIT, fv, &ts);
			else
				nanosleep(&ts, NULL);
			backoff = backoff * 2 > cap ? cap : backoff * 2;
		}
		if ((r = try_op(ch, len)) != 0)
			return woken(ch, r, slept_from);
	}
}

/* Wait up to timeout_ms (-1: forever, 0: not at all) for a message
 * (consumer) or room for len bytes (producer).  1 (peek_* / res_* set),
 * -EAGAIN, -ETIMEDOUT, -errno. */
static inline int wait_op(ivshmem_chan *ch, size_t len, int timeout_ms)
{
	int r = try_op(ch, len);
	return r != 0 ? r : wait_slow(ch, len, timeout_ms);
}

/* ---- open / close ----------------------------------------------------- */

static int attach(ivshmem_chan *ch, unsigned flags)
{
	struct ivs_side *me = ch->me;
	uint32_t next;
	int r = ivs_side_claim(me, flags & IVSHMEM_CHAN_EXCLUSIVE, &next);
	if (r < 0)
		return r;
	ch->my_epoch = next;
	/* A concurrent delete clears the magic, then re-reads the epochs;
	 * we CASed the epoch, now re-read the magic (both seq_cst): one of
	 * us sees the other.  Also catches a block deleted and reused by a
	 * new channel since we validated it. */
	if (atomic_load_explicit(&ch->c->magic, SC) != IVS_CHAN_MAGIC ||
	    atomic_load_explicit(&ch->c->instance, SC) != ch->instance) {
		ivs_side_leave(me, next);
		return -ENOENT;
	}
	ivs_side_publish(me, ch->my_ev, ch->ep, ch->vector, ch->caps, ch->host, next);
	atomic_thread_fence(SC);
	return 0;
}

static int open_common(ivshmem_chan *ch, const char *name, int role, const struct ivshmem_chan_opts *opts)
{
	unsigned flags = opts ? opts->flags : 0;
	if (flags & ~(IVSHMEM_CHAN_EXCLUSIVE | IVSHMEM_CHAN_NO_FUTEX))
		return -EINVAL;
	if (role != IVSHMEM_CHAN_MONITOR && role != IVSHMEM_CHAN_PRODUCER && role != IVSHMEM_CHAN_CONSUMER)
		return -EINVAL;
	if (!name || !*name || strlen(name) >= IVS_NAME_MAX)
		return -EINVAL;
	struct ivs_layout_view v;
	int r = ivs_layout_read(ch->mem, ch->size, &v);
	if (r == -ENOMSG)
		return -ENOENT;
	if (r < 0)
		return r;
	struct ivs_entry_view e;
	if ((r = ivs_layout_find(ch->mem, ch->size, &v, name, &e)) < 0)
		return r;
	if (e.kind != IVSHMEM_KIND_CHANNEL)
		return -EPROTOTYPE;
	struct ivs_chan_ctrl *c = (struct ivs_chan_ctrl *)(ch->mem + e.offset);
	if (atomic_load_explicit(&c->magic, ACQ) != IVS_CHAN_MAGIC ||
	    atomic_load_explicit(&c->ring_size, RLX) != e.ring_size ||
	    atomic_load_explicit(&c->max_msg, RLX) != e.max_msg ||
	    atomic_load_explicit(&c->index, RLX) != e.index || atomic_load_explicit(&c->gen, RLX) != v.generation) {
		/* Deleted while we looked (the magic goes first)? */
		struct ivs_entry_view e2;
		if (ivs_layout_find(ch->mem, ch->size, &v, name, &e2) == -ENOENT)
			return -ENOENT;
		return -EPROTO;
	}
	ch->instance = atomic_load_explicit(&c->instance, RLX);
	ch->tag_salt = ivs_tag_salt(ch->instance);
	ch->c = c;
	ch->ring = ch->mem + e.offset + IVS_CHAN_CTRL;
	ch->ring_size = e.ring_size;
	ch->mask = e.ring_size - 1;
	ch->max_msg = e.max_msg;
	ch->gen = v.generation;
	memcpy(ch->name, e.name, sizeof(ch->name));
	ch->role = role;
	ch->vector = opts ? opts->vector : 0;
	ivs_spin_init(&ch->spin, opts != NULL, opts ? opts->spin_us : 0);
	ch->slice_ms = SLICE_MS;
	ch->host = ivs_host_token();
	ch->vec_fd = -1;
	if (role == IVSHMEM_CHAN_MONITOR)
		return 0;
	if (ch->ep && ivshmem_mem_readonly(ch->ep) == 1)
		return -EROFS;
	bool prod = role == IVSHMEM_CHAN_PRODUCER;
	ch->me = prod ? &c->prod : &c->cons;
	ch->peer = prod ? &c->cons : &c->prod;
	ch->my_ev = prod ? &c->prod_ev : &c->cons_ev;
	ch->peer_ev = prod ? &c->cons_ev : &c->prod_ev;

	ch->caps = ivs_side_caps(ch->ep, ch->vector, ch->host, flags & IVSHMEM_CHAN_NO_FUTEX, &ch->vec_fd);
	if (ch->host && ivs_membarrier_ready())
		ch->caps |= IVS_SIDE_MEMBARRIER;

	/* Resume from the published indices (validated). */
	uint64_t head = atomic_load_explicit(&c->head, ACQ);
	uint64_t tail = atomic_load_explicit(&c->tail, ACQ);
	if ((head & 7) || (tail & 7) || tail - head > ch->ring_size)
		return -EBADMSG;
	if ((r = attach(ch, flags)) < 0)
		return r;
	/* Re-read after attaching: the old owner may have published since. */
	head = atomic_load_explicit(&c->head, ACQ);
	tail = atomic_load_explicit(&c->tail, ACQ);
	if ((head & 7) || (tail & 7) || tail - head > ch->ring_size)
		r = -EBADMSG;
	if (prod) {
		ch->tail = tail;
		ch->tail_pub = tail;
		ch->head_cache = head;
		ch->tail_msgs = atomic_load_explicit(&c->tail_msgs, RLX);
	} else {
		ch->head = head;
		ch->head_pub = head;
		ch->tail_cache = head;
		ch->head_msgs = atomic_load_explicit(&c->head_msgs, RLX);
	}
	ch->peer_epoch = atomic_load_explicit(&ch->peer->epoch, ACQ);
	ch->peer_seen = ch->peer_epoch & 1;
	if (r < 0) {
		ivs_side_leave(ch->me, ch->my_epoch);
		return r;
	}
	/* follow_peer kicks a peer already waiting (its event index armed):
	 * it may be backing off without a wakeup it can count on, and re-checks
	 * now, from then on sleeping on the futex or doorbell we can reach. */
	ch->follow_epoch = ch->peer_epoch + 1; /* not followed yet */
	follow_peer(ch);
	return 0;
}

static int open_mem(ivshmem_ep *ep, void *mem, size_t size, const char *name, int role,
		    const struct ivshmem_chan_opts *opts, ivshmem_chan **out)
{
	if (!out || !mem)
		return -EINVAL;
	ivshmem_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->ep = ep;
	ch->mem = mem;
	ch->size = size;
	int r = open_common(ch, name, role, opts);
	if (r < 0) {
		free(ch);
		return r;
	}
	*out = ch;
	return 0;
}

int ivs_chan_open_mem(void *mem, size_t size, const char *name, int role, unsigned flags, ivshmem_chan **out)
{
	struct ivshmem_chan_opts o = {.flags = flags, .spin_us = -1};
	return open_mem(NULL, mem, size, name, role, &o, out);
}

int ivshmem_chan_open(ivshmem_ep *ep, const char *name, enum ivshmem_chan_role role,
		      const struct ivshmem_chan_opts *opts, ivshmem_chan **out)
{
	if (!ep)
		return -EINVAL;
	if (opts && (opts->vector >= IVSHMEM_MAX_VECTORS || !ivs_all_zero(opts->reserved, sizeof(opts->reserved))))
		return -EINVAL;
	if (!ivshmem_mem(ep))
		return -ENOTSUP; /* opened with IVSHMEM_OPEN_NO_MAP */
	return open_mem(ep, ivshmem_mem(ep), ivshmem_mem_size(ep), name, (int)role, opts, out);
}

ivshmem_chan *ivshmem_chan_close(ivshmem_chan *ch)
{
	if (!ch)
		return NULL;
	if (ch->me && atomic_load_explicit(&ch->me->epoch, RLX) == ch->my_epoch) {
		if (ch->role == IVSHMEM_CHAN_CONSUMER && ch->peeked)
			ch->peeked = false; /* not released: delivered again */
		if (ch->role == IVSHMEM_CHAN_PRODUCER)
			flush_pending(ch); /* committed with commit_more: sent */
		if (ivs_side_leave(ch->me, ch->my_epoch))
			kick(ch); /* a sleeping peer learns we left */
	}
	free(ch);
	return NULL;
}

/* ---- producer API ----------------------------------------------------- */

/* ivshmem_chan_reserve, and send's first half (a call inside the library,
 * not through the exported symbol). */
static inline int reserve(ivshmem_chan *ch, size_t len, void **ptr, int timeout_ms)
{
	if (!ch || !ptr)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_PRODUCER)
		return -EPERM;
	if (len > ch->max_msg)
		return -EMSGSIZE;
	ch->reserved = false;
	int r = wait_op(ch, len, timeout_ms);
	if (r < 0)
		return r;
	*ptr = ch->ring + (ch->res_start & ch->mask) + IVS_REC_HDR;
	return 0;
}

int ivshmem_chan_reserve(ivshmem_chan *ch, size_t len, void **ptr, int timeout_ms)
{
	return reserve(ch, len, ptr, timeout_ms);
}

static int commit(ivshmem_chan *ch, size_t len, bool now)
{
	if (!ch)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_PRODUCER)
		return -EPERM;
	if (!ch->reserved || len > ch->res_cap)
		return -EINVAL;
	int r = going_on(ch);
	if (r < 0)
		return r;
	finish(ch, len);
	if (now)
		publish(ch);
	return 0;
}

int ivshmem_chan_commit(ivshmem_chan *ch, size_t len)
{
	return commit(ch, len, true);
}

int ivshmem_chan_commit_more(ivshmem_chan *ch, size_t len)
{
	return commit(ch, len, false);
}

int ivshmem_chan_flush(ivshmem_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_PRODUCER)
		return -EPERM;
	int r = going_on(ch);
	if (r < 0)
		return r;
	publish(ch);
	return 0;
}

int ivshmem_chan_send(ivshmem_chan *ch, const void *buf, size_t len, int timeout_ms)
{
	if (!ch || (!buf && len))
		return -EINVAL;
	void *p;
	int r = reserve(ch, len, &p, timeout_ms);
	if (r < 0)
		return r;
	if (len)
		memcpy(p, buf, len);
	/* reserve made this call's liveness checks; after the copy only the
	 * takeover check is needed before publishing (as send_batch): a peer
	 * restart meanwhile is the next call's to report, as after commit. */
	if (!ours(ch))
		return fail(ch, -ESTALE);
	finish(ch, len);
	publish(ch);
	return 0;
}

int ivshmem_chan_send_batch(ivshmem_chan *ch, const struct ivshmem_chan_msg *msgs, size_t n, int timeout_ms)
{
	if (!ch || !msgs || n == 0 || n > INT_MAX)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_PRODUCER)
		return -EPERM;
	/* All or nothing on bad arguments: nothing is sent. */
	for (size_t i = 0; i < n; i++) {
		if (!msgs[i].data && msgs[i].len)
			return -EINVAL;
		if (msgs[i].len > ch->max_msg)
			return -EMSGSIZE;
	}
	/* The first waits; the rest take what room there is (one head
	 * reload at most each), and one publish sends them all. */
	ch->reserved = false;
	int r = wait_op(ch, msgs[0].len, timeout_ms);
	if (r < 0)
		return r;
	size_t k = 0;
	do {
		if (msgs[k].len)
			memcpy(ch->ring + (ch->res_start & ch->mask) + IVS_REC_HDR, msgs[k].data, msgs[k].len);
		/* Taken over meanwhile (or deleted): the ring past the
		 * published tail is no longer ours to write or publish. */
		if (k && !ours(ch))
			return fail(ch, -ESTALE);
		finish(ch, msgs[k].len);
	} while (++k < n && reserve_room(ch, msgs[k].len) == 1);
	ch->reserved = false;
	/* A corrupt head met after the first message (reserve_room) comes
	 * out of the next call; these k are sent. */
	if (!ours(ch))
		return fail(ch, -ESTALE);
	publish(ch);
	return (int)k;
}

/* ---- consumer API ----------------------------------------------------- */

/* ivshmem_chan_peek, and recv's first half. */
static inline ssize_t peek(ivshmem_chan *ch, const void **ptr, int timeout_ms)
{
	if (!ch || !ptr)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_CONSUMER)
		return -EPERM;
	int r = wait_op(ch, 0, timeout_ms);
	if (r < 0)
		return r;
	peek_one(ch);
	*ptr = ch->ring + (ch->head & ch->mask) + IVS_REC_HDR;
	return (ssize_t)ch->peek_len;
}

ssize_t ivshmem_chan_peek(ivshmem_chan *ch, const void **ptr, int timeout_ms)
{
	return peek(ch, ptr, timeout_ms);
}

int ivshmem_chan_release(ivshmem_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_CONSUMER)
		return -EPERM;
	if (!ch->peeked)
		return -EINVAL;
	int r = going_on(ch);
	if (r < 0)
		return r;
	do_release(ch, true);
	return 0;
}

ssize_t ivshmem_chan_recv(ivshmem_chan *ch, void *buf, size_t cap, int timeout_ms)
{
	if (!ch || (!buf && cap))
		return -EINVAL;
	const void *p;
	ssize_t n = peek(ch, &p, timeout_ms);
	if (n < 0)
		return n;
	if ((size_t)n > cap)
		return -EMSGSIZE;
	if (n)
		memcpy(buf, p, (size_t)n);
	do_release(ch, false);
	return n;
}

/* Consumer: msgs[0..n) from the peeked first message on, extending the
 * peek by each further record that is there already: pointers into the
 * ring (copy false) or copies into msgs[i].data (at most msgs[i].cap
 * bytes: a longer message ends the batch).  Returns how many. */
static size_t gather(ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t n, bool copy)
{
	uint64_t at = ch->head, end = ch->peek_next;
	uint32_t len = ch->peek_len;
	size_t k = 0;
	for (;;) {
		unsigned char *p = ch->ring + (at & ch->mask) + IVS_REC_HDR;
		if (copy) {
			if (len > msgs[k].cap)
				break;
			if (len)
				memcpy(msgs[k].data, p, len);
		} else {
			msgs[k].data = p;
		}
		msgs[k].len = len;
		if (k) {
			ch->peek_next = end;
			ch->peek_count++;
			ch->peek_bytes += len;
		}
		if (++k == n)
			return k;
		/* A corrupt record ends the batch but does not fail the
		 * handle yet: the messages before it were validated and can
		 * be released; the next call meets it again (and fails). */
		int broken = ch->broken;
		if (locate(ch, ch->peek_next, &at, &len, &end) != 1) {
			ch->broken = broken;
			return k;
		}
	}
	return k;
}

/* The batch calls start at the released head: what an earlier peek left
 * peeked is returned again (the first as validated then, the rest located
 * again). */
static ssize_t batch_in(ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t n, int timeout_ms, bool copy)
{
	if (!ch || !msgs || n == 0 || n > INT_MAX)
		return -EINVAL;
	if (ch->role != IVSHMEM_CHAN_CONSUMER)
		return -EPERM;
	if (copy)
		for (size_t i = 0; i < n; i++)
			if (!msgs[i].data && msgs[i].cap)
				return -EINVAL;
	int r = wait_op(ch, 0, timeout_ms);
	if (r < 0)
		return r;
	peek_one(ch);
	size_t k = gather(ch, msgs, n, copy);
	if (!copy)
		return (ssize_t)k;
	if (k == 0)
		return -EMSGSIZE; /* the first is too long: it stays queued */
	do_release(ch, true);
	return (ssize_t)k;
}

ssize_t ivshmem_chan_recv_batch(ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t n, int timeout_ms)
{
	return batch_in(ch, msgs, n, timeout_ms, true);
}

ssize_t ivshmem_chan_peek_batch(ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t n, int timeout_ms)
{
	return batch_in(ch, msgs, n, timeout_ms, false);
}

/* ---- several channels on one vector ---------------------------------- */

int ivshmem_chan_arm(ivshmem_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->role == IVSHMEM_CHAN_MONITOR)
		return -EPERM;
	if (ch->role == IVSHMEM_CHAN_PRODUCER) {
		ch->reserved = false;
		flush_pending(ch); /* what commit_more left: the consumer may wait for it */
	}
	int r = check_slow(ch, CHECK_NOW);
	if (r < 0)
		return r;
	bool may_sleep;
	r = arm(ch, 0, NULL, &may_sleep);
	if (r == 0 && ch->mb_err)
		return ch->mb_err;
	/* The peer does not follow our attach yet: if it is waiting, a kick
	 * makes it look (and acknowledge) now; otherwise its next call does,
	 * and kicks us if we are armed (docs/channels.md, "Skipping the
	 * fence": the limit of arm). */
	if (r == 0 && !may_sleep && peer_ready(ch))
		kick(ch);
	return r < 0 ? r : r > 0;
}

int ivshmem_chan_fd(ivshmem_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->vec_fd < 0 || method(ch, true) != IVSHMEM_CHAN_WAKE_DOORBELL)
		return -ENOTSUP;
	return ch->vec_fd;
}

/* ---- stat ------------------------------------------------------------- */

int ivshmem_chan_stat(ivshmem_chan *ch, struct ivshmem_chan_stat *st)
{
	if (!ch || !st)
		return -EINVAL;
	struct ivs_chan_ctrl *c = ch->c;
	if (gone(ch))
		return fail(ch, -ESTALE); /* the numbers are no longer this channel's */
	struct ivshmem_chan_stat s;
	memset(&s, 0, sizeof(s));
	memcpy(s.name, ch->name, sizeof(s.name));
	s.role = ch->role;
	s.ring_size = ch->ring_size;
	s.max_msg = ch->max_msg;
	s.head = atomic_load_explicit(&c->head, ACQ);
	s.tail = atomic_load_explicit(&c->tail, ACQ);
	s.received = atomic_load_explicit(&c->head_msgs, RLX);
	s.sent = atomic_load_explicit(&c->tail_msgs, RLX);
	int r = 0;
	if ((s.head & 7) || (s.tail & 7) || s.tail - s.head > ch->ring_size)
		r = -EBADMSG;
	s.used = r ? 0 : s.tail - s.head;
	s.queued = s.sent - s.received <= s.used / IVS_REC_HDR ? s.sent - s.received : 0;
	s.producer_epoch = atomic_load_explicit(&c->prod.epoch, RLX);
	s.consumer_epoch = atomic_load_explicit(&c->cons.epoch, RLX);
	s.producer_attached = s.producer_epoch & 1;
	s.consumer_attached = s.consumer_epoch & 1;
	uint32_t pid = atomic_load_explicit(&c->prod.id, RLX);
	uint32_t cid = atomic_load_explicit(&c->cons.id, RLX);
	s.producer_id = s.producer_attached && pid < IVSHMEM_MAX_PEERS ? (int)pid : -1;
	s.consumer_id = s.consumer_attached && cid < IVSHMEM_MAX_PEERS ? (int)cid : -1;
	s.producer_rings = atomic_load_explicit(&c->prod.rings, RLX);
	s.consumer_rings = atomic_load_explicit(&c->cons.rings, RLX);
	s.producer_sleeps = atomic_load_explicit(&c->prod.sleeps, RLX);
	s.consumer_sleeps = atomic_load_explicit(&c->cons.sleeps, RLX);
	s.messages = ch->n_msgs;
	s.bytes = ch->n_bytes;
	s.rings = ch->n_rings;
	s.sleeps = ch->n_sleeps;
	s.spins = ch->n_spins;
	s.wake = ch->wake;
	s.fence_skipped = ch->skip_fence;
	if (!r && ch->broken)
		r = ch->broken;
	if (r == 0)
		*st = s; /* untouched on failure, as every output */
	return r;
}

void ivs_chan_set_slice(ivshmem_chan *ch, int ms)
{
	ch->slice_ms = ms > 0 ? ms : SLICE_MS;
}

int ivs_chan_wait_stats(const ivshmem_chan *ch, struct ivs_chan_wait_stats *ws)
{
	if (!ch || !ws)
		return -EINVAL;
	*ws = ch->ws;
	return 0;
}

/* ---- layout API ------------------------------------------------------- */

/* May the layout calls change ep's region?  0, -EINVAL (no endpoint),
 * -ENOTSUP (not mapped: IVSHMEM_OPEN_NO_MAP), -EROFS (mapped read-only). */
static int writable_region(ivshmem_ep *ep)
{
	if (!ep)
		return -EINVAL;
	if (!ivshmem_mem(ep))
		return -ENOTSUP;
	return ivshmem_mem_readonly(ep) == 1 ? -EROFS : 0;
}

int ivshmem_layout_init(ivshmem_ep *ep)
{
	int r = writable_region(ep);
	if (r < 0)
		return r;
	return ivs_layout_format(ivshmem_mem(ep), ivshmem_mem_size(ep));
}

struct alive_arg {
	ivshmem_ep *ep;
	uint64_t host;
};

static bool side_alive(void *arg, struct ivs_side *s, uint32_t epoch)
{
	struct alive_arg *a = arg;
	/* No watch began for this side: any leave of its ID the endpoint has
	 * read is evidence, once the socket is read until quiet and the ID is
	 * still not listed (a server reusing IDs may have a new peer on its
	 * way). */
	uint32_t id = atomic_load_explicit(&s->id, RLX);
	struct ivs_peer_watch w = {id, 0, false};
	return !ivs_side_dead(a->ep, a->host, s, epoch, &w, NULL, IVS_CATCH_UP_MIN_MS);
}

int ivs_chan_delete_mem(void *mem, size_t size, const char *name)
{
	struct alive_arg a = {NULL, ivs_host_token()};
	return ivs_layout_delete(mem, size, name, side_alive, &a);
}

int ivshmem_chan_delete(ivshmem_ep *ep, const char *name)
{
	int r = writable_region(ep);
	if (r < 0)
		return r;
	struct alive_arg a = {ep, ivs_host_token()};
	return ivs_layout_delete(ivshmem_mem(ep), ivshmem_mem_size(ep), name, side_alive, &a);
}

int ivshmem_chan_list(ivshmem_ep *ep, struct ivshmem_chan_info *out, size_t max)
{
	if (!ep || (!out && max))
		return -EINVAL;
	void *mem = ivshmem_mem(ep);
	size_t size = ivshmem_mem_size(ep);
	if (!mem)
		return -ENOTSUP;
	struct ivs_layout_view v;
	int r = ivs_layout_read(mem, size, &v);
	if (r == -ENOMSG)
		return 0;
	if (r < 0)
		return r;
	struct ivshmem_chan_info *all = calloc(v.max_chans, sizeof(*all));
	if (!all)
		return -ENOMEM;
	unsigned n = 0;
	for (unsigned i = 0; i < v.max_chans; i++) {
		struct ivs_entry_view e;
		r = ivs_layout_entry(mem, size, &v, i, &e);
		if (r < 0) {
			free(all);
			return r;
		}
		if (r == 0)
			continue;
		_Static_assert(sizeof(all->name) == IVS_NAME_MAX, "name sizes");
		memcpy(all[n].name, e.name, sizeof(all[n].name));
		all[n].name[sizeof(all[n].name) - 1] = 0;
		all[n].offset = e.offset;
		all[n].ring_size = e.ring_size;
		all[n].max_msg = e.max_msg;
		all[n].kind = e.kind;
		n++;
	}
	if (out && n && max)
		memcpy(out, all, IVS_MIN((size_t)n, max) * sizeof(*all));
	free(all);
	return (int)n;
}

int ivshmem_chan_create(ivshmem_ep *ep, const char *name, size_t size, size_t max_msg)
{
	int r = writable_region(ep);
	if (r < 0)
		return r;
	uint64_t ring = size;
	if (!ring) { /* 1 MiB, or a quarter of a small region */
		ring = 1u << 20;
		while (ring > IVS_CHAN_MIN_RING && ring > ivshmem_mem_size(ep) / 4)
			ring >>= 1;
	}
	if (ring > IVS_CHAN_MAX_RING)
		return -EINVAL;
	uint64_t p2 = IVS_CHAN_MIN_RING;
	while (p2 < ring)
		p2 <<= 1;
	if (max_msg == 0)
		max_msg = IVS_MIN((uint64_t)65536, p2 / 2 - IVS_REC_HDR);
	if (max_msg > UINT32_MAX)
		return -EINVAL;
	return ivs_layout_create(ivshmem_mem(ep), ivshmem_mem_size(ep), name, p2, (uint32_t)max_msg,
				 ivshmem_id(ep));
}
