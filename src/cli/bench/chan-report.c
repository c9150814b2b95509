/* SPDX-License-Identifier: MIT */
/* The channel benchmark's report: the median of every measure over the
 * runs, the ratios to the alternatives and the targets, as text or JSON.
 * See chan.h. */
#include "bench/chan.h"

#include <stdio.h>

/* The medians, and what they are compared by. */
struct summary {
	double tput[T_N], wakeups[T_N];
	double p50[R_N], p99[R_N], mean[R_N];
	double memcpy_resident, memcpy_large, sleeps;
	/* Ratios of medians. */
	double r64, r64k, rz, rz_large, rz_resident, rrt, rrt99, wmax;
	bool m64, m64k, mz, mml, mrt, mdb;
	double steal;
	bool loaded;
};

static void summarize(const struct chan_runs *r, const struct chan_setup *s, struct summary *m)
{
	*m = (struct summary){0};
	for (int t = 0; t < T_N; t++) {
		m->tput[t] = bench_median(r->tput[t], r->n);
		m->wakeups[t] = bench_median(r->wakeups[t], r->n);
	}
	for (int t = 0; t < R_N; t++) {
		if (t == R_BELL && !r->bell_ok)
			continue;
		m->p50[t] = bench_median(r->p50[t], r->n);
		m->p99[t] = bench_median(r->p99[t], r->n);
		m->mean[t] = bench_median(r->mean[t], r->n);
	}
	m->memcpy_resident = bench_median(r->memcpy_resident, r->n);
	m->memcpy_large = bench_median(r->memcpy_large, r->n);
	m->sleeps = bench_median(r->sleeps, r->n);
	m->r64 = bench_ratio(m->tput[T_C64], m->tput[T_S64]);
	m->r64k = bench_ratio(m->tput[T_C64K], m->tput[T_S64K]);
	m->rz = bench_ratio(m->tput[T_Z64K], m->tput[T_S64K]);
	/* The ceiling is the memcpy over the same working set as the ring
	 * (same messages, same region); the 256 MiB one is for information. */
	m->rz_large = bench_ratio(m->tput[T_Z64K], m->memcpy_large);
	m->rz_resident = bench_ratio(m->tput[T_Z64K], m->memcpy_resident);
	m->rrt = bench_ratio(m->p50[R_POLL], m->p50[R_EFD]);
	m->rrt99 = bench_ratio(m->p99[R_POLL], m->p99[R_EFD]);
	m->wmax = m->wakeups[T_C64];
	if (m->wakeups[T_C64K] > m->wmax)
		m->wmax = m->wakeups[T_C64K];
	if (m->wakeups[T_Z64K] > m->wmax)
		m->wmax = m->wakeups[T_Z64K];
	m->m64 = m->r64 >= 15;
	m->m64k = m->r64k >= 1.5;
	m->mz = m->rz >= 1.5;
	m->mml = m->rz_resident >= 0.5;
	m->mrt = m->rrt > 0 && m->rrt <= 1.0 / 20;
	m->mdb = m->wmax <= 0.01;
	m->steal = bench_steal_pct(&s->before, &s->after);
	m->loaded = s->before.load1 >= 0.5;
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

static const char *met(bool m)
{
	return m ? "met" : "NOT met";
}

static void report_json(const struct chan_runs *r, const struct chan_setup *s, const struct summary *m)
{
	const struct bench_cpus *c = s->cpus;
	printf("{\"endpoint\":\"%s\",\"seconds\":%.2f,\"runs\":%u,\"pinned_cpus\":[%d,%d],\"cpus\":%ld,"
	       "\"loadavg_start\":%.2f,\"loadavg_end\":%.2f,\"steal_pct\":%.1f,\"loaded\":%s,"
	       "\"ring_64b\":%llu,\"ring_64k\":%llu,",
	       s->kind, s->secs, r->n, c->cpu[0], c->cpu[1], c->online, s->before.load1, s->after.load1,
	       m->steal, tf(m->loaded), (unsigned long long)s->ring_64b, (unsigned long long)s->ring_64k);
	printf("\"msg64\":{\"chan_msgs_s\":%.0f,\"unix_msgs_s\":%.0f,\"pipe_msgs_s\":%.0f,\"ratio_unix\":%.2f,"
	       "\"met\":%s},",
	       m->tput[T_C64], m->tput[T_S64], m->tput[T_P64], m->r64, tf(m->m64));
	printf("\"msg64k\":{\"chan_bytes_s\":%.0f,\"chan_zerocopy_bytes_s\":%.0f,\"unix_bytes_s\":%.0f,"
	       "\"pipe_bytes_s\":%.0f,\"memcpy_resident_bytes_s\":%.0f,\"memcpy_256m_bytes_s\":%.0f,"
	       "\"ratio_unix\":%.2f,\"ratio_zerocopy_unix\":%.2f,\"ratio_zerocopy_memcpy_256m\":%.2f,"
	       "\"ratio_zerocopy_memcpy_resident\":%.2f,\"met_unix\":%s,\"met_zerocopy_unix\":%s,"
	       "\"met_memcpy\":%s},",
	       m->tput[T_C64K], m->tput[T_Z64K], m->tput[T_S64K], m->tput[T_P64K], m->memcpy_resident,
	       m->memcpy_large, m->r64k, m->rz, m->rz_large, m->rz_resident, tf(m->m64k), tf(m->mz),
	       tf(m->mml));
	printf("\"round_trip_ns\":{\"poll_p50\":%.0f,\"poll_p99\":%.0f,\"block_p50\":%.0f,\"block_p99\":%.0f,"
	       "\"block_doorbell_p50\":%.0f,\"block_doorbell_p99\":%.0f,\"eventfd_p50\":%.0f,"
	       "\"eventfd_p99\":%.0f,\"poll_mean\":%.0f,\"eventfd_mean\":%.0f,\"ratio_poll_eventfd\":%.4f,"
	       "\"met\":%s},",
	       m->p50[R_POLL], m->p99[R_POLL], m->p50[R_BLOCK], m->p99[R_BLOCK], r->bell_ok ? m->p50[R_BELL] : -1,
	       r->bell_ok ? m->p99[R_BELL] : -1, m->p50[R_EFD], m->p99[R_EFD], m->mean[R_POLL], m->mean[R_EFD],
	       m->rrt, tf(m->mrt));
	printf("\"wakeups_per_msg\":{\"saturated_64b\":%.5f,\"saturated_64k\":%.5f,"
	       "\"saturated_64k_zerocopy\":%.5f,\"met\":%s}}\n",
	       m->wakeups[T_C64], m->wakeups[T_C64K], m->wakeups[T_Z64K], tf(m->mdb));
}

static void report_text(const struct chan_runs *r, const struct chan_setup *s, const struct summary *m)
{
	const struct bench_cpus *c = s->cpus;
	printf("ivshmem bench chan: %s endpoint, two processes, %u runs x %.2f s, medians\n", s->kind, r->n,
	       s->secs);
	if (c->cpu[0] >= 0)
		printf("pinned: parent CPU %d, child CPU %d (%ld CPUs online); blocking round trips not "
		       "pinned\n",
		       c->cpu[0], c->cpu[1], c->online);
	else
		printf("not pinned (%s; %ld CPUs online)\n", s->pin_asked ? "fewer than 2 CPUs allowed" : "--no-pin",
		       c->online);
	printf("load average %.2f before, %.2f after; steal %.1f%%%s\n", s->before.load1, s->after.load1,
	       m->steal, m->loaded ? "  -- LOADED: other work was running, numbers are noisy" : "");
	printf("rings: 64 B channel %llu KiB; 64 KiB channel %llu KiB (%llu messages in flight)\n\n",
	       (unsigned long long)s->ring_64b >> 10, (unsigned long long)s->ring_64k >> 10,
	       (unsigned long long)s->ring_64k / (CHAN_BIG + 8));
	printf("%-36s %12s %12s %12s\n", "throughput", "median", "min", "max");
	static const char *const label[T_N] = {
		[T_C64] = "64 B msgs/s: channel",
		[T_S64] = "64 B msgs/s: UNIX socket",
		[T_P64] = "64 B msgs/s: pipe",
		[T_C64K] = "64 KiB B/s: channel (copy)",
		[T_Z64K] = "64 KiB B/s: channel (zero copy)",
		[T_S64K] = "64 KiB B/s: UNIX socket",
		[T_P64K] = "64 KiB B/s: pipe",
	};
	for (int t = 0; t < T_N; t++)
		printf("%-36s %12.3g %12.3g %12.3g\n", label[t], m->tput[t], bench_min(r->tput[t], r->n),
		       bench_max(r->tput[t], r->n));
	printf("%-36s %12.3g %12.3g %12.3g\n", "memcpy 64 KiB B/s: ring-sized span", m->memcpy_resident,
	       bench_min(r->memcpy_resident, r->n), bench_max(r->memcpy_resident, r->n));
	printf("%-36s %12.3g %12.3g %12.3g\n", "memcpy 64 KiB B/s: 256 MiB span", m->memcpy_large,
	       bench_min(r->memcpy_large, r->n), bench_max(r->memcpy_large, r->n));
	printf("  zero copy: the producer writes each message in place, the consumer reads\n"
	       "    every byte in place.\n"
	       "  memcpy: one process, no queue, no second core: the producer's copies alone\n"
	       "    (64 KiB from a hot buffer), walking a span of the region as large as the\n"
	       "    ring (same working set: stays in cache) or a 256 MiB shared mapping\n"
	       "    (memory bound).\n");
	printf("\n%-36s %10s %10s %10s\n", "round trip, 64 B (ns)", "p50", "p99", "mean");
	static const char *const rlabel[R_N] = {
		[R_POLL] = "channel, polling",
		[R_BLOCK] = "channel, blocking (futex)",
		[R_BELL] = "channel, blocking (doorbell)",
		[R_EFD] = "eventfd ping-pong",
	};
	for (int t = 0; t < R_N; t++) {
		if (t == R_BELL && !r->bell_ok) {
			printf("%-36s %10s   (%s)\n", rlabel[t], "-", r->bell_note);
			continue;
		}
		printf("%-36s %10.0f %10.0f %10.0f", rlabel[t], m->p50[t], m->p99[t], m->mean[t]);
		if (t == R_BLOCK)
			printf("   (%.2f sleeps/round trip)", m->sleeps);
		printf("\n");
	}
	printf("\nwakeups per message at saturation (both directions): 64 B %.5f, 64 KiB copy %.5f, "
	       "zero copy %.5f\n",
	       m->wakeups[T_C64], m->wakeups[T_C64K], m->wakeups[T_Z64K]);
	printf("\ntargets (ratios of medians)\n");
	printf("  64 B: >= 15x UNIX socket msgs/s                  %8.1fx  %s\n", m->r64, met(m->m64));
	printf("  64 KiB copy: >= 1.5x UNIX socket bytes/s         %8.2fx  %s\n", m->r64k, met(m->m64k));
	printf("  64 KiB zero copy: >= 1.5x UNIX socket bytes/s    %8.2fx  %s\n", m->rz, met(m->mz));
	printf("  64 KiB zero copy: >= 0.5x memcpy (ring-sized)    %8.2fx  %s\n", m->rz_resident, met(m->mml));
	printf("    (vs the 256 MiB memcpy: %.2fx, for information)\n", m->rz_large);
	printf("  polling round trip p50 <= 1/20 eventfd p50       %8.4fx  %s  (p99: %.3fx)\n", m->rrt,
	       met(m->mrt), m->rrt99);
	printf("  <= 0.01 wakeups/msg at saturation (worst size)   %8.4f   %s\n", m->wmax, met(m->mdb));
}

int chan_report(const struct chan_runs *r, const struct chan_setup *s, bool json)
{
	struct summary m;
	summarize(r, s, &m);
	if (json)
		report_json(r, s, &m);
	else
		report_text(r, s, &m);
	return 0;
}
