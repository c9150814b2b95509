/* SPDX-License-Identifier: MIT */
/* UNIX-socket plumbing shared by the endpoints (clients) and the server and
 * daemon (listeners): bounded connects, and the instance lock that keeps two
 * listeners from fighting over one socket path. */
#include "util/util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
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

int ivs_lock_file(const char *path)
{
	for (int tries = 0; tries < 8; tries++) {
		/* NONBLOCK: a FIFO planted there can't make open() sleep. */
		int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
		int fd = open(path, flags | O_CREAT, 0644);
		if (fd < 0 && errno == EACCES) /* another user's, in a sticky dir */
			fd = open(path, flags);
		if (fd < 0)
			return errno == ELOOP ? -EEXIST : -errno;
		struct stat a, b;
		if (fstat(fd, &a) < 0 || !S_ISREG(a.st_mode)) {
			ivs_close(fd);
			return -EEXIST;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			ivs_close(fd);
			return e == EWOULDBLOCK ? -EADDRINUSE : -e;
		}
		if (lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		ivs_close(fd); /* its holder removed it meanwhile: take the new one */
	}
	return -EAGAIN;
}
