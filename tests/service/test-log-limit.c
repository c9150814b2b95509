/* SPDX-License-Identifier: MIT */
/* The log rate limiter with a clock the test drives. */
#include "../tap.h"
#include "service/log-limit.h"

#define MS 1000000ull

__attribute__((format(printf, 5, 6))) static bool vformat(struct ivs_log_limit *l, uint64_t now, char *out,
							  size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool r = ivs_log_limit_vformat(l, now, out, size, fmt, ap);
	va_end(ap);
	return r;
}

int main(void)
{
	struct ivs_log_limit l = IVS_LOG_LIMIT_INIT(1000, 3);
	unsigned sup = 99, passed = 0;
	uint64_t t = 5 * MS;
	for (int i = 0; i < 100; i++)
		passed += ivs_log_limit_pass(&l, t + (uint64_t)i, &sup);
	is(passed, 3, "100 lines in one instant: the burst (3) passes");
	is(sup, 0, "  the first ones report nothing suppressed");
	ok(ivs_log_limit_pass(&l, t + 1000 * MS, &sup), "a line one interval later passes");
	is(sup, 97, "  and reports the 97 dropped");
	ok(ivs_log_limit_pass(&l, t + 1000 * MS + 1, &sup) && sup == 0, "the next reports none");
	/* A steady trickle under the rate always passes. */
	passed = 0;
	for (int i = 0; i < 30; i++)
		passed += ivs_log_limit_pass(&l, t + (uint64_t)(2000 + 400 * i) * MS, &sup);
	is(passed, 30, "one line per 400 ms at 3 per s: all pass");
	/* A flood over many intervals: at most burst per interval. */
	passed = 0;
	uint64_t base = 100000 * MS;
	for (uint64_t i = 0; i < 100000; i++)
		passed += ivs_log_limit_pass(&l, base + i * 100000, &sup); /* 10 s at 10 kHz */
	ok(passed <= 3 * 11 && passed >= 3 * 10, "a 10 s flood lets %u through (3 per interval)", passed);
	struct ivs_log_limit z = IVS_LOG_LIMIT_INIT(1000, 1);
	ok(ivs_log_limit_pass(&z, 0, &sup), "time 0 works as a start");
	ok(!ivs_log_limit_pass(&z, 1, &sup), "  and limits");
	ok(ivs_log_limit_pass(&z, 0 - 1ull, &sup) && sup == 1, "a clock far ahead starts a new interval");
	ok(ivs_log_limit_pass(&z, 5, &sup), "a clock going back starts a new interval");
	struct ivs_log_limit f = IVS_LOG_LIMIT_INIT(1000, 1);
	char line[64];
	ok(vformat(&f, 7, line, sizeof(line), "peer %d", 1) && !strcmp(line, "peer 1"),
	   "vformat: a line that passes, as given (%s)", line);
	ok(!vformat(&f, 8, line, sizeof(line), "peer %d", 2) && !vformat(&f, 9, line, sizeof(line), "peer %d", 3),
	   "  two more in the interval are dropped");
	ok(vformat(&f, 7 + 1000 * MS, line, sizeof(line), "peer %d", 4) &&
		   !strcmp(line, "peer 4 (2 more like this suppressed)"),
	   "  the next one says how many (%s)", line);
	return tap_done();
}
