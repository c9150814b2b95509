/* SPDX-License-Identifier: MIT */
/* Topics: one publisher, many subscribers, one ring (docs/topics.md
 * describes the block byte by byte).  A topic is an entry of the channel
 * layout (channel/channel.h) of kind IVSHMEM_KIND_TOPIC; its block starts
 * like a channel's (line 0, then parties of three lines), so the layout's
 * delete and its handle checks work on both.
 *
 * The same rules as for channels apply to everything here: each shared
 * field is read once into a local and validated there; every loop has a
 * bound of its own; a bad value is an error (-EPROTO, -EBADMSG, -ENOBUFS),
 * never an access outside the block. */
#ifndef IVS_TOPIC_H
#define IVS_TOPIC_H

#include "channel/channel.h"

#define IVS_TOPIC_MAGIC 0x3143504f54535649ull /* "IVSTOPC1" */
#define IVS_TREC_HDR 16u		      /* record: len u32, tag u32, seq u64 */
#define IVS_TOPIC_MAX_STALL_MS 3600000u
/* Record tags repeat every 2^35 bytes of index: a ring of at most 2^34
 * bytes never sees a stale lap with a fresh tag. */
#define IVS_TOPIC_MAX_RING (1ull << 34)

/* Line 0: written at creation, never after (the first 40 bytes as in
 * struct ivs_chan_ctrl). */
struct ivs_topic_hdr {
	_Atomic uint64_t magic;	    /*  0: IVS_TOPIC_MAGIC (0 once deleted) */
	_Atomic uint64_t ring_size; /*  8 */
	_Atomic uint32_t max_msg;   /* 16 */
	_Atomic uint32_t index;	    /* 20: table entry */
	_Atomic uint64_t gen;	    /* 24: layout generation */
	_Atomic uint64_t instance;  /* 32: random, new at each create */
	_Atomic uint32_t nsubs;	    /* 40: subscriber slots, 1..64 */
	_Atomic uint32_t mode;	    /* 44: IVSHMEM_TOPIC_* mode */
	_Atomic uint32_t stall_ms;  /* 48 */
	uint8_t pad[12];
};

/* A party's hot line: the publisher's tail, a subscriber's head. */
struct ivs_topic_hot {
	_Atomic uint64_t idx;  /* 0: lossless: bytes ever published / read up
				  to; latest: subscriber: messages published
				  when it took its last (publisher: 0) */
	_Atomic uint64_t msgs; /* 8: publisher: messages published; subscriber:
				  lossless: sequence number of the next message
				  it takes; latest: messages it took */
	_Atomic uint64_t skipped; /* 16: latest subscriber: messages it skipped */
	uint8_t pad[40];
};

struct ivs_topic_party {
	struct ivs_topic_hot hot; /* +0 */
	struct ivs_side side;	  /* +64 */
	struct ivs_event ev;	  /* +128 */
};

/* After the parties: a line only the publisher writes, then one written by
 * joining and leaving subscribers. */
struct ivs_topic_pub_cold {
	_Atomic uint64_t floor;	    /* 0: oldest index kept; the publisher writes
				       only below floor + ring_size */
	_Atomic uint64_t evictions; /* 8: subscribers it dropped */
	_Atomic uint64_t floor_next; /* 16: the floor it is about to set (joiners
					check against it, see topic.c) */
	uint8_t pad[40];
};
struct ivs_topic_joins {
	_Atomic uint64_t joins; /* 0: bumped at each subscriber attach/detach */
	uint8_t pad[56];
};

/* Latest mode: the ring is nbufs = ring_size / buf_bytes buffers, each a
 * header line and max_msg bytes rounded up to a line.  Message m (0, 1,
 * ...) goes into buffer m % nbufs. */
#define IVS_TBUF_HDR 64u
#define IVS_TOPIC_MIN_BUFS 2u
/* Counts stay below this (2^62: centuries at 10^9 messages/s), so that
 * 2 m + 2 never wraps; more is garbage. */
#define IVS_TOPIC_MAX_COUNT (1ull << 62)

struct ivs_topic_buf {
	_Atomic uint64_t lock; /* 0: 2 m + 1 while message m is written into
				  it, 2 m + 2 once complete (before its first
				  use: what the block held) */
	_Atomic uint32_t len;  /* 8 */
	uint32_t pad0;
	uint8_t pad[48];
	/* data at +64 */
};

static inline uint64_t ivs_topic_buf_bytes(uint64_t max_msg)
{
	return IVS_TBUF_HDR + ((max_msg + 63) & ~63ull);
}

/* A ring of ring bytes (a power of two) can carry messages of max_msg
 * bytes in this mode: lossless, two records; latest, two buffers. */
static inline bool ivs_topic_sizes_ok(uint32_t mode, uint64_t ring, uint64_t max_msg)
{
	if (mode == 1 /* IVSHMEM_TOPIC_LATEST */)
		return ring / ivs_topic_buf_bytes(max_msg) >= IVS_TOPIC_MIN_BUFS;
	return 2 * (ivs_align8(max_msg) + IVS_TREC_HDR) <= ring;
}

/* Bytes of control (line 0, parties, the two lines) for n subscribers. */
static inline uint64_t ivs_topic_ctrl_bytes(unsigned n)
{
	return 64 + (uint64_t)IVS_PARTY_BYTES * (1 + n) + 128;
}

static inline struct ivs_topic_party *ivs_topic_party(void *block, unsigned k)
{
	return (struct ivs_topic_party *)((char *)block + 64 + (size_t)IVS_PARTY_BYTES * k);
}

/* Open over raw memory, without an endpoint (tests, fuzzing). */
int ivs_topic_open_mem(void *mem, size_t size, const char *name, int role, unsigned flags,
		       ivshmem_topic **out);
/* Create over raw memory (tests, fuzzing). */
int ivs_topic_create_mem(void *mem, size_t size, const char *name, const struct ivshmem_topic_config *cfg);

#endif
