/* SPDX-License-Identifier: MIT */
/* ivshmem bench chan, in three parts:
 *   chan.c          the driver: options; set-up (the region and its
 *                   channels, the server for the doorbell round trip); the
 *                   runs, one of each measure per round; teardown
 *   chan-measure.c  the measures, each between two processes (fork):
 *                   throughput, round trip, and memcpy in one process
 *   chan-report.c   medians over the runs, ratios and targets, printed as
 *                   text or JSON
 * See chan.c for the methodology. */
#ifndef IVS_BENCH_CHAN_H
#define IVS_BENCH_CHAN_H

#include "bench/bench.h"

#define CHAN_SMALL 64
#define CHAN_BIG (64 * 1024)

/* What every measure runs on. */
struct chan_bench {
	ivshmem_ep *ep;	       /* the region: channels b64, b64k, ping, pong */
	double secs;	       /* the length of one throughput measure */
	struct bench_cpus cpus; /* parent and child CPUs */
	const char *bell_spec; /* "server:SOCKET" with channels ping and pong, or NULL */
	pid_t parent;	       /* the driver's pid: children die with it */
	int keep_out;	       /* an fd children must not hold (the server's stop pipe), or -1 */
};

/* Throughput methods: 64 B messages, then 64 KiB ones. */
enum chan_tput { T_C64, T_S64, T_P64, T_C64K, T_Z64K, T_S64K, T_P64K, T_N };
struct chan_tput_res {
	double msgs, bytes;	/* per second */
	double wakeups_per_msg; /* doorbells or futex wakes, both directions */
};
/* "chan 64 B", ...: for messages. */
const char *chan_tput_name(enum chan_tput t);
/* The message size of a method. */
size_t chan_tput_msg(enum chan_tput t);
/* A producer child sends for b->secs; this process receives, reading every
 * byte.  0, -errno, or 1 after bench_fork reported a failure. */
int chan_measure_tput(const struct chan_bench *b, enum chan_tput t, struct chan_tput_res *out);

/* Round-trip methods: channels polling, blocking on a futex, blocking on
 * doorbells (server peers, b->bell_spec), and an eventfd ping-pong. */
enum chan_rt { R_POLL, R_BLOCK, R_BELL, R_EFD, R_N };
struct chan_rt_res {
	double p50, p99, mean; /* ns */
	double sleeps_per_rt;  /* blocking: how often the waiter slept */
};
/* 64 B round trips for b->secs / 2.  0, -1, or 1 after bench_fork
 * reported a failure. */
int chan_measure_rt(const struct chan_bench *b, enum chan_rt t, struct chan_rt_res *out);

/* The producer's work without a consumer or a queue: 64 KiB memcpy calls
 * from a hot buffer walking span bytes of dst, for b->secs / 2.  Bytes/s. */
double chan_memcpy_rate(const struct chan_bench *b, char *dst, size_t span);

/* Every run's value of every measure. */
struct chan_runs {
	unsigned n;
	double tput[T_N][BENCH_MAX_RUNS]; /* 64 B: msgs/s; 64 KiB: bytes/s */
	double wakeups[T_N][BENCH_MAX_RUNS];
	double memcpy_resident[BENCH_MAX_RUNS], memcpy_large[BENCH_MAX_RUNS];
	double p50[R_N][BENCH_MAX_RUNS], p99[R_N][BENCH_MAX_RUNS], mean[R_N][BENCH_MAX_RUNS];
	double sleeps[BENCH_MAX_RUNS];	/* R_BLOCK's sleeps per round trip */
	bool bell_ok;			/* R_BELL measured in every run */
	const char *bell_note;		/* why not, if not */
};

/* How the runs were made, for the report. */
struct chan_setup {
	const char *kind; /* of the endpoint */
	double secs;
	const struct bench_cpus *cpus;
	bool pin_asked;
	struct bench_machine before, after;
	uint64_t ring_64b, ring_64k; /* ring sizes of the two throughput channels */
};

/* Print the medians, ratios and targets.  Returns 0. */
int chan_report(const struct chan_runs *r, const struct chan_setup *s, bool json);

#endif
