/* SPDX-License-Identifier: MIT */
/* What `ivshmem server` and `ivshmem daemon` do with a service manager
 * (service/sd.h): take the listening socket it passed (socket activation),
 * with errors that name the unit setting to fix, and tell it when they are
 * ready and when they stop.  See cli.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "service/runtime-files.h"
#include "service/sd.h"

int cli_passed_socket(const char *listen_key, int *fd)
{
	*fd = 0;
	unsigned n;
	int r = ivs_sd_listen_fds(&n);
	if (r == -EINVAL)
		return cli_error("LISTEN_PID or LISTEN_FDS is not a decimal number: start it from a service "
				 "manager's socket unit, or unset them");
	if (r == -E2BIG)
		return cli_error("LISTEN_FDS is over %d: one socket is served; give the .socket unit one %sPATH",
				 IVS_SD_LISTEN_FDS_MAX, listen_key);
	if (r == -EBADF)
		return cli_error("LISTEN_FDS names fds that are not open: start it from a service manager's "
				 "socket unit, or unset LISTEN_FDS and LISTEN_PID");
	if (r < 0)
		return cli_error("cannot take the sockets passed (LISTEN_FDS): %s", strerror(-r));
	if (n > 1)
		return cli_error("the service manager passed %u sockets (LISTEN_FDS); one is served: give the "
				 ".socket unit a single %sPATH", n, listen_key);
	*fd = n ? IVS_SD_LISTEN_FDS_START : 0;
	return 0;
}

int cli_passed_socket_error(int r, const char *listen_key)
{
	const char *what = "the socket the service manager passed (LISTEN_FDS)";
	switch (r) {
	case -ENOTSOCK:
		return cli_error("%s is not a socket: the .socket unit needs %sPATH", what, listen_key);
	case -EAFNOSUPPORT:
		return cli_error("%s is not a UNIX socket: give the .socket unit %s/run/ivshmem/NAME.sock, a path",
				 what, listen_key);
	case -EPROTOTYPE:
		return cli_error("%s is of another type: the .socket unit needs %sPATH", what, listen_key);
	case -EDESTADDRREQ:
		return cli_error("%s is not listening (Accept=yes?): set Accept=no in the .socket unit", what);
	default:
		return cli_error("%s: %s", what, strerror(-r));
	}
}

int cli_passed_socket_check(const char *option, const char *path, const char *served)
{
	char abs[IVS_RT_SOCKET_PATH_MAX];
	if (!path || (ivs_rt_absolute(path, abs, sizeof(abs)) == 0 && !strcmp(abs, served)))
		return 0;
	return cli_usage_error("%s %s is not the socket the service manager passed (%s): drop %s, or make them "
			       "agree", option, path, *served ? served : "unnamed", option);
}

void cli_notify(const char *cmd, const char *state)
{
	int r = ivs_sd_notify(state);
	if (r < 0) /* the manager will time the start out: say why */
		fprintf(stderr, "%s %s: warning: cannot tell the service manager %s (NOTIFY_SOCKET=%s): %s\n",
			cli_prog, cmd, state, getenv("NOTIFY_SOCKET"), strerror(-r));
}
