/* SPDX-License-Identifier: MIT */
/* See acceptor.h. */
#include "service/acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "service/log-limit.h"
#include "service/passed-fds.h"
#include "util/util.h"

int ivs_acceptor_init(struct ivs_acceptor *a, int listen_fd, ivs_log_fn log, void *log_ctx)
{
	*a = (struct ivs_acceptor){.listen_fd = listen_fd, .log = log, .log_ctx = log_ctx};
	a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return a->reserve_fd < 0 ? -errno : 0;
}

void ivs_acceptor_close(struct ivs_acceptor *a)
{
	a->reserve_fd = ivs_close(a->reserve_fd);
}

static void say(struct ivs_acceptor *a, enum ivs_log_level l, const char *what, int err)
{
	ivs_log_say(a->log, a->log_ctx, l, NULL, "%s: %s%s", what, strerror(err),
		    err == EMFILE || err == ENFILE ? " (raise the fd limit, ulimit -n)" : "");
}

/* Out of fds, a pending connection stays in the backlog and keeps the
 * listener readable: the event loop would spin.  Give up the spare fd,
 * accept that connection and close it through the closer (passed-fds.h:
 * a client may have queued an fd in it whose last close blocks), and take
 * the spare again (now or, if the fd isn't free yet, on a later call).
 * 1 shed, 0 nothing was pending, -1 no spare to shed with. */
static int shed(struct ivs_acceptor *a)
{
	if (a->reserve_fd < 0)
		return -1;
	a->reserve_fd = ivs_close(a->reserve_fd);
	int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c >= 0)
		ivs_pf_close_peer(c);
	a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return c >= 0;
}

int ivs_acceptor_next(struct ivs_acceptor *a)
{
	if (a->reserve_fd < 0) /* lost at a shed: take it again */
		a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (;;) {
		int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c >= 0) {
			a->full_logged = false;
			return c;
		}
		int e = errno;
		if (e == EINTR || e == ECONNABORTED)
			continue;
		if (e == EMFILE || e == ENFILE) {
			int r = shed(a);
			if (r == 1) {
				if (!a->full_logged)
					say(a, IVS_LOG_WARN, "a connection was turned away", e);
				a->full_logged = true;
				return -EMFILE;
			}
			if (r == 0)
				return -EAGAIN; /* with the spare given up, nothing was pending */
			if (!a->full_logged) /* no spare to shed with: it stays pending */
				say(a, IVS_LOG_WARN, "accept", e);
			a->full_logged = true;
			return -EAGAIN;
		}
		if (e != EAGAIN && e != EWOULDBLOCK)
			say(a, IVS_LOG_WARN, "accept", e);
		return -EAGAIN;
	}
}
