/* SPDX-License-Identifier: MIT */
/* A hostile peer: a thread writes random bytes into the header, the table,
 * the control block and the ring while this side attaches, sends, receives
 * (one message and batches, copying and zero copy)
 * and stats.  Only errors may come out: no crash (ASan build: no access
 * outside the region), no hang (every call has a bounded timeout). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "tap.h"

#define REGION (64 * 1024)

static unsigned char *mem;
static atomic_int stop;
/* The repair below pauses the scribbler: create waits for a lock word that
 * keeps changing (a live holder) for seconds, by design, and a scribble
 * landing on it between the zeroing and the create would stall the run. */
static atomic_int pause_req, paused;
static unsigned peeked_sum; /* the zero-copy batches' bytes, read */

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *scribbler(void *arg)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	while (!atomic_load(&stop)) {
		if (atomic_load(&pause_req)) {
			atomic_store(&paused, 1);
			while (atomic_load(&pause_req) && !atomic_load(&stop))
				sched_yield();
			atomic_store(&paused, 0);
			continue;
		}
		uint64_t r = rng(&s);
		/* Mostly the header/table and the first channel's control
		 * block and ring start; sometimes anywhere. */
		size_t off;
		switch (r % 4) {
		case 0:
			off = (r >> 8) % 512;
			break;
		case 1:
			off = IVS_LAYOUT_SIZE + (r >> 8) % (IVS_CHAN_CTRL + 256);
			break;
		default:
			off = (r >> 8) % REGION;
		}
		size_t len = 1 + (r >> 40) % 16;
		if (off + len > REGION)
			len = REGION - off;
		for (size_t i = 0; i < len; i++)
			__atomic_store_n(&mem[off + i], (unsigned char)rng(&s), __ATOMIC_RELAXED);
		if ((r & 0xff) == 0) {
			struct timespec ts = {0, 10000};
			nanosleep(&ts, NULL);
		}
	}
	return arg;
}

/* The first few unexpected errors, to say which call gave what. */
static void note(const char *call, int r)
{
	static int shown;
	if (shown++ < 5)
		printf("# unexpected: %s returned %d (%s)\n", call, r, strerror(-r));
}

int main(void)
{
	mem = aligned_alloc(4096, REGION);
	memset(mem, 0, REGION);
	ok(ivs_layout_create(mem, REGION, "h", 8192, 1000, -1) == 0, "create channel");
	pthread_t t;
	pthread_create(&t, NULL, scribbler, NULL);
	uint64_t deadline = ivs_now_ns() + 2000000000ull;
	unsigned long calls = 0, errs = 0, msgs = 0, opens = 0, reformat = 0, repair_failed = 0;
	unsigned long by_err[8] = {0};
	unsigned char buf[1024];
	int unexpected = 0;
	while (ivs_now_ns() < deadline) {
		ivshmem_chan *p = NULL, *c = NULL;
		int r1 = ivs_chan_open_mem(mem, REGION, "h", IVSHMEM_CHAN_PRODUCER, 0, &p);
		int r2 = ivs_chan_open_mem(mem, REGION, "h", IVSHMEM_CHAN_CONSUMER, 0, &c);
		opens += (r1 == 0) + (r2 == 0);
		for (int i = 0; i < 200 && (p || c); i++) {
			if (p) {
				/* Every fourth call a batch (mixed lengths, one
				 * above max_msg now and then: -EMSGSIZE). */
				struct ivshmem_chan_msg v[3] = {{.data = buf, .len = (size_t)(i * 37) % 1001},
								{.data = buf, .len = 8},
								{.data = buf, .len = (size_t)(i * 11) % 1003}};
				int r = i % 4 == 3 ? ivshmem_chan_send_batch(p, v, 3, i % 3)
						   : ivshmem_chan_send(p, buf, (size_t)(i * 37) % 1001, i % 3);
				calls++;
				if (r == -EMSGSIZE && i % 4 == 3)
					r = 0;
				if (r < 0) {
					errs++;
					if (r != -EAGAIN && r != -ETIMEDOUT && r != -EPIPE && r != -ECONNRESET &&
					    r != -ESTALE && r != -EBADMSG && r != -EPROTO && r != -EOWNERDEAD)
						unexpected++, note("send", r);
				}
			}
			if (c) {
				/* Every fourth call a batch: copying, or zero copy
				 * (each message's bytes read) then release. */
				struct ivshmem_chan_msg v[4];
				for (int j = 0; j < 4; j++)
					v[j] = (struct ivshmem_chan_msg){.data = buf + 256 * j, .cap = j == 1 ? 16 : 256};
				ssize_t r;
				if (i % 8 == 3) {
					r = ivshmem_chan_recv_batch(c, v, 4, i % 3);
				} else if (i % 8 == 7) {
					r = ivshmem_chan_peek_batch(c, v, 4, i % 3);
					for (ssize_t j = 0; j < r; j++)
						for (size_t b = 0; b < v[j].len; b++)
							peeked_sum += ((const unsigned char *)v[j].data)[b];
					if (r > 0)
						ivshmem_chan_release(c);
				} else {
					r = ivshmem_chan_recv(c, buf, sizeof(buf), i % 3);
				}
				calls++;
				if (r >= 0)
					msgs++;
				else {
					errs++;
					by_err[r == -EBADMSG ? 0 : r == -ESTALE ? 1 : r == -ECONNRESET ? 2 : r == -EPIPE ? 3 : 4]++;
					if (r != -EAGAIN && r != -ETIMEDOUT && r != -EPIPE && r != -ECONNRESET &&
					    r != -ESTALE && r != -EBADMSG && r != -EMSGSIZE && r != -EPROTO &&
					    r != -EOWNERDEAD)
						unexpected++, note("recv", (int)r);
				}
				const void *q;
				if (ivshmem_chan_peek(c, &q, 0) >= 0)
					ivshmem_chan_release(c);
			}
			struct ivshmem_chan_stat st;
			if (c)
				ivshmem_chan_stat(c, &st);
		}
		ivshmem_chan_close(p);
		ivshmem_chan_close(c);
		if ((r1 < 0 && r1 != -EBUSY) || (r2 < 0 && r2 != -EBUSY)) {
			int r = r1 < 0 && r1 != -EBUSY ? r1 : r2;
			/* EPROTOTYPE: a scribbled kind says the name is a topic. */
			if (r != -EPROTO && r != -ENOENT && r != -EBADMSG && r != -EPROTOTYPE)
				unexpected++, note("open", r);
			/* Repair now and then so valid paths keep running:
			 * zero the header and create again, the scribbler
			 * paused (see pause_req). */
			if (++reformat % 4 == 0) {
				atomic_store(&pause_req, 1);
				while (!atomic_load(&paused))
					sched_yield();
				memset(mem, 0, IVS_LAYOUT_SIZE);
				if (ivs_layout_create(mem, REGION, "h", 8192, 1000, -1) < 0)
					repair_failed++;
				atomic_store(&pause_req, 0);
				while (atomic_load(&paused))
					sched_yield();
			}
		}
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("# %lu opens, %lu calls, %lu errors (EBADMSG %lu, ESTALE %lu, ECONNRESET %lu, EPIPE %lu, "
	       "other %lu), %lu messages, %lu repairs\n",
	       opens, calls, errs, by_err[0], by_err[1], by_err[2], by_err[3], by_err[4], msgs, reformat);
	is(repair_failed, 0, "every repair (scribbler paused) made a valid channel again");
	ok(opens > 0 && calls > 0, "opened and ran under attack without a crash or hang");
	is(unexpected, 0, "only the documented errors came out");
	free(mem);
	return tap_done();
}
