/* SPDX-License-Identifier: MIT */
/* QEMU's ivshmem client-server protocol (docs/specs/ivshmem-spec.rst):
 * every message is a little-endian int64, optionally carrying one fd
 * (SCM_RIGHTS) on its first byte.  The server sends; clients never write.
 *
 * On connect the server sends, in this order:
 *   0 (protocol version, no fd), the client's ID (no fd), -1 + shm fd,
 *   for every existing peer and vector: peer ID + that vector's eventfd,
 *   the client's own ID once per vector with its own eventfds.
 * Later: peer ID + fd = the peer gained a vector, peer ID alone = it left.
 *
 * Three pieces, usable separately:
 *   - codec:     ivs_srv_encode/decode (8 bytes <-> int64), server-proto.c
 *   - transport: ivs_srv_send (one nonblocking sendmsg) and ivs_srv_recv
 *                (resumable, short reads, fd hygiene), server-transport.c
 *   - decoder:   a pure client-side state machine fed (value, fd) pairs,
 *                server-proto.c; it touches no socket, so it is fuzzed. */
#ifndef IVS_SERVER_PROTO_H
#define IVS_SERVER_PROTO_H

#include "util/util.h"

#define IVS_SRV_PROTO_VERSION 0
#define IVS_SRV_MSG_LEN 8
#define IVS_SRV_SHM_ID (-1)
/* Sent as the ID (after the version) by a server that turns a connection
 * away, e.g. at its peer limit: QEMU reports "server sent invalid ID", the
 * decoder -EUSERS.  An extension of ours; QEMU's server just closes. */
#define IVS_SRV_FULL_ID (-1)

void ivs_srv_encode(int64_t value, uint8_t out[IVS_SRV_MSG_LEN]);
int64_t ivs_srv_decode(const uint8_t in[IVS_SRV_MSG_LEN]);

/* One sendmsg of buf[0..len) with MSG_DONTWAIT|MSG_NOSIGNAL, attaching fd
 * when fd >= 0.  Returns the bytes sent (may be short: the fd went with the
 * first byte), -EAGAIN if nothing could be sent, or -errno. */
ssize_t ivs_srv_send(int sock, const void *buf, size_t len, int fd);
/* Send a whole message, waiting (poll) up to timeout_ms for room.  Test and
 * tool helper; the server itself queues instead.  0 or -errno. */
int ivs_srv_send_msg(int sock, int64_t value, int fd, int timeout_ms);

/* Resumable receive state: a message may arrive in pieces. */
struct ivs_srv_rx {
	uint8_t buf[IVS_SRV_MSG_LEN];
	unsigned have;
	int fd; /* fd that came with the message so far, or -1 */
};
void ivs_srv_rx_init(struct ivs_srv_rx *rx);
/* Drop a partial message (closes its fd). */
void ivs_srv_rx_reset(struct ivs_srv_rx *rx);

/* Read one message without blocking (recvmsg, MSG_DONTWAIT|MSG_CMSG_CLOEXEC).
 * Returns 1 with *value and *fd (the caller owns it; -1 if none), 0 if the
 * message is not complete yet (state kept in rx), -ECONNRESET at end of
 * stream, -EPROTO if control data was truncated (every fd that arrived is
 * closed), or -errno.  A second fd on the same message, and any fd beyond
 * the first in one control message, is closed: never leaked. */
int ivs_srv_recv(int sock, struct ivs_srv_rx *rx, int64_t *value, int *fd);
/* Same, waiting up to timeout_ms (<0 forever) for a complete message;
 * -ETIMEDOUT when it didn't come. */
int ivs_srv_recv_wait(int sock, struct ivs_srv_rx *rx, int64_t *value, int *fd, int timeout_ms);

/* ---- client-side decoder ---------------------------------------------- */

enum ivs_srv_dec_state {
	IVS_SRV_DEC_VERSION = 0, /* expecting the protocol version */
	IVS_SRV_DEC_ID,		 /* expecting our ID */
	IVS_SRV_DEC_SHM,	 /* expecting -1 + shm fd */
	IVS_SRV_DEC_RUN,	 /* peers' vectors, our vectors, joins, leaves */
	IVS_SRV_DEC_FAILED,	 /* a protocol error happened: everything is refused */
};

struct ivs_srv_dec_peer {
	uint16_t id;
	uint16_t nvec;
	int fds[IVSHMEM_MAX_VECTORS];
};

struct ivs_srv_dec {
	enum ivs_srv_dec_state state;
	int id;	    /* own ID, -1 before it arrived */
	int shm_fd; /* -1 until it arrived or after ivs_srv_dec_take_shm */
	bool shm_seen;
	unsigned own_nvec;
	int own_fds[IVSHMEM_MAX_VECTORS];
	struct ivs_srv_dec_peer *peers; /* sorted by id */
	size_t npeers, cap;
};

enum ivs_srv_dec_what {
	IVS_SRV_GOT_VERSION = 1,
	IVS_SRV_GOT_ID,
	IVS_SRV_GOT_SHM,
	IVS_SRV_GOT_OWN_VECTOR,	  /* vector = index of the new own vector */
	IVS_SRV_GOT_PEER_VECTOR,  /* peer gained vector `vector` */
	IVS_SRV_GOT_PEER_GONE,	  /* peer left; vector = how many it had */
	IVS_SRV_GOT_UNKNOWN_GONE, /* leave of a peer we never saw: ignored */
};

struct ivs_srv_dec_out {
	enum ivs_srv_dec_what what;
	uint16_t peer;
	uint16_t vector;
};

void ivs_srv_dec_init(struct ivs_srv_dec *d);
/* Close every fd the decoder owns and free its memory; d is reusable after
 * ivs_srv_dec_init. */
void ivs_srv_dec_free(struct ivs_srv_dec *d);
/* Feed one message.  The decoder always takes fd (stores it, or closes it
 * on error / when it is not needed).  Returns 0 with *out filled, -EPROTO
 * on a protocol violation, -EUSERS if the server turned us away
 * (IVS_SRV_FULL_ID; either way the state becomes FAILED), or -ENOMEM. */
int ivs_srv_dec_feed(struct ivs_srv_dec *d, int64_t value, int fd, struct ivs_srv_dec_out *out);
/* The peer with this ID, or NULL. */
const struct ivs_srv_dec_peer *ivs_srv_dec_find(const struct ivs_srv_dec *d, unsigned id);
/* Hand the shm fd over to the caller (-1 if none). */
int ivs_srv_dec_take_shm(struct ivs_srv_dec *d);

#endif
