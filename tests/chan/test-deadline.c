/* SPDX-License-Identifier: MIT */
/* Deadlines are absolute (row 11 of docs/security.md): a hostile producer
 * that "restarts" (takes its role over, never detaching) every 20 ms can't
 * stretch `ivshmem chan recv --timeout 1`: it ends with "no message within
 * the timeout" (exit 2), not after many timeouts, nor with exit 0.  Before,
 * each restart started the timeout again: the receiver ran for as long as
 * the restarts went on.  The same for `chan send` into a full channel
 * whose consumer restarts.  Every wait is bounded (a receiver still running
 * after 10 s is killed and the check fails); no timing thresholds. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel/channel.h"
#include "ivshmem.h"
#include "tap.h"
#include "../proc-util.h"

#define REGION (1 << 20)

static char path[64], spec[80];

/* Child: take role over and over (a restart each time), every 20 ms,
 * until killed. */
static pid_t flapper(const char *name, int role)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	ivshmem_ep *ep = NULL;
	if (ivshmem_open(spec, NULL, &ep) < 0)
		_exit(2);
	ivshmem_chan *old = NULL;
	for (;;) {
		ivshmem_chan *ch = NULL;
		if (ivshmem_chan_open(ep, name, role, NULL, &ch) < 0)
			_exit(3);
		ivshmem_chan_close(old); /* taken over: detaches nothing */
		old = ch;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
}

/* Run the CLI with args, `lines` lines of input on its stdin;
 * its exit status, or -1 if it was still running after 10 s (killed). */
static int run_cli(char *const argv[], int lines)
{
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return -2;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	for (int i = 0; i < lines; i++)
		(void)!write(in[1], "x\n", 2);
	close(in[1]);
	return reap_bounded(pid, 10000); /* kills it after 10 s: -1 */
}

int main(void)
{
	const char *cli = getenv("IVSHMEM_CLI");
	if (!cli)
		skip_all("IVSHMEM_CLI (path of the ivshmem binary) not set");
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "/dev/shm/ivs-deadline-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, REGION) < 0)
		fail_all("setup: cannot create %s: %s", path, strerror(errno));
	close(fd);
	ivshmem_ep *ep = NULL;
	ok(ivshmem_open(spec, NULL, &ep) == 0 && ivshmem_chan_create(ep, "r", 4096, 100) == 0 &&
	   ivshmem_chan_create(ep, "s", 256, 100) == 0, "channels r and s (s holds two messages)");

	/* A producer that restarts every 20 ms and never sends. */
	pid_t f = flapper("r", IVSHMEM_CHAN_PRODUCER);
	char *recv_argv[] = {(char *)cli, "chan", "recv", spec, "r", "--timeout", "1", NULL};
	int st = run_cli(recv_argv, 0);
	is(st, 2, "chan recv --timeout 1 against a producer restarting every 20 ms: exit 2 (no message "
		  "within the timeout), not stretched (-1: still running after 10 s)");
	kill(f, SIGKILL);
	waitpid(f, NULL, 0);

	/* A consumer that restarts every 20 ms and never reads, a full ring. */
	f = flapper("s", IVSHMEM_CHAN_CONSUMER);
	char *send_argv[] = {(char *)cli, "chan", "send", spec, "s", "--timeout", "1", NULL};
	st = run_cli(send_argv, 50);
	is(st, 2, "chan send --timeout 1 into a full channel whose consumer restarts every 20 ms: exit 2, "
		  "not stretched");
	kill(f, SIGKILL);
	waitpid(f, NULL, 0);

	ivshmem_close(ep);
	unlink(path);
	return tap_done();
}
