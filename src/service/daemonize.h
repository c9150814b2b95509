/* SPDX-License-Identifier: MIT */
/* Going into the background, once a service is ready (listening): the
 * parent exits only when the child says it is running, so the shell (or an
 * init system's forking type) gets a true exit status. */
#ifndef IVS_SERVICE_DAEMONIZE_H
#define IVS_SERVICE_DAEMONIZE_H

#include "service/runtime-files.h"

/* Fork.  The parent waits for the child's word and _exits: 0 once the
 * child runs as the daemon, 1 if it failed (or died) first.  The child
 * starts a session, moves to "/", points stdin and stdout at /dev/null
 * (stderr stays: it carries the logs), writes its pid into pf if pf->fd is
 * open, and reports.  Returns 0 in the child, or -errno with *step naming
 * what failed: "pipe" or "fork" (no child: the caller is still in the
 * foreground), "pid file" (in the child, whose parent exits 1). */
int ivs_svc_daemonize(struct ivs_rt_pidfile *pf, const char **step);

#endif
