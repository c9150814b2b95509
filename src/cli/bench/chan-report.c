/* SPDX-License-Identifier: MIT */
/* The channel benchmark's report: every measure's median per machine mode
 * (over the runs in which that measure stayed in the mode) and over all
 * runs, its ratios to the floors and to the alternatives, the targets; as
 * text or JSON.  A ratio or a target compares medians of one mode; a target
 * is met when it is met in every mode that has both figures (over all runs,
 * modes mixed, only when no mode has them).  See chan.h. */
#include "bench/chan.h"

#include <stdio.h>
#include <string.h>

enum set { S_NEAR, S_FAR, S_ALL, S_N };
static const char *const set_key[S_N] = {"near", "far", "all"};

/* The medians of one measure over the runs of a set. */
struct fig {
	double v, p99, per_msg;
	unsigned n; /* runs */
};

/* The ratios printed: targets first, then information. */
enum {
	Q_64,
	Q_64_POLL,
	Q_RT_POLL,
	Q_ZC_FLOOR,
	Q_ZC_UNIX,
	Q_COPY_ZC,
	Q_64_UNIX,
	N_TARGETS,
	Q_COPY_FLOOR = N_TARGETS,
	Q_64_BATCH,
	Q_ZC64_BATCH,
	Q_64_PIPE,
	Q_COPY_UNIX,
	Q_ZC_PIPE,
	Q_FLOOR_MEMCPY,
	Q_RINGS_LINE,
	Q_RT_POLL_RINGS,
	Q_RT_POLL_EFD,
	Q_RT_FUTEX_EFD,
	Q_RT_BELL_EFD,
	Q_N
};
static const struct ratio {
	const char *key;
	enum chan_m a, b; /* a / b */
	double limit;	  /* a target: a / b >= limit (at_most: <=) */
	bool at_most;
	const char *text; /* a target's */
} ratios[Q_N] = {
	/* b is a floor for Q_64, Q_64_POLL, Q_RT_POLL, Q_ZC_FLOOR, Q_COPY_FLOOR,
	 * Q_64_BATCH, Q_ZC64_BATCH (floor_of()) */
	[Q_64] = {"chan_64b_vs_floor", CM_CHAN64, CM_FLOOR64, 0.8, false,
		  "64 B msgs/s >= 0.8x the raw ring (16 pauses/poll)"},
	[Q_64_POLL] = {"chan_64b_poll_vs_floor", CM_CHAN64_POLL, CM_FLOOR64_POLL, 0.8, false,
		       "64 B polling (timeout 0) >= 0.8x the ring (1 pause)"},
	[Q_RT_POLL] = {"rt_poll_vs_line", CM_RT_POLL, CM_RT_LINE, 1.2, true,
		       "polling round trip p50 <= 1.2x the cache line's"},
	[Q_ZC_FLOOR] = {"zerocopy_64k_vs_floor", CM_ZC64K, CM_FLOOR64K, 0.95, false,
			"64 KiB zero copy >= 0.95x the raw 64 KiB ring"},
	[Q_ZC_UNIX] = {"zerocopy_64k_vs_unix", CM_ZC64K, CM_SOCK64K, 1.5, false,
		       "64 KiB zero copy >= 1.5x the UNIX socket"},
	[Q_COPY_ZC] = {"copy_64k_vs_zerocopy", CM_CHAN64K, CM_ZC64K, 0.8, false,
		       "64 KiB copy (reads the copy) >= 0.8x zero copy"},
	[Q_64_UNIX] = {"chan_64b_vs_unix", CM_CHAN64, CM_SOCK64, 15, false, "64 B msgs/s >= 15x the UNIX socket"},
	[Q_COPY_FLOOR] = {"copy_64k_vs_floor", CM_CHAN64K, CM_FLOOR64K},
	[Q_64_BATCH] = {"chan_64b_batch_vs_floor", CM_CHAN64_BATCH, CM_FLOOR64},
	[Q_ZC64_BATCH] = {"chan_64b_zerocopy_batch_vs_floor", CM_ZC64_BATCH, CM_FLOOR64},
	[Q_64_PIPE] = {"chan_64b_vs_pipe", CM_CHAN64, CM_PIPE64},
	[Q_COPY_UNIX] = {"copy_64k_vs_unix", CM_CHAN64K, CM_SOCK64K},
	[Q_ZC_PIPE] = {"zerocopy_64k_vs_pipe", CM_ZC64K, CM_PIPE64K},
	[Q_FLOOR_MEMCPY] = {"floor_64k_vs_memcpy_resident", CM_FLOOR64K, CM_MEMCPY_RES},
	[Q_RINGS_LINE] = {"rt_rings_vs_line", CM_RT_RINGS, CM_RT_LINE},
	[Q_RT_POLL_RINGS] = {"rt_poll_vs_rings", CM_RT_POLL, CM_RT_RINGS},
	[Q_RT_POLL_EFD] = {"rt_poll_vs_eventfd", CM_RT_POLL, CM_RT_EFD},
	[Q_RT_FUTEX_EFD] = {"rt_futex_vs_eventfd", CM_RT_BLOCK, CM_RT_EFD},
	[Q_RT_BELL_EFD] = {"rt_doorbell_vs_eventfd", CM_RT_BELL, CM_RT_EFD},
};

/* Does ratio q compare the channel with a floor? */
static bool floor_of(int q)
{
	return q == Q_64 || q == Q_64_POLL || q == Q_RT_POLL || q == Q_ZC_FLOOR || q == Q_COPY_FLOOR ||
	       q == Q_64_BATCH || q == Q_ZC64_BATCH;
}

/* A channel figure better than its floor (x: the ratio, < 0 none): the
 * floor is no upper bound there. */
static bool beaten(int q, double x)
{
	if (!floor_of(q) || x < 0)
		return false;
	return chan_m_info(ratios[q].a)->kind == CK_RT ? x < 1 : x > 1;
}

#define WAKEUPS_MAX 0.001
static const struct {
	enum chan_m m;
	const char *label; /* in the text report */
} woken[] = {
	{CM_CHAN64, "64 B"},
	{CM_CHAN64_BATCH, "64 B batch"},
	{CM_ZC64_BATCH, "64 B zero-copy batch"},
	{CM_CHAN64_POLL, "64 B polling"},
	{CM_CHAN64K, "64 KiB copy"},
	{CM_ZC64K, "64 KiB zero copy"},
};
#define N_WOKEN (sizeof(woken) / sizeof(woken[0]))

/* A target's verdict. */
struct verdict {
	bool met_in[2], seen[2]; /* per mode */
	bool met, any;		 /* any: measured at all */
	bool mixed;		 /* only over all runs, modes mixed */
	bool floor_beaten;	 /* the channel beat the floor it was measured against */
};

/* Everything the report prints. */
struct summary {
	struct fig f[CM_N][S_N];
	double q[Q_N][S_N]; /* ratios, -1 where a figure is missing */
	struct verdict t[N_TARGETS];
	double wake[N_WOKEN], wake_max;
	bool wake_met;
	struct fig sw[CHAN_SWEEP_MAX][SW_N][S_N]; /* the ring sizes */
	int sw_best[SW_N][S_N];			  /* index of the best, or -1 */
	double sw_gain[SW_N][S_N];		  /* best / default, or -1 */
	bool seen[2]; /* modes some measure stayed in */
	double steal;
	bool loaded;
};

/* The mode a value was measured in (S_NEAR, S_FAR), or -1: it changed. */
static int mode_of(const struct chan_val *x)
{
	bool a = x->mode[0] < BENCH_NEAR_NS, b = x->mode[1] < BENCH_NEAR_NS;
	return a != b ? -1 : a ? S_NEAR : S_FAR;
}

/* The medians over vals[0..runs) of set s. */
static struct fig figure_of(const struct chan_val *vals, unsigned runs, int s)
{
	double v[BENCH_MAX_RUNS], p[BENCH_MAX_RUNS], w[BENCH_MAX_RUNS];
	unsigned n = 0;
	for (unsigned k = 0; k < runs; k++) {
		const struct chan_val *x = &vals[k];
		if (!x->ok || (s != S_ALL && mode_of(x) != s))
			continue;
		v[n] = x->v;
		p[n] = x->p99;
		w[n++] = x->per_msg;
	}
	return (struct fig){bench_median(v, n), bench_median(p, n), bench_median(w, n), n};
}

static struct fig figure(const struct chan_runs *r, enum chan_m m, int s)
{
	if (m == CM_RT_BELL && !r->bell_ok)
		return (struct fig){0};
	return figure_of(r->v[m], r->n, s);
}

/* The ring sizes: each one's medians; per way and mode, the best (-1: no
 * figure) and its ratio to the main ring's (-1: it has no figure). */
static void summarize_sweep(const struct chan_runs *r, const struct chan_sweep *w, struct summary *m)
{
	for (int way = 0; way < SW_N; way++)
		for (int j = 0; j < S_N; j++) {
			int best = -1;
			for (unsigned i = 0; i < w->n; i++) {
				struct fig *f = &m->sw[i][way][j];
				*f = figure_of(r->sweep[i][way], r->n, j);
				if (f->n && (best < 0 || f->v > m->sw[best][way][j].v))
					best = (int)i;
			}
			const struct fig *d = &m->sw[w->main][way][j];
			m->sw_best[way][j] = best;
			m->sw_gain[way][j] = best >= 0 && d->n && d->v > 0 ? m->sw[best][way][j].v / d->v : -1;
		}
}

static void summarize(const struct chan_runs *r, const struct chan_setup *s, struct summary *m)
{
	*m = (struct summary){0};
	for (int i = 0; i < CM_N; i++)
		for (int j = 0; j < S_N; j++)
			m->f[i][j] = figure(r, (enum chan_m)i, j);
	for (int i = 0; i < CM_N; i++)
		for (int j = 0; j < 2; j++)
			m->seen[j] |= m->f[i][j].n > 0;
	for (int i = 0; i < Q_N; i++)
		for (int j = 0; j < S_N; j++) {
			const struct fig *a = &m->f[ratios[i].a][j], *b = &m->f[ratios[i].b][j];
			m->q[i][j] = a->n && b->n && b->v > 0 ? a->v / b->v : -1;
		}
	for (int i = 0; i < N_TARGETS; i++) {
		struct verdict *t = &m->t[i];
		const struct ratio *q = &ratios[i];
		bool all = true;
		for (int j = 0; j < 2; j++) {
			double x = m->q[i][j];
			if (x < 0)
				continue;
			t->seen[j] = true;
			t->met_in[j] = q->at_most ? x <= q->limit : x >= q->limit;
			all &= t->met_in[j];
		}
		t->any = t->seen[0] || t->seen[1];
		t->met = t->any && all;
		if (!t->any && m->q[i][S_ALL] >= 0) {
			double x = m->q[i][S_ALL];
			t->any = t->mixed = true;
			t->met = q->at_most ? x <= q->limit : x >= q->limit;
		}
		t->floor_beaten = t->mixed ? beaten(i, m->q[i][S_ALL])
					   : beaten(i, m->q[i][S_NEAR]) || beaten(i, m->q[i][S_FAR]);
	}
	for (size_t i = 0; i < N_WOKEN; i++) {
		m->wake[i] = m->f[woken[i].m][S_ALL].per_msg;
		if (m->wake[i] > m->wake_max)
			m->wake_max = m->wake[i];
	}
	m->wake_met = m->wake_max <= WAKEUPS_MAX;
	summarize_sweep(r, s->sweep, m);
	m->steal = bench_steal_pct(&s->before, &s->after);
	m->loaded = s->before.load1 >= 0.5;
}

static const char *const sw_key[SW_N] = {"zerocopy", "copy"};

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

/* ---- per run: the modes ----------------------------------------------- */

struct run_modes {
	double first, last;
	bool changed;	  /* some probe in another mode than the first */
	unsigned flagged; /* measures whose mode changed */
};

static struct run_modes run_modes(const struct chan_runs *r, unsigned k)
{
	struct run_modes x = {0};
	unsigned np = r->probes[k];
	if (!np)
		return x;
	x.first = r->probe[k][0];
	x.last = r->probe[k][np - 1];
	for (unsigned i = 1; i < np; i++)
		x.changed |= (r->probe[k][i] < BENCH_NEAR_NS) != (x.first < BENCH_NEAR_NS);
	for (int m = 0; m < CM_N; m++)
		x.flagged += r->v[m][k].ok && mode_of(&r->v[m][k]) < 0;
	for (unsigned i = 0; i < CHAN_SWEEP_MAX; i++)
		for (int w = 0; w < SW_N; w++)
			x.flagged += r->sweep[i][w][k].ok && mode_of(&r->sweep[i][w][k]) < 0;
	return x;
}

/* ---- JSON ------------------------------------------------------------- */

/* A number, or null when there is none (n == 0, or a ratio < 0). */
static void jnum(const char *key, double v, bool have, const char *sep)
{
	if (have)
		printf("\"%s\":%.6g%s", key, v, sep);
	else
		printf("\"%s\":null%s", key, sep);
}

static void json_measure(const struct chan_runs *r, const struct summary *m, enum chan_m i)
{
	const struct chan_m_info *in = chan_m_info(i);
	static const char *const unit[] = {[CK_MSGS] = "msgs/s", [CK_BYTES] = "bytes/s", [CK_RT] = "ns"};
	bool rt = in->kind == CK_RT, per_msg = i == CM_CHAN64 || i == CM_CHAN64_BATCH || i == CM_ZC64_BATCH ||
					      i == CM_CHAN64_POLL || i == CM_CHAN64K || i == CM_ZC64K ||
					      i == CM_RT_BLOCK || i == CM_RT_BELL;
	printf("\"%s\":{\"unit\":\"%s\"", in->key, unit[in->kind]);
	for (int j = 0; j < S_N; j++) {
		const struct fig *f = &m->f[i][j];
		if (!f->n) {
			printf(",\"%s\":null", set_key[j]);
			continue;
		}
		printf(",\"%s\":{\"median\":%.6g,", set_key[j], f->v);
		if (rt)
			printf("\"p99\":%.6g,", f->p99);
		if (per_msg)
			printf("\"%s\":%.6g,", rt ? "sleeps_per_round_trip" : "wakeups_per_msg", f->per_msg);
		printf("\"runs\":%u}", f->n);
	}
	printf(",\"per_run\":[");
	for (unsigned k = 0; k < r->n; k++) {
		const struct chan_val *x = &r->v[i][k];
		printf("%s", k ? "," : "");
		if (!x->ok || (i == CM_RT_BELL && !r->bell_ok)) {
			printf("null");
			continue;
		}
		int md = mode_of(x);
		printf("{\"value\":%.6g,", x->v);
		if (rt)
			printf("\"p99\":%.6g,", x->p99);
		printf("\"mode_before_ns\":%.1f,\"mode_after_ns\":%.1f,\"mode\":\"%s\",\"flagged\":%s}", x->mode[0],
		       x->mode[1], md < 0 ? "changed" : set_key[md], tf(md < 0));
	}
	printf("]}");
}

/* "ring_sweep": every ring size's medians per way and mode, and the best. */
static void json_sweep(const struct chan_runs *r, const struct chan_setup *s, const struct summary *m)
{
	const struct chan_sweep *w = s->sweep;
	printf("\"ring_sweep\":{\"main_ring\":%llu,\"main_is_library_default\":%s,\"seconds\":%.3f,\"rings\":[",
	       (unsigned long long)w->ring[w->main], tf(w->lib_default), s->secs / 2);
	for (unsigned i = 0; i < w->n; i++) {
		printf("%s{\"ring\":%llu,\"main\":%s", i ? "," : "", (unsigned long long)w->ring[i],
		       tf(i == w->main));
		for (int way = 0; way < SW_N; way++) {
			printf(",\"%s\":{", sw_key[way]);
			for (int j = 0; j < S_N; j++) {
				const struct fig *f = &m->sw[i][way][j];
				if (f->n)
					printf("\"%s\":{\"median\":%.6g,\"runs\":%u}", set_key[j], f->v, f->n);
				else
					printf("\"%s\":null", set_key[j]);
				printf("%s", j + 1 < S_N ? "," : "");
			}
			printf(",\"per_run\":[");
			for (unsigned k = 0; k < r->n; k++) {
				const struct chan_val *x = &r->sweep[i][way][k];
				int md = mode_of(x);
				if (x->ok)
					printf("%s{\"value\":%.6g,\"mode_before_ns\":%.1f,\"mode_after_ns\":%.1f,"
					       "\"mode\":\"%s\",\"flagged\":%s}",
					       k ? "," : "", x->v, x->mode[0], x->mode[1], md < 0 ? "changed" : set_key[md],
					       tf(md < 0));
				else
					printf("%snull", k ? "," : "");
			}
			printf("]}");
		}
		printf("}");
	}
	printf("],\"best\":{");
	for (int way = 0; way < SW_N; way++) {
		printf("%s\"%s\":{", way ? "," : "", sw_key[way]);
		for (int j = 0; j < S_N; j++) {
			int b = m->sw_best[way][j];
			if (b < 0)
				printf("\"%s\":null", set_key[j]);
			else {
				printf("\"%s\":{\"ring\":%llu,", set_key[j], (unsigned long long)w->ring[b]);
				jnum("vs_main", m->sw_gain[way][j], m->sw_gain[way][j] >= 0, "}");
			}
			printf("%s", j + 1 < S_N ? "," : "");
		}
		printf("}");
	}
	printf("}}");
}

static void report_json(const struct chan_runs *r, const struct chan_setup *s, const struct summary *m)
{
	const struct bench_cpus *c = s->cpus;
	printf("{\"benchmark\":\"chan\",\"endpoint\":\"%s\",\"seconds\":%.2f,\"runs\":%u,\"pinned_cpus\":[%d,%d],"
	       "\"cpus\":%ld,\"loadavg_start\":%.2f,\"loadavg_end\":%.2f,\"steal_pct\":%.1f,\"loaded\":%s,"
	       "\"ring_64b\":%llu,\"ring_64k\":%llu,\"floor_memory\":\"%s\",",
	       s->kind, s->secs, r->n, c->cpu[0], c->cpu[1], c->online, s->before.load1, s->after.load1,
	       m->steal, tf(m->loaded), (unsigned long long)s->ring_64b, (unsigned long long)s->ring_64k,
	       s->floor_where);
	printf("\"mode_probe\":{\"round_trips\":%u,\"near_below_ns\":%d},\"modes_seen\":[", s->probe_batches * 100,
	       BENCH_NEAR_NS);
	printf("%s%s%s],\"run_modes\":[", m->seen[0] ? "\"near\"" : "", m->seen[0] && m->seen[1] ? "," : "",
	       m->seen[1] ? "\"far\"" : "");
	for (unsigned k = 0; k < r->n; k++) {
		struct run_modes x = run_modes(r, k);
		printf("%s{\"first\":\"%s\",\"last\":\"%s\",\"changed\":%s,\"flagged\":[", k ? "," : "",
		       bench_mode_name(x.first), bench_mode_name(x.last), tf(x.changed));
		const char *sep = "";
		for (int i = 0; i < CM_N; i++)
			if (r->v[i][k].ok && mode_of(&r->v[i][k]) < 0) {
				printf("%s\"%s\"", sep, chan_m_info((enum chan_m)i)->key);
				sep = ",";
			}
		for (unsigned i = 0; i < s->sweep->n; i++)
			for (int w = 0; w < SW_N; w++)
				if (r->sweep[i][w][k].ok && mode_of(&r->sweep[i][w][k]) < 0) {
					printf("%s\"ring_%llu_%s\"", sep, (unsigned long long)s->sweep->ring[i],
					       sw_key[w]);
					sep = ",";
				}
		printf("],\"probes_ns\":[");
		for (unsigned i = 0; i < r->probes[k]; i++)
			printf("%s%.1f", i ? "," : "", r->probe[k][i]);
		printf("]}");
	}
	printf("],\"measures\":{");
	for (int i = 0; i < CM_N; i++) {
		printf("%s", i ? "," : "");
		json_measure(r, m, (enum chan_m)i);
	}
	printf("},");
	json_sweep(r, s, m);
	printf(",\"doorbell_note\":");
	if (r->bell_ok)
		printf("null");
	else
		printf("\"%s\"", r->bell_note);
	printf(",\"ratios\":{");
	for (int i = 0; i < Q_N; i++) {
		printf("%s\"%s\":{\"of\":\"%s\",\"to\":\"%s\",", i ? "," : "", ratios[i].key,
		       chan_m_info(ratios[i].a)->key, chan_m_info(ratios[i].b)->key);
		for (int j = 0; j < S_N; j++)
			jnum(set_key[j], m->q[i][j], m->q[i][j] >= 0, j + 1 < S_N ? "," : "");
		printf("}");
	}
	printf("},\"targets\":{");
	for (int i = 0; i < N_TARGETS; i++) {
		const struct verdict *t = &m->t[i];
		printf("%s\"%s\":{\"what\":\"%s\",\"limit\":%g,\"at_most\":%s,", i ? "," : "", ratios[i].key,
		       ratios[i].text, ratios[i].limit, tf(ratios[i].at_most));
		for (int j = 0; j < 2; j++)
			printf("\"met_%s\":%s,", set_key[j], t->seen[j] ? tf(t->met_in[j]) : "null");
		printf("\"from\":\"%s\",\"met\":%s,\"floor_beaten\":",
		       !t->any ? "none" : t->mixed ? "all runs, modes mixed" : "modes", tf(t->met));
		printf("%s}", floor_of(i) ? tf(t->floor_beaten) : "null");
	}
	printf("},\"wakeups\":{\"what\":\"wakeups per message at saturation <= %g (worst)\",\"limit\":%g,",
	       WAKEUPS_MAX, WAKEUPS_MAX);
	for (size_t i = 0; i < N_WOKEN; i++)
		printf("\"%s\":%.6f,", chan_m_info(woken[i].m)->key, m->wake[i]);
	printf("\"worst\":%.6f,\"met\":%s}}\n", m->wake_max, tf(m->wake_met));
}

/* ---- text ------------------------------------------------------------- */

/* A figure as a cell: "-" when there is none; round trips p50/p99. */
static const char *cell(char *buf, size_t n, const struct fig *f, enum chan_m i)
{
	if (!f->n)
		snprintf(buf, n, "-");
	else if (chan_m_info(i)->kind == CK_RT)
		snprintf(buf, n, "%.0f/%.0f", f->v, f->p99);
	else
		snprintf(buf, n, "%.3g", f->v);
	return buf;
}

static const char *rcell(char *buf, size_t n, double q)
{
	if (q < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, q < 0.1 ? "%.3fx" : "%.2fx", q);
	return buf;
}

/* Ratio qi of set j as a cell, marked "!" when the channel beat its floor. */
static const char *qcell(char *buf, size_t n, const struct summary *m, int qi, int j)
{
	rcell(buf, n, m->q[qi][j]);
	if (beaten(qi, m->q[qi][j]))
		snprintf(buf + strlen(buf), n - strlen(buf), "!");
	return buf;
}

/* When a measure stayed in no mode in any run: its median over all runs. */
static void mixed_note(const struct summary *m, enum chan_m i)
{
	char a[32];
	if (!m->f[i][S_NEAR].n && !m->f[i][S_FAR].n && m->f[i][S_ALL].n)
		printf("  (mode changed in every run; all runs: %s)", cell(a, sizeof(a), &m->f[i][S_ALL], i));
}

#define LW 50 /* label width */

/* label, near, far, runs near/far */
static void row(const struct summary *m, const char *label, enum chan_m i)
{
	char a[32], b[32];
	printf("  %-*s %13s %13s %5u/%u", LW, label, cell(a, sizeof(a), &m->f[i][S_NEAR], i),
	       cell(b, sizeof(b), &m->f[i][S_FAR], i), m->f[i][S_NEAR].n, m->f[i][S_FAR].n);
	mixed_note(m, i);
	printf("\n");
}

/* label, near, ratio q, far, ratio q, runs (q < 0: no ratio) */
static void row_q(const struct summary *m, const char *label, enum chan_m i, int q)
{
	char a[32], b[32], c[32], d[32];
	if (q < 0)
		snprintf(b, sizeof(b), "-"), snprintf(d, sizeof(d), "-");
	else
		qcell(b, sizeof(b), m, q, S_NEAR), qcell(d, sizeof(d), m, q, S_FAR);
	printf("  %-*s %13s %7s %13s %7s %5u/%u", LW - 8, label, cell(a, sizeof(a), &m->f[i][S_NEAR], i), b,
	       cell(c, sizeof(c), &m->f[i][S_FAR], i), d, m->f[i][S_NEAR].n, m->f[i][S_FAR].n);
	mixed_note(m, i);
	printf("\n");
}

static void report_head(const struct chan_runs *r, const struct chan_setup *s, const struct summary *m)
{
	const struct bench_cpus *c = s->cpus;
	printf("ivshmem bench chan: %s endpoint, two processes, %u runs x %.2f s, medians per machine mode\n",
	       s->kind, r->n, s->secs);
	if (c->cpu[0] >= 0)
		printf("pinned: parent CPU %d, child CPU %d (%ld CPUs online); blocking round trips not "
		       "pinned\n",
		       c->cpu[0], c->cpu[1], c->online);
	else
		printf("not pinned (%s; %ld CPUs online)\n", s->pin_asked ? "fewer than 2 CPUs allowed" : "--no-pin",
		       c->online);
	printf("load average %.2f before, %.2f after; steal %.1f%%%s\n", s->before.load1, s->after.load1,
	       m->steal, m->loaded ? "  -- LOADED: other work was running, numbers are noisy" : "");
	printf("rings: 64 B channel %llu KiB; 64 KiB channel %llu KiB (%llu messages in flight); floors' rings the "
	       "same sizes,\n  in %s\n",
	       (unsigned long long)s->ring_64b >> 10, (unsigned long long)s->ring_64k >> 10,
	       (unsigned long long)s->ring_64k / (CHAN_BIG + 8), s->floor_where);
	printf("machine mode: a cache-line ping-pong (%u round trips) before each run's first measure and after "
	       "every\n  measure; near below %d ns, far from it on; a measure whose mode changed is flagged and "
	       "left out\n",
	       s->probe_batches * 100, BENCH_NEAR_NS);
	for (unsigned k = 0; k < r->n; k++) {
		struct run_modes x = run_modes(r, k);
		printf("  run %u: %s (%.0f ns) at the start, %s (%.0f ns) at the end", k + 1, bench_mode_name(x.first),
		       x.first, bench_mode_name(x.last), x.last);
		if (!x.changed)
			printf(", stable\n");
		else
			printf(", CHANGED: %u measure%s flagged\n", x.flagged, x.flagged == 1 ? "" : "s");
	}
	printf("columns: the median per mode over the runs a measure stayed in it; n: those runs, near/far\n");
}

/* "1 MiB", "256 KiB" */
static const char *ring_name(char *buf, size_t n, uint64_t ring)
{
	if (ring >= (1u << 20) && !(ring & ((1u << 20) - 1)))
		snprintf(buf, n, "%llu MiB", (unsigned long long)ring >> 20);
	else
		snprintf(buf, n, "%llu KiB", (unsigned long long)ring >> 10);
	return buf;
}

/* The 64 KiB channel by ring size, and the best size per way and mode. */
static void report_sweep(const struct chan_setup *s, const struct summary *m)
{
	const struct chan_sweep *w = s->sweep;
	const char *main_is = w->lib_default ? "default" : "IVS_BENCH_RING ring";
	char a[32], b[32], c[32], d[32], e[48];
	printf("\n64 KiB channel by ring size, B/s (%.3g s each, one after the other at the end of every round)\n",
	       s->secs / 2);
	printf("  %-22s %14s %14s %14s %14s %9s %9s\n", "ring", "zero copy near", "copy near", "zero copy far",
	       "copy far", "n zc", "n copy");
	for (unsigned i = 0; i < w->n; i++) {
		const struct fig(*f)[S_N] = m->sw[i];
		snprintf(e, sizeof(e), "%s", ring_name(a, sizeof(a), w->ring[i]));
		if (i == w->main)
			snprintf(e + strlen(e), sizeof(e) - strlen(e), " (%s)", main_is);
		printf("  %-22s %14s %14s %14s %14s %7u/%u %7u/%u", e, cell(a, sizeof(a), &f[SW_ZC][S_NEAR], CM_ZC64K),
		       cell(b, sizeof(b), &f[SW_COPY][S_NEAR], CM_ZC64K), cell(c, sizeof(c), &f[SW_ZC][S_FAR], CM_ZC64K),
		       cell(d, sizeof(d), &f[SW_COPY][S_FAR], CM_ZC64K), f[SW_ZC][S_NEAR].n, f[SW_ZC][S_FAR].n,
		       f[SW_COPY][S_NEAR].n, f[SW_COPY][S_FAR].n);
		bool none = true;
		for (int way = 0; way < SW_N; way++)
			none &= !f[way][S_NEAR].n && !f[way][S_FAR].n;
		if (none && (f[SW_ZC][S_ALL].n || f[SW_COPY][S_ALL].n))
			printf("  (mode changed in every run; all runs: %s, %s)", cell(a, sizeof(a), &f[SW_ZC][S_ALL], CM_ZC64K),
			       cell(b, sizeof(b), &f[SW_COPY][S_ALL], CM_ZC64K));
		printf("\n");
	}
	for (int way = 0; way < SW_N; way++) {
		printf("  best %s:", way == SW_ZC ? "zero copy" : "copy");
		for (int j = 0; j < 2; j++) {
			int bi = m->sw_best[way][j];
			if (bi < 0)
				printf(" - %s", set_key[j]);
			else
				printf(" %s %s (%s the %s)", ring_name(a, sizeof(a), w->ring[bi]), set_key[j],
				       rcell(b, sizeof(b), m->sw_gain[way][j]), main_is);
			printf("%s", j ? "\n" : ";");
		}
	}
}

static void report_text(const struct chan_runs *r, const struct chan_setup *s, const struct summary *m)
{
	char a[32], b[32];
	report_head(r, s, m);
	printf("\n%-*s %13s %13s %7s\n", LW + 2, "floors (same processes, CPUs, memory, time)", "near", "far",
	       "n");
	row(m, "64 B msgs/s: ring, 72 B slots, consumer 16 pauses", CM_FLOOR64);
	row(m, "64 B msgs/s: the same, consumer 1 pause per poll", CM_FLOOR64_POLL);
	row(m, "64 KiB B/s: ring, written and read in place", CM_FLOOR64K);
	row(m, "round trip p50/p99 ns: one cache line", CM_RT_LINE);
	row(m, "round trip p50/p99 ns: 64 B via two raw rings", CM_RT_RINGS);
	row(m, "memcpy 64 KiB B/s, one process: ring-sized span", CM_MEMCPY_RES);
	row(m, "memcpy 64 KiB B/s, one process: 256 MiB span", CM_MEMCPY_LARGE);
	printf("  raw rings: the producer polls a full ring with 16 pauses between polls and asks for the\n"
	       "    lines ahead, as the channel's; every consumer copies 64 B out (64 KiB: reads in place)\n"
	       "    and checksums every byte\n");

	printf("\n%-*s %13s %7s %13s %7s %7s\n", LW - 6, "channel", "near", "/floor", "far", "/floor", "n");
	row_q(m, "64 B msgs/s, recv blocking (default spin)", CM_CHAN64, Q_64);
	row_q(m, "64 B msgs/s, the same in batches of 16", CM_CHAN64_BATCH, Q_64_BATCH);
	row_q(m, "64 B msgs/s, zero-copy batches of 16", CM_ZC64_BATCH, Q_ZC64_BATCH);
	row_q(m, "64 B msgs/s, recv timeout 0 (polling)", CM_CHAN64_POLL, Q_64_POLL);
	row_q(m, "64 KiB B/s, zero copy (read in place)", CM_ZC64K, Q_ZC_FLOOR);
	row_q(m, "64 KiB B/s, copy (the copy read)", CM_CHAN64K, Q_COPY_FLOOR);
	row_q(m, "round trip p50/p99 ns, polling", CM_RT_POLL, Q_RT_POLL);
	printf("  floors: the raw ring polled as the channel is (16 pauses, for batches too; 1 pause);\n"
	       "    the raw 64 KiB ring; the cache-line round trip (64 B via two raw rings: %s near, %s far of it)\n",
	       rcell(a, sizeof(a), m->q[Q_RINGS_LINE][S_NEAR]), rcell(b, sizeof(b), m->q[Q_RINGS_LINE][S_FAR]));
	bool any_beaten = false;
	for (int q = 0; q < Q_N; q++)
		for (int j = 0; j < S_N; j++)
			any_beaten |= beaten(q, m->q[q][j]);
	if (any_beaten)
		printf("  !: the channel beat its floor: that floor is no upper bound in this run, and a target\n"
		       "    against it says nothing (see chan-floor.c: a raw ring's consumer that catches up\n"
		       "    with its producer waits for line transfers a slower consumer avoids)\n");

	report_sweep(s, m);

	printf("\n%-*s %13s %7s %13s %7s %7s\n", LW - 6, "alternatives", "near", "chan/x", "far", "chan/x", "n");
	row_q(m, "64 B msgs/s: UNIX socket", CM_SOCK64, Q_64_UNIX);
	row_q(m, "64 B msgs/s: pipe", CM_PIPE64, Q_64_PIPE);
	row_q(m, "64 KiB B/s: UNIX socket (chan: zero copy)", CM_SOCK64K, Q_ZC_UNIX);
	row_q(m, "64 KiB B/s: pipe (chan: zero copy)", CM_PIPE64K, Q_ZC_PIPE);
	printf("  64 KiB copy / UNIX socket: %s near, %s far\n", rcell(a, sizeof(a), m->q[Q_COPY_UNIX][S_NEAR]),
	       rcell(b, sizeof(b), m->q[Q_COPY_UNIX][S_FAR]));
	printf("%-*s %13s %7s %13s %7s %7s\n", LW - 6, "round trip p50/p99 ns, not pinned", "near", "/efd", "far",
	       "/efd", "n");
	row_q(m, "channel, blocking (futex)", CM_RT_BLOCK, Q_RT_FUTEX_EFD);
	if (r->bell_ok)
		row_q(m, "channel, blocking (doorbell)", CM_RT_BELL, Q_RT_BELL_EFD);
	else
		printf("  %-*s %13s   (%s)\n", LW - 8, "channel, blocking (doorbell)", "-", r->bell_note);
	row_q(m, "eventfd ping-pong", CM_RT_EFD, -1);
	printf("  sleeps per blocking round trip (all runs): futex %.2f", m->f[CM_RT_BLOCK][S_ALL].per_msg);
	if (r->bell_ok)
		printf(", doorbell %.2f", m->f[CM_RT_BELL][S_ALL].per_msg);
	printf("\n  polling round trip / eventfd: %s near, %s far\n",
	       rcell(a, sizeof(a), m->q[Q_RT_POLL_EFD][S_NEAR]), rcell(b, sizeof(b), m->q[Q_RT_POLL_EFD][S_FAR]));
	printf("\nwakeups per message at saturation (both directions, all runs):");
	for (size_t i = 0; i < N_WOKEN; i++)
		printf("%s%s %s %.5f", i ? "," : "", i == N_WOKEN / 2 ? "\n " : "", woken[i].label, m->wake[i]);
	printf("\n");

	printf("\n%-*s %7s %7s\n", LW + 2, "targets (ratios of the medians of one mode)", "near", "far");
	for (int i = 0; i < N_TARGETS; i++) {
		const struct verdict *t = &m->t[i];
		printf("  %-*s %7s %7s  %s", LW, ratios[i].text, qcell(a, sizeof(a), m, i, S_NEAR),
		       qcell(b, sizeof(b), m, i, S_FAR), !t->any ? "not measured" : t->met ? "met" : "NOT met");
		if (t->mixed)
			printf(" (all runs, modes mixed: %s)", qcell(a, sizeof(a), m, i, S_ALL));
		if (t->floor_beaten)
			printf(": floor beaten (!), no bound");
		else if (t->any && !t->met && t->seen[0] && t->seen[1])
			printf(" (%s)", t->met_in[0] ? "not met far" : t->met_in[1] ? "not met near" : "in neither mode");
		printf("\n");
	}
	printf("  %-*s %15.5f  %s\n", LW, "wakeups/msg at saturation <= 0.001 (worst)", m->wake_max,
	       m->wake_met ? "met" : "NOT met");
}

int chan_report(const struct chan_runs *r, const struct chan_setup *s, bool json)
{
	static struct summary m;
	summarize(r, s, &m);
	if (json)
		report_json(r, s, &m);
	else
		report_text(r, s, &m);
	return 0;
}
