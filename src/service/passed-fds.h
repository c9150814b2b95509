/* SPDX-License-Identifier: MIT */
/* File descriptors a client passes to a service (SCM_RIGHTS).  Neither the
 * server nor the daemon expects any, and each is a weapon: the last close()
 * of a passed fd runs in the service, and closing, say, a TCP socket with
 * SO_LINGER and a full send queue sleeps for the whole linger time (a FUSE
 * file's flush, or a UNIX socket whose queue holds such a socket, likewise).
 * The kernel also closes the fds of a message received without room for
 * them, and those still queued on a connection the service closes.
 *
 * So: where the kernel can (SO_PASSRIGHTS, Linux 6.16 and later) the service
 * refuses them outright and the sender's sendmsg() fails with EPERM.
 * Elsewhere every message is received with room for the most fds a message
 * can carry, and each fd, like each client connection that may still queue
 * some, is handed to a closer thread: if its close() sleeps, only that
 * thread does.  That is a best effort: a local user who can connect can
 * still hold the closers up and make the service keep fds open until its
 * fd limit (a denial of service to new clients, never a privilege); where
 * the kernel can't refuse fds, restrict who can reach the socket
 * (docs/security.md).  Thread-safe. */
#ifndef IVS_PASSED_FDS_H
#define IVS_PASSED_FDS_H

#include <stddef.h>
#include <sys/types.h>

/* Make the kernel refuse fds sent to sock (a listener's accepted sockets
 * inherit it).  1 refused, 0 this kernel can't, -errno. */
int ivs_pf_refuse(int sock);

/* recv() one message (flags as for recvmsg, e.g. MSG_DONTWAIT) into buf,
 * disposing of every fd that came with it; *nfds (may be NULL) gets their
 * number.  Bytes (0 at end of stream), or -errno. */
ssize_t ivs_pf_recv(int sock, void *buf, size_t len, int flags, unsigned *nfds);

/* Get rid of an fd a client passed, without blocking.  Takes ownership. */
void ivs_pf_discard(int fd);

/* Close a client's connection without blocking: directly where the kernel
 * refused it fds, else through the closer (its queue may hold some). */
void ivs_pf_close_peer(int sock);

#endif
