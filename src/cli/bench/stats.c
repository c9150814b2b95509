/* SPDX-License-Identifier: MIT */
/* Samples, their statistics, and printing them as text or JSON.  See
 * bench.h. */
#include "bench/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int bench_series_alloc(struct bench_series *s, int n, size_t total)
{
	for (int k = 0; k < n; k++) {
		s[k].ns = calloc(total, sizeof(uint64_t));
		if (!s[k].ns)
			return cli_error("bench: out of memory for %zu samples: use fewer --iterations",
					 total);
	}
	return 0;
}

void bench_series_free(struct bench_series *s, int n)
{
	for (int k = 0; k < n; k++) {
		free(s[k].ns);
		s[k].ns = NULL;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void bench_series_finish(struct bench_series *s)
{
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	size_t i99 = s->n * 99 / 100;
	s->median = s->n ? (double)s->ns[s->n / 2] : 0;
	s->p99 = s->n ? (double)s->ns[i99 < s->n ? i99 : s->n - 1] : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_quantile(double *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

double bench_median(const double *v, size_t n)
{
	double t[BENCH_MAX_RUNS];
	n = n < BENCH_MAX_RUNS ? n : BENCH_MAX_RUNS;
	memcpy(t, v, sizeof(*v) * n);
	return bench_quantile(t, n, 0.5);
}

double bench_min(const double *v, size_t n)
{
	double m = n ? v[0] : 0;
	for (size_t i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

double bench_max(const double *v, size_t n)
{
	double m = n ? v[0] : 0;
	for (size_t i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

double bench_ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

void bench_json_head(const char *name, const struct bench_opts *o)
{
	printf("{\"benchmark\":\"%s\",\"iterations\":%u,\"repetitions\":%u", name, o->iters, o->reps);
}

void bench_json_series(const char *name, const struct bench_series *s)
{
	printf(",\"%s\":{\"median_ns\":%.0f,\"p99_ns\":%.0f}", name, s->median, s->p99);
}

void bench_text_head(int label_w)
{
	printf("  %-*s %10s %10s\n", label_w, "", "median", "p99");
}

void bench_text_row(int label_w, int num_w, const char *label, const struct bench_series *s)
{
	printf("  %-*s %*.2f us %*.2f us\n", label_w, label, num_w, s->median / 1000, num_w,
	       s->p99 / 1000);
}
