/* SPDX-License-Identifier: MIT */
/* Runtime files (src/service/runtime-files.h): the socket, its lock, the pid
 * file and start-up files, against what may already sit at their paths.
 * The attacks by a second user are in tests/adversary/. */
#include "service/runtime-files.h"

#include "../tap.h"
#include "util/util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *at(const char *name)
{
	static char buf[4][160];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static const struct ivs_rt_socket_opts stream = {
	.type = SOCK_STREAM, .mode = 0640, .uid = (uid_t)-1, .gid = (gid_t)-1};

static void test_socket(void)
{
	struct ivs_rt_socket a, b;
	ivs_rt_socket_init(&a);
	ivs_rt_socket_init(&b);
	is(ivs_rt_socket_listen(&a, &stream, NULL), -EINVAL, "listen before the lock: -EINVAL");
	is(ivs_rt_socket_lock(&a, at("s")), 0, "lock");
	is(ivs_rt_socket_lock(&b, at("s")), -EADDRINUSE, "a second lock on the path: -EADDRINUSE");
	struct ivs_rt_socket_opts bad = stream;
	bad.mode = 04777;
	is(ivs_rt_socket_listen(&a, &bad, NULL), -EINVAL, "a mode beyond 0777: -EINVAL");
	bool replaced = true;
	is(ivs_rt_socket_listen(&a, &stream, &replaced), 0, "listen");
	ok(!replaced, "nothing was replaced");
	struct stat st;
	ok(lstat(at("s"), &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0640,
	   "the socket is at its path with mode 0640 from the start");
	is(ivs_rt_socket_probe(at("s"), SOCK_STREAM), 1, "probe: live");
	is(ivs_rt_socket_probe(at("s"), SOCK_SEQPACKET), 1, "probe of the other type: live too (EPROTOTYPE)");
	is(ivs_rt_socket_probe(at("none"), SOCK_STREAM), 0, "probe of nothing: 0");
	/* No private directory left behind. */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ls -A %s | grep -q '^\\.ivshmem-'", dir);
	ok(system(cmd) != 0, "no private directory left in the socket's directory");
	ivs_rt_socket_close(&a);
	ok(access(at("s"), F_OK) < 0 && access(at("s.lock"), F_OK) < 0, "close removes the socket and the lock");

	/* A stale socket (nobody listens) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("s"));
	ok(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "a stale socket file");
	close(fd);
	is(ivs_rt_socket_lock(&a, at("s")), 0, "lock over it");
	is(ivs_rt_socket_listen(&a, &stream, &replaced), 0, "listen replaces it");
	ok(replaced, "and says so");
	/* Someone else's file replaced ours: close must leave it. */
	unlink(at("s"));
	int f = open(at("s"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(f);
	ivs_rt_socket_close(&a);
	ok(access(at("s"), F_OK) == 0, "close leaves a file that is no longer ours");
	unlink(at("s"));

	/* Whatever else is at the path is refused, and left as it was. */
	ok(symlink("/etc/passwd", at("s")) == 0, "a symlink at the socket path");
	is(ivs_rt_socket_lock(&a, at("s")), 0, "lock");
	is(ivs_rt_socket_listen(&a, &stream, NULL), -EEXIST, "listen: -EEXIST");
	ivs_rt_socket_close(&a);
	ok(lstat(at("s"), &st) == 0 && S_ISLNK(st.st_mode), "the symlink stays");
	unlink(at("s"));
	int live = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("s2"));
	ok(bind(live, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(live, 1) == 0, "a live socket elsewhere");
	ok(symlink(at("s2"), at("s")) == 0, "a symlink to it at the path");
	is(ivs_rt_socket_probe(at("s"), SOCK_STREAM), -EEXIST, "probe: -EEXIST, not followed (no connection made)");
	struct pollfd pl = {.fd = live, .events = POLLIN};
	is(poll(&pl, 1, 0), 0, "the live socket saw no connection");
	close(live);
	unlink(at("s2"));
	unlink(at("s"));
	if (geteuid() == 0) {
		int lf = open(at("s.lock"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		ok(lf >= 0 && fchown(lf, 65534, 65534) == 0, "another user's lock file");
		close(lf);
		is(ivs_rt_socket_lock(&a, at("s")), -EEXIST, "lock: -EEXIST (that user could remove it under us)");
		ok(access(at("s.lock"), F_OK) == 0, "and it is left alone");
		unlink(at("s.lock"));
	}
	ok(mkfifo(at("s.lock"), 0600) == 0, "a FIFO as the lock file");
	is(ivs_rt_socket_lock(&a, at("s")), -EEXIST, "lock: -EEXIST, without blocking");
	unlink(at("s.lock"));
	ok(symlink("/etc/passwd", at("s.lock")) == 0, "a symlink as the lock file");
	is(ivs_rt_socket_lock(&a, at("s")), -EEXIST, "lock: -EEXIST");
	unlink(at("s.lock"));
	ivs_rt_socket_close(&a);

	/* Relative paths become absolute. */
	char old[4096];
	ok(getcwd(old, sizeof(old)) && chdir(dir) == 0, "chdir to the test directory");
	is(ivs_rt_socket_lock(&a, "rel"), 0, "lock a relative path");
	ok(!strcmp(a.path, at("rel")), "its path is absolute: %s", a.path);
	is(ivs_rt_socket_listen(&a, &stream, NULL), 0, "listen");
	ok(chdir("/") == 0, "chdir /");
	ivs_rt_socket_close(&a);
	ok(access(at("rel"), F_OK) < 0 && access(at("rel.lock"), F_OK) < 0,
	   "close from another directory removes the right files");
	ok(chdir(old) == 0, "back");
	is(ivs_rt_socket_lock(&a, "/"), -EINVAL, "a path without a file name: -EINVAL");
	is(ivs_rt_socket_lock(&a, ""), -EINVAL, "an empty path: -EINVAL");
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	is(ivs_rt_socket_lock(&a, longp), -ENAMETOOLONG, "a path over 107 bytes: -ENAMETOOLONG");
}

static void test_pidfile(void)
{
	struct ivs_rt_pidfile p, q;
	ivs_rt_pidfile_init(&p);
	ivs_rt_pidfile_init(&q);
	is(ivs_rt_pidfile_open(&p, at("pid")), 0, "create the pid file");
	is(ivs_rt_pidfile_open(&q, at("pid")), -EADDRINUSE, "a second holder: -EADDRINUSE");
	is(ivs_rt_pidfile_write(&p, 1234), 0, "write a pid");
	char buf[32] = {0};
	ok(ivs_read_text(at("pid"), buf, sizeof(buf)) > 0 && !strcmp(buf, "1234"), "it reads back: %s", buf);
	ivs_rt_pidfile_remove(&p);
	ok(access(at("pid"), F_OK) < 0, "remove deletes it");

	/* A stale one: its name is replaced, its contents never written. */
	int f = open(at("pid"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ok(f >= 0 && write(f, "not a pid\n", 10) == 10, "a file with other contents at the pid path");
	close(f);
	is(ivs_rt_pidfile_open(&p, at("pid")), -EEXIST, "refused: -EEXIST (a mistyped -p costs no file)");
	char kept[16] = {0};
	ok(ivs_read_text(at("pid"), kept, sizeof(kept)) > 0 && !strcmp(kept, "not a pid"), "and it is intact");
	unlink(at("pid"));
	f = open(at("pid"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ok(f >= 0 && write(f, "432\n", 4) == 4, "a stale pid file");
	close(f);
	struct stat before, now;
	stat(at("pid"), &before);
	int keep = open(at("pid"), O_RDONLY | O_CLOEXEC); /* the old inode, to look at later */
	is(ivs_rt_pidfile_open(&p, at("pid")), 0, "open over the stale file");
	ok(stat(at("pid"), &now) == 0 && now.st_ino != before.st_ino, "a new file took its name");
	char old[8] = {0};
	ok(pread(keep, old, 4, 0) == 4 && !strcmp(old, "432\n"), "the old file's contents were not touched");
	close(keep);
	ivs_rt_pidfile_remove(&p);

	ok(symlink(at("victim"), at("pid")) == 0, "a symlink at the pid path");
	is(ivs_rt_pidfile_open(&p, at("pid")), -EEXIST, "refused: -EEXIST");
	ok(access(at("victim"), F_OK) < 0, "nothing created at its target");
	unlink(at("pid"));
	ok(mkfifo(at("pid"), 0600) == 0, "a FIFO at the pid path");
	is(ivs_rt_pidfile_open(&p, at("pid")), -EEXIST, "refused without blocking: -EEXIST");
	unlink(at("pid"));
	f = open(at("target"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	close(f);
	ok(link(at("target"), at("pid")) == 0, "a hard link at the pid path");
	is(ivs_rt_pidfile_open(&p, at("pid")), -EMLINK, "refused: -EMLINK");
	unlink(at("pid"));
	unlink(at("target"));
	is(ivs_rt_pidfile_write(&p, 1), -EBADF, "write without open: -EBADF");
	ivs_rt_pidfile_remove(&p); /* idempotent */
}

static void test_regular(void)
{
	int f = open(at("conf"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	close(f);
	int fd = ivs_rt_open_regular(at("conf"));
	ok(fd >= 0, "a regular file opens");
	ok(fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK), "blocking mode restored");
	ivs_close(fd);
	is(ivs_rt_open_regular(dir), -EISDIR, "a directory: -EISDIR");
	ok(mkfifo(at("fifo"), 0600) == 0, "a FIFO");
	is(ivs_rt_open_regular(at("fifo")), -EINVAL, "a FIFO: -EINVAL, without blocking");
	is(ivs_rt_open_regular(at("nothing")), -ENOENT, "missing: -ENOENT");
	is(ivs_rt_open_regular("/dev/null"), -EINVAL, "a device: -EINVAL, never opened for reading");
	ok(symlink(at("conf"), at("conf-link")) == 0, "a symlink to a config file");
	fd = ivs_rt_open_regular(at("conf-link"));
	ok(fd >= 0, "opens (administrators link configs)");
	ivs_close(fd);
	unlink(at("conf-link"));
	unlink(at("conf"));
	unlink(at("fifo"));
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ivshmem-rt.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_socket();
	test_pidfile();
	test_regular();
	ok(rmdir(dir) == 0, "everything removed (rmdir %s)", dir);
	return tap_done();
}
