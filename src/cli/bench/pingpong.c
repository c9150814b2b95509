/* SPDX-License-Identifier: MIT */
/* The doorbell ping-pong of the doorbell and daemon benchmarks: waiting for
 * a peer's event, the echo side and the timed side.  See bench.h. */
#include "bench/bench.h"

#include <poll.h>

#include "util/util.h"

int bench_wait_event(ivshmem_ep *ep, enum ivshmem_event_type t, int *peer)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)BENCH_TIMEOUT_MS * 1000000ull;
	for (;;) {
		struct ivshmem_event ev;
		int r = ivshmem_next_event(ep, &ev);
		if (r < 0)
			return r;
		if (r == 1 && ev.type == IVSHMEM_EVENT_DISCONNECT)
			return -ECONNRESET;
		if (r == 1 && ev.type == t && (*peer < 0 || ev.peer == *peer)) {
			*peer = ev.peer;
			return 0;
		}
		if (r == 1)
			continue;
		int rem = ivs_remaining_ms(deadline);
		if (rem == 0)
			return -ETIMEDOUT;
		r = ivs_poll1(ivshmem_event_fd(ep), POLLIN, rem);
		if (r < 0)
			return r;
	}
}

int bench_echo(ivshmem_ep *ep, int target, size_t n, int timeout_ms)
{
	for (size_t i = 0; i < n; i++) {
		int r = ivshmem_wait(ep, 0, timeout_ms);
		if (r >= 0)
			r = ivshmem_ring(ep, (unsigned)target, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

int bench_pingpong(ivshmem_ep *ep, int peer, uint64_t *out, size_t iters)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < iters + BENCH_WARMUP; i++) {
		uint64_t t0 = ivs_now_ns();
		r = ivshmem_ring(ep, (unsigned)peer, 0);
		if (r == 0) {
			r = ivshmem_wait(ep, 0, BENCH_TIMEOUT_MS);
			r = r > 0 ? 0 : r;
		}
		if (i >= BENCH_WARMUP)
			out[i - BENCH_WARMUP] = ivs_now_ns() - t0;
	}
	return r;
}
