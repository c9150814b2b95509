/* SPDX-License-Identifier: MIT */
/* ivshmemd core: one privileged process owns an IVSHMEM endpoint (a PCI
 * device, a file, a server peer) and brokers it to unprivileged clients over
 * a UNIX socket (docs/daemon-protocol.md, man/ivshmem-daemon.8.scd).
 *
 * The core never prints: it reports through the log callback.  `ivshmem
 * daemon` (src/cli/cmd-daemon.c) parses options and owns signals. */
#ifndef IVSD_DAEMON_H
#define IVSD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ivshmem.h"
#include "service/log.h"

/* ---- policy (policy.c) ------------------------------------------------- */

/* Users and groups, by number. */
struct ivsd_ids {
	uid_t *users;
	size_t nusers;
	gid_t *groups;
	size_t ngroups;
};

/* Who may ring doorbells besides root and the ring lists (and, for the
 * direct grant, who gets direct fds). */
enum ivsd_ring { IVSD_RING_DEFAULT, IVSD_RING_ALL, IVSD_RING_NONE };

struct ivsd_policy {
	/* The daemon's own user: like root, it always may connect and ring
	 * (a daemon an ordinary user runs serves that user).  ivsd_new sets
	 * it to the daemon's euid; 0 in a policy nobody ran. */
	uid_t owner;
	struct ivsd_ids allow; /* who may connect (root and owner always may) */
	/* Who may ring doorbells: root, owner, these, and with ring ALL
	 * everyone; by default (no list, ring DEFAULT) everyone unless
	 * read_only. */
	struct ivsd_ids ring_ids;
	enum ivsd_ring ring;
	/* Who gets direct fds (DOORBELL: the server peers' eventfds; CLAIM:
	 * the device's own vector fds): by default (DEFAULT) root, owner and
	 * these; with ALL every client; with NONE nobody, root included.
	 * What they can do with them is what a peer of the server can
	 * (docs/security.md). */
	struct ivsd_ids direct_ids;
	enum ivsd_ring direct;
	bool read_only;	      /* clients get read-only memory */
	bool exclusive;	      /* one client at a time (default: shared) */
	bool allow_registers; /* clients may map BAR0 */
	/* Connections one user may hold (pending ones count), root aside.
	 * 0 = the default, 32 (never above the daemon's max_clients). */
	unsigned max_per_user;
	unsigned max_clients; /* 0 = 256; root and refused users don't count */
};

/* The credentials of a connected client (SO_PEERCRED + SO_PEERGROUPS). */
struct ivsd_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

/* The limits' bounds and defaults. */
#define IVSD_MAX_CLIENTS_DEFAULT 256u
#define IVSD_MAX_CLIENTS_LIMIT 65536u
#define IVSD_MAX_PER_USER_DEFAULT 32u

/* Add a user / group by name or number.  0, -ENOENT (unknown), -ENOMEM. */
int ivsd_ids_add_user(struct ivsd_ids *ids, const char *name);
int ivsd_ids_add_group(struct ivsd_ids *ids, const char *name);
/* Apply one "key value" setting (keys: allow-user, allow-group, ring-user,
 * ring-group, ring, direct-user, direct-group, direct, read-only, exclusive, allow-registers, max-clients,
 * max-clients-per-user; flags take yes/no/true/false/1/0/on/off or nothing;
 * limits 1..IVSD_MAX_CLIENTS_LIMIT).  0, -ENOKEY (not a policy key),
 * -EINVAL (bad value), -ERANGE (limit out of range), -ENOENT (unknown
 * user/group), -ENOMEM. */
int ivsd_policy_set(struct ivsd_policy *p, const char *key, const char *value);
/* The policy's keys, for messages: "allow-user, allow-group, ...".  Not
 * thread-safe on its first call (the daemon has one thread). */
const char *ivsd_policy_keys(void);
/* The effective limits (defaults applied, per-user never above total). */
unsigned ivsd_policy_max_clients(const struct ivsd_policy *p);
unsigned ivsd_policy_max_per_user(const struct ivsd_policy *p);
/* Where a config file went wrong. */
struct ivsd_load_error {
	unsigned line; /* 0: the file itself */
	char key[64], value[192]; /* the offending setting, cut to fit */
};

/* Read a config file of "key value" lines ('#' comments, blank lines).  On
 * error *err says where: line 0 for the file itself (-EISDIR, -EINVAL not a
 * regular file: a FIFO never blocks, -errno), else the line and its
 * setting (-E2BIG: a line over 1 KiB, or ivsd_policy_set's errors).  Keys
 * other than the policy's (socket, device) go to other(ctx, key, value) if
 * given (it returns -ENOKEY for keys it doesn't know either), else are
 * -ENOKEY. */
int ivsd_policy_load(struct ivsd_policy *p, const char *path, struct ivsd_load_error *err,
		     int (*other)(void *ctx, const char *key, const char *value), void *ctx);
void ivsd_policy_free(struct ivsd_policy *p);
/* 0 if the client may connect, -EACCES otherwise.  Root always may. */
int ivsd_policy_check(const struct ivsd_policy *p, const struct ivsd_cred *c);
/* Whether the client may ring doorbells (see struct ivsd_policy). */
bool ivsd_policy_may_ring(const struct ivsd_policy *p, const struct ivsd_cred *c);
/* Whether the client may have direct fds (see struct ivsd_policy); the
 * daemon hands out doorbells only to clients that also may ring. */
bool ivsd_policy_may_direct(const struct ivsd_policy *p, const struct ivsd_cred *c);

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
 * -ENOTSUP if they can't be had safely (see man/ivshmem-daemon.8.scd). */
int ivsd_region_open(ivshmem_ep *ep, unsigned bar, struct ivsd_region *r);
void ivsd_region_close(struct ivsd_region *r);

/* ---- the daemon (daemon.c) ---------------------------------------------- */

struct ivsd_config {
	const char *socket_path;
	/* > 0: serve this listening UNIX seqpacket socket, passed by the
	 * service manager (service/sd.h), instead of making one at
	 * socket_path (ignored then); the daemon owns it from ivsd_new on. */
	int listen_fd;
	struct ivsd_policy policy;
	/* A connection that hasn't completed HELLO this long after accept()
	 * is dropped, so silent connections can't hold the slots.  0 = 5000. */
	unsigned hello_timeout_ms;
	bool debug;	      /* also log every request (IVS_LOG_DEBUG) */
	ivs_log_fn log;
	void *log_ctx;
};

struct ivsd;

/* Default socket path for a device spec: /run/ivshmem/<name>.sock.  0 or
 * -ENAMETOOLONG. */
int ivsd_default_socket(const char *dev, char *buf, size_t size);

/* Create the daemon around an open endpoint (ownership passes to the daemon,
 * also on failure) and listen on cfg->socket_path, or serve cfg->listen_fd
 * (ivs_rt_socket_adopt's errors; nothing on disk is the daemon's then).
 * Listening on a path: its directory is created
 * 0755; the socket is 0666, access is the policy's).  The stale-socket check
 * and bind() happen under an instance lock, SOCKET.lock (flock, held until
 * ivsd_free).  cfg is copied except the policy arrays, which must outlive
 * the daemon.  -EADDRINUSE if another daemon holds the lock or answers on
 * the socket, -ENOTSOCK if the socket path is taken by something else,
 * -EEXIST if SOCKET.lock is not a regular file, -EPERM (logged at
 * IVS_LOG_ERR first) if the memory is a file every user may write.
 * Clients cannot pass fds to the daemon (see src/service/passed-fds.h).
 * Sets SIGPIPE to SIG_IGN (a relay to a pipe its client closed is EPIPE). */
int ivsd_new(const struct ivsd_config *cfg, ivshmem_ep *ep, struct ivsd **out);
/* The socket served: its absolute path, or a passed socket's address
 * ("@NAME" abstract, "" unnamed). */
const char *ivsd_socket_path(const struct ivsd *d);
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
