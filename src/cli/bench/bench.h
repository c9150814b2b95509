/* SPDX-License-Identifier: MIT */
/* The scaffolding every benchmark (doorbell.c, daemon.c, chan*.c) shares:
 *   common.c    options, forking and reaping children
 *   server.c    the temporary directory and the one server child
 *   pingpong.c  the timed doorbell ping-pong
 *   machine.c   CPU pinning, load average and steal time, the machine's
 *               mode (a cache-line ping-pong)
 *   stats.c     samples, medians and percentiles, text and JSON printing
 * A benchmark is set up, measured (repetitions interleaved), then reported;
 * each measures the project and its alternative in the same run. */
#ifndef IVS_BENCH_H
#define IVS_BENCH_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ivshmem.h"

/* Round trips before the measured ones; the bound on every single wait. */
enum { BENCH_WARMUP = 200, BENCH_TIMEOUT_MS = 5000 };

/* --json, --iterations N, --repetitions N. */
struct bench_opts {
	unsigned iters, reps;
	bool json;
};

/* Parse the options into o (preset with the defaults).  0, or 1 after a
 * message (also for an operand, or iters or reps 0). */
int bench_parse_opts(int argc, char **argv, struct bench_opts *o);

/* The temporary directory and the server forked on a socket in it.  Set up
 * with BENCH_SERVER_INIT; bench_server_stop() undoes whatever was done. */
struct bench_server {
	const char *name; /* the benchmark's, for messages */
	uint64_t size;	/* of the shared memory; 0: 1 MiB */
	char dir[32];	/* "" until created */
	char sock[64];	/* DIR/server.sock */
	char shm[64];	/* the server's POSIX shm */
	char spec[80];	/* "server:DIR/server.sock" */
	bool shm_owned; /* created by us: remove it at the end */
	pid_t pid;	/* the child, -1 once reaped */
	int stop;	/* write end of its pipe: closing it stops the child */
};
#define BENCH_SERVER_INIT {.pid = -1, .stop = -1}

/* Create the directory and name the socket and an shm "ivshmem-bench-NAME-…"
 * for it (NAME: the benchmark's).  0, or 1 after a message. */
int bench_tmpdir(struct bench_server *s, const char *name);
/* Create the server (s->size, 1 vector), listening before the fork (so a
 * peer may connect at once), and serve it in a child until its pipe closes
 * (0; 1 after a message; 2 after bench_fork's message: no process); the child then removes the socket, the shm and (if empty) the
 * directory.  0, or 1 after a message. */
int bench_server_start(struct bench_server *s);
/* Stop and reap the server, and remove what it left (when it was killed)
 * and the directory.  Other files in the directory must be gone first. */
void bench_server_stop(struct bench_server *s);
/* Remove a socket and its instance lock PATH.lock, as a child that was
 * killed (or crashed) leaves them. */
void bench_unlink_socket(const char *path);

/* For a forked child: ignore the terminal's signals.  Children stop through
 * their pipe (or their own timeouts): a Ctrl-C ends the parent, which closes
 * the pipes, and the server then removes its socket and shm itself. */
void bench_child_signals(void);
/* For a forked child that may block or spin: die with its parent (parent:
 * the pid before the fork), and close fd if >= 0 (a server's stop pipe,
 * which only the parent may hold, or the server outlives a killed parent).
 * 0, or -1 if the parent is gone already. */
int bench_child_bind(pid_t parent, int fd);
/* fork(); on failure -1 after "bench NAME: cannot start WHO: fork: CAUSE
 * (the way out)", errno kept. */
pid_t bench_fork(const char *name, const char *who);
/* Wait up to ms for a child, then kill it.  Returns its wait status, or -1
 * if pid is not a child: pid <= 0 is refused, as kill() would take it for a
 * process group or (-1) every process we may signal, as root the machine's.
 * The benchmarks kill and wait for children only through this. */
int bench_reap(pid_t pid, int ms);

/* Wait, bounded, for an event of type t from *peer (any peer if *peer < 0,
 * whose ID is then stored in *peer).  Other events are skipped; a
 * disconnect from the server gives -ECONNRESET.  0 or -errno. */
int bench_wait_event(ivshmem_ep *ep, enum ivshmem_event_type t, int *peer);
/* The echo side: n times, wait for vector 0 (up to timeout_ms) and ring
 * `target` back.  0 or -errno. */
int bench_echo(ivshmem_ep *ep, int target, size_t n, int timeout_ms);
/* The measured side: BENCH_WARMUP + iters times, ring `peer` and wait for
 * its answer; the last iters round trips go to out (ns).  0 or -errno. */
int bench_pingpong(ivshmem_ep *ep, int peer, uint64_t *out, size_t iters);

/* ---- machine.c ---- */

/* The CPUs of a two-process benchmark: parent and child each pinned to
 * its own (cpu[] -1: not pinned), from the ones it was allowed at start. */
struct bench_cpus {
	int cpu[2];
	cpu_set_t all; /* the affinity at start */
	bool have_all;
	long online;
};
/* Pick two allowed CPUs if pin and there are two, and pin the caller to
 * the first. */
void bench_cpus_init(struct bench_cpus *c, bool pin);
/* Pin the caller to cpu[who] (0 parent, 1 child; no-op when unpinned);
 * who -1: back to every CPU allowed at start. */
void bench_pin(const struct bench_cpus *c, int who);

/* The machine's state around a run: load average and CPU time. */
struct bench_machine {
	double load1;		  /* 1-minute load average, -1 if unknown */
	uint64_t jiffies, steal; /* all CPUs' total and stolen time, 0 if unknown */
};
void bench_machine_sample(struct bench_machine *m);
/* Percentage of CPU time stolen between a and b (0 if unknown). */
double bench_steal_pct(const struct bench_machine *a, const struct bench_machine *b);

/* A pause in a spin loop (the CPU's hint where there is one). */
static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* The machine's mode (docs/performance.md: this VM kind is bimodal, ~110
 * or ~510 ns, and changes every few seconds to minutes): the median round
 * trip of one cache line bounced between two processes, each pinned to a
 * CPU of its own when there are two (the caller's affinity is restored
 * after).  One shared word, made odd by the caller and even by a forked
 * child; 10^5 round trips timed in batches of 100 (at most about 1 s).
 * name: the benchmark's, for messages.  0 with *ns set; 1 after
 * bench_fork's message (no child); -1 after a message (mmap, or the child
 * stopped answering). */
int bench_machine_mode(const char *name, double *ns);
/* The same with `batches` timed batches of 100 (1..1000; 0 or more: 1000):
 * a shorter probe to run between measures (200: about 2-10 ms and a fork).
 * The child closes keep_out if >= 0 (as bench_child_bind).  The caller's
 * affinity must allow two CPUs, or the two sides share one: unpin first. */
int bench_machine_probe(const char *name, unsigned batches, int keep_out, double *ns);
/* Below this round trip the machine is "near", from it on "far". */
#define BENCH_NEAR_NS 250
/* "near" or "far" for a round trip of ns. */
const char *bench_mode_name(double ns);

/* ---- stats.c ---- */

/* Repetitions of a measure that keep one value per run. */
#define BENCH_MAX_RUNS 50
/* Quantile q (0..1) of v[0..n), sorting v; 0 if n is 0. */
double bench_quantile(double *v, size_t n, double q);
/* Median, minimum, maximum of v[0..n), n <= BENCH_MAX_RUNS, v untouched. */
double bench_median(const double *v, size_t n);
double bench_min(const double *v, size_t n);
double bench_max(const double *v, size_t n);

/* Samples of one method and their statistics. */
struct bench_series {
	uint64_t *ns;
	size_t n;
	double median, p99;
};

/* Room for `total` samples in each of the n series.  0, or 1 after a
 * message; bench_series_free() in either case. */
int bench_series_alloc(struct bench_series *s, int n, size_t total);
void bench_series_free(struct bench_series *s, int n);
/* Sort the samples and set the median and the 99th percentile. */
void bench_series_finish(struct bench_series *s);
/* a / b, or 0 if b is not positive. */
double bench_ratio(double a, double b);

/* {"benchmark":"NAME","iterations":N,"repetitions":N  (no closing brace) */
void bench_json_head(const char *name, const struct bench_opts *o);
/* ,"NAME":{"median_ns":N,"p99_ns":N} */
void bench_json_series(const char *name, const struct bench_series *s);
/* "  LABEL   median   p99" rows: label_w wide labels, num_w wide numbers
 * in microseconds. */
void bench_text_head(int label_w);
void bench_text_row(int label_w, int num_w, const char *label, const struct bench_series *s);

#endif
