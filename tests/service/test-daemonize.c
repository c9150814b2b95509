/* SPDX-License-Identifier: MIT */
/* ivs_svc_daemonize: the parent's exit status says whether the daemon got
 * going, the daemon is a session leader in "/" with stdin and stdout on
 * /dev/null, and its pid is the one in the pid file.  Each round forks a
 * runner that daemonizes; the daemon reports what it sees through a pipe. */
#include "../tap.h"
#include "service/daemonize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct report {
	pid_t pid;
	int r;
	bool leader, in_root, null_in, null_out, err_kept;
	char step[16];
};

static bool is_devnull(int fd)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* Fork a runner that daemonizes with pf; the daemon (or the runner, if no
 * daemon) writes a report to the pipe.  Returns the runner's exit status
 * and fills *rep (rep->pid 0 if no report came). */
static long read_pid(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	return n > 0 ? atol(buf) : -1;
}

/* *in_file: what the pid file (if path) held when the runner had exited. */
static int round_trip(struct ivs_rt_pidfile *pf, const char *path, long *in_file, int err_fd,
		      struct report *rep)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t runner = fork();
	if (runner == 0) {
		close(p[0]);
		const char *step = "";
		struct report me = {0};
		me.r = ivs_svc_daemonize(pf, &step);
		me.pid = getpid();
		char cwd[8];
		me.leader = getsid(0) == getpid();
		me.in_root = getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0;
		me.null_in = is_devnull(STDIN_FILENO);
		me.null_out = is_devnull(STDOUT_FILENO);
		struct stat a, b;
		me.err_kept = fstat(STDERR_FILENO, &a) == 0 && fstat(err_fd, &b) == 0 && a.st_ino == b.st_ino;
		snprintf(me.step, sizeof(me.step), "%s", step);
		if (write(p[1], &me, sizeof(me)) != (ssize_t)sizeof(me))
			_exit(3);
		_exit(me.r < 0 ? 2 : 0);
	}
	close(p[1]);
	int st = -1;
	if (runner > 0)
		waitpid(runner, &st, 0);
	if (path)
		*in_file = read_pid(path);
	memset(rep, 0, sizeof(*rep));
	/* The daemon may still be writing: read until its end of the pipe closes. */
	ssize_t n = read(p[0], rep, sizeof(*rep));
	if (n != (ssize_t)sizeof(*rep))
		memset(rep, 0, sizeof(*rep));
	close(p[0]);
	return st;
}

int main(void)
{
	char dir[] = "/tmp/ivs-daemonize-XXXXXX";
	if (!mkdtemp(dir))
		fail_all("mkdtemp: %s", strerror(errno));
	char path[64];
	snprintf(path, sizeof(path), "%s/pid", dir);
	/* The daemon's stderr is the test's; keep a second fd to compare. */
	int err_fd = dup(STDERR_FILENO);

	struct report rep;
	struct ivs_rt_pidfile pf;
	ivs_rt_pidfile_init(&pf);
	int st = round_trip(&pf, NULL, NULL, err_fd, &rep);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "no pid file: the parent exits 0 once the daemon runs");
	ok(rep.pid > 0 && rep.r == 0, "the daemon reports (pid %d)", (int)rep.pid);
	ok(rep.leader, "the daemon leads its own session");
	ok(rep.in_root, "the daemon works in /");
	ok(rep.null_in && rep.null_out, "stdin and stdout are /dev/null");
	ok(rep.err_kept, "stderr stays (the logs go there)");

	ivs_rt_pidfile_init(&pf);
	int r = ivs_rt_pidfile_open(&pf, path);
	if (r < 0)
		fail_all("pid file %s: %s", path, strerror(-r));
	long in_file = -1;
	st = round_trip(&pf, path, &in_file, err_fd, &rep);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "with a pid file: the parent exits 0");
	ok(rep.pid > 0 && in_file == rep.pid,
	   "the pid file holds the daemon's pid (%ld) by the time the parent exits", in_file);
	ivs_rt_pidfile_remove(&pf);

	/* The pid file cannot be written (its fd is read-only): the daemon
	 * says why and the parent exits 1. */
	ivs_rt_pidfile_init(&pf);
	if ((r = ivs_rt_pidfile_open(&pf, path)) < 0)
		fail_all("pid file %s: %s", path, strerror(-r));
	int wfd = pf.fd;
	pf.fd = open(path, O_RDONLY | O_CLOEXEC);
	st = round_trip(&pf, NULL, NULL, err_fd, &rep);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 1, "a failed pid file write: the parent exits 1");
	ok(rep.r < 0 && strcmp(rep.step, "pid file") == 0, "  the daemon gets -errno (%d) and the step '%s'",
	   rep.r, rep.step);
	close(pf.fd);
	pf.fd = wfd;
	ivs_rt_pidfile_remove(&pf);

	close(err_fd);
	rmdir(dir);
	return tap_done();
}
