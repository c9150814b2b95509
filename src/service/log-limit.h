/* SPDX-License-Identifier: MIT */
/* Rate limits for log lines a client can cause (a refused connection, a
 * client turned away): a user who connects 100k times a second must not
 * turn the service's log into a disk filler, nor bury the lines that
 * matter.  At most `burst` lines per `interval`; the first line let through
 * after a suppressed stretch says how many were dropped.  Not thread-safe:
 * one limiter per event loop. */
#ifndef IVS_LOG_LIMIT_H
#define IVS_LOG_LIMIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service/log.h"

struct ivs_log_limit {
	uint64_t interval_ns;
	unsigned burst;
	uint64_t begin_ns; /* start of the current interval */
	unsigned used;	   /* lines let through in it */
	unsigned suppressed; /* lines dropped since the last one let through */
};

/* A limiter letting `burst` lines through per `interval_ms`. */
#define IVS_LOG_LIMIT_INIT(interval_ms, burst_)                                                     \
	{ .interval_ns = (uint64_t)(interval_ms) * 1000000u, .burst = (burst_) }

/* May a line be logged at now_ns (a monotonic clock)?  If so, *suppressed
 * gets the number of lines dropped since the last one let through (0 if
 * none: say so in the line when it isn't), and the count restarts. */
bool ivs_log_limit_pass(struct ivs_log_limit *l, uint64_t now_ns, unsigned *suppressed);

/* The same, and if the line may be logged, format it into out (size
 * bytes, cut to fit), ending with "(N more like this suppressed)" after a
 * suppressed stretch.  What a service's rate-limited log calls. */
bool ivs_log_limit_vformat(struct ivs_log_limit *l, uint64_t now_ns, char *out, size_t size, const char *fmt,
			   va_list ap) __attribute__((format(printf, 5, 0)));

/* A service's one way to log: format the line (512 bytes at most, cut to
 * fit) and hand it to fn (NULL: drop it), always when limit is NULL, else
 * as the limiter lets it through. */
void ivs_log_vsay(ivs_log_fn fn, void *ctx, enum ivs_log_level level, struct ivs_log_limit *limit,
		  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
void ivs_log_say(ivs_log_fn fn, void *ctx, enum ivs_log_level level, struct ivs_log_limit *limit,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
