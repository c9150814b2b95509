/* SPDX-License-Identifier: MIT */
/* Accepting a service's connections: nonblocking and close-on-exec, a
 * bounded batch per round (a connect storm can't starve the clients), and,
 * out of fds (EMFILE/ENFILE), one pending connection shed with a spare fd
 * (else the listener stays readable and the event loop spins), logged once
 * per streak.  The server and the daemon both accept through it. */
#ifndef IVS_SERVICE_ACCEPTOR_H
#define IVS_SERVICE_ACCEPTOR_H

#include <stdbool.h>

#include "service/log.h"

#define IVS_ACCEPT_BATCH 64 /* connections taken per readable listener */

struct ivs_acceptor {
	int listen_fd;	/* not owned */
	int reserve_fd; /* the spare fd (/dev/null) */
	bool full_logged;
	ivs_log_fn log; /* may be NULL */
	void *log_ctx;
};

/* Take the spare fd.  0 or -errno; a->reserve_fd is -1 on failure. */
int ivs_acceptor_init(struct ivs_acceptor *a, int listen_fd, ivs_log_fn log, void *log_ctx);
/* Release the spare fd (the listener is the caller's).  Idempotent. */
void ivs_acceptor_close(struct ivs_acceptor *a);
/* The next connection: its fd (O_NONBLOCK, O_CLOEXEC); -EMFILE when, out
 * of fds, one pending connection was shed instead (call again: it counts
 * against the batch); -EAGAIN when nothing is pending (or accept failed:
 * logged).  A round: for (i = 0; i < IVS_ACCEPT_BATCH; i++) { fd = next;
 * if (fd == -EMFILE) continue; if (fd < 0) break; ... }. */
int ivs_acceptor_next(struct ivs_acceptor *a);

#endif
