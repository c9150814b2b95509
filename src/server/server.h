/* SPDX-License-Identifier: MIT */
/* The ivshmem server core: QEMU's ivshmem client-server protocol (see
 * src/lib/proto/server-proto.h and docs/server.md).  No options parsing,
 * no signals, no printing: the caller drives it and receives log lines
 * through a callback.
 *
 *   struct ivs_server s;
 *   ivs_server_init(&s, &opts);     create the shared memory
 *   ivs_server_start(&s);           listen on the socket
 *   loop: poll ivs_server_fd(&s) (+ your own fds), ivs_server_handle(&s, 0)
 *   ivs_server_close(&s);           disconnect everyone, remove the socket
 */
#ifndef IVS_SERVER_H
#define IVS_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "service/log.h"


#define IVS_SERVER_DEFAULT_SOCKET "/tmp/ivshmem_socket"
#define IVS_SERVER_DEFAULT_SHM "ivshmem"
#define IVS_SERVER_DEFAULT_SIZE (4u << 20)
#define IVS_SERVER_DEFAULT_GREETING_MS 60000u

/* How IDs are handed out.  NEXT (default, like QEMU's contrib server): the
 * one after the last allocated, wrapping at 65535 and skipping IDs in use,
 * so a freed ID comes back only after the other 65535 were used.  QEMU's
 * ivshmem device (7.2 and later sources) frees a departed peer's eventfd array in
 * close_peer_eventfds() without resetting it, and writes into it again when
 * the same ID reconnects: reusing an ID right away corrupts its heap.
 * LOWEST: the lowest free ID (compact IDs; only with host peers). */
enum ivs_server_ids { IVS_SERVER_IDS_NEXT = 0, IVS_SERVER_IDS_LOWEST };


struct ivs_server_opts {
	const char *socket_path; /* NULL = IVS_SERVER_DEFAULT_SOCKET */
	/* > 0: serve this listening UNIX stream socket, passed by the service
	 * manager (service/sd.h), instead of making one at socket_path (which
	 * is then ignored), taken over by the server; 0: make it. */
	int listen_fd;
	const char *shm_name;	 /* POSIX shm name (NULL = "ivshmem"), created, or */
	const char *shm_dir;	 /* create an unlinked file in this directory */
	bool shm_reuse;		 /* use an existing shm_name: ours, 0600-like, same size */
	uint64_t size;		 /* 0 = 4 MiB */
	unsigned nvectors;	 /* 0..64 */
	int socket_mode;	 /* the socket's mode, at most 0777; -1 = umask's */
	uid_t socket_uid;	 /* chown; (uid_t)-1 = leave */
	gid_t socket_gid;	 /* (gid_t)-1 = leave */
	unsigned max_peers;	 /* 0 = 65536; beyond, a connection gets ID -1 */
	/* A peer that hasn't read its whole greeting, and read nothing of it
	 * for this long, is dropped.  0 = IVS_SERVER_DEFAULT_GREETING_MS. */
	unsigned greeting_timeout_ms;
	enum ivs_server_ids ids;
	bool debug;		 /* also log every message (IVS_LOG_DEBUG) */
	/* Log sink (may be NULL).  One line, no newline. */
	ivs_log_fn log;
	void *log_ctx;
};

/* A server (opaque: src/server/server.c). */
struct ivs_server;

/* A server not yet initialised, or NULL (out of memory).  Free it with
 * ivs_server_close. */
struct ivs_server *ivs_server_alloc(void);

/* Validate options, take the instance lock (or, with opts.listen_fd, the
 * socket passed: runtime-files.h, ivs_rt_socket_adopt, for its errors;
 * -EADDRNOTAVAIL if it has no path, abstract or unnamed: nothing would
 * keep other users out) and create the shared memory.
 * The lock is SOCKET.lock next to the socket (flock, held until
 * ivs_server_close): of two servers started on one path, the second gets
 * -EADDRINUSE here, before it touches the shm or the socket.  The socket
 * path is made absolute here.  0 or -errno (-EINVAL bad option,
 * -ENAMETOOLONG socket path, -EADDRINUSE another server holds the lock,
 * lock file and shm_open/ftruncate errors; ivs_server_locked() tells
 * whether the lock was taken).  The POSIX shm is created exclusively:
 * -EEXIST if it exists and shm_reuse is off; with it, -EPERM unless it is a
 * regular file of our euid with no group/other access, -ERANGE if its size
 * is not opts.size.  The shm is locked (flock) while the server runs:
 * -EBUSY if another server holds it.  -ENOMEM for s NULL (what a failed
 * ivs_server_alloc gave). */
int ivs_server_init(struct ivs_server *s, const struct ivs_server_opts *opts);
/* Did ivs_server_init get as far as the lock (or take the passed socket)?
 * Its path (SOCKET.lock, absolute) in any case, once the socket path was
 * valid; "" for a passed socket. */
bool ivs_server_locked(const struct ivs_server *s);
const char *ivs_server_lock_path(const struct ivs_server *s);
/* The socket served: absolute path, or a passed socket's address ("@NAME"
 * abstract, "" unnamed); "" before ivs_server_init got that far. */
const char *ivs_server_socket_path(const struct ivs_server *s);
/* Bind and listen (under the lock taken by ivs_server_init; a passed
 * socket listens already: only served from now on), the socket's
 * mode and owner applied before it appears at its path (runtime-files.h).
 * -EADDRINUSE if a live server answers on the socket path (one that doesn't
 * take the lock: another implementation); a stale socket file is replaced;
 * -EEXIST if the path is not a socket.  Clients cannot pass fds to the
 * server (refused by the kernel, or discarded without blocking). */
int ivs_server_start(struct ivs_server *s);
/* The epoll fd to poll for POLLIN (-1 before start). */
int ivs_server_fd(const struct ivs_server *s);
/* Handle what is ready, waiting up to timeout_ms (0: don't wait, <0 forever).
 * Returns the number of events handled, or -errno on a fatal error. */
int ivs_server_handle(struct ivs_server *s, int timeout_ms);
/* Peers connected now. */
unsigned ivs_server_npeers(const struct ivs_server *s);
/* Did ivs_server_init create the POSIX shm (so that close unlinks it)? */
bool ivs_server_shm_created(const struct ivs_server *s);
/* Disconnect every peer (best-effort flush of pending messages), remove the
 * socket file and the lock file, unlink the shm if we created it, free
 * everything, s included.  Safe after ivs_server_init failed, and on NULL.
 * Returns NULL. */
struct ivs_server *ivs_server_close(struct ivs_server *s);
/* After fork(), in the process that does not run the server: close this
 * process's copies of everything and free s, remove nothing.  NULL. */
struct ivs_server *ivs_server_forget(struct ivs_server *s);

#endif
