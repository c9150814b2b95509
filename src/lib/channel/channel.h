/* SPDX-License-Identifier: MIT */
/* Channels: the shared-memory layout (layout.c) and the SPSC message queue
 * (channel.c).  docs/channels.md describes the format byte by byte.
 *
 * Everything in these structures lives in memory shared with a peer that may
 * be buggy or hostile (another VM).  Rules for the code that reads it:
 *   - read each field once (an atomic load into a local), then validate the
 *     local; never re-read a field after validating it;
 *   - every loop over shared data has a bound that does not come from it;
 *   - a bad value gives -EPROTO (layout, table, channel header) or -EBADMSG
 *     (queue state), never an access outside the region. */
#ifndef IVS_CHANNEL_H
#define IVS_CHANNEL_H

#include <stdatomic.h>

#include "util/util.h"

#define IVS_CL 64 /* cache line */

/* ---- region header, offset 0 ------------------------------------------ */

#define IVS_LAYOUT_MAGIC 0x4e41484348535649ull /* "IVSHCHAN" little-endian */
#define IVS_LAYOUT_VERSION 2u /* 2: record tags salted with the instance */
#define IVS_LAYOUT_HDR 128u	 /* bytes of struct ivs_layout_hdr */
#define IVS_LAYOUT_ENTRY 128u	 /* bytes of one table entry */
#define IVS_LAYOUT_NCHANS 31u	 /* entries written by this version */
#define IVS_LAYOUT_SIZE 4096u	 /* header + table: first allocatable byte */
#define IVS_LAYOUT_MAX_NCHANS 1024u /* largest table a reader accepts */

struct ivs_layout_hdr {
	_Atomic uint64_t magic;	     /*  0: IVS_LAYOUT_MAGIC, stored last (release) */
	_Atomic uint32_t version;    /*  8 */
	_Atomic uint32_t hdr_size;   /* 12: header + table, multiple of 64 */
	_Atomic uint64_t region_size; /* 16: size of the region when formatted */
	_Atomic uint64_t generation; /* 24: random, non-zero, new at each format */
	_Atomic uint32_t max_chans;  /* 32: table entries */
	_Atomic uint32_t entry_size; /* 36: IVS_LAYOUT_ENTRY */
	_Atomic uint64_t alloc_next; /* 40: first free byte (bump allocator) */
	_Atomic uint64_t lock;	     /* 48: creation lock: 0 or the owner's token */
	_Atomic uint32_t nchans;     /* 56: entries in use */
	uint32_t reserved0;	     /* 60 */
	uint8_t reserved[64];	     /* 64..127 */
};

#define IVS_NAME_MAX 32 /* name field, NUL included: names up to 31 chars */
#define IVS_ENTRY_FREE 0u
#define IVS_ENTRY_READY 1u
/* flags of a FREE entry: its offset/size describe a free extent (a "hole"
 * left by ivshmem_chan_delete) that a later create may reuse. */
#define IVS_ENTRY_HOLE (1u << 0)
#define IVS_NO_PEER 0xffffffffu

struct ivs_layout_entry {
	_Atomic uint32_t state;	     /*  0: IVS_ENTRY_*, READY stored last */
	_Atomic uint32_t flags;	     /*  4: 0; FREE entries: IVS_ENTRY_HOLE */
	char name[IVS_NAME_MAX];     /*  8: NUL-terminated, NUL-padded */
	_Atomic uint64_t offset;     /* 40: of the channel block, multiple of 64 */
	_Atomic uint64_t size;	     /* 48: of the block: control + ring */
	_Atomic uint64_t ring_size;  /* 56: power of two */
	_Atomic uint32_t max_msg;    /* 64 */
	_Atomic uint32_t creator_id; /* 68: peer ID or IVS_NO_PEER */
	_Atomic uint32_t creator_pid; /* 72 */
	uint32_t reserved0;	     /* 76 */
	_Atomic uint64_t creator_host; /* 80: host token (boot id + pid ns) */
	_Atomic uint64_t created_gen; /* 88: layout generation at creation */
	_Atomic uint64_t created_time; /* 96: CLOCK_REALTIME, ns */
	_Atomic uint32_t kind;	     /* 104: IVSHMEM_KIND_CHANNEL (0) or _TOPIC */
	uint8_t reserved[20];	     /* 108..127 */
};

/* ---- channel block: 8 cache lines of control, then the ring ------------ */

#define IVS_CHAN_MAGIC 0x314e414843535649ull /* "IVSCHAN1" */
#define IVS_CHAN_CTRL 512u
#define IVS_CHAN_MIN_RING 256u
#define IVS_CHAN_MAX_RING (1ull << 40)

/* Per-side attach information (producer: line 2, consumer: line 5). */
#define IVS_SIDE_CAN_RING (1u << 0) /* can ring the other side's doorbell */
#define IVS_SIDE_DOORBELL (1u << 1) /* sleeps on doorbell vector `vector` */
#define IVS_SIDE_FUTEX (1u << 2)    /* sleeps on the futex word (same host) */
/* A membarrier user (channels): registered for the kernel's global
 * expedited membarrier; as a consumer it issues one before every sleep, so
 * a producer on the same host that is one too skips its fence
 * (docs/channels.md). */
#define IVS_SIDE_MEMBARRIER (1u << 3)

struct ivs_side {
	_Atomic uint32_t epoch;	 /*  0: odd = attached; +1 detach, +1/+2 attach */
	_Atomic uint32_t info_epoch; /*  4: epoch the fields below belong to */
	_Atomic uint32_t id;	 /*  8: peer ID or IVS_NO_PEER */
	_Atomic uint32_t vector; /* 12 */
	_Atomic uint32_t caps;	 /* 16: IVS_SIDE_* */
	_Atomic uint32_t pid;	 /* 20 */
	_Atomic uint64_t host;	 /* 24: host token */
	_Atomic uint64_t rings;	 /* 32: doorbells/futex wakes this side sent */
	_Atomic uint64_t sleeps; /* 40: times this side slept */
	/* 48: (our epoch << 32) | the peer epoch whose attach info our
	 * publishes follow; a sleeper sleeps long only once this names it and
	 * our current epoch (channels; 0 in topics) */
	_Atomic uint64_t acked;
	uint8_t pad[8];
};

/* "Wake me" word of one side, written by it before sleeping (virtio's event
 * index) and read by the other side after each publish. */
struct ivs_event {
	_Atomic uint64_t idx;	/*  0: wake me when the other index passes this */
	_Atomic uint32_t futex; /*  8: bumped by the waker before FUTEX_WAKE */
	uint32_t pad0;
	uint8_t pad[48];
};

struct ivs_chan_ctrl {
	/* line 0: static, written at creation */
	_Atomic uint64_t magic;	    /*  0: IVS_CHAN_MAGIC */
	_Atomic uint64_t ring_size; /*  8 */
	_Atomic uint32_t max_msg;   /* 16 */
	_Atomic uint32_t index;	    /* 20: table entry */
	_Atomic uint64_t gen;	    /* 24: layout generation */
	_Atomic uint64_t instance;  /* 32: random, new at each create; changed by
				       delete (handles compare it: -ESTALE) */
	uint8_t pad0[24];
	/* line 1: producer hot */
	_Atomic uint64_t tail;	    /* 64: bytes ever published */
	_Atomic uint64_t tail_msgs; /* 72: messages ever published */
	uint8_t pad1[48];
	/* line 2: producer attach info */
	struct ivs_side prod;	    /* 128 */
	/* line 3: producer's event index (consumer reads it after release) */
	struct ivs_event prod_ev;   /* 192: wake producer when head passes idx */
	/* line 4: consumer hot */
	_Atomic uint64_t head;	    /* 256: bytes ever consumed */
	_Atomic uint64_t head_msgs; /* 264 */
	uint8_t pad4[48];
	/* line 5: consumer attach info */
	struct ivs_side cons;	    /* 320 */
	/* line 6: consumer's event index (producer reads it after commit) */
	struct ivs_event cons_ev;   /* 384: wake consumer when tail passes idx */
	/* line 7 */
	uint8_t pad7[64];	    /* 448 */
	/* ring follows at IVS_CHAN_CTRL */
};

/* Both kinds of block (channel, topic) start with line 0 as above (magic,
 * ring_size, max_msg, index, gen, instance) and then "parties" of three
 * lines each: the party's hot index, its side (attach info), its event
 * word.  A channel has two (producer, consumer), a topic 1 + subscribers
 * (publisher first).  So the side of party k is at 128 + 192 k. */
#define IVS_PARTY_BYTES 192u
#define IVS_PARTY_SIDE(k) (128u + IVS_PARTY_BYTES * (k))
#define IVS_PARTY_EVENT(k) (192u + IVS_PARTY_BYTES * (k))
/* Parties of a block as its line 0 says (channel: 2; topic: 1 + its
 * subscriber count at offset 40, clamped to what fits in block bytes). */
unsigned ivs_block_parties(const void *block, uint32_t kind, uint64_t block_bytes);

/* Record header in the ring: 8 bytes, records 8-byte aligned. */
#define IVS_REC_HDR 8u
#define IVS_REC_PAD 0xffffffffu /* len of a padding record (to the ring's end) */

/* ---- validated, local views ------------------------------------------ */

struct ivs_layout_view {
	uint64_t generation;
	uint64_t hdr_size;
	uint32_t max_chans;
	uint32_t nchans;
};

struct ivs_entry_view {
	unsigned index;
	uint32_t kind; /* IVSHMEM_KIND_* */
	char name[IVS_NAME_MAX];
	uint64_t offset, size, ring_size;
	uint32_t max_msg;
	uint32_t creator_id, creator_pid;
	uint64_t creator_host, created_gen, created_time;
};

/* Validate the header of a region of `size` bytes.  0, -ENOMSG (no layout:
 * all-zero header), -EPROTO (malformed). */
int ivs_layout_read(void *mem, size_t size, struct ivs_layout_view *v);
/* Find a channel by name.  0, -ENOENT, -EPROTO. */
int ivs_layout_find(void *mem, size_t size, const struct ivs_layout_view *v, const char *name,
		    struct ivs_entry_view *e);
/* Read and validate entry i (READY entries only): 1 ready, 0 free, -EPROTO. */
int ivs_layout_entry(void *mem, size_t size, const struct ivs_layout_view *v, unsigned i,
		     struct ivs_entry_view *e);
/* Format the region (destroys what was there).  0 or -errno. */
int ivs_layout_format(void *mem, size_t size);
/* Create a channel (formatting an all-zero region first). */
int ivs_layout_create(void *mem, size_t size, const char *name, uint64_t ring_size, uint32_t max_msg,
		      int peer_id);
/* Create an entry of any kind: a block of ctrl + ring_size bytes.  The
 * layout writes what every kind's block has: the control part zeroed,
 * line 0 (magic, ring_size, max_msg, table index, generation, a new
 * instance) and `parties` parties detached and asking for no wakeup; then
 * init(block, arg), if given, writes the kind's own fields.  The checks of
 * ring_size and max_msg (against the kind's record header) are the
 * caller's.  0 or -errno as above. */
int ivs_layout_create_kind(void *mem, size_t size, const char *name, uint32_t kind, uint64_t magic,
			   uint64_t ctrl, unsigned parties, uint64_t ring_size, uint32_t max_msg, int peer_id,
			   void (*init)(void *block, void *arg), void *arg);

/* Round up to the 8-byte record alignment. */
static inline uint64_t ivs_align8(uint64_t x)
{
	return (x + 7) & ~7ull;
}

/* The salt of record tags, from a block's instance: odd, so that an
 * all-zero record never has the tag of index 0. */
static inline uint32_t ivs_tag_salt(uint64_t instance)
{
	return ((uint32_t)instance ^ (uint32_t)(instance >> 32)) | 1u;
}

/* Delete a channel (docs/channels.md, "Deleting channels").  alive(arg,
 * side, epoch) says whether an attached side (odd epoch) is still live; a
 * dead one is detached on its behalf.  0, -ENOENT, -EBUSY, -EPROTO,
 * -ETIMEDOUT (lock). */
int ivs_layout_delete(void *mem, size_t size, const char *name,
		      bool (*alive)(void *arg, struct ivs_side *s, uint32_t epoch), void *arg);

/* Identifies this host + pid namespace (0 if unknown): pids of peers with the
 * same token can be checked with kill(pid, 0), futexes on file mappings work. */
uint64_t ivs_host_token(void);

/* How this handle's sleeps (futex or doorbell) ended: woken by the peer,
 * by the slice timeout (SLICE_MS: liveness checks; in a ping-pong with a
 * live peer every timeout is a lost wakeup), or not at all because the
 * futex word changed between arming and sleeping (a wake that raced the
 * sleep: the wakeup was not lost, the syscall returned at once).  polls:
 * sleeps that were a bounded back-off instead (no way to be woken, the
 * peer not attached, or not yet following our attach info). */
struct ivs_chan_wait_stats {
	uint64_t woken, timeouts, raced, polls;
};
int ivs_chan_wait_stats(const ivshmem_chan *ch, struct ivs_chan_wait_stats *ws);
/* Tests: the longest sleep before a liveness check (default 100 ms; <= 0
 * the default).  With a long one, a lost wakeup is a sleep that times out
 * while the peer keeps publishing: unmistakable. */
void ivs_chan_set_slice(ivshmem_chan *ch, int ms);

/* Delete over raw memory without an endpoint (tests): liveness by pid on
 * this host only. */
int ivs_chan_delete_mem(void *mem, size_t size, const char *name);

/* Open a channel over raw memory without an endpoint (tests, fuzzing). */
int ivs_chan_open_mem(void *mem, size_t size, const char *name, int role, unsigned flags,
		      ivshmem_chan **out);

#endif
