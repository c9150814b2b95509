/* SPDX-License-Identifier: MIT */
/* Log lines of the services (the server, the daemon): one level type and
 * one sink type for both.  The services never print: they hand each line
 * (no newline) to the sink their caller gave; the CLI formats it. */
#ifndef IVS_SERVICE_LOG_H
#define IVS_SERVICE_LOG_H

enum ivs_log_level { IVS_LOG_ERR, IVS_LOG_WARN, IVS_LOG_INFO, IVS_LOG_DEBUG };

typedef void (*ivs_log_fn)(void *ctx, enum ivs_log_level level, const char *line);

/* "error", "warning", "info", "debug". */
static inline const char *ivs_log_level_name(enum ivs_log_level l)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l] : "?";
}

#endif
