/* SPDX-License-Identifier: MIT */
/* What a service (the server, the daemon) creates on disk: its listening
 * socket with the instance lock beside it, its pid file, and the files it
 * reads at start-up.  The one place where those are made, so that a service
 * running as root in a directory another user can write is never turned
 * against a file of the attacker's choosing:
 *   - every operation after the first goes through an fd of the parent
 *     directory, never the path again (the path's directories can be
 *     renamed under us);
 *   - the socket is bound inside a fresh private directory (mode 0700),
 *     given its mode and owner there, and renamed into place: nobody can
 *     swap it between bind() and chmod()/chown();
 *   - nothing follows a symlink, nothing opens a FIFO in a way that can
 *     sleep, nothing truncates or writes a file it did not just create;
 *   - a file is removed at the end only if it is still the one we made.
 * Paths are made absolute first, so a service that changes directory
 * (daemonizing) still finds its files.  No printing: -errno only. */
#ifndef IVS_RUNTIME_FILES_H
#define IVS_RUNTIME_FILES_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/un.h>

#define IVS_RT_SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

/* A listening UNIX socket at a path, and its instance lock PATH.lock. */
struct ivs_rt_socket {
	char path[IVS_RT_SOCKET_PATH_MAX]; /* absolute */
	char lock_path[IVS_RT_SOCKET_PATH_MAX + 8];
	const char *base; /* the name in its directory (points into path) */
	int dir_fd;	  /* O_PATH fd of the directory */
	int lock_fd;	  /* flock held on PATH.lock; -1 when not locked */
	int fd;		  /* the listening socket; -1 before listen */
	dev_t dev;	  /* identity of the socket file we put at path */
	ino_t ino;
	dev_t lock_dev; /* identity of the lock file we hold */
	ino_t lock_ino;
	bool fds_refused; /* the kernel refuses clients' fds (opts.refuse_fds) */
	bool adopted;	  /* fd was handed to us (ivs_rt_socket_adopt) */
};

struct ivs_rt_socket_opts {
	int type;    /* SOCK_STREAM or SOCK_SEQPACKET */
	int mode;    /* permission bits (at most 0777); -1: 0777 & ~umask */
	uid_t uid;   /* owner; (uid_t)-1: ours */
	gid_t gid;   /* group; (gid_t)-1: ours */
	int backlog; /* 0: SOMAXCONN */
	/* Refuse SCM_RIGHTS from clients where the kernel can (SO_PASSRIGHTS,
	 * see passed-fds.h); the accepted sockets inherit it. */
	bool refuse_fds;
};

/* Fds -1, nothing held: safe to pass to ivs_rt_socket_close(). */
void ivs_rt_socket_init(struct ivs_rt_socket *s);

/* Make path absolute, open its directory and take the instance lock,
 * PATH.lock (flock LOCK_EX|LOCK_NB, held until ivs_rt_socket_close).  Of two
 * services started on one path the second gets -EADDRINUSE here, before it
 * touches anything else.  -EINVAL (empty path or no file name),
 * -ENAMETOOLONG (over 107 bytes once absolute), -EEXIST (PATH.lock is not a
 * regular file of ours or root's: a symlink, FIFO, directory, another
 * user's file that user could remove under us...), -ENOENT/-ENOTDIR (no such
 * directory), -EACCES, -errno. */
int ivs_rt_socket_lock(struct ivs_rt_socket *s, const char *path);

/* Under the lock: bind, set mode and owner, listen, and put the socket at
 * the path.  A stale socket there (nobody answers) is replaced atomically;
 * *replaced (may be NULL) says so.  -EADDRINUSE (something answers there),
 * -EEXIST (the path is not a socket), -EINVAL (bad options, not locked),
 * -EPERM (chown refused), -errno. */
int ivs_rt_socket_listen(struct ivs_rt_socket *s, const struct ivs_rt_socket_opts *o, bool *replaced);

/* Take over a listening socket the service manager made and passed to us
 * (LISTEN_FDS, service/sd.h) instead of locking and listening: nothing on
 * disk is ours then, so nothing is locked or removed; its owner and mode
 * are the manager's.  fd must be a listening AF_UNIX socket of the given
 * type (SOCK_STREAM or SOCK_SEQPACKET); it is made nonblocking and
 * close-on-exec, is refused clients' fds if refuse_fds (as
 * ivs_rt_socket_opts.refuse_fds), and is owned by s from then on, whatever
 * the result.  s->path is its address for logs: a path, "@" and an abstract
 * name, or "" (unnamed).  -ENOTSOCK (not a socket), -EAFNOSUPPORT (not
 * AF_UNIX), -EPROTOTYPE (another type), -EDESTADDRREQ (not listening),
 * -EALREADY (s holds a socket or lock already), -errno. */
int ivs_rt_socket_adopt(struct ivs_rt_socket *s, int fd, int type, bool refuse_fds);

/* Close the listener; remove the socket if it is still the one we made,
 * and the lock file (we hold it: nobody else can have replaced it); an
 * adopted socket is only closed.  Idempotent. */
void ivs_rt_socket_close(struct ivs_rt_socket *s);

/* Close this process's copies only, removing nothing: for the side of a
 * fork() that does not run the service. */
void ivs_rt_socket_forget(struct ivs_rt_socket *s);

/* Is a listener answering on the socket at path?  One rule for every
 * service: 1 if a connection is accepted or queued, the backlog is full, or
 * a socket of another type answers (EPROTOTYPE): something lives there; 0 if
 * refused or absent (stale); -EEXIST if path is not a socket (a symlink is
 * never followed); -errno otherwise.  Never blocks. */
int ivs_rt_socket_probe(const char *path, int type);

/* A pid file, created by us and locked (flock) for as long as we run. */
struct ivs_rt_pidfile {
	char path[4096]; /* absolute */
	const char *base;
	int dir_fd;
	int fd;
	dev_t dev;
	ino_t ino;
};

void ivs_rt_pidfile_init(struct ivs_rt_pidfile *p);
/* Make path absolute and create the file exclusively (O_EXCL|O_NOFOLLOW,
 * mode 0644), locked.  An existing file is taken for a stale pid file only
 * if it is ours (our euid), regular, has one link, nobody holds it locked,
 * and holds nothing but a pid: then its name is removed and a new file made
 * (its contents are never opened for writing).  -EADDRINUSE (a running
 * process holds it), -EEXIST (not a stale pid file of ours: a symlink,
 * FIFO, directory, another user's file, other contents), -EMLINK (more than
 * one link), -ENAMETOOLONG, -errno. */
int ivs_rt_pidfile_open(struct ivs_rt_pidfile *p, const char *path);
/* Write "PID\n" through the locked fd.  0 or -errno. */
int ivs_rt_pidfile_write(struct ivs_rt_pidfile *p, pid_t pid);
/* Remove the file if it is still ours; close.  Idempotent. */
void ivs_rt_pidfile_remove(struct ivs_rt_pidfile *p);

/* Open a file the service reads at start-up (a config file) without
 * blocking on a FIFO or opening a device (its type is checked on an O_PATH
 * fd first): fd of a regular file, or -EISDIR, -EINVAL (not a regular
 * file), -errno. */
int ivs_rt_open_regular(const char *path);

/* path made absolute against the current directory (no symlink
 * resolution).  0, -ENAMETOOLONG, -EINVAL (empty), -errno (getcwd). */
int ivs_rt_absolute(const char *path, char *buf, size_t size);

#endif
