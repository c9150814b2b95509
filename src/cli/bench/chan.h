/* SPDX-License-Identifier: MIT */
/* ivshmem bench chan, in five parts:
 *   chan.c          the driver: options; set-up (the region and its
 *                   channels, the span the floors use, the server for the
 *                   doorbell round trip); the runs, one of each measure per
 *                   round with the machine's mode probed between measures;
 *                   teardown
 *   chan-measure.c  throughput of the channel and its alternatives (UNIX
 *                   socket, pipe), each between two processes (fork); memcpy
 *                   in one process; the dispatch of every measure by its
 *                   number
 *   chan-rt.c       round trips between two processes: channels polling and
 *                   blocking, eventfd; the batch timing of every round trip
 *   chan-floor.c    the hardware floors, between the same two processes on
 *                   the same CPUs in the same memory: raw SPSC rings of
 *                   fixed slots (64 B, 64 KiB), a raw cache-line ping-pong
 *                   and a 64 B round trip through two raw rings
 *   chan-report.c   medians per machine mode, ratios to the floors and to
 *                   the alternatives, targets, as text or JSON
 * See chan.c for the methodology. */
#ifndef IVS_BENCH_CHAN_H
#define IVS_BENCH_CHAN_H

#include <string.h>

#include "bench/bench.h"

#define CHAN_SMALL 64
#define CHAN_BATCH 16 /* messages per batch call */
#define CHAN_BIG (64 * 1024)
/* Bytes of the ping and pong channels' rings (and of the raw round trip's
 * two rings). */
#define CHAN_RT_RING (64 * 1024)

/* The 64 KiB channel's ring sizes tried, each its own channel (the main
 * one's is b64k), ascending: CHAN_SWEEP_RINGS that fit the region, and the
 * main one's size.  Each size is measured zero copy and copying, one
 * after the other, for half a measure's time, at the end of every round. */
#define CHAN_SWEEP_RINGS {256u << 10, 512u << 10, 1u << 20, 2u << 20, 4u << 20, 8u << 20}
#define CHAN_SWEEP_MAX 7
enum { SW_ZC, SW_COPY, SW_N }; /* CM_ZC64K's way, CM_CHAN64K's */
struct chan_sweep {
	unsigned n;
	uint64_t ring[CHAN_SWEEP_MAX];
	char name[CHAN_SWEEP_MAX][24];
	unsigned main;	  /* the index of the main 64 KiB channel's ring (b64k) */
	bool lib_default; /* that ring is the library's default (no IVS_BENCH_RING) */
};

/* What every measure runs on. */
struct chan_bench {
	ivshmem_ep *ep;	       /* the region: channels b64, b64k, ping, pong */
	double secs;	       /* the length of one throughput measure */
	struct bench_cpus cpus; /* parent and child CPUs */
	const char *bell_spec; /* "server:SOCKET" with channels ping and pong, or NULL */
	pid_t parent;	       /* the driver's pid: children die with it */
	int keep_out;	       /* an fd children must not hold (the server's stop pipe), or -1 */
	uint64_t ring_64b, ring_64k; /* ring bytes of the two throughput channels */
	char *floor;	       /* chan_floor_bytes() of shared memory for the raw rings */
	char *resident;	       /* a ring_64k span of the region for memcpy, or NULL */
	char *large;	       /* large_span bytes of shared memory for memcpy, or NULL */
	size_t large_span;
	const struct chan_sweep *sweep; /* the 64 KiB channels by ring size */
};
/* The floors' memory: control lines, then at CHAN_FLOOR_SLOTS the slots
 * of one ring as large as a throughput channel's, or of the round trip's
 * two. */
#define CHAN_FLOOR_SLOTS 4096
static inline size_t chan_floor_bytes(uint64_t ring_64b, uint64_t ring_64k)
{
	uint64_t m = ring_64b > ring_64k ? ring_64b : ring_64k;
	return CHAN_FLOOR_SLOTS + (m > 2 * CHAN_RT_RING ? m : 2 * CHAN_RT_RING);
}

/* Every measure, in the order a round runs them: each floor next to what
 * it is the floor of, so that both are likely in the same machine mode. */
enum chan_m {
	/* 64 B messages, messages/s */
	CM_FLOOR64,	 /* raw ring, the consumer 16 pauses between polls */
	CM_CHAN64,	 /* channel send / recv, blocking (default spin) */
	CM_CHAN64_BATCH, /* the same, batches of CHAN_BATCH: send_batch / recv_batch */
	CM_ZC64_BATCH,	 /* the same, zero copy: reserve + commit_more, peek_batch + release */
	CM_FLOOR64_POLL, /* raw ring, the consumer re-polls after 1 pause */
	CM_CHAN64_POLL,	 /* channel, the consumer calls recv with timeout 0 */
	CM_SOCK64,	 /* UNIX stream socket */
	CM_PIPE64,
	/* 64 KiB messages, bytes/s */
	CM_FLOOR64K, /* raw ring, written and read in place */
	CM_ZC64K,    /* channel zero copy: reserve/commit, peek/release */
	CM_CHAN64K,  /* channel copy: send / recv, the consumer reads the copy */
	CM_SOCK64K,
	CM_PIPE64K,
	/* one process, bytes/s: the producer's copies alone */
	CM_MEMCPY_RES,	 /* over a ring-sized span of the region */
	CM_MEMCPY_LARGE, /* over 256 MiB */
	/* 64 B round trips, ns */
	CM_RT_LINE,  /* floor: one cache line */
	CM_RT_RINGS, /* floor: two raw rings */
	CM_RT_POLL,  /* channels, both sides polling */
	CM_RT_BLOCK, /* channels, blocking on a futex (not pinned) */
	CM_RT_BELL,  /* channels, blocking on doorbells (server peers) */
	CM_RT_EFD,   /* eventfd ping-pong (not pinned) */
	CM_N
};

enum chan_kind { CK_MSGS, CK_BYTES, CK_RT };
struct chan_m_info {
	const char *key;  /* JSON */
	const char *name; /* for messages */
	enum chan_kind kind;
};
const struct chan_m_info *chan_m_info(enum chan_m m);

/* One run of one measure. */
struct chan_val {
	double v;	 /* msgs/s, bytes/s, or the round trip's median batch mean (ns) */
	double p99;	 /* round trips: the 99th percentile of the batch means */
	double per_msg;	 /* wakeups per message (channel throughput), sleeps per
			    round trip (blocking channels) */
	double mode[2];	 /* the cache-line ping-pong before and after, ns */
	bool ok;	 /* measured */
};

/* Measure m once into out (all but mode[] and ok).  0; 1 after a message
 * (bench_fork's, or what the measure found wrong); -errno (the caller says
 * which measure failed). */
int chan_measure(const struct chan_bench *b, enum chan_m m, struct chan_val *out);
/* CM_ZC64K (SW_ZC) or CM_CHAN64K (SW_COPY) on sweep ring i, for half of
 * b->secs; as chan_measure. */
int chan_measure_ring(const struct chan_bench *b, int way, unsigned i, struct chan_val *out);

/* Channel `name` of e opened in a role, or NULL. */
static inline ivshmem_chan *chan_open_role(ivshmem_ep *e, const char *name, int role, int spin_us,
					   unsigned flags)
{
	struct ivshmem_chan_opts o = {.flags = flags, .spin_us = spin_us};
	ivshmem_chan *ch;
	return ivshmem_chan_open(e, name, role, &o, &ch) < 0 ? NULL : ch;
}

/* ---- chan-rt.c ---- */
/* CM_RT_POLL, CM_RT_BLOCK, CM_RT_BELL, CM_RT_EFD; as chan_measure. */
int chan_measure_rt(const struct chan_bench *b, enum chan_m m, struct chan_val *out);

/* ---- chan-floor.c ---- */
/* CM_FLOOR64, CM_FLOOR64_POLL, CM_FLOOR64K, CM_RT_LINE, CM_RT_RINGS; as
 * chan_measure. */
int chan_floor_tput(const struct chan_bench *b, enum chan_m m, struct chan_val *out);
int chan_floor_rt(const struct chan_bench *b, enum chan_m m, struct chan_val *out);

/* ---- shared by the measures (chan-rt.c has the batches) ---- */

/* Round trips are timed in batches, one clock read per batch; the figures
 * are the median and the p99 of the batch means.  Batches are `full` round
 * trips (CHAN_BATCH_POLL polling, CHAN_BATCH_BLOCK blocking: a blocking one
 * takes microseconds, so a clock read costs it little and the p99 keeps
 * more batches), but the first is CHAN_BATCH_BLOCK, and while round trips
 * take over CHAN_SLOW_NS each (two pollers on one CPU take turns at
 * scheduler-tick pace, --no-pin) each one is timed on its own.  The first
 * CHAN_WARM_RT round trips (at most CHAN_WARM_NS) are warm-up; then the
 * batches run for secs (at least one; at most CHAN_RT_MAX). */
enum { CHAN_BATCH_POLL = 100, CHAN_BATCH_BLOCK = 10, CHAN_WARM_RT = 200, CHAN_RT_MAX = 1 << 20 };
#define CHAN_SLOW_NS 10000
#define CHAN_WARM_NS 20000000ull
struct chan_batches {
	unsigned full;	    /* the batch size */
	unsigned size;	    /* of the batch under way */
	double secs;	    /* timed, after the warm-up */
	uint64_t prev, end; /* ns: the last clock read; the end (0: warming up) */
	uint64_t start;	    /* ns: the first */
	uint64_t done;	    /* round trips */
	uint64_t timed;	    /* those in the batch means */
	double *mean;	    /* the batch means (CHAN_RT_MAX) */
	size_t n;
};
void chan_batches_init(struct chan_batches *bt, unsigned full, double secs);
/* After a batch of bt->size round trips: 0 when the measure is done, 2
 * when the warm-up just ended, else 1. */
int chan_batches_next(struct chan_batches *bt);
/* out->v and out->p99 from the batch means (sorts them). */
void chan_batches_finish(struct chan_batches *bt, struct chan_val *out);

/* What the consumers' checksums go to. */
extern volatile uint64_t chan_sink;

/* Read every byte of p[0..n) (16-byte loads, four independent chains:
 * bound by the data transfer, not by the loop): what every consumer does
 * with what it received. */
typedef uint64_t chan_v2u64 __attribute__((vector_size(16)));
static inline uint64_t chan_consume(const void *p, size_t n)
{
	const unsigned char *b = p;
	chan_v2u64 x[4] = {{0}};
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		chan_v2u64 w[4];
		memcpy(w, b + i, 64);
		x[0] ^= w[0];
		x[1] ^= w[1];
		x[2] ^= w[2];
		x[3] ^= w[3];
	}
	chan_v2u64 y = x[0] ^ x[1] ^ x[2] ^ x[3];
	uint64_t r = y[0] ^ y[1];
	for (; i < n; i++)
		r ^= b[i];
	return r;
}

/* A consumer's account: the checksum of everything it read, the messages
 * taken, and those whose number (their first 8 bytes, stamped by the
 * producer) did not follow the previous one's. */
struct chan_taker {
	uint64_t sum, n, next, bad;
};
/* Take message p[0..len), len >= 8. */
static inline void chan_take(struct chan_taker *t, const void *p, size_t len)
{
	uint64_t num;
	memcpy(&num, p, 8);
	t->sum ^= chan_consume(p, len);
	t->bad += t->n && num != t->next;
	t->next = num + 1;
	t->n++;
}
/* 0, or 1 after "bench chan: NAME: N of M messages out of order" when
 * some were (and the checksum goes to chan_sink). */
int chan_taker_check(const struct chan_taker *t, const char *name);

/* ---- the runs, and the report ---- */

/* Every run's value of every measure, and the machine's mode probes. */
struct chan_runs {
	unsigned n;
	struct chan_val v[CM_N][BENCH_MAX_RUNS];
	struct chan_val sweep[CHAN_SWEEP_MAX][SW_N][BENCH_MAX_RUNS];
	double probe[BENCH_MAX_RUNS][CM_N + 1 + CHAN_SWEEP_MAX * SW_N]; /* ns, in the order taken */
	unsigned probes[BENCH_MAX_RUNS];
	bool bell_ok;	       /* CM_RT_BELL measured in every run */
	const char *bell_note; /* why not, if not */
};

/* How the runs were made, for the report. */
struct chan_setup {
	const char *kind; /* of the endpoint */
	double secs;
	const struct bench_cpus *cpus;
	bool pin_asked;
	struct bench_machine before, after;
	uint64_t ring_64b, ring_64k; /* ring sizes of the two throughput channels */
	const struct chan_sweep *sweep;
	const char *floor_where;     /* where the raw rings are */
	unsigned probe_batches;	     /* of 100 round trips, in each mode probe */
};

/* Print the medians, ratios and targets.  Returns 0. */
int chan_report(const struct chan_runs *r, const struct chan_setup *s, bool json);

#endif
