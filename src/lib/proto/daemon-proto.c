/* SPDX-License-Identifier: MIT */
/* Codec of the daemon's user-client protocol: fixed-size little-endian
 * messages <-> the structs of daemon-proto.h.  Pure functions, no I/O (the
 * transport is daemon-transport.c); the fuzz target drives the decoders
 * directly. */
#include "proto/daemon-proto.h"

#include <endian.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}
static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}
static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}
static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

void ivs_dp_req_encode(const struct ivs_dp_req *req, uint8_t out[IVS_DP_REQ_SIZE])
{
	memset(out, 0, IVS_DP_REQ_SIZE);
	put32(out + 0, IVS_DP_MAGIC);
	put16(out + 4, req->version);
	put16(out + 6, req->opcode);
	put32(out + 8, req->seq);
	put32(out + 12, req->a0);
	put32(out + 16, req->a1);
	put32(out + 20, req->a2);
	/* 24..31 reserved, zero */
}

void ivs_dp_resp_encode(const struct ivs_dp_resp *resp, uint8_t out[IVS_DP_RESP_SIZE])
{
	put32(out + 0, IVS_DP_MAGIC);
	put16(out + 4, resp->version);
	put16(out + 6, resp->opcode);
	put32(out + 8, resp->seq);
	put32(out + 12, (uint32_t)resp->status);
	for (int i = 0; i < 6; i++)
		put64(out + 16 + 8 * i, resp->v[i]);
}

/* How many of a0..a2 each request uses; the rest must be zero. */
static int req_args(unsigned op)
{
	switch (op) {
	case IVS_DP_HELLO:
		return 3;
	case IVS_DP_RING:
	case IVS_DP_DOORBELL:
		return 2;
	case IVS_DP_MAP:
	case IVS_DP_SUBSCRIBE:
	case IVS_DP_PEERS:
	case IVS_DP_CLAIM:
		return 1;
	case IVS_DP_INFO:
		return 0;
	default:
		return -1;
	}
}

int ivs_dp_req_decode(const void *buf, size_t len, struct ivs_dp_req *out)
{
	const uint8_t *p = buf;
	if (!buf || len != IVS_DP_REQ_SIZE || get32(p) != IVS_DP_MAGIC)
		return -EBADMSG;
	if (get64(p + 24) != 0)
		return -EBADMSG;
	struct ivs_dp_req r = {
		.version = get16(p + 4),
		.opcode = get16(p + 6),
		.seq = get32(p + 8),
		.a0 = get32(p + 12),
		.a1 = get32(p + 16),
		.a2 = get32(p + 20),
	};
	if (r.version != IVS_DP_VERSION) {
		*out = r;
		return -EPROTONOSUPPORT;
	}
	int nargs = req_args(r.opcode);
	if (nargs < 0) {
		*out = r;
		return -ENOSYS;
	}
	const uint32_t args[3] = {r.a0, r.a1, r.a2};
	for (int i = nargs; i < 3; i++)
		if (args[i] != 0)
			return -EBADMSG;
	*out = r;
	return 0;
}

int ivs_dp_resp_decode(const void *buf, size_t len, struct ivs_dp_resp *out)
{
	const uint8_t *p = buf;
	if (!buf || len != IVS_DP_RESP_SIZE || get32(p) != IVS_DP_MAGIC)
		return -EBADMSG;
	struct ivs_dp_resp r = {
		.version = get16(p + 4),
		.opcode = get16(p + 6),
		.seq = get32(p + 8),
		.status = (int32_t)get32(p + 12),
	};
	for (int i = 0; i < 6; i++)
		r.v[i] = get64(p + 16 + 8 * i);
	if (r.version != IVS_DP_VERSION)
		return -EPROTONOSUPPORT;
	/* Statuses are 0 or a plausible negative errno. */
	if (r.status > 0 || r.status < -4095)
		return -EBADMSG;
	*out = r;
	return 0;
}

const char *ivs_dp_op_name(unsigned op)
{
	switch (op) {
	case IVS_DP_HELLO:
		return "HELLO";
	case IVS_DP_MAP:
		return "MAP";
	case IVS_DP_RING:
		return "RING";
	case IVS_DP_SUBSCRIBE:
		return "SUBSCRIBE";
	case IVS_DP_INFO:
		return "INFO";
	case IVS_DP_PEERS:
		return "PEERS";
	case IVS_DP_DOORBELL:
		return "DOORBELL";
	case IVS_DP_CLAIM:
		return "CLAIM";
	case IVS_DP_EVENT:
		return "EVENT";
	default:
		return "?";
	}
}
