/* SPDX-License-Identifier: MIT */
/* The region header and the table of channels (docs/channels.md).
 *
 * Readers never lock: an entry is written completely, then its state is
 * stored READY with release, and entries never change afterwards (until the
 * region is formatted again, which changes the generation).  Writers (format
 * an all-zero region, create) take the lock word in the header with a CAS; a
 * holder that died is detected by the word not changing for LOCK_STEAL_MS,
 * after which a waiter takes the lock over. */
#include "channel/channel.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct ivs_layout_hdr) == IVS_LAYOUT_HDR, "header size");
_Static_assert(sizeof(struct ivs_layout_entry) == IVS_LAYOUT_ENTRY, "entry size");
_Static_assert(IVS_LAYOUT_HDR + IVS_LAYOUT_NCHANS * IVS_LAYOUT_ENTRY <= IVS_LAYOUT_SIZE, "table");
_Static_assert(sizeof(struct ivs_chan_ctrl) == IVS_CHAN_CTRL, "control block size");
_Static_assert(offsetof(struct ivs_chan_ctrl, tail) == 64, "tail line");
_Static_assert(offsetof(struct ivs_chan_ctrl, prod) == 128, "prod line");
_Static_assert(offsetof(struct ivs_chan_ctrl, prod_ev) == 192, "prod_ev line");
_Static_assert(offsetof(struct ivs_chan_ctrl, head) == 256, "head line");
_Static_assert(offsetof(struct ivs_chan_ctrl, cons) == 320, "cons line");
_Static_assert(offsetof(struct ivs_chan_ctrl, cons_ev) == 384, "cons_ev line");
_Static_assert(offsetof(struct ivs_chan_ctrl, prod) == IVS_PARTY_SIDE(0) &&
		       offsetof(struct ivs_chan_ctrl, cons) == IVS_PARTY_SIDE(1), "parties");

#define LOCK_STEAL_MS 1000
#define LOCK_GIVEUP_MS 3000

#define RLX memory_order_relaxed
#define ACQ memory_order_acquire
#define REL memory_order_release

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

uint64_t ivs_host_token(void)
{
	static _Atomic uint64_t cached;
	uint64_t t = atomic_load_explicit(&cached, RLX);
	if (t)
		return t;
	char boot[64];
	struct stat st;
	if (ivs_read_text("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) <= 0 ||
	    stat("/proc/self/ns/pid", &st) < 0)
		return 0;
	t = fnv(0xcbf29ce484222325ull, boot, strlen(boot));
	t = fnv(t, &st.st_ino, sizeof(st.st_ino));
	t = fnv(t, &st.st_dev, sizeof(st.st_dev));
	if (!t)
		t = 1;
	atomic_store_explicit(&cached, t, RLX);
	return t;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = ivs_now_ns() ^ ((uint64_t)getpid() << 32);
	return v ? v : 1;
}

static struct ivs_layout_hdr *hdr_of(void *mem)
{
	return (struct ivs_layout_hdr *)mem;
}

static struct ivs_layout_entry *entry_of(void *mem, unsigned i)
{
	return (struct ivs_layout_entry *)((char *)mem + IVS_LAYOUT_HDR + (size_t)i * IVS_LAYOUT_ENTRY);
}

int ivs_layout_read(void *mem, size_t size, struct ivs_layout_view *v)
{
	if (!mem || size < IVS_LAYOUT_SIZE)
		return -EPROTO;
	struct ivs_layout_hdr *h = hdr_of(mem);
	uint64_t magic = atomic_load_explicit(&h->magic, ACQ);
	if (magic != IVS_LAYOUT_MAGIC) {
		if (magic != 0)
			return -EPROTO;
		/* No layout yet if everything but the lock word is zero. */
		const unsigned char *b = mem;
		for (size_t i = 0; i < IVS_LAYOUT_SIZE; i++)
			if (b[i] && (i < offsetof(struct ivs_layout_hdr, lock) ||
				     i >= offsetof(struct ivs_layout_hdr, lock) + 8))
				return -EPROTO;
		return -ENOMSG;
	}
	uint32_t version = atomic_load_explicit(&h->version, RLX);
	uint32_t hdr_size = atomic_load_explicit(&h->hdr_size, RLX);
	uint64_t region = atomic_load_explicit(&h->region_size, RLX);
	uint64_t gen = atomic_load_explicit(&h->generation, RLX);
	uint32_t max_chans = atomic_load_explicit(&h->max_chans, RLX);
	uint32_t esize = atomic_load_explicit(&h->entry_size, RLX);
	uint32_t nchans = atomic_load_explicit(&h->nchans, RLX);
	if (version != IVS_LAYOUT_VERSION || esize != IVS_LAYOUT_ENTRY || gen == 0 ||
	    max_chans == 0 || max_chans > IVS_LAYOUT_MAX_NCHANS || hdr_size % IVS_CL ||
	    hdr_size < IVS_LAYOUT_HDR + (uint64_t)max_chans * IVS_LAYOUT_ENTRY || hdr_size > size ||
	    region > size || region < hdr_size || nchans > max_chans)
		return -EPROTO;
	v->generation = gen;
	v->hdr_size = hdr_size;
	v->max_chans = max_chans;
	v->nchans = nchans;
	return 0;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int ivs_layout_entry(void *mem, size_t size, const struct ivs_layout_view *v, unsigned i,
		     struct ivs_entry_view *e)
{
	if (i >= v->max_chans)
		return -EINVAL;
	struct ivs_layout_entry *le = entry_of(mem, i);
	uint32_t state = atomic_load_explicit(&le->state, ACQ);
	if (state == IVS_ENTRY_FREE)
		return 0;
	if (state != IVS_ENTRY_READY)
		return -EPROTO;
	struct ivs_entry_view x = {.index = i};
	memcpy(x.name, (const void *)le->name, IVS_NAME_MAX); /* copy once, then check */
	x.offset = atomic_load_explicit(&le->offset, RLX);
	x.size = atomic_load_explicit(&le->size, RLX);
	x.ring_size = atomic_load_explicit(&le->ring_size, RLX);
	x.max_msg = atomic_load_explicit(&le->max_msg, RLX);
	x.creator_id = atomic_load_explicit(&le->creator_id, RLX);
	x.creator_pid = atomic_load_explicit(&le->creator_pid, RLX);
	x.creator_host = atomic_load_explicit(&le->creator_host, RLX);
	x.created_gen = atomic_load_explicit(&le->created_gen, RLX);
	x.created_time = atomic_load_explicit(&le->created_time, RLX);
	x.kind = atomic_load_explicit(&le->kind, RLX);
	size_t nlen = strnlen(x.name, IVS_NAME_MAX);
	if (nlen == 0 || nlen == IVS_NAME_MAX)
		return -EPROTO;
	for (size_t k = nlen; k < IVS_NAME_MAX; k++)
		if (x.name[k])
			return -EPROTO;
	if (x.offset % IVS_CL || x.offset < v->hdr_size || x.offset > size || x.size > size - x.offset ||
	    !is_pow2(x.ring_size) || x.ring_size < IVS_CHAN_MIN_RING || x.ring_size > IVS_CHAN_MAX_RING ||
	    x.size < IVS_CHAN_CTRL + x.ring_size ||
	    2 * ((uint64_t)((x.max_msg + 7ull) & ~7ull) + IVS_REC_HDR) > x.ring_size ||
	    x.created_gen != v->generation || x.kind > IVSHMEM_KIND_TOPIC)
		return -EPROTO;
	*e = x;
	return 1;
}

int ivs_layout_find(void *mem, size_t size, const struct ivs_layout_view *v, const char *name,
		    struct ivs_entry_view *e)
{
	for (unsigned i = 0; i < v->max_chans; i++) {
		struct ivs_layout_entry *le = entry_of(mem, i);
		/* Cheap pre-check on the name before the full read. */
		if (atomic_load_explicit(&le->state, ACQ) == IVS_ENTRY_FREE)
			continue;
		struct ivs_entry_view x;
		int r = ivs_layout_entry(mem, size, v, i, &x);
		if (r < 0)
			return r;
		if (r == 1 && strcmp(x.name, name) == 0) {
			*e = x;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- writers ---------------------------------------------------------- */

/* Entry i, if it is a valid hole (a FREE entry flagged IVS_ENTRY_HOLE whose
 * extent lies between the table and alloc_next): true and its extent.  A
 * malformed hole is just a free entry: its space is not reused. */
static bool hole_read(void *mem, const struct ivs_layout_view *v, unsigned i, uint64_t alloc,
		      uint64_t *off, uint64_t *len)
{
	struct ivs_layout_entry *le = entry_of(mem, i);
	if (atomic_load_explicit(&le->state, ACQ) != IVS_ENTRY_FREE ||
	    atomic_load_explicit(&le->flags, RLX) != IVS_ENTRY_HOLE)
		return false;
	uint64_t o = atomic_load_explicit(&le->offset, RLX);
	uint64_t n = atomic_load_explicit(&le->size, RLX);
	if (o % IVS_CL || n % IVS_CL || o < v->hdr_size || o > alloc || n == 0 || n > alloc - o)
		return false;
	*off = o;
	*len = n;
	return true;
}

static void hole_set(void *mem, unsigned i, uint64_t off, uint64_t len)
{
	struct ivs_layout_entry *le = entry_of(mem, i);
	atomic_store_explicit(&le->offset, off, RLX);
	atomic_store_explicit(&le->size, len, RLX);
	atomic_store_explicit(&le->flags, len ? IVS_ENTRY_HOLE : 0, RLX);
}

static int lock_take(struct ivs_layout_hdr *h, uint64_t token)
{
	uint64_t start = ivs_now_ns(), seen_since = start;
	uint64_t seen = atomic_load_explicit(&h->lock, RLX);
	for (unsigned spin = 0;; spin++) {
		uint64_t cur = atomic_load_explicit(&h->lock, RLX);
		uint64_t want = 0;
		uint64_t now = ivs_now_ns();
		if (cur != seen) {
			seen = cur;
			seen_since = now;
		}
		if (cur != 0 && now - seen_since > (uint64_t)LOCK_STEAL_MS * 1000000)
			want = cur; /* the holder died: take it over */
		if ((cur == 0 || want) &&
		    atomic_compare_exchange_strong_explicit(&h->lock, &want, token, memory_order_acq_rel, RLX))
			return 0;
		if (now - start > (uint64_t)LOCK_GIVEUP_MS * 1000000)
			return -ETIMEDOUT;
		if (spin > 100) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
	}
}

static void lock_drop(struct ivs_layout_hdr *h, uint64_t token)
{
	uint64_t want = token;
	atomic_compare_exchange_strong_explicit(&h->lock, &want, 0, REL, RLX);
}

/* Write a fresh header and empty table; the magic goes last.  The lock word
 * is left alone (the caller may hold it). */
static void format_locked(void *mem, size_t size)
{
	struct ivs_layout_hdr *h = hdr_of(mem);
	atomic_store_explicit(&h->magic, 0, RLX);
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < IVS_LAYOUT_NCHANS; i++) {
		struct ivs_layout_entry *e = entry_of(mem, i);
		atomic_store_explicit(&e->state, IVS_ENTRY_FREE, RLX);
	}
	uint64_t old = atomic_load_explicit(&h->generation, RLX);
	uint64_t gen;
	do
		gen = random_u64();
	while (gen == old);
	/* Zero everything but the magic and the lock, entries included. */
	unsigned char *b = mem;
	memset(b + 8, 0, offsetof(struct ivs_layout_hdr, lock) - 8);
	memset(b + offsetof(struct ivs_layout_hdr, nchans), 0,
	       IVS_LAYOUT_SIZE - offsetof(struct ivs_layout_hdr, nchans));
	atomic_store_explicit(&h->version, IVS_LAYOUT_VERSION, RLX);
	atomic_store_explicit(&h->hdr_size, IVS_LAYOUT_SIZE, RLX);
	atomic_store_explicit(&h->region_size, size, RLX);
	atomic_store_explicit(&h->generation, gen, RLX);
	atomic_store_explicit(&h->max_chans, IVS_LAYOUT_NCHANS, RLX);
	atomic_store_explicit(&h->entry_size, IVS_LAYOUT_ENTRY, RLX);
	atomic_store_explicit(&h->alloc_next, IVS_LAYOUT_SIZE, RLX);
	atomic_store_explicit(&h->nchans, 0, RLX);
	atomic_store_explicit(&h->magic, IVS_LAYOUT_MAGIC, REL);
}

int ivs_layout_format(void *mem, size_t size)
{
	if (!mem || size < 2 * IVS_LAYOUT_SIZE)
		return -ENOSPC;
	struct ivs_layout_hdr *h = hdr_of(mem);
	/* An explicit format takes the lock if it can but does not depend on
	 * it: the old header may be garbage. */
	uint64_t token = random_u64();
	bool locked = lock_take(h, token) == 0;
	format_locked(mem, size);
	if (locked)
		lock_drop(h, token);
	else
		atomic_store_explicit(&h->lock, 0, REL);
	return 0;
}

int ivs_layout_create(void *mem, size_t size, const char *name, uint64_t ring_size, uint32_t max_msg,
		      int peer_id)
{
	if (!is_pow2(ring_size) || ring_size < IVS_CHAN_MIN_RING || ring_size > IVS_CHAN_MAX_RING ||
	    2 * (((uint64_t)max_msg + 7) / 8 * 8 + IVS_REC_HDR) > ring_size)
		return -EINVAL;
	return ivs_layout_create_kind(mem, size, name, IVSHMEM_KIND_CHANNEL, IVS_CHAN_MAGIC, IVS_CHAN_CTRL, 2,
				      ring_size, max_msg, peer_id, NULL, NULL);
}

int ivs_layout_create_kind(void *mem, size_t size, const char *name, uint32_t kind, uint64_t magic,
			   uint64_t ctrl, unsigned parties, uint64_t ring_size, uint32_t max_msg, int peer_id,
			   void (*init)(void *block, void *arg), void *arg)
{
	size_t nlen = name ? strlen(name) : 0;
	if (nlen == 0 || nlen >= IVS_NAME_MAX)
		return -EINVAL;
	if (ctrl < IVS_CHAN_CTRL || ctrl % IVS_CL || ctrl > IVS_CHAN_MAX_RING ||
	    (parties && IVS_PARTY_EVENT(parties - 1) + IVS_CL > ctrl))
		return -EINVAL;
	if (!mem || size < IVS_LAYOUT_SIZE)
		return -ENOSPC;
	struct ivs_layout_view v;
	int r = ivs_layout_read(mem, size, &v);
	if (r < 0 && r != -ENOMSG)
		return r;
	struct ivs_layout_hdr *h = hdr_of(mem);
	uint64_t token = random_u64();
	r = lock_take(h, token);
	if (r < 0)
		return r;
	r = ivs_layout_read(mem, size, &v);
	if (r == -ENOMSG) {
		if (size < 2 * IVS_LAYOUT_SIZE) {
			r = -ENOSPC;
			goto out;
		}
		format_locked(mem, size);
		r = ivs_layout_read(mem, size, &v);
	}
	if (r < 0)
		goto out;
	uint64_t alloc = atomic_load_explicit(&h->alloc_next, RLX);
	uint64_t need = ctrl + ring_size;
	if (alloc % IVS_CL || alloc < v.hdr_size || alloc > size) {
		r = -EPROTO;
		goto out;
	}
	/* A slot: the smallest hole that fits (the channel takes the whole
	 * extent), else a plain free entry and bump allocation. */
	int free_slot = -1, hole_slot = -1;
	uint64_t hole_off = 0, hole_size = 0;
	for (unsigned i = 0; i < v.max_chans; i++) {
		struct ivs_entry_view e;
		r = ivs_layout_entry(mem, size, &v, i, &e);
		if (r < 0)
			goto out;
		if (r == 1 && strcmp(e.name, name) == 0) {
			r = -EEXIST;
			goto out;
		}
		if (r == 1)
			continue;
		uint64_t ho, hs;
		if (!hole_read(mem, &v, i, alloc, &ho, &hs)) {
			if (free_slot < 0)
				free_slot = (int)i;
		} else if (hs >= need && (hole_slot < 0 || hs < hole_size)) {
			hole_slot = (int)i;
			hole_off = ho;
			hole_size = hs;
		}
	}
	uint64_t off, block;
	if (hole_slot >= 0) {
		free_slot = hole_slot;
		off = hole_off;
		block = hole_size;
	} else {
		if (free_slot < 0 || need > size - alloc) {
			r = -ENOSPC;
			goto out;
		}
		off = alloc;
		block = need;
	}
	/* Initialise the block: what every kind has, then the kind's own
	 * fields (the entry that makes it findable comes after). */
	struct ivs_chan_ctrl *c = (struct ivs_chan_ctrl *)((char *)mem + off);
	memset((void *)c, 0, ctrl);
	for (unsigned k = 0; k < parties; k++) {
		struct ivs_side *s = (struct ivs_side *)((char *)c + IVS_PARTY_SIDE(k));
		struct ivs_event *ev = (struct ivs_event *)((char *)c + IVS_PARTY_EVENT(k));
		atomic_store_explicit(&s->id, IVS_NO_PEER, RLX);
		/* "wake me when passing UINT64_MAX": never */
		atomic_store_explicit(&ev->idx, UINT64_MAX, RLX);
	}
	atomic_store_explicit(&c->ring_size, ring_size, RLX);
	atomic_store_explicit(&c->max_msg, max_msg, RLX);
	atomic_store_explicit(&c->index, (uint32_t)free_slot, RLX);
	atomic_store_explicit(&c->gen, v.generation, RLX);
	atomic_store_explicit(&c->instance, random_u64(), RLX);
	if (init)
		init(c, arg);
	atomic_store_explicit(&c->magic, magic, RLX);
	/* Fill the entry, then publish it. */
	struct ivs_layout_entry *le = entry_of(mem, (unsigned)free_slot);
	memset((void *)le->name, 0, IVS_NAME_MAX);
	memcpy((void *)le->name, name, nlen);
	atomic_store_explicit(&le->flags, 0, RLX);
	atomic_store_explicit(&le->offset, off, RLX);
	atomic_store_explicit(&le->size, block, RLX);
	atomic_store_explicit(&le->ring_size, ring_size, RLX);
	atomic_store_explicit(&le->max_msg, max_msg, RLX);
	atomic_store_explicit(&le->creator_id, peer_id >= 0 ? (uint32_t)peer_id : IVS_NO_PEER, RLX);
	atomic_store_explicit(&le->creator_pid, (uint32_t)getpid(), RLX);
	atomic_store_explicit(&le->creator_host, ivs_host_token(), RLX);
	atomic_store_explicit(&le->created_gen, v.generation, RLX);
	atomic_store_explicit(&le->kind, kind, RLX);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_store_explicit(&le->created_time, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec,
			      RLX);
	if (hole_slot < 0)
		atomic_store_explicit(&h->alloc_next, off + need, RLX);
	atomic_store_explicit(&h->nchans, v.nchans + 1, RLX);
	atomic_store_explicit(&le->state, IVS_ENTRY_READY, REL);
	r = 0;
out:
	lock_drop(h, token);
	return r;
}

/* Odd epochs of live sides; a dead attached side is detached on its behalf
 * (CAS, as a waiting peer would).  true if a live side remains. */
static struct ivs_side *party_side(void *block, unsigned k)
{
	return (struct ivs_side *)((char *)block + IVS_PARTY_SIDE(k));
}

unsigned ivs_block_parties(const void *block, uint32_t kind, uint64_t block_bytes)
{
	if (kind != IVSHMEM_KIND_TOPIC)
		return 2;
	uint32_t n = atomic_load_explicit((_Atomic uint32_t *)((char *)block + 40), RLX);
	if (n > IVSHMEM_TOPIC_MAX_SUBSCRIBERS)
		n = IVSHMEM_TOPIC_MAX_SUBSCRIBERS;
	while (n && IVS_PARTY_SIDE(n) + IVS_CL > block_bytes)
		n--;
	return n + 1;
}

#define MAX_PARTIES (IVSHMEM_TOPIC_MAX_SUBSCRIBERS + 1)

static bool sides_busy(void *block, unsigned parties, bool (*alive)(void *, struct ivs_side *, uint32_t),
		       void *arg, uint32_t ep[MAX_PARTIES])
{
	bool busy = false;
	for (unsigned k = 0; k < parties; k++) {
		struct ivs_side *s = party_side(block, k);
		uint32_t e = atomic_load_explicit(&s->epoch, memory_order_seq_cst);
		if ((e & 1) && !(alive && alive(arg, s, e))) {
			uint32_t want = e;
			if (atomic_compare_exchange_strong_explicit(&s->epoch, &want, e + 1, memory_order_seq_cst,
								    RLX))
				e = e + 1;
			else
				e = want;
		}
		ep[k] = e;
		busy |= e & 1;
	}
	return busy;
}

int ivs_layout_delete(void *mem, size_t size, const char *name,
		      bool (*alive)(void *arg, struct ivs_side *s, uint32_t epoch), void *arg)
{
	if (!name || !*name || strlen(name) >= IVS_NAME_MAX)
		return -EINVAL;
	struct ivs_layout_view v;
	int r = ivs_layout_read(mem, size, &v);
	if (r == -ENOMSG)
		return -ENOENT;
	if (r < 0)
		return r;
	struct ivs_layout_hdr *h = hdr_of(mem);
	uint64_t token = random_u64();
	if ((r = lock_take(h, token)) < 0)
		return r;
	struct ivs_entry_view e;
	if ((r = ivs_layout_read(mem, size, &v)) < 0) {
		if (r == -ENOMSG)
			r = -ENOENT;
		goto out;
	}
	if ((r = ivs_layout_find(mem, size, &v, name, &e)) < 0)
		goto out;
	uint64_t alloc = atomic_load_explicit(&h->alloc_next, RLX);
	if (alloc % IVS_CL || alloc < v.hdr_size || alloc > size) {
		r = -EPROTO;
		goto out;
	}
	/* The block is deleted even if its control lines are corrupt: that
	 * is one way to get rid of a broken channel. */
	struct ivs_chan_ctrl *c = (struct ivs_chan_ctrl *)((char *)mem + e.offset);
	unsigned parties = ivs_block_parties(c, e.kind, e.size);
	uint32_t ep[MAX_PARTIES];
	if (sides_busy(c, parties, alive, arg, ep)) {
		r = -EBUSY;
		goto out;
	}
	/* Dekker with a concurrent open: it CASes its epoch, then re-reads
	 * the magic and instance; we clear the magic, then re-read the
	 * epochs.  One of us sees the other (both seq_cst). */
	uint64_t magic = atomic_load_explicit(&c->magic, RLX);
	atomic_store_explicit(&c->magic, 0, memory_order_seq_cst);
	for (unsigned k = 0; k < parties; k++)
		if (atomic_load_explicit(&party_side(c, k)->epoch, memory_order_seq_cst) != ep[k]) {
			atomic_store_explicit(&c->magic, magic, memory_order_seq_cst);
			r = -EBUSY;
			goto out;
		}
	/* Handles still open (monitors, a side we judged dead) see a new
	 * instance: -ESTALE, whatever reuses the block later. */
	uint64_t inst = atomic_load_explicit(&c->instance, RLX), ni;
	do
		ni = random_u64();
	while (ni == inst);
	atomic_store_explicit(&c->instance, ni, memory_order_seq_cst);

	/* The entry becomes a hole, merged with the holes around it; a hole
	 * at the end of the allocated space gives it back to the bump
	 * allocator. */
	struct ivs_layout_entry *le = entry_of(mem, e.index);
	atomic_store_explicit(&le->state, IVS_ENTRY_FREE, REL);
	memset((void *)le->name, 0, IVS_NAME_MAX);
	uint64_t off = e.offset, len = e.size;
	unsigned slot = e.index;
	if (off + len <= alloc) {
		hole_set(mem, slot, off, len);
		for (unsigned i = 0; i < v.max_chans; i++) {
			uint64_t ho, hl;
			if (i == slot || !hole_read(mem, &v, i, alloc, &ho, &hl))
				continue;
			if (ho + hl == off) { /* hole just before ours: grow it */
				hole_set(mem, slot, 0, 0);
				slot = i;
				off = ho;
				len += hl;
				hole_set(mem, slot, off, len);
			} else if (off + len == ho) { /* just after ours: absorb it */
				hole_set(mem, i, 0, 0);
				len += hl;
				hole_set(mem, slot, off, len);
			}
		}
		if (off + len == alloc) {
			hole_set(mem, slot, 0, 0);
			atomic_store_explicit(&h->alloc_next, off, RLX);
		}
	} else {
		hole_set(mem, slot, 0, 0); /* past the allocator: forget it */
	}
	uint32_t n = atomic_load_explicit(&h->nchans, RLX);
	atomic_store_explicit(&h->nchans, n ? n - 1 : 0, RLX);
	r = 0;
out:
	lock_drop(h, token);
	return r;
}
