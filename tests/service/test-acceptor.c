/* SPDX-License-Identifier: MIT */
/* The services' accept loop (service/acceptor.h), in a child whose fd
 * limit is low: connections are taken while fds last; out of fds, each
 * further pending connection is shed (the client sees EOF, the call says
 * -EMFILE and the loop goes on), logged once per streak; with nothing
 * pending, -EAGAIN; a connection taken resets the streak. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "service/acceptor.h"
#include "util/util.h"

static int lines;
static char last[200];

static void sink(void *ctx, enum ivs_log_level l, const char *line)
{
	(void)ctx;
	if (l == IVS_LOG_WARN)
		lines++;
	snprintf(last, sizeof(last), "%s", line);
}

/* Fill the holes of the fd table (with /dev/null), so that the next fd
 * is one past the highest: returns that number. */
static int fill_holes(void)
{
	int high = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			high = fd + 1;
	int fd;
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 && fd < high)
		;
	if (fd >= high)
		close(fd);
	return high;
}

int main(void)
{
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/ivs-acceptor-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	ok(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 64) == 0, "a listener");
	struct ivs_acceptor a;
	is(ivs_acceptor_init(&a, ls, sink, NULL), 0, "acceptor: init takes the spare fd");
	is(ivs_acceptor_next(&a), -EAGAIN, "nothing pending: -EAGAIN");

	int clients[8], n = 0;
	/* The clients live in a child, so that they don't count. */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		fail_all("setup: socketpair: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 8; i++) {
			clients[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
				_exit(1);
		}
		char c;
		(void)!write(sp[1], "c", 1); /* all 8 connected */
		(void)!read(sp[1], &c, 1);   /* the parent has taken its round */
		/* Shed ones see EOF at once, taken ones see nothing. */
		int eof = 0;
		for (int i = 0; i < 8; i++) {
			struct pollfd p = {.fd = clients[i], .events = POLLIN};
			if (poll(&p, 1, 0) == 1 && read(clients[i], &c, 1) == 0)
				eof++;
		}
		_exit(eof);
	}
	char c;
	ok(read(sp[0], &c, 1) == 1, "8 clients connected");
	/* Room for exactly 3 more fds in this process: the 4th connection
	 * finds the table full. */
	int high = fill_holes();
	struct rlimit old, rl = {(rlim_t)high + 3, (rlim_t)high + 3};
	getrlimit(RLIMIT_NOFILE, &old);
	rl.rlim_max = old.rlim_max;
	ok(setrlimit(RLIMIT_NOFILE, &rl) == 0, "fd limit: fds 0..%d in use, room for 3", high - 1);
	/* Rounds as an event loop makes them, until all 8 are dealt with (a
	 * shed connection may be closed by the closer thread, which holds
	 * its fd a moment: the spare comes back on a later round). */
	int taken = 0, shed = 0, other = 0;
	uint64_t until = ivs_now_ns() + 5000000000ull; /* hang guard */
	while (taken + shed < 8 && ivs_now_ns() < until) {
		int before = taken + shed;
		for (int i = 0; i < IVS_ACCEPT_BATCH; i++) {
			int fd = ivs_acceptor_next(&a);
			if (fd == -EMFILE) {
				shed++;
				continue;
			}
			if (fd < 0) {
				other += fd != -EAGAIN;
				break;
			}
			clients[n++] = fd;
			taken++;
		}
		if (taken + shed == before)
			usleep(1000); /* poll interval */
	}
	is(taken, 3, "the rounds take the 3 connections there are fds for");
	is(shed, 5, "and shed the other 5 (-EMFILE each)");
	is(other, 0, "a round ends with -EAGAIN");
	is(lines, 1, "one warning for the streak: %s", last);
	ok(strstr(last, "turned away") && strstr(last, "raise the fd limit"), "naming the way out");
	(void)!write(sp[0], "g", 1);
	int st = -1;
	waitpid(pid, &st, 0);
	is(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 5, "the 5 shed clients saw EOF, the 3 taken did not");
	for (int i = 0; i < n; i++)
		close(clients[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	/* Fds again: the next connection is taken and the streak ends. */
	int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(c1 >= 0 && connect(c1, (struct sockaddr *)&sa, sizeof(sa)) == 0, "a new client");
	int fd = ivs_acceptor_next(&a);
	ok(fd >= 0, "is taken");
	ok(!a.full_logged, "and the streak is over");
	ivs_close(fd);
	ivs_close(c1);
	ivs_acceptor_close(&a);
	ivs_acceptor_close(&a);
	is(a.reserve_fd, -1, "close releases the spare fd (twice is fine)");
	close(ls);
	unlink(sa.sun_path);
	return tap_done();
}
