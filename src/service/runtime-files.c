/* SPDX-License-Identifier: MIT */
/* Runtime files of a service: see runtime-files.h for the rules. */
#include "service/runtime-files.h"

#include "service/passed-fds.h"
#include "util/util.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004 /* Linux 5.6 */
#endif

int ivs_rt_absolute(const char *path, char *buf, size_t size)
{
	if (!path || !*path)
		return -EINVAL;
	if (path[0] == '/')
		return ivs_path(buf, size, "%s", path);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return errno == ERANGE ? -ENAMETOOLONG : -errno;
	return ivs_path(buf, size, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path);
}

/* Split an absolute path: open its directory (O_PATH), return the name in
 * it.  The name must be a real entry name, not "." or "..". */
static int open_parent(char *path, const char **base)
{
	char *slash = strrchr(path, '/');
	const char *name = slash + 1;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	*slash = '\0';
	int fd = open(slash == path ? "/" : path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	*slash = '/';
	if (fd < 0)
		return -e;
	*base = name;
	return fd;
}

/* Is dir/name still the file (dev, ino)? */
static bool still_ours(int dir, const char *name, dev_t dev, ino_t ino)
{
	struct stat st;
	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* ---- the instance lock ------------------------------------------------- */

static int lock_at(int dir, const char *name, dev_t *dev, ino_t *ino)
{
	for (int tries = 0; tries < 8; tries++) {
		/* NOFOLLOW: no symlink; NONBLOCK: a FIFO can't make open() sleep. */
		int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
		int fd = openat(dir, name, flags | O_CREAT, 0644);
		if (fd < 0 && errno == EACCES) /* another user's, in a sticky dir */
			fd = openat(dir, name, flags);
		if (fd < 0)
			return errno == ELOOP ? -EEXIST : -errno;
		struct stat st;
		/* Another user's lock file (root's aside) could be removed by
		 * them under us, letting a second instance in. */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0)) {
			ivs_close(fd);
			return -EEXIST;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			ivs_close(fd);
			return e == EWOULDBLOCK ? -EADDRINUSE : -e;
		}
		if (still_ours(dir, name, st.st_dev, st.st_ino)) {
			*dev = st.st_dev;
			*ino = st.st_ino;
			return fd;
		}
		ivs_close(fd); /* its holder removed it meanwhile: take the new one */
	}
	return -EAGAIN;
}

/* ---- the socket ---------------------------------------------------------- */

/* PATH.lock's name in the socket's directory: the tail of lock_path. */
static const char *lock_name(const struct ivs_rt_socket *s)
{
	return s->lock_path + (s->base - s->path);
}

void ivs_rt_socket_init(struct ivs_rt_socket *s)
{
	memset(s, 0, sizeof(*s));
	s->dir_fd = s->lock_fd = s->fd = -1;
}

int ivs_rt_socket_lock(struct ivs_rt_socket *s, const char *path)
{
	if (s->lock_fd >= 0)
		return -EALREADY;
	int r = ivs_rt_absolute(path, s->path, sizeof(s->path));
	if (r < 0)
		return r;
	r = ivs_path(s->lock_path, sizeof(s->lock_path), "%s.lock", s->path);
	if (r < 0)
		return r;
	s->dir_fd = ivs_close(s->dir_fd);
	int fd = open_parent(s->path, &s->base);
	if (fd < 0)
		return fd;
	s->dir_fd = fd;
	fd = lock_at(s->dir_fd, lock_name(s), &s->lock_dev, &s->lock_ino);
	if (fd < 0)
		return fd;
	s->lock_fd = fd;
	return 0;
}

/* Connect to the socket behind an O_PATH fd: through /proc/self/fd, so no
 * name is resolved again (and no symlink followed). */
static int probe_fd(int pfd, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	int c = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c < 0)
		return -errno;
	int r = connect(c, (const struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	ivs_close(c);
	if (r == 0 || e == EAGAIN || e == EINPROGRESS || e == EPROTOTYPE)
		return 1;
	if (e == ECONNREFUSED)
		return 0;
	return -e;
}

int ivs_rt_socket_probe(const char *path, int type)
{
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno == ELOOP ? -EEXIST : -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : !S_ISSOCK(st.st_mode) ? -EEXIST : probe_fd(fd, type);
	ivs_close(fd);
	return r;
}

/* A fresh directory only we can enter, next to the socket's name: the
 * socket is bound and dressed there.  Returns its O_PATH fd; *name gets
 * its entry name in dir. */
static int private_dir(int dir, char *name, size_t size)
{
	for (int tries = 0; tries < 16; tries++) {
		/* Unpredictable names only make pre-creating them harder; the
		 * owner check below is what makes the directory ours.  So never
		 * wait for the entropy pool (a guest at boot has none yet). */
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof(rnd), GRND_INSECURE) != (ssize_t)sizeof(rnd)) {
			uint64_t x = ivs_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)tries * 0x9e3779b97f4a7c15ull;
			memcpy(rnd, &x, sizeof(rnd));
		}
		snprintf(name, size, ".ivshmem-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
			 rnd[4], rnd[5]);
		if (mkdirat(dir, name, 0700) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() && !(st.st_mode & 077))
			return fd;
		/* Swapped between mkdirat and openat: not ours, leave it. */
		ivs_close(fd);
	}
	return -EEXIST;
}

/* Bind sock to "s" in the private directory pdir (an O_PATH fd), by name
 * when the name fits in sun_path (the address clients and ss(8) see), else
 * through /proc/self/fd.  A name can lead elsewhere if the private
 * directory was renamed meanwhile: the caller checks that "s" is in pdir. */
static int bind_at(int sock, int pdir, const struct ivs_rt_socket *s, const char *pname)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t dirlen = (size_t)(s->base - s->path);
	if (dirlen + strlen(pname) + 2 < sizeof(sa.sun_path))
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s%s/s", (int)dirlen, s->path, pname);
	else
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/s", pdir);
	return bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

static int dress(int pdir, const struct ivs_rt_socket_opts *o)
{
	/* In the private directory nobody else can replace "s": by name is
	 * safe here, and chmod through the fd of a socket isn't possible. */
	if (o->mode >= 0 && fchmodat(pdir, "s", (mode_t)o->mode, 0) < 0)
		return -errno;
	if ((o->uid != (uid_t)-1 || o->gid != (gid_t)-1) &&
	    fchownat(pdir, "s", o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int ivs_rt_socket_listen(struct ivs_rt_socket *s, const struct ivs_rt_socket_opts *o, bool *replaced)
{
	if (s->lock_fd < 0 || s->fd >= 0 || o->mode > 0777 || o->backlog < 0 ||
	    (o->type != SOCK_STREAM && o->type != SOCK_SEQPACKET))
		return -EINVAL;
	bool stale = false;
	struct stat st;
	int old = openat(s->dir_fd, s->base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (old >= 0) {
		int r = fstat(old, &st) < 0 ? -errno : !S_ISSOCK(st.st_mode) ? -EEXIST : probe_fd(old, o->type);
		ivs_close(old);
		if (r < 0)
			return r;
		if (r > 0)
			return -EADDRINUSE;
		stale = true;
	} else if (errno == ELOOP) {
		return -EEXIST; /* a symlink */
	} else if (errno != ENOENT) {
		return -errno;
	}

	char pname[32];
	int pdir = private_dir(s->dir_fd, pname, sizeof(pname));
	if (pdir < 0)
		return pdir;
	int sock = socket(AF_UNIX, o->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = sock < 0 ? -errno : 0;
	s->fds_refused = false;
	if (r == 0 && o->refuse_fds) /* where unsupported, passed-fds.h disposes of them */
		s->fds_refused = ivs_pf_refuse(sock) == 1;
	if (r == 0)
		r = bind_at(sock, pdir, s, pname);
	if (r == 0 && (fstatat(pdir, "s", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode)))
		r = -EAGAIN; /* the private directory was moved under us */
	if (r == 0)
		r = dress(pdir, o);
	/* Listening before the rename: once the name is there, it answers. */
	if (r == 0 && listen(sock, o->backlog ? o->backlog : SOMAXCONN) < 0)
		r = -errno;
	if (r == 0) {
		/* Replace only the stale socket we probed; else never overwrite. */
		int rr = stale ? renameat(pdir, "s", s->dir_fd, s->base)
			       : renameat2(pdir, "s", s->dir_fd, s->base, RENAME_NOREPLACE);
		if (rr < 0 && errno == EEXIST) {
			/* Something appeared since the probe: a socket is taken
			 * to be a live one, anything else is not a socket. */
			struct stat now;
			bool is_sock = fstatat(s->dir_fd, s->base, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
				       S_ISSOCK(now.st_mode);
			r = is_sock ? -EADDRINUSE : -EEXIST;
		} else if (rr < 0) {
			r = -errno;
		}
	}
	if (r < 0)
		unlinkat(pdir, "s", 0);
	unlinkat(s->dir_fd, pname, AT_REMOVEDIR);
	ivs_close(pdir);
	if (r < 0) {
		ivs_close(sock);
		return r;
	}
	s->fd = sock;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (replaced)
		*replaced = stale;
	return 0;
}

int ivs_rt_socket_adopt(struct ivs_rt_socket *s, int fd, int type, bool refuse_fds)
{
	int r = 0, v;
	socklen_t len = sizeof(v);
	struct stat st;
	if (s->fd >= 0 || s->lock_fd >= 0)
		r = -EALREADY;
	else if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISSOCK(st.st_mode))
		r = -ENOTSOCK;
	else if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		r = -errno;
	else if (v != AF_UNIX)
		r = -EAFNOSUPPORT;
	else if ((len = sizeof(v)), getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		r = -errno;
	else if (v != type)
		r = -EPROTOTYPE;
	else if ((len = sizeof(v)), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
		r = -errno;
	else if (!v)
		r = -EDESTADDRREQ;
	int fl;
	if (r == 0 && ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		       (fl = fcntl(fd, F_GETFD)) < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0))
		r = -errno;
	if (r < 0) {
		if (fd != s->fd)
			ivs_close(fd);
		return r;
	}
	struct sockaddr_un sa;
	socklen_t salen = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	size_t n = 0;
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 && salen > offsetof(struct sockaddr_un, sun_path))
		n = salen - offsetof(struct sockaddr_un, sun_path);
	if (n > 0 && sa.sun_path[0] == 0) { /* abstract: "@name" */
		n = n - 1 < sizeof(s->path) - 2 ? n - 1 : sizeof(s->path) - 2;
		s->path[0] = '@';
		memcpy(s->path + 1, sa.sun_path + 1, n);
		s->path[n + 1] = 0;
	} else {
		snprintf(s->path, sizeof(s->path), "%.*s", (int)strnlen(sa.sun_path, n), sa.sun_path);
	}
	for (char *c = s->path; *c; c++) /* for logs: an abstract name is any bytes */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	s->base = s->path;
	s->fds_refused = refuse_fds && ivs_pf_refuse(fd) == 1;
	s->fd = fd;
	s->adopted = true;
	return 0;
}

void ivs_rt_socket_close(struct ivs_rt_socket *s)
{
	if (s->fd >= 0 && s->dir_fd >= 0 && still_ours(s->dir_fd, s->base, s->dev, s->ino))
		unlinkat(s->dir_fd, s->base, 0);
	if (s->lock_fd >= 0 && s->dir_fd >= 0) {
		/* In a directory others can write, ours may have been renamed
		 * away and a successor's put there: leave that one. */
		if (still_ours(s->dir_fd, lock_name(s), s->lock_dev, s->lock_ino))
			unlinkat(s->dir_fd, lock_name(s), 0);
	}
	ivs_rt_socket_forget(s);
}

void ivs_rt_socket_forget(struct ivs_rt_socket *s)
{
	s->fd = ivs_close(s->fd);
	s->lock_fd = ivs_close(s->lock_fd);
	s->dir_fd = ivs_close(s->dir_fd);
	s->adopted = false;
}

/* ---- the pid file -------------------------------------------------------- */

void ivs_rt_pidfile_init(struct ivs_rt_pidfile *p)
{
	memset(p, 0, sizeof(*p));
	p->dir_fd = p->fd = -1;
}

/* Nothing but a decimal pid and a newline (or nothing at all). */
static bool looks_like_pid_file(int fd, const struct stat *st)
{
	char buf[24];
	if (st->st_size >= (off_t)sizeof(buf))
		return false;
	ssize_t n = ivs_pread_all(fd, buf, (size_t)st->st_size, 0);
	if (n != (ssize_t)st->st_size)
		return false;
	ssize_t i = 0;
	while (i < n && buf[i] >= '0' && buf[i] <= '9')
		i++;
	return i == n || (i > 0 && i == n - 1 && buf[i] == '\n');
}

/* An existing entry: a stale pid file of ours (regular, one link,
 * unlocked, holding a pid) is unlinked so a fresh one can be made;
 * anything else is refused: a mistyped -p never costs a file. */
static int clear_stale(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EEXIST : errno == ENOENT ? 0 : -errno;
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		r = -EEXIST;
	else if (st.st_nlink != 1)
		r = -EMLINK;
	else if (!looks_like_pid_file(fd, &st))
		r = -EEXIST;
	else if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
	else if (still_ours(dir, name, st.st_dev, st.st_ino) && unlinkat(dir, name, 0) < 0 && errno != ENOENT)
		r = -errno;
	ivs_close(fd);
	return r;
}

int ivs_rt_pidfile_open(struct ivs_rt_pidfile *p, const char *path)
{
	if (p->fd >= 0)
		return -EALREADY;
	int r = ivs_rt_absolute(path, p->path, sizeof(p->path));
	if (r < 0)
		return r;
	int dir = open_parent(p->path, &p->base);
	if (dir < 0)
		return dir;
	for (int tries = 0; tries < 8; tries++) {
		int fd = openat(dir, p->base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = errno == EEXIST ? clear_stale(dir, p->base) : -errno;
			if (r < 0)
				break;
			continue;
		}
		struct stat st;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0) {
			/* Someone opened our fresh file first: leave it to them. */
			r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
			ivs_close(fd);
			break;
		}
		p->dir_fd = dir;
		p->fd = fd;
		p->dev = st.st_dev;
		p->ino = st.st_ino;
		return 0;
	}
	if (r == 0)
		r = -EAGAIN;
	ivs_close(dir);
	return r;
}

int ivs_rt_pidfile_write(struct ivs_rt_pidfile *p, pid_t pid)
{
	if (p->fd < 0)
		return -EBADF;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (ftruncate(p->fd, 0) < 0)
		return -errno;
	ssize_t w = ivs_pwrite_all(p->fd, buf, (size_t)n, 0);
	return w < 0 ? (int)w : 0;
}

void ivs_rt_pidfile_remove(struct ivs_rt_pidfile *p)
{
	if (p->fd >= 0 && still_ours(p->dir_fd, p->base, p->dev, p->ino))
		unlinkat(p->dir_fd, p->base, 0);
	p->fd = ivs_close(p->fd);
	p->dir_fd = ivs_close(p->dir_fd);
}

/* ---- files read at start-up ---------------------------------------------- */

int ivs_rt_open_regular(const char *path)
{
	/* Look before opening: opening a device can act (a watchdog arms). */
	int pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	struct stat st;
	int r = fstat(pfd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (r < 0) {
		ivs_close(pfd);
		return r;
	}
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	int fd = open(self, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) /* no /proc: by name, non-blocking */
		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	ivs_close(pfd);
	if (r < 0)
		return r;
	struct stat now;
	if (fstat(fd, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		ivs_close(fd);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}
