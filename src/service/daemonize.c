/* SPDX-License-Identifier: MIT */
/* Going into the background; see daemonize.h. */
#include "service/daemonize.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int ivs_svc_daemonize(struct ivs_rt_pidfile *pf, const char **step)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		*step = "pipe";
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		*step = "fork";
		return -e;
	}
	if (pid > 0) {
		/* The word is one zero byte; EOF (the child died) is a failure. */
		close(pfd[1]);
		char c = 1;
		ssize_t n;
		while ((n = read(pfd[0], &c, 1)) < 0 && errno == EINTR)
			;
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(pfd[0]);
	(void)setsid(); /* fails only for a group leader, which a fresh child is not */
	if (chdir("/") < 0) {
		/* "/" is always there; nothing depends on the directory */
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	int r = pf && pf->fd >= 0 ? ivs_rt_pidfile_write(pf, getpid()) : 0;
	char c = r < 0;
	ssize_t n;
	while ((n = write(pfd[1], &c, 1)) < 0 && errno == EINTR)
		;
	close(pfd[1]);
	if (r < 0)
		*step = "pid file";
	return r;
}
