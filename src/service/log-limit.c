/* SPDX-License-Identifier: MIT */
#include "log-limit.h"

#include "util/util.h"

#include <limits.h>
#include <stdio.h>

bool ivs_log_limit_pass(struct ivs_log_limit *l, uint64_t now_ns, unsigned *suppressed)
{
	/* A clock going backwards (it doesn't, but) starts a new interval. */
	if (now_ns < l->begin_ns || now_ns - l->begin_ns >= l->interval_ns || l->begin_ns == 0) {
		l->begin_ns = now_ns ? now_ns : 1;
		l->used = 0;
	}
	if (l->used >= l->burst) {
		if (l->suppressed < UINT_MAX)
			l->suppressed++;
		return false;
	}
	l->used++;
	*suppressed = l->suppressed;
	l->suppressed = 0;
	return true;
}

bool ivs_log_limit_vformat(struct ivs_log_limit *l, uint64_t now_ns, char *out, size_t size, const char *fmt,
			   va_list ap)
{
	unsigned dropped;
	if (!size || !ivs_log_limit_pass(l, now_ns, &dropped))
		return false;
	int n = vsnprintf(out, size, fmt, ap);
	if (dropped && n >= 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, " (%u more like this suppressed)", dropped);
	return true;
}

void ivs_log_vsay(ivs_log_fn fn, void *ctx, enum ivs_log_level level, struct ivs_log_limit *limit,
		  const char *fmt, va_list ap)
{
	if (!fn)
		return;
	char line[512];
	if (!limit)
		vsnprintf(line, sizeof(line), fmt, ap);
	else if (!ivs_log_limit_vformat(limit, ivs_now_ns(), line, sizeof(line), fmt, ap))
		return;
	fn(ctx, level, line);
}

void ivs_log_say(ivs_log_fn fn, void *ctx, enum ivs_log_level level, struct ivs_log_limit *limit,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ivs_log_vsay(fn, ctx, level, limit, fmt, ap);
	va_end(ap);
}
