/* SPDX-License-Identifier: MIT */
/* CPU pinning and the machine's state around a run.  See bench.h. */
#include "bench/bench.h"

#include <stdio.h>
#include <unistd.h>

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
