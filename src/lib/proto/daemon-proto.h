/* SPDX-License-Identifier: MIT */
/* The ivshmem daemon's user-client protocol (docs/daemon-protocol.md).
 *
 * One request or response per SOCK_SEQPACKET message, fixed size, all fields
 * little-endian on the wire.  File descriptors (memory, subscribed eventfds)
 * travel with a response as SCM_RIGHTS.  The structs below are the decoded,
 * host-order form; ivs_dp_*_encode/_decode convert (the codec,
 * daemon-proto.c: pure functions, no I/O, fuzzed).  ivs_dp_send/_recv are
 * the transport (daemon-transport.c). */
#ifndef IVS_DAEMON_PROTO_H
#define IVS_DAEMON_PROTO_H

#include "util/util.h"

#define IVS_DP_MAGIC 0x50445649u /* "IVDP" in wire byte order */
/* Version 2: interrupts reach a subscriber on a pipe (version 1 handed
 * out eventfds the client could block the daemon on); DOORBELL, CLAIM. */
#define IVS_DP_VERSION 2
#define IVS_DP_VERSION_MIN 2

#define IVS_DP_REQ_SIZE 32
#define IVS_DP_RESP_SIZE 64

enum ivs_dp_op {
	IVS_DP_HELLO = 1,     /* a0 = min version, a1 = max version, a2 = IVS_DP_HELLO_* */
	IVS_DP_MAP = 2,	      /* a0 = IVS_DP_MAP_* -> fd, v0 size, v1 offset, v2 cache */
	IVS_DP_RING = 3,      /* a0 = peer, a1 = vector */
	IVS_DP_SUBSCRIBE = 4, /* a0 = vector -> eventfd */
	IVS_DP_INFO = 5,      /* -> v0 shm size, v1 vectors, v2 peer id, v3 clients, v4 kind, v5 grants */
	IVS_DP_PEERS = 6,     /* a0 = first index -> v0 total, v1..v5 packed peers */
	IVS_DP_DOORBELL = 7,  /* a0 = peer, a1 = vector -> the peer's eventfd (direct ring) */
	IVS_DP_CLAIM = 8,     /* a0 = vector -> the device's own vector fd (exclusive) */
	IVS_DP_EVENT = 0x100, /* daemon -> client notice, seq 0: v0 type, v1 peer, v2 vectors */
};

/* HELLO request flags (a2). */
#define IVS_DP_HELLO_READONLY (1u << 0) /* the client only wants to read */
#define IVS_DP_HELLO_MASK IVS_DP_HELLO_READONLY

/* MAP types (a0). */
enum ivs_dp_map_type {
	IVS_DP_MAP_SHM_RW = 1,
	IVS_DP_MAP_SHM_RO = 2,
	IVS_DP_MAP_REGS = 3,
};

/* Grants in the HELLO response (v0). */
#define IVS_DP_GRANT_SHM_RW (1u << 0)
#define IVS_DP_GRANT_SHM_RO (1u << 1)
#define IVS_DP_GRANT_REGS (1u << 2)
#define IVS_DP_GRANT_RING (1u << 3)
#define IVS_DP_GRANT_IRQ (1u << 4)
#define IVS_DP_GRANT_EXCLUSIVE (1u << 5) /* the daemon serves one client at a time */
#define IVS_DP_GRANT_DIRECT_RING (1u << 6) /* DOORBELL: ring server peers without the daemon */
#define IVS_DP_GRANT_DIRECT_IRQ (1u << 7)  /* CLAIM: receive a vector without the daemon */

/* Kinds in the INFO response (v4). */
enum ivs_dp_kind { IVS_DP_KIND_PCI = 1, IVS_DP_KIND_FILE = 2, IVS_DP_KIND_SERVER = 3, IVS_DP_KIND_OTHER = 4 };

#define IVS_DP_NO_PEER_ID 0xffffffffu /* v1 of HELLO when the device has no ID */
#define IVS_DP_PEERS_PER_MSG 5

struct ivs_dp_req {
	uint16_t version;
	uint16_t opcode;
	uint32_t seq;
	uint32_t a0, a1, a2;
};

struct ivs_dp_resp {
	uint16_t version;
	uint16_t opcode;
	uint32_t seq;
	int32_t status; /* 0 or -errno (Linux values) */
	uint64_t v[6];
};

/* Encode into exactly IVS_DP_REQ_SIZE / IVS_DP_RESP_SIZE bytes. */
void ivs_dp_req_encode(const struct ivs_dp_req *req, uint8_t out[IVS_DP_REQ_SIZE]);
void ivs_dp_resp_encode(const struct ivs_dp_resp *resp, uint8_t out[IVS_DP_RESP_SIZE]);

/* Decode a request as received.  Returns
 *   0            valid; *out filled
 *   -ENOSYS      well-formed header, unknown opcode (answer with an error;
 *                out->opcode/seq are filled so the answer can name them)
 *   -EPROTONOSUPPORT  header version not spoken (answer, then drop)
 *   -EBADMSG     malformed: wrong size, magic, reserved bytes (drop)
 * Argument ranges that depend on the device (vector < count) are the
 * daemon's to check. */
int ivs_dp_req_decode(const void *buf, size_t len, struct ivs_dp_req *out);

/* Decode a response or notice; 0 or -EBADMSG / -EPROTONOSUPPORT. */
int ivs_dp_resp_decode(const void *buf, size_t len, struct ivs_dp_resp *out);

/* Peer entries packed into one u64 of a PEERS response. */
static inline uint64_t ivs_dp_peer_pack(uint16_t id, uint16_t vectors)
{
	return (1ull << 32) | ((uint64_t)vectors << 16) | id;
}

const char *ivs_dp_op_name(unsigned op);

/* Transport, shared by the daemon and ep-daemon (these do I/O).
 * Send one message with fd attached (fd < 0: none); flags are added to
 * MSG_NOSIGNAL.  0, or -errno (-EAGAIN if the socket is full). */
int ivs_dp_send(int sock, const void *buf, size_t len, int fd, int flags);
/* Receive one message into buf (cap bytes).  *fd receives an attached fd
 * (O_CLOEXEC) or -1; if several arrive all are closed and -EBADMSG returned.
 * Returns the length, 0 at EOF, -EMSGSIZE if the message was longer than
 * cap, or -errno. */
ssize_t ivs_dp_recv(int sock, void *buf, size_t cap, int *fd, int flags);

#endif
