/* SPDX-License-Identifier: MIT */
/* CPU pinning, the machine's state around a run, and its mode.  See
 * bench.h. */
#include "bench/bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

void bench_cpus_init(struct bench_cpus *c, bool pin)
{
	c->cpu[0] = c->cpu[1] = -1;
	c->have_all = sched_getaffinity(0, sizeof(c->all), &c->all) == 0;
	c->online = sysconf(_SC_NPROCESSORS_ONLN);
	if (!pin || !c->have_all || CPU_COUNT(&c->all) < 2)
		return;
	for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
		if (CPU_ISSET(i, &c->all))
			c->cpu[k++] = i;
	bench_pin(c, 0);
}

void bench_pin(const struct bench_cpus *c, int who)
{
	if (who < 0) {
		if (c->have_all)
			(void)sched_setaffinity(0, sizeof(c->all), &c->all);
		return;
	}
	if (c->cpu[who] < 0)
		return;
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(c->cpu[who], &s);
	(void)sched_setaffinity(0, sizeof(s), &s);
}

void bench_machine_sample(struct bench_machine *m)
{
	m->load1 = -1;
	m->jiffies = m->steal = 0;
	FILE *f = fopen("/proc/loadavg", "re");
	if (f) {
		if (fscanf(f, "%lf", &m->load1) != 1)
			m->load1 = -1;
		fclose(f);
	}
	unsigned long long v[8] = {0};
	f = fopen("/proc/stat", "re");
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			m->jiffies += v[i];
		m->steal = v[7];
	}
	fclose(f);
}

double bench_steal_pct(const struct bench_machine *a, const struct bench_machine *b)
{
	if (b->jiffies <= a->jiffies || b->steal < a->steal)
		return 0;
	return 100.0 * (double)(b->steal - a->steal) / (double)(b->jiffies - a->jiffies);
}

/* ---- the machine's mode: a cache-line ping-pong ----------------------- */

#define PP_BATCH 100	      /* round trips per timed batch */
#define PP_BATCHES 1000	      /* timed batches: 10^5 round trips */
#define PP_WARMUP 20	      /* batches before the timed ones */
#define PP_MAX_NS 1000000000u /* the whole ping-pong, at most */
#define PP_WAIT_NS 1000000000u /* the bound on one wait for the other side */

struct pp_line {
	_Alignas(64) _Atomic uint64_t word; /* odd: the caller's turn is over */
	char pad[56];
};

/* Spin until *w == want (any odd value if want is 0); false after
 * PP_WAIT_NS. */
static bool pp_wait(_Atomic uint64_t *w, uint64_t want, uint64_t *got)
{
	uint64_t deadline = 0;
	for (unsigned i = 0;; i++) {
		uint64_t v = atomic_load_explicit(w, memory_order_acquire);
		if (want ? v == want : (v & 1)) {
			*got = v;
			return true;
		}
		bench_cpu_relax();
		if ((i & 1023) == 1023) {
			uint64_t now = ivs_now_ns();
			if (!deadline)
				deadline = now + PP_WAIT_NS;
			else if (now >= deadline)
				return false;
		}
	}
}

/* The child: answer every odd value with the next even one, until the
 * caller writes UINT64_MAX (or stops answering). */
static void pp_child(struct pp_line *l)
{
	for (;;) {
		uint64_t v;
		if (!pp_wait(&l->word, 0, &v) || v == UINT64_MAX)
			return;
		atomic_store_explicit(&l->word, v + 1, memory_order_release);
	}
}

int bench_machine_mode(const char *name, double *ns)
{
	return bench_machine_probe(name, PP_BATCHES, -1, ns);
}

int bench_machine_probe(const char *name, unsigned batches, int keep_out, double *ns)
{
	if (batches == 0 || batches > PP_BATCHES)
		batches = PP_BATCHES;
	struct pp_line *l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (l == MAP_FAILED)
		return cli_error("bench %s: cache-line ping-pong: mmap: %s", name, strerror(errno)), -1;
	atomic_store_explicit(&l->word, 0, memory_order_relaxed);
	struct bench_cpus c;
	bench_cpus_init(&c, true);
	pid_t parent = getpid();
	pid_t pid = bench_fork(name, "the cache-line ping-pong's child");
	if (pid < 0) {
		bench_pin(&c, -1);
		munmap(l, sizeof(*l));
		return 1;
	}
	if (pid == 0) {
		bench_child_signals();
		bench_pin(&c, 1);
		if (bench_child_bind(parent, keep_out) == 0)
			pp_child(l);
		_exit(0);
	}
	static double v[PP_BATCHES];
	size_t k = 0;
	uint64_t w = 0, got, start = ivs_now_ns();
	bool ok = true;
	for (unsigned b = 0; ok && b < PP_WARMUP + batches; b++) {
		uint64_t t0 = ivs_now_ns();
		for (unsigned j = 0; ok && j < PP_BATCH; j++, w += 2) {
			atomic_store_explicit(&l->word, w + 1, memory_order_release);
			ok = pp_wait(&l->word, w + 2, &got);
		}
		uint64_t t1 = ivs_now_ns();
		if (ok && b >= PP_WARMUP)
			v[k++] = (double)(t1 - t0) / PP_BATCH;
		if (t1 - start >= PP_MAX_NS) /* one CPU, or a very slow one */
			break;
	}
	atomic_store_explicit(&l->word, UINT64_MAX, memory_order_release);
	bench_reap(pid, ok ? 1000 : 0);
	bench_pin(&c, -1);
	munmap(l, sizeof(*l));
	if (!ok || k == 0)
		return cli_error("bench %s: cache-line ping-pong: the child stopped answering", name), -1;
	*ns = bench_quantile(v, k, 0.5);
	return 0;
}

const char *bench_mode_name(double ns)
{
	return ns < BENCH_NEAR_NS ? "near" : "far";
}
