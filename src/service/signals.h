/* SPDX-License-Identifier: MIT */
/* A service's signals: SIGTERM, SIGINT and SIGHUP blocked and read from a
 * signalfd in its event loop (handled between events, never in the middle
 * of a send); SIGPIPE ignored (a peer that hung up is a send error). */
#ifndef IVS_SERVICE_SIGNALS_H
#define IVS_SERVICE_SIGNALS_H

/* The signalfd (nonblocking, close-on-exec), or -errno. */
int ivs_svc_signalfd(void);

#endif
