/* SPDX-License-Identifier: MIT */
/* The service manager's protocols: see sd.h. */
#include "service/sd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A decimal number, nothing else (no sign, blanks or base prefix). */
static int parse_decimal(const char *s, unsigned long *out)
{
	if (!s || !*s || strlen(s) > 10)
		return -EINVAL;
	unsigned long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	*out = v;
	return 0;
}

int ivs_sd_listen_fds(unsigned *n)
{
	*n = 0;
	/* As sd_listen_fds(3): no LISTEN_PID, or another process's, means
	 * nothing was passed to us, whatever LISTEN_FDS says. */
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	int r = 0;
	unsigned long pid = 0, fds = 0;
	if (!pid_s)
		goto out;
	if (parse_decimal(pid_s, &pid) < 0) {
		r = -EINVAL;
		goto out;
	}
	if (pid != (unsigned long)getpid() || !fds_s)
		goto out; /* our parent's, left to us by mistake: not ours */
	if (parse_decimal(fds_s, &fds) < 0) {
		r = -EINVAL;
		goto out;
	}
	if (fds > IVS_SD_LISTEN_FDS_MAX) {
		r = -E2BIG;
		goto out;
	}
	for (int fd = IVS_SD_LISTEN_FDS_START; fd < IVS_SD_LISTEN_FDS_START + (int)fds; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			r = -EBADF;
			goto out;
		}
	}
	*n = (unsigned)fds;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

int ivs_sd_notify(const char *state)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	if (!addr || !*addr)
		return 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(addr);
	if ((addr[0] != '/' && addr[0] != '@') || len < 2 || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, addr, len);
	if (addr[0] == '@')
		sa.sun_path[0] = 0; /* abstract: no terminating NUL in the length */
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '/'));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
	int r = w < 0 ? -errno : 1;
	close(fd);
	return r;
}
