/* SPDX-License-Identifier: MIT */
/* Fuzz the daemon's request decoder (what every client can send) and the
 * client's response decoder: no crash, no overread, and whatever decodes
 * re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "proto/daemon-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivs_dp_req req;
	int r = ivs_dp_req_decode(data, size, &req);
	if (r == 0) {
		uint8_t again[IVS_DP_REQ_SIZE];
		ivs_dp_req_encode(&req, again);
		if (memcmp(again, data, IVS_DP_REQ_SIZE) != 0)
			abort();
	} else if (r != -EBADMSG && r != -ENOSYS && r != -EPROTONOSUPPORT) {
		abort();
	}
	struct ivs_dp_resp resp;
	r = ivs_dp_resp_decode(data, size, &resp);
	if (r == 0) {
		uint8_t again[IVS_DP_RESP_SIZE];
		ivs_dp_resp_encode(&resp, again);
		if (memcmp(again, data, IVS_DP_RESP_SIZE) != 0)
			abort();
		if (resp.status > 0)
			abort();
	}
	return 0;
}

size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes)
{
	static uint8_t bufs[8][IVS_DP_RESP_SIZE];
	static const uint8_t *ptrs[8];
	static size_t lens[8];
	static const struct ivs_dp_req reqs[] = {
		{IVS_DP_VERSION, IVS_DP_HELLO, 1, 1, 1, 0},
		{IVS_DP_VERSION, IVS_DP_MAP, 2, IVS_DP_MAP_SHM_RO, 0, 0},
		{IVS_DP_VERSION, IVS_DP_RING, 3, 1, 0, 0},
		{IVS_DP_VERSION, IVS_DP_SUBSCRIBE, 4, 0, 0, 0},
		{IVS_DP_VERSION, IVS_DP_INFO, 5, 0, 0, 0},
		{IVS_DP_VERSION, IVS_DP_PEERS, 6, 0, 0, 0},
	};
	size_t n = 0;
	for (; n < sizeof(reqs) / sizeof(reqs[0]); n++) {
		ivs_dp_req_encode(&reqs[n], bufs[n]);
		ptrs[n] = bufs[n];
		lens[n] = IVS_DP_REQ_SIZE;
	}
	struct ivs_dp_resp resp = {IVS_DP_VERSION, IVS_DP_HELLO, 1, 0, {3, 0, 2, 1 << 20, 0, 1}};
	ivs_dp_resp_encode(&resp, bufs[n]);
	ptrs[n] = bufs[n];
	lens[n++] = IVS_DP_RESP_SIZE;
	*seeds = ptrs;
	*sizes = lens;
	return n;
}
