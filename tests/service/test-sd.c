/* SPDX-License-Identifier: MIT */
/* The service manager's protocols (src/service/sd.h: LISTEN_FDS,
 * NOTIFY_SOCKET) and taking over a passed socket
 * (ivs_rt_socket_adopt).  The real manager's side, systemd-socket-activate
 * starting the CLI, is tests/service/test-activation.sh. */
#include "service/runtime-files.h"
#include "service/sd.h"

#include "../tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];

static void set_listen(const char *pid, const char *fds)
{
	char me[24];
	snprintf(me, sizeof(me), "%d", (int)getpid());
	setenv("LISTEN_PID", pid ? pid : me, 1);
	setenv("LISTEN_FDS", fds, 1);
	setenv("LISTEN_FDNAMES", "x", 1);
}

static bool env_gone(void)
{
	return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

/* fd 3 and 4 as the manager leaves them: open, without close-on-exec. */
static void put_fds(void)
{
	for (int fd = 3; fd <= 4; fd++) {
		int p = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: as inherited */
		if (p != fd && dup2(p, fd) < 0)
			fail_all("setup: dup2: %s", strerror(errno));
		if (p != fd)
			close(p);
	}
}

static void test_listen_fds(void)
{
	unsigned n = 99;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	ok(ivs_sd_listen_fds(&n) == 0 && n == 0, "nothing passed: 0 sockets");

	put_fds();
	set_listen("1", "2");
	ok(ivs_sd_listen_fds(&n) == 0 && n == 0 && env_gone(),
	   "LISTEN_PID another process's: not ours, 0 sockets, the variables removed");
	ok((fcntl(3, F_GETFD) & FD_CLOEXEC) == 0, "... and its fds left alone");

	set_listen(NULL, "2");
	ok(ivs_sd_listen_fds(&n) == 0 && n == 2 && env_gone(), "LISTEN_FDS=2 for us: 2 sockets, variables removed");
	ok((fcntl(3, F_GETFD) & FD_CLOEXEC) && (fcntl(4, F_GETFD) & FD_CLOEXEC), "... made close-on-exec");

	const char *bad[] = {"", "x", "-1", "+1", " 1", "1 ", "0x1", "12345678901"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_listen(NULL, bad[i]);
		n = 7;
		int r = ivs_sd_listen_fds(&n);
		ok(r == -EINVAL && n == 0 && env_gone(), "LISTEN_FDS='%s': -EINVAL (got %d), 0 sockets", bad[i], r);
	}
	set_listen("1x", "1");
	is(ivs_sd_listen_fds(&n), -EINVAL, "LISTEN_PID not a number: -EINVAL");
	set_listen("1", "x");
	ok(ivs_sd_listen_fds(&n) == 0 && n == 0 && env_gone(),
	   "LISTEN_FDS malformed but LISTEN_PID another's: not ours, 0 (as sd_listen_fds)");
	unsetenv("LISTEN_PID");
	setenv("LISTEN_FDS", "1", 1);
	ok(ivs_sd_listen_fds(&n) == 0 && n == 0 && env_gone(), "LISTEN_FDS without LISTEN_PID: 0 sockets");
	set_listen(NULL, "1");
	unsetenv("LISTEN_FDS");
	ok(ivs_sd_listen_fds(&n) == 0 && n == 0 && env_gone(), "LISTEN_PID without LISTEN_FDS: 0 sockets");
	set_listen(NULL, "65");
	is(ivs_sd_listen_fds(&n), -E2BIG, "LISTEN_FDS=65: -E2BIG");
	close(4);
	set_listen(NULL, "2");
	ok(ivs_sd_listen_fds(&n) == -EBADF && n == 0, "LISTEN_FDS=2 with fd 4 not open: -EBADF, 0 sockets");
	close(3);
}

/* A datagram socket standing in for the manager's notify socket. */
static int notify_receiver(struct sockaddr_un *sa, socklen_t *len, bool abstract)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract) {
		int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "ivs-test-notify-%d", (int)getpid());
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
		char env[128];
		snprintf(env, sizeof(env), "@%s", sa->sun_path + 1);
		setenv("NOTIFY_SOCKET", env, 1);
	} else {
		snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/notify", dir);
		*len = sizeof(*sa);
		setenv("NOTIFY_SOCKET", sa->sun_path, 1);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, *len) < 0)
		fail_all("setup: notify socket: %s", strerror(errno));
	return fd;
}

static void test_notify(void)
{
	unsetenv("NOTIFY_SOCKET");
	is(ivs_sd_notify("READY=1"), 0, "no NOTIFY_SOCKET: nobody asked, 0");
	struct sockaddr_un sa;
	socklen_t len;
	char buf[64];
	for (int abstract = 0; abstract <= 1; abstract++) {
		int fd = notify_receiver(&sa, &len, abstract);
		is(ivs_sd_notify("READY=1"), 1, "%s NOTIFY_SOCKET: sent", abstract ? "abstract" : "path");
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		ok(n == 7 && !memcmp(buf, "READY=1", 7), "... and the manager got READY=1");
		if (!abstract) {
			/* A manager that reads nothing: its queue fills, and
			 * notify says so instead of waiting. */
			int r;
			unsigned sent = 0;
			while ((r = ivs_sd_notify("STATUS=filling the queue")) == 1 && sent < 100000)
				sent++;
			ok(r == -EAGAIN, "a full notify queue: -EAGAIN after %u, no wait", sent);
			unlink(sa.sun_path);
		}
		close(fd);
	}
	const char *bad[] = {"relative", "@", "/"};
	for (size_t i = 0; i < 3; i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		is(ivs_sd_notify("READY=1"), -EINVAL, "NOTIFY_SOCKET='%s': -EINVAL", bad[i]);
	}
	char path[160];
	snprintf(path, sizeof(path), "%s/nobody", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	is(ivs_sd_notify("READY=1"), -ENOENT, "NOTIFY_SOCKET naming nothing: -ENOENT, no wait");
	unsetenv("NOTIFY_SOCKET");
}

static int listener(int type, const char *path, bool do_listen)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		fail_all("setup: %s: too long", path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(sa);
	if (path[0] == '@') { /* abstract */
		memcpy(sa.sun_path + 1, path + 1, strlen(path) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 || (do_listen && listen(fd, 4) < 0))
		fail_all("setup: socket %s: %s", path, strerror(errno));
	return fd;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static void test_adopt(void)
{
	struct ivs_rt_socket s;
	char path[100];
	snprintf(path, sizeof(path), "%s/s", dir);

	/* Taken over: nonblocking, close-on-exec, path known; nothing on
	 * disk made or removed. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* as inherited: blocking, no O_CLOEXEC */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		fail_all("setup: listener: %s", strerror(errno));
	ivs_rt_socket_init(&s);
	is(ivs_rt_socket_adopt(&s, fd, SOCK_STREAM, true), 0, "a listening stream socket is taken over");
	ok(s.fd == fd && s.adopted && !strcmp(s.path, path), "... its path is known: %s", s.path);
	ok((fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "... made nonblocking and close-on-exec");
	ok(s.lock_fd < 0, "... and no lock taken");
	char name2[64];
	snprintf(name2, sizeof(name2), "@ivs-adopt-second-%d", (int)getpid());
	int second = listener(SOCK_STREAM, name2, true);
	is(ivs_rt_socket_adopt(&s, second, SOCK_STREAM, true), -EALREADY, "taking a second one: -EALREADY");
	ok(fd_closed(second) && s.fd == fd, "... which is closed (it was handed over), the first kept");
	char lock[170];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	ok(access(lock, F_OK) < 0, "no lock file made");
	ivs_rt_socket_close(&s);
	struct stat st;
	ok(fd_closed(fd) && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
	   "close closes it and leaves the socket file (the manager's)");
	unlink(path);

	struct {
		int fd;
		int want;
		const char *what;
	} bad[] = {
		{listener(SOCK_DGRAM, path, false), -EPROTOTYPE, "a datagram socket: -EPROTOTYPE"},
		{-1, -EDESTADDRREQ, "a stream socket not listening (Accept=yes): -EDESTADDRREQ"},
		{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -EAFNOSUPPORT, "a TCP socket: -EAFNOSUPPORT"},
		{open("/dev/null", O_RDONLY | O_CLOEXEC), -ENOTSOCK, "/dev/null: -ENOTSOCK"},
	};
	unlink(path);
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		fail_all("setup: socketpair: %s", strerror(errno));
	bad[1].fd = pair[0];
	close(pair[1]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ivs_rt_socket_init(&s);
		is(ivs_rt_socket_adopt(&s, bad[i].fd, SOCK_STREAM, true), bad[i].want, "%s", bad[i].what);
		ok(fd_closed(bad[i].fd) && s.fd < 0, "... and closed (it was ours)");
	}
	/* An abstract name, with a control byte: shown "@...", printable. */
	char name[64];
	snprintf(name, sizeof(name), "@ivs-adopt-%d-\033]0;x", (int)getpid());
	fd = listener(SOCK_SEQPACKET, name, true);
	ivs_rt_socket_init(&s);
	is(ivs_rt_socket_adopt(&s, fd, SOCK_SEQPACKET, true), 0, "an abstract seqpacket listener is taken over");
	char want[64];
	snprintf(want, sizeof(want), "@ivs-adopt-%d-?]0;x", (int)getpid());
	ok(!strcmp(s.path, want), "... shown as %s (control bytes as '?')", s.path);
	ivs_rt_socket_close(&s);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ivs-sd-XXXXXX");
	if (!mkdtemp(dir))
		fail_all("setup: mkdtemp: %s", strerror(errno));
	test_listen_fds();
	test_notify();
	test_adopt();
	ok(rmdir(dir) == 0, "nothing left in the test's directory");
	return tap_done();
}
