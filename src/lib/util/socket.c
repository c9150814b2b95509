/* SPDX-License-Identifier: MIT */
/* UNIX-socket plumbing shared by the endpoints (clients) and the server and
 * daemon (listeners): bounded connects and fd shedding. */
#include "util/util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int ivs_unix_connect(const char *path, int type, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* connect() to a listener whose backlog is full, and a send to one
	 * that doesn't read, sleep: bound both by the timeout (EAGAIN). */
	int t = IVS_MAX(timeout_ms, 1);
	struct timeval tv = {.tv_sec = t / 1000, .tv_usec = (t % 1000) * 1000};
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		ivs_close(s);
		return r;
	}
	return s;
}

bool ivs_accept_shed(int listen_fd, int *reserve_fd)
{
	if (*reserve_fd < 0)
		return false;
	*reserve_fd = ivs_close(*reserve_fd);
	int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c >= 0)
		ivs_close(c);
	*reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return c >= 0;
}
