/* SPDX-License-Identifier: MIT */
/* ivshmemd core: one privileged process owns an IVSHMEM endpoint (a PCI
 * device, a file, a server peer) and brokers it to unprivileged clients over
 * a UNIX socket (docs/daemon-protocol.md, docs/ivshmem-daemon.md).
 *
 * The core never prints: it reports through the log callback.  `ivshmem
 * daemon` (src/cli/cmd-daemon.c) parses options and owns signals. */
#ifndef IVSD_DAEMON_H
#define IVSD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ivshmem.h"

/* ---- policy (policy.c) ------------------------------------------------- */

struct ivsd_policy {
	uid_t *users;
	size_t nusers;
	gid_t *groups;
	size_t ngroups;
	bool read_only;	      /* clients get read-only memory */
	bool exclusive;	      /* one client at a time (default: shared) */
	bool allow_registers; /* clients may map BAR0 */
};

/* The credentials of a connected client (SO_PEERCRED + SO_PEERGROUPS). */
struct ivsd_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

/* Add a user / group by name or number.  0, -ENOENT (unknown), -ENOMEM. */
int ivsd_policy_add_user(struct ivsd_policy *p, const char *name);
int ivsd_policy_add_group(struct ivsd_policy *p, const char *name);
/* Apply one "key value" setting (keys: allow-user, allow-group, read-only,
 * exclusive, allow-registers; flags take yes/no/true/false/1/0 or nothing).
 * 0, -EINVAL (unknown key / bad value), -ENOENT (unknown user/group). */
int ivsd_policy_set(struct ivsd_policy *p, const char *key, const char *value);
/* Read a config file of "key value" lines ('#' comments, blank lines).  On
 * error *line receives the offending line number (0: the file itself:
 * -EISDIR, -EINVAL not a regular file, -errno; a FIFO never blocks).
 * Keys other than the policy's (socket, device) are returned through
 * other(ctx, key, value) if given, else rejected with -EINVAL. */
int ivsd_policy_load(struct ivsd_policy *p, const char *path, unsigned *line,
		     int (*other)(void *ctx, const char *key, const char *value), void *ctx);
void ivsd_policy_free(struct ivsd_policy *p);
/* 0 if the client may connect, -EACCES otherwise.  Root always may. */
int ivsd_policy_check(const struct ivsd_policy *p, const struct ivsd_cred *c);

/* Read a socket peer's credentials.  c->groups is malloc'd (free it). */
int ivsd_peer_cred(int sock, struct ivsd_cred *c);

/* ---- memory handed to clients (region.c) -------------------------------- */

struct ivsd_region {
	int rw_fd, ro_fd; /* -1 if that access can't be handed out */
	uint64_t off;	  /* mmap offset of the region in the fds */
	uint64_t size;
	enum ivshmem_cache cache; /* what a client's mapping gets */
	char source[128];	  /* for logs: where the fds come from */
};

/* Find fds for the endpoint's shared memory (bar 2) or registers (bar 0).
 * -ENOTSUP if they can't be had safely (see docs/ivshmem-daemon.md). */
int ivsd_region_open(ivshmem_ep *ep, unsigned bar, struct ivsd_region *r);
void ivsd_region_close(struct ivsd_region *r);

/* ---- the daemon (daemon.c) ---------------------------------------------- */

enum ivsd_log_level { IVSD_LOG_ERR, IVSD_LOG_WARN, IVSD_LOG_INFO, IVSD_LOG_DEBUG };
typedef void (*ivsd_log_fn)(void *ctx, enum ivsd_log_level level, const char *msg);

struct ivsd_config {
	const char *socket_path;
	struct ivsd_policy policy;
	unsigned max_clients; /* 0 = 256; clients the policy refuses don't count */
	/* A connection that hasn't completed HELLO this long after accept()
	 * is dropped, so silent connections can't hold the slots.  0 = 5000. */
	unsigned hello_timeout_ms;
	bool debug;	      /* also log every request (IVSD_LOG_DEBUG) */
	ivsd_log_fn log;
	void *log_ctx;
};

struct ivsd;

/* Default socket path for a device spec: /run/ivshmem/<name>.sock.  0 or
 * -ENAMETOOLONG. */
int ivsd_default_socket(const char *dev, char *buf, size_t size);

/* Create the daemon around an open endpoint (ownership passes to the daemon,
 * also on failure) and listen on cfg->socket_path (its directory is created
 * 0755; the socket is 0666, access is the policy's).  The stale-socket check
 * and bind() happen under an instance lock, SOCKET.lock (flock, held until
 * ivsd_free).  cfg is copied except the policy arrays, which must outlive
 * the daemon.  -EADDRINUSE if another daemon holds the lock or answers on
 * the socket, -ENOTSOCK if the socket path is taken by something else,
 * -EEXIST if SOCKET.lock is not a regular file.  Clients cannot pass fds to
 * the daemon (see src/service/passed-fds.h). */
int ivsd_new(const struct ivsd_config *cfg, ivshmem_ep *ep, struct ivsd **out);
/* Serve until stop_fd (e.g. a signalfd) is readable or a fatal error.  0 or
 * -errno. */
int ivsd_run(struct ivsd *d, int stop_fd);
/* One round of the event loop: wait up to timeout_ms and handle what is
 * ready.  0 or -errno. */
int ivsd_dispatch(struct ivsd *d, int timeout_ms);
/* Number of connected clients. */
unsigned ivsd_clients(const struct ivsd *d);
/* Tell clients we are going (DISCONNECT notice), close everything, unlink
 * the socket and the lock file.  Accepts NULL, returns NULL. */
struct ivsd *ivsd_free(struct ivsd *d);

#endif
