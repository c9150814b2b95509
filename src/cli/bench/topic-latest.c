/* SPDX-License-Identifier: MIT */
/* ivshmem bench topic, latest mode: one publisher that never waits and N
 * subscriber processes (N = 1, 2, 4, 8) that take the newest message, 64 B
 * and 4 KiB messages, against the floor in the same run: a raw seqlock in
 * shared memory (one buffer under one sequence counter, odd while written,
 * even when done; N reader processes poll it and copy and checksum what
 * changed, retrying a torn read), same size, same N, same time.
 *
 * The publisher (this process) writes as fast as it can for --seconds,
 * each message in place (the topic's reserve/commit with timeout 0; the
 * floor's buffer), stamped with its number and CLOCK_MONOTONIC ns.  Every
 * reader reads every byte (a checksum of words that depend on the number,
 * so a torn message shows), checks the number (against ivshmem_topic_last's
 * seq, and the skipped count against the numbers; the floor: against the
 * counter), and counts the age of what it read, now - stamp once the read
 * is known whole, in a histogram (buckets 3% wide).  Per subscriber: the
 * messages taken per second, the fraction skipped, age p50 and p99; per
 * measure: the publisher's rate, and every subscriber's taken + skipped
 * must be what was published.  --runs repetitions, interleaved (per round:
 * each size, each N, topic then floor); medians over them.
 *
 * Reading the ages: a topic read that was preempted still counts when the
 * publisher did not come round to its buffer meanwhile (64 buffers at
 * 64 B, 15 at 4 KiB), where the floor's single buffer makes it torn and
 * retried; so the topic's p99 holds such stale reads and the floor's
 * doesn't.  At 4 KiB the floor's readers mostly retry (a copy takes as long
 * as the next write): it bounds the publish rate there, not the age.
 *
 * The machine is bimodal (README, Performance): a cache-line ping-pong
 * before and after these measures gives its mode.  Processes are not
 * pinned: up to nine share the machine's CPUs, in both the topic and the
 * floor. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/topic.h"
#include "cli/cli.h"
#include "util/util.h"

#define NN 4
static const unsigned subs_of[NN] = {1, 2, 4, 8};
#define MAX_SUBS 8
#define NSIZE 2
static const size_t size_of[NSIZE] = {64, 4096};
static const char *const size_name[NSIZE] = {"64 B", "4 KiB"};
/* Ring bytes: 64 and 15 buffers. */
static const uint64_t ring_of[NSIZE] = {8192, 65536};
#define MAX_MSG 4096
#define WAIT_MS 5000 /* the bound on any one wait */

enum method { L_TOPIC, L_FLOOR, L_N };
static const char *const method_key[L_N] = {"topic", "floor"};
static const char *const method_name[L_N] = {"latest-mode topic", "raw seqlock"};

/* ---- messages ----------------------------------------------------------- */

/* A message: its number, its stamp, then words pattern[i] + number. */
static uint64_t pattern[MAX_MSG / 8];
static uint64_t pattern_sum[NSIZE];

static void init_pattern(void)
{
	for (size_t i = 0; i < MAX_MSG / 8; i++)
		pattern[i] = 0x9e3779b97f4a7c15ull * (i + 1);
	for (int si = 0; si < NSIZE; si++) {
		pattern_sum[si] = 0;
		for (size_t i = 2; i < size_of[si] / 8; i++)
			pattern_sum[si] += pattern[i];
	}
}

static void fill(unsigned char *p, size_t len, uint64_t num, uint64_t stamp)
{
	memcpy(p, &num, 8);
	memcpy(p + 8, &stamp, 8);
	for (size_t i = 2; i < len / 8; i++) {
		uint64_t w = pattern[i] + num;
		memcpy(p + 8 * i, &w, 8);
	}
}

/* Read all of message p (n bytes): its number and stamp; true if it is
 * whole (size, checksum). */
static bool check(const unsigned char *p, size_t n, int si, uint64_t *num, uint64_t *stamp)
{
	memcpy(num, p, 8);
	memcpy(stamp, p + 8, 8);
	uint64_t s = 0, w;
	for (size_t i = 16; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	return n == size_of[si] && s == pattern_sum[si] + (size_of[si] / 8 - 2) * *num;
}

/* ---- ages: a log-linear histogram --------------------------------------- */

#define H_LIN 64 /* 0..63 ns one bucket each */
#define H_SUB 32 /* then 32 buckets per power of two */
#define H_TOP 40 /* up to 2^40 ns */
#define H_N (H_LIN + (H_TOP - 6) * H_SUB)

static unsigned h_index(uint64_t v)
{
	if (v < H_LIN)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v); /* >= 6 */
	if (e >= H_TOP)
		return H_N - 1;
	return H_LIN + (e - 6) * H_SUB + (unsigned)((v >> (e - 5)) & (H_SUB - 1));
}

/* The middle of bucket i. */
static double h_value(unsigned i)
{
	if (i < H_LIN)
		return i;
	unsigned k = i - H_LIN, e = 6 + k / H_SUB;
	uint64_t lo = (uint64_t)(H_SUB + k % H_SUB) << (e - 5);
	return (double)lo + (double)(1ull << (e - 5)) / 2;
}

/* Quantile q of the n values counted in h. */
static double h_quantile(const uint64_t *h, uint64_t n, double q)
{
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)(n - 1) + 0.5), seen = 0;
	for (unsigned i = 0; i < H_N; i++) {
		seen += h[i];
		if (seen > rank)
			return h_value(i);
	}
	return h_value(H_N - 1);
}

/* ---- what the processes share ------------------------------------------- */

/* A reader's result: counted in its own memory, copied here at the end. */
struct reader_res {
	uint64_t taken, skipped;
	uint64_t bad;  /* a wrong size, checksum, number or skipped count */
	uint64_t torn; /* reads discarded: overwritten while read */
	int err;       /* what ended it other than the end */
	uint64_t hist[H_N];
};

struct shared {
	_Alignas(64) _Atomic uint64_t seq;   /* the floor's sequence counter */
	_Alignas(64) unsigned char msg[MAX_MSG]; /* the floor's buffer */
	_Alignas(64) _Atomic unsigned ready; /* readers attached */
	_Atomic int done;		     /* the floor's publisher stopped */
	struct {
		_Alignas(64) struct reader_res res;
		_Atomic int done; /* res is whole */
	} rd[MAX_SUBS];
};

/* ---- readers (children) ------------------------------------------------- */

static void count(struct reader_res *res, bool whole, uint64_t skipped, uint64_t now, uint64_t stamp)
{
	res->bad += !whole;
	res->taken++;
	res->skipped += skipped;
	res->hist[h_index(now >= stamp ? now - stamp : 0)]++;
}

/* Take the newest message (peek, read, release) until the end (-EPIPE). */
static void read_topic(ivshmem_ep *ep, int si, struct shared *sh, struct reader_res *res)
{
	char name[8];
	snprintf(name, sizeof(name), "l%d", si);
	ivshmem_topic *t = NULL;
	if ((res->err = ivshmem_topic_open(ep, name, IVSHMEM_TOPIC_SUBSCRIBER, NULL, &t)) < 0)
		return;
	atomic_fetch_add(&sh->ready, 1);
	uint64_t prev = 0;
	for (;;) {
		const void *p;
		ssize_t n = ivshmem_topic_peek(t, &p, WAIT_MS);
		if (n == -EPIPE)
			break;
		if (n == -ECONNRESET)
			continue;
		if (n < 0) {
			res->err = (int)n;
			break;
		}
		uint64_t num, stamp, seq, skipped;
		bool whole = check(p, (size_t)n, si, &num, &stamp);
		int r = ivshmem_topic_release(t);
		if (r == -EAGAIN) {
			res->torn++;
			continue;
		}
		uint64_t now = ivs_now_ns();
		if (r == 0)
			r = ivshmem_topic_last(t, &seq, &skipped);
		if (r < 0) {
			res->err = r;
			break;
		}
		if (res->taken && skipped != seq - prev - 1)
			res->bad++;
		count(res, whole && num == seq, skipped, now, stamp);
		prev = seq;
	}
	ivshmem_topic_close(t);
}

/* Poll the floor's counter; copy, check and count what changed, until the
 * publisher is done and its last message is read. */
static void read_floor(int si, struct shared *sh, struct reader_res *res)
{
	static _Alignas(64) unsigned char buf[MAX_MSG];
	size_t len = size_of[si];
	atomic_fetch_add(&sh->ready, 1);
	uint64_t last = 0, prev = 0, idle_until = 0;
	for (unsigned i = 0;;) {
		uint64_t s1 = atomic_load_explicit(&sh->seq, memory_order_acquire);
		if (s1 == last || (s1 & 1)) {
			if (s1 == last && atomic_load_explicit(&sh->done, memory_order_acquire) &&
			    atomic_load_explicit(&sh->seq, memory_order_acquire) == last)
				break;
			for (int k = 0; k < 16; k++)
				bench_cpu_relax();
			if ((++i & 1023) == 0) {
				uint64_t now = ivs_now_ns();
				if (!idle_until)
					idle_until = now + (uint64_t)WAIT_MS * 1000000u;
				else if (now >= idle_until) {
					res->err = -ETIMEDOUT;
					break;
				}
			}
			continue;
		}
		memcpy(buf, sh->msg, len);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&sh->seq, memory_order_relaxed) != s1) {
			res->torn++;
			continue;
		}
		uint64_t num, stamp, m = s1 / 2 - 1; /* message m: 2m + 1, then 2m + 2 */
		bool whole = check(buf, len, si, &num, &stamp);
		uint64_t now = ivs_now_ns();
		count(res, whole && num == m, res->taken ? m - prev - 1 : m, now, stamp);
		prev = m;
		last = s1;
		i = 0;
		idle_until = 0;
	}
}

/* ---- publishers (this process) ------------------------------------------ */

/* Publish for secs: *count messages in *ns. */
static int publish_topic(ivshmem_ep *ep, int si, double secs, uint64_t *count, uint64_t *ns)
{
	static struct ivshmem_topic_stat st;
	char name[8];
	snprintf(name, sizeof(name), "l%d", si);
	ivshmem_topic *t = NULL;
	int r = ivshmem_topic_open(ep, name, IVSHMEM_TOPIC_PUBLISHER, NULL, &t);
	if (r == 0)
		r = ivshmem_topic_stat(t, &st); /* it numbers on from what was published */
	size_t len = size_of[si];
	uint64_t base = st.published, m = 0;
	uint64_t t0 = ivs_now_ns(), end = t0 + (uint64_t)(secs * 1e9), stamp = t0;
	while (r == 0 && stamp < end) {
		void *p;
		stamp = ivs_now_ns();
		if ((r = ivshmem_topic_reserve(t, len, &p, 0)) < 0)
			break;
		fill(p, len, base + m, stamp);
		if ((r = ivshmem_topic_commit(t, len)) == 0)
			m++;
	}
	*ns = ivs_now_ns() - t0;
	*count = m;
	ivshmem_topic_close(t);
	return r;
}

static void publish_floor(struct shared *sh, int si, double secs, uint64_t *count, uint64_t *ns)
{
	size_t len = size_of[si];
	uint64_t t0 = ivs_now_ns(), end = t0 + (uint64_t)(secs * 1e9), stamp = t0, m = 0;
	while (stamp < end) {
		stamp = ivs_now_ns();
		atomic_store_explicit(&sh->seq, 2 * m + 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		fill(sh->msg, len, m, stamp);
		atomic_store_explicit(&sh->seq, 2 * m + 2, memory_order_release);
		m++;
	}
	*ns = ivs_now_ns() - t0;
	*count = m;
	atomic_store_explicit(&sh->done, 1, memory_order_release);
}

/* ---- one measure -------------------------------------------------------- */

/* One measure's figures. */
struct measure {
	bool ok;
	double pub_s;			     /* messages published per second */
	double taken_s[MAX_SUBS];	     /* each reader's messages taken per second */
	double skipped[MAX_SUBS];	     /* the fraction of the published it skipped */
	double p50[MAX_SUBS], p99[MAX_SUBS]; /* its ages, ns */
	double bad[MAX_SUBS];		     /* its wrong messages (any fails the measure) */
	double taken_mean, taken_min, skipped_mean; /* over the readers */
	double p50_all, p99_all;	     /* every reader's ages together */
	double torn;			     /* reads discarded per message taken */
};

static struct measure runs[NSIZE][NN][L_N][BENCH_MAX_RUNS];
static double mode_ns[2];  /* the ping-pong before and after */
static unsigned n_runs;
static double run_secs;

static void reap_all(const pid_t *pid, unsigned n, int ms)
{
	for (unsigned i = 0; i < n; i++)
		bench_reap(pid[i], ms);
}

/* Until every reader is attached: true, or false after WAIT_MS or when
 * one ended. */
static bool all_ready(struct shared *sh, unsigned n)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)WAIT_MS * 1000000u;
	while (atomic_load(&sh->ready) < n) {
		for (unsigned i = 0; i < n; i++)
			if (atomic_load(&sh->rd[i].done))
				return false;
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(100); /* poll interval */
	}
	return true;
}

/* What the readers' results say, summed into out; NULL if they are all
 * right, else why not. */
static const char *collect(struct shared *sh, unsigned n, uint64_t count, double secs, struct measure *out,
			   int *err)
{
	static uint64_t all[H_N];
	memset(all, 0, sizeof(all));
	uint64_t taken = 0, torn = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct reader_res *r = &sh->rd[i].res;
		if (!atomic_load_explicit(&sh->rd[i].done, memory_order_acquire))
			return "a reader did not finish";
		if (r->err) {
			*err = r->err;
			return NULL;
		}
		static char why[160];
		if (r->bad)
			return snprintf(why, sizeof(why), "reader %u got %llu wrong messages (size, checksum, number or "
				 "skipped count) of %llu", i, (unsigned long long)r->bad,
				 (unsigned long long)r->taken), why;
		if (r->taken + r->skipped != count)
			return snprintf(why, sizeof(why), "reader %u took %llu and skipped %llu of %llu published", i,
					(unsigned long long)r->taken, (unsigned long long)r->skipped,
					(unsigned long long)count), why;
		for (unsigned b = 0; b < H_N; b++)
			all[b] += r->hist[b];
		out->bad[i] = (double)r->bad;
		out->taken_s[i] = (double)r->taken / secs;
		out->skipped[i] = count ? (double)r->skipped / (double)count : 0;
		out->p50[i] = h_quantile(r->hist, r->taken, 0.5);
		out->p99[i] = h_quantile(r->hist, r->taken, 0.99);
		taken += r->taken;
		torn += r->torn;
	}
	double sk = 0;
	for (unsigned i = 0; i < n; i++)
		sk += out->skipped[i];
	out->taken_mean = (double)taken / secs / n;
	out->taken_min = bench_min(out->taken_s, n);
	out->skipped_mean = sk / n;
	out->p50_all = h_quantile(all, taken, 0.5);
	out->p99_all = h_quantile(all, taken, 0.99);
	out->torn = taken ? (double)torn / (double)taken : 0;
	return NULL;
}

/* One measure of method m with n readers and size si.  0, 1 after a
 * message (a fork failed: the rest would fail too), -1 after a message. */
static int measure(ivshmem_ep *ep, struct shared *sh, enum method m, int si, unsigned n, double secs,
		   struct measure *out)
{
	atomic_store(&sh->seq, 0);
	atomic_store(&sh->ready, 0);
	atomic_store(&sh->done, 0);
	for (unsigned i = 0; i < MAX_SUBS; i++)
		atomic_store(&sh->rd[i].done, 0);
	pid_t pid[MAX_SUBS], parent = getpid();
	unsigned k = 0;
	for (; k < n; k++) {
		pid[k] = bench_fork("topic", m == L_TOPIC ? "a latest-mode subscriber" : "a seqlock reader");
		if (pid[k] < 0) {
			reap_all(pid, k, 0);
			return 1;
		}
		if (pid[k] == 0) {
			static struct reader_res res;
			bench_child_signals();
			memset(&res, 0, sizeof(res));
			if (bench_child_bind(parent, -1) == 0) {
				if (m == L_TOPIC)
					read_topic(ep, si, sh, &res);
				else
					read_floor(si, sh, &res);
			} else {
				res.err = -ESRCH;
			}
			sh->rd[k].res = res;
			atomic_store_explicit(&sh->rd[k].done, 1, memory_order_release);
			_exit(0);
		}
	}
	if (!all_ready(sh, n)) {
		reap_all(pid, n, 0);
		int e = 0;
		for (unsigned i = 0; i < n && !e; i++)
			if (atomic_load(&sh->rd[i].done))
				e = sh->rd[i].res.err;
		if (e)
			return cli_error("bench topic: %s, %u reader(s), %s: %s", method_name[m], n, size_name[si],
					 strerror(-e)), -1;
		return cli_error("bench topic: %s: the readers did not attach within %d ms", method_name[m],
				 WAIT_MS), -1;
	}
	uint64_t cnt = 0, ns = 0;
	int err = 0;
	if (m == L_TOPIC)
		err = publish_topic(ep, si, secs, &cnt, &ns);
	else
		publish_floor(sh, si, secs, &cnt, &ns);
	reap_all(pid, n, err ? 0 : WAIT_MS * 2);
	double s = (double)ns / 1e9;
	const char *why = err ? NULL : collect(sh, n, cnt, s, out, &err);
	if (err || why)
		return cli_error("bench topic: %s, %u reader(s), %s: %s", method_name[m], n, size_name[si],
				 err ? strerror(-err) : why), -1;
	out->pub_s = s > 0 ? (double)cnt / s : 0;
	out->ok = true;
	return 0;
}

/* ---- the runs ----------------------------------------------------------- */

static int create_topics(ivshmem_ep *ep)
{
	char name[8];
	for (int si = 0; si < NSIZE; si++) {
		struct ivshmem_topic_config c = {.size = ring_of[si], .max_msg = size_of[si],
						 .subscribers = MAX_SUBS, .mode = IVSHMEM_TOPIC_LATEST};
		snprintf(name, sizeof(name), "l%d", si);
		int r = ivshmem_topic_create(ep, name, &c);
		if (r < 0)
			return cli_lib_error("the region", "create the latest-mode topics in", r);
	}
	return 0;
}

int topic_latest_run(ivshmem_ep *ep, double secs, unsigned nruns)
{
	n_runs = nruns;
	run_secs = secs;
	init_pattern();
	if (create_topics(ep))
		return 1;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return cli_error("bench topic: mmap: %s", strerror(errno));
	int rc = bench_machine_mode("topic", &mode_ns[0]) ? 1 : 0;
	for (unsigned r = 0; rc == 0 && r < nruns; r++)
		for (int si = 0; rc == 0 && si < NSIZE; si++)
			for (int ni = 0; rc == 0 && ni < NN; ni++)
				for (int m = 0; rc == 0 && m < L_N; m++)
					if (measure(ep, sh, (enum method)m, si, subs_of[ni], secs, &runs[si][ni][m][r]))
						rc = 1;
	if (rc == 0 && bench_machine_mode("topic", &mode_ns[1]))
		rc = 1;
	munmap(sh, sizeof(*sh));
	return rc;
}

/* ---- the report --------------------------------------------------------- */

/* Medians over the runs of one (size, N, method). */
struct summary {
	double pub_s, taken_mean, taken_min, skipped, p50, p99, torn;
	double taken_s[MAX_SUBS], skipped_sub[MAX_SUBS], p50_sub[MAX_SUBS], p99_sub[MAX_SUBS], bad[MAX_SUBS];
};

/* The median over the runs of the double at byte offset off in struct
 * measure. */
static double med(int si, int ni, int m, size_t off)
{
	double v[BENCH_MAX_RUNS];
	size_t k = 0;
	for (unsigned r = 0; r < n_runs; r++)
		if (runs[si][ni][m][r].ok)
			memcpy(&v[k++], (const char *)&runs[si][ni][m][r] + off, sizeof(double));
	return bench_median(v, k);
}
#define MED(field) med(si, ni, m, offsetof(struct measure, field))
#define MED_SUB(field, i) med(si, ni, m, offsetof(struct measure, field) + (i) * sizeof(double))

static void summarize(int si, int ni, int m, struct summary *s)
{
	s->pub_s = MED(pub_s);
	s->taken_mean = MED(taken_mean);
	s->taken_min = MED(taken_min);
	s->skipped = MED(skipped_mean);
	s->p50 = MED(p50_all);
	s->p99 = MED(p99_all);
	s->torn = MED(torn);
	for (unsigned i = 0; i < subs_of[ni]; i++) {
		s->taken_s[i] = MED_SUB(taken_s, i);
		s->skipped_sub[i] = MED_SUB(skipped, i);
		s->p50_sub[i] = MED_SUB(p50, i);
		s->p99_sub[i] = MED_SUB(p99, i);
		s->bad[i] = MED_SUB(bad, i);
	}
}

static bool mode_changed(void)
{
	return strcmp(bench_mode_name(mode_ns[0]), bench_mode_name(mode_ns[1])) != 0;
}

void topic_latest_text(void)
{
	printf("\nLatest mode: the publisher never waits, each subscriber takes the newest message; the floor is "
	       "a raw seqlock\n(one buffer, N polling readers that copy and checksum), same size, N and time; "
	       "medians of %u runs x %.2f s\n",
	       n_runs, run_secs);
	printf("machine mode: %s before (%.0f ns cache-line round trip), %s after (%.0f ns)%s\n",
	       bench_mode_name(mode_ns[0]), mode_ns[0], bench_mode_name(mode_ns[1]), mode_ns[1],
	       mode_changed() ? ": CHANGED during the measures, figures mix both modes" : "");
	for (int si = 0; si < NSIZE; si++) {
		static struct summary s[NN][L_N];
		bool starved = false;
		for (int ni = 0; ni < NN; ni++)
			for (int m = 0; m < L_N; m++)
				summarize(si, ni, m, &s[ni][m]);
		printf("\n%s latest: msgs/s (taken: per subscriber, mean and slowest; skipped: of those published)\n",
		       size_name[si]);
		printf("%3s %11s %11s %7s %11s %11s %11s %8s %8s\n", "N", "publish", "floor", "ratio", "taken/sub",
		       "slowest", "floor", "skipped", "floor");
		for (int ni = 0; ni < NN; ni++) {
			const struct summary *t = &s[ni][L_TOPIC], *f = &s[ni][L_FLOOR];
			printf("%3u %11.3g %11.3g %6.2fx %11.3g %11.3g %11.3g %7.1f%% %7.1f%%\n", subs_of[ni], t->pub_s,
			       f->pub_s, bench_ratio(t->pub_s, f->pub_s), t->taken_mean, t->taken_min, f->taken_mean,
			       100 * t->skipped, 100 * f->skipped);
		}
		printf("%s latest: age of what a subscriber reads, now - stamp (ns, all reads of all subscribers)\n",
		       size_name[si]);
		printf("%3s %9s %9s %7s %9s %9s %7s %11s %8s\n", "N", "p50", "floor", "ratio", "p99", "floor", "ratio",
		       "torn/taken", "floor");
		for (int ni = 0; ni < NN; ni++) {
			const struct summary *t = &s[ni][L_TOPIC], *f = &s[ni][L_FLOOR];
			printf("%3u %9.0f %9.0f %6.2fx %9.0f %9.0f %6.2fx %11.4f %8.4f\n", subs_of[ni], t->p50, f->p50,
			       bench_ratio(t->p50, f->p50), t->p99, f->p99, bench_ratio(t->p99, f->p99), t->torn,
			       f->torn);
			starved |= f->torn > 1;
		}
		if (starved)
			printf("(the floor's one buffer is rewritten faster than its readers copy it, torn/taken > 1: "
			       "at %s it bounds the publish rate, not the age)\n",
			       size_name[si]);
	}
}

static void json_side(const struct summary *s, unsigned n)
{
	double bad = 0;
	for (unsigned i = 0; i < n; i++)
		bad += s->bad[i];
	printf("{\"publish_msgs_s\":%.6g,\"taken_msgs_s_per_sub\":%.6g,\"slowest_taken_msgs_s\":%.6g,"
	       "\"skipped_frac\":%.6f,\"age_p50_ns\":%.0f,\"age_p99_ns\":%.0f,\"torn_per_taken\":%.6f,\"bad\":%.0f,"
	       "\"subscribers\":[",
	       s->pub_s, s->taken_mean, s->taken_min, s->skipped, s->p50, s->p99, s->torn, bad);
	for (unsigned i = 0; i < n; i++)
		printf("%s{\"taken_msgs_s\":%.6g,\"skipped_frac\":%.6f,\"age_p50_ns\":%.0f,\"age_p99_ns\":%.0f,"
		       "\"bad\":%.0f}",
		       i ? "," : "", s->taken_s[i], s->skipped_sub[i], s->p50_sub[i], s->p99_sub[i], s->bad[i]);
	printf("]}");
}

void topic_latest_json(void)
{
	printf("\"latest\":{\"runs\":%u,\"seconds\":%.3f,\"pingpong_ns_before\":%.1f,\"pingpong_ns_after\":%.1f,"
	       "\"mode_before\":\"%s\",\"mode_after\":\"%s\",\"mode_changed\":%s,\"sizes\":{",
	       n_runs, run_secs, mode_ns[0], mode_ns[1], bench_mode_name(mode_ns[0]), bench_mode_name(mode_ns[1]),
	       mode_changed() ? "true" : "false");
	for (int si = 0; si < NSIZE; si++) {
		printf("%s\"%zu\":{", si ? "," : "", size_of[si]);
		for (int ni = 0; ni < NN; ni++) {
			struct summary s[L_N];
			for (int m = 0; m < L_N; m++)
				summarize(si, ni, m, &s[m]);
			printf("%s\"%u\":{", ni ? "," : "", subs_of[ni]);
			for (int m = 0; m < L_N; m++) {
				printf("\"%s\":", method_key[m]);
				json_side(&s[m], subs_of[ni]);
				printf(",");
			}
			const struct summary *t = &s[L_TOPIC], *f = &s[L_FLOOR];
			printf("\"ratio_publish\":%.4f,\"ratio_age_p50\":%.4f,\"ratio_age_p99\":%.4f}",
			       bench_ratio(t->pub_s, f->pub_s), bench_ratio(t->p50, f->p50), bench_ratio(t->p99, f->p99));
		}
		printf("}");
	}
	printf("}}");
}
