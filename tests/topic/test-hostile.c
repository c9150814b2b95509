/* SPDX-License-Identifier: MIT */
/* A hostile party: a thread writes random bytes into the topic's block
 * (subscriber slots, the publisher's lines, the floor) and its ring while
 * this side attaches a publisher and subscribers, publishes, receives,
 * peeks and stats.  Only documented errors may come out: no crash (ASan
 * build: no access outside the region), no hang (every call is bounded).
 * Then one subscriber's lines alone are scribbled: the publisher and the
 * other subscriber go on as if nothing happened.  Both for a lossless and
 * a latest-mode topic (there with a passive subscriber too). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel/channel.h"
#include "tap.h"
#include "topic/topic.h"

#define REGION (128 * 1024)

static unsigned char *mem;
static size_t blk, blk_len; /* the scribbler's target */
static atomic_int stop;

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
		uint64_t r = rng(&s);
		size_t off = blk + (r >> 8) % blk_len, len = 1 + (r >> 40) % 16;
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

static size_t block_of(const char *name)
{
	struct ivs_layout_view v;
	struct ivs_entry_view e;
	if (ivs_layout_read(mem, REGION, &v) < 0 || ivs_layout_find(mem, REGION, &v, name, &e) < 0)
		return 0;
	return e.offset;
}

static bool documented(long r)
{
	return r == -EAGAIN || r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET || r == -ESTALE ||
	       r == -EBADMSG || r == -EPROTO || r == -EOWNERDEAD || r == -ENOBUFS || r == -EMSGSIZE ||
	       r == -EINVAL;
}

static const char *const mode_name[] = {"lossless", "latest"};

static void everything_scribbled(unsigned mode)
{
	memset(mem, 0, REGION);
	atomic_store(&stop, 0);
	struct ivshmem_topic_config c = {.size = 8192, .max_msg = 1000, .subscribers = 4,
					 .stall_timeout_ms = mode ? 0 : 5, .mode = mode};
	ok(ivs_topic_create_mem(mem, REGION, "h", &c) == 0, "%s: create a topic", mode_name[mode]);
	blk = block_of("h");
	blk_len = ivs_topic_ctrl_bytes(4) + 8192;
	pthread_t t;
	pthread_create(&t, NULL, scribbler, NULL);
	uint64_t deadline = ivs_now_ns() + 2000000000ull;
	unsigned long calls = 0, errs = 0, msgs = 0, opens = 0, repairs = 0;
	unsigned char buf[1024];
	int unexpected = 0;
	while (ivs_now_ns() < deadline) {
		ivshmem_topic *p = NULL, *s1 = NULL, *s2 = NULL;
		int r0 = ivs_topic_open_mem(mem, REGION, "h", IVSHMEM_TOPIC_SUBSCRIBER, 0, &s1);
		int r1 = ivs_topic_open_mem(mem, REGION, "h", IVSHMEM_TOPIC_PUBLISHER, 0, &p);
		unsigned f2 = IVSHMEM_TOPIC_FROM_OLDEST | (mode ? IVSHMEM_TOPIC_PASSIVE : 0);
		int r2 = ivs_topic_open_mem(mem, REGION, "h", IVSHMEM_TOPIC_SUBSCRIBER, f2, &s2);
		opens += (r0 == 0) + (r1 == 0) + (r2 == 0);
		for (int i = 0; i < 200 && (p || s1 || s2); i++) {
			if (p) {
				int r = ivshmem_topic_publish(p, buf, (size_t)(i * 37) % 1001, i % 3);
				calls++;
				if (r < 0 && (errs++, !documented(r)))
					unexpected++;
			}
			ivshmem_topic *s = i & 1 ? s1 : s2;
			if (s) {
				ssize_t r = ivshmem_topic_receive(s, buf, sizeof(buf), i % 3);
				calls++;
				if (r >= 0)
					msgs++;
				else if ((errs++, !documented(r)))
					unexpected++;
				const void *q;
				if (ivshmem_topic_peek(s, &q, 0) >= 0)
					ivshmem_topic_release(s);
				struct ivshmem_topic_stat *st = malloc(sizeof(*st));
				if (st)
					ivshmem_topic_stat(s, st);
				free(st);
			}
		}
		ivshmem_topic_close(p);
		ivshmem_topic_close(s1);
		ivshmem_topic_close(s2);
		int worst = r0 < 0 ? r0 : r1 < 0 ? r1 : r2;
		if (worst < 0) {
			if (!documented(worst) && worst != -EUSERS && worst != -ENOENT && worst != -EBUSY)
				unexpected++;
			/* Repair now and then so that valid paths keep running. */
			if (++repairs % 4 == 0) {
				memset(mem, 0, REGION);
				ivs_topic_create_mem(mem, REGION, "h", &c);
			}
		}
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("# %lu opens, %lu calls, %lu errors, %lu messages, %lu repairs\n", opens, calls, errs, msgs, repairs);
	ok(calls > 0 && msgs > 0, "%s: ran under attack without a crash or hang, and messages got through",
	   mode_name[mode]);
	is(unexpected, 0, "%s: only the documented errors came out", mode_name[mode]);
}

/* One subscriber's three lines are garbage: nobody else notices. */
static void one_slot_scribbled(unsigned mode)
{
	memset(mem, 0, REGION);
	atomic_store(&stop, 0);
	struct ivshmem_topic_config c = {.size = 4096, .max_msg = 64, .subscribers = 3,
					 .stall_timeout_ms = mode ? 0 : 60000, .mode = mode};
	ivs_topic_create_mem(mem, REGION, "o", &c);
	ivshmem_topic *p = NULL, *good = NULL, *bad = NULL;
	ivs_topic_open_mem(mem, REGION, "o", IVSHMEM_TOPIC_PUBLISHER, 0, &p);
	ivs_topic_open_mem(mem, REGION, "o", IVSHMEM_TOPIC_SUBSCRIBER, 0, &good);
	ivs_topic_open_mem(mem, REGION, "o", IVSHMEM_TOPIC_SUBSCRIBER, 0, &bad);
	struct ivshmem_topic_stat *st = malloc(sizeof(*st));
	ok(p && good && bad && st && ivshmem_topic_stat(bad, st) == 0 && st->slot == 1, "%s: two subscribers, the bad one in slot 1",
	   mode_name[mode]);
	blk = block_of("o") + 64 + IVS_PARTY_BYTES * 2; /* party 2 = slot 1 */
	blk_len = IVS_PARTY_BYTES;
	pthread_t t;
	pthread_create(&t, NULL, scribbler, NULL);
	unsigned char b[64], got[64];
	int lost = 0, r = 0;
	for (unsigned i = 0; i < 20000 && r == 0; i++) {
		memcpy(b, &i, 4);
		memset(b + 4, (int)i, 60);
		if ((r = ivshmem_topic_publish(p, b, 64, 2000)) < 0)
			break;
		if (ivshmem_topic_receive(good, got, sizeof(got), 0) != 64 || memcmp(got, b, 64))
			lost++;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	is(r, 0, "%s: the publisher never failed nor waited past its timeout (20000 messages, 4 KiB ring)",
	   mode_name[mode]);
	is(lost, 0, "%s: the good subscriber got every message intact", mode_name[mode]);
	ok(ivshmem_topic_stat(p, st) == 0, "%s: the publisher's stat: %llu evictions of the scribbled slot",
	   mode_name[mode], (unsigned long long)st->evictions);
	free(st);
	ssize_t n = ivshmem_topic_receive(bad, got, sizeof(got), 0);
	/* Lossless: evicted or garbage.  Latest: nobody evicts, so the
	 * subscriber whose own slot is garbage may still read (its epoch is
	 * what it checks: scribbled, -ENOBUFS), or find nothing new. */
	ok(mode ? (n == 64 || (n < 0 && documented(n))) : (n < 0 && documented(n)),
	   "%s: the subscriber whose slot was scribbled: %zd", mode_name[mode], n);
	ivshmem_topic_close(p);
	ivshmem_topic_close(good);
	free(bad); /* its slot is garbage: don't let close touch it */
}

int main(void)
{
	mem = aligned_alloc(4096, REGION);
	memset(mem, 0, REGION);
	for (unsigned mode = 0; mode < 2; mode++) {
		everything_scribbled(mode);
		one_slot_scribbled(mode);
	}
	free(mem);
	return tap_done();
}
