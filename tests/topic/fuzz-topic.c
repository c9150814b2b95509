/* SPDX-License-Identifier: MIT */
/* Fuzz target: a region holding two topics (4 subscriber slots each): "t",
 * lossless (wrapped ring, messages queued for two live subscribers), and
 * "l", latest (its buffers lapped, two subscribers attached) is patched by
 * the input; then subscribers (a passive one too, for "l"), a publisher
 * and a monitor attach and run receive, publish and stat loops (timeout
 * 0), and the table writers run over it.  No crash, no access outside the
 * region (an exact-size heap block), no endless loop: only errors.
 *
 * Input: [u16 offset][u8 len][len bytes]... patches, the offset relative
 * to the topic's block when byte 0 is odd, to the region otherwise; bit 1
 * of byte 0 picks the topic: "l" if set. */
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "topic/topic.h"

#define REGION 32768

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes);

static unsigned char base[REGION] __attribute__((aligned(64)));
static size_t block_off[2];
static int base_ready;

static void make_base(void)
{
	memset(base, 0, sizeof(base));
	struct ivshmem_topic_config c = {.size = 2048, .max_msg = 300, .subscribers = 4, .stall_timeout_ms = 1};
	ivs_topic_create_mem(base, REGION, "t", &c);
	ivshmem_topic *p, *a, *b;
	ivs_topic_open_mem(base, REGION, "t", IVSHMEM_TOPIC_PUBLISHER, 0, &p);
	ivs_topic_open_mem(base, REGION, "t", IVSHMEM_TOPIC_SUBSCRIBER, 0, &a);
	ivs_topic_open_mem(base, REGION, "t", IVSHMEM_TOPIC_SUBSCRIBER, 0, &b);
	unsigned char buf[300], out[300];
	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 12; i++) { /* wrap the ring once */
		ivshmem_topic_publish(p, buf, (size_t)(i * 53) % 300, 0);
		ivshmem_topic_receive(a, out, sizeof(out), 0);
		ivshmem_topic_receive(b, out, sizeof(out), 0);
	}
	for (int i = 0; i < 5; i++)
		ivshmem_topic_publish(p, buf, (size_t)(i * 97) % 300, 0);
	/* Leave the subscribers attached (their pids: ours, alive). */
	free(a);
	free(b);
	ivshmem_topic_close(p);
	struct ivshmem_topic_config l = {.size = 2048, .max_msg = 300, .subscribers = 4, .mode = IVSHMEM_TOPIC_LATEST};
	ivs_topic_create_mem(base, REGION, "l", &l);
	ivs_topic_open_mem(base, REGION, "l", IVSHMEM_TOPIC_PUBLISHER, 0, &p);
	ivs_topic_open_mem(base, REGION, "l", IVSHMEM_TOPIC_SUBSCRIBER, 0, &a);
	ivs_topic_open_mem(base, REGION, "l", IVSHMEM_TOPIC_SUBSCRIBER, 0, &b);
	for (int i = 0; i < 12; i++) { /* more than its 5 buffers */
		ivshmem_topic_publish(p, buf, (size_t)(i * 53) % 300, 0);
		if (i % 3 == 0)
			ivshmem_topic_receive(a, out, sizeof(out), 0);
	}
	free(a);
	free(b);
	ivshmem_topic_close(p);
	struct ivs_layout_view v;
	struct ivs_entry_view e;
	ivs_layout_read(base, REGION, &v);
	ivs_layout_find(base, REGION, &v, "t", &e);
	block_off[0] = e.offset;
	ivs_layout_find(base, REGION, &v, "l", &e);
	block_off[1] = e.offset;
	base_ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base_ready)
		make_base();
	unsigned char *m = aligned_alloc(64, REGION);
	if (!m)
		return 0;
	memcpy(m, base, REGION);
	int which = size && (data[0] & 2);
	const char *name = which ? "l" : "t";
	size_t rel = size && (data[0] & 1) ? block_off[which] : 0;
	for (size_t i = 1; i + 3 <= size;) {
		size_t off = (rel + ((size_t)data[i] | (size_t)data[i + 1] << 8)) % REGION, len = data[i + 2];
		i += 3;
		if (len > size - i)
			len = size - i;
		if (len > REGION - off)
			len = REGION - off;
		memcpy(m + off, data + i, len);
		i += len;
	}
	ivshmem_topic *s = NULL, *p = NULL, *mon = NULL, *ps = NULL;
	unsigned char out[400];
	struct ivshmem_topic_stat *st = malloc(sizeof(*st));
	if (which && ivs_topic_open_mem(m, REGION, name, IVSHMEM_TOPIC_SUBSCRIBER,
					IVSHMEM_TOPIC_PASSIVE | IVSHMEM_TOPIC_FROM_OLDEST, &ps) == 0)
		for (int k = 0; k < 4; k++)
			if (ivshmem_topic_receive(ps, out, sizeof(out), 0) < 0)
				break;
	if (ivs_topic_open_mem(m, REGION, name, IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_FROM_OLDEST, &s) == 0) {
		for (int k = 0; k < 32; k++)
			if (ivshmem_topic_receive(s, out, sizeof(out), 0) < 0)
				break;
		const void *q;
		if (ivshmem_topic_peek(s, &q, 0) >= 0)
			ivshmem_topic_release(s);
	}
	if (ivs_topic_open_mem(m, REGION, name, IVSHMEM_TOPIC_PUBLISHER, 0, &p) == 0)
		for (int k = 0; k < 64; k++)
			if (ivshmem_topic_publish(p, out, (size_t)k * 7, 0) < 0)
				break;
	if (s)
		for (int k = 0; k < 64; k++)
			if (ivshmem_topic_receive(s, out, sizeof(out), 0) < 0)
				break;
	if (ps)
		for (int k = 0; k < 4; k++)
			if (ivshmem_topic_receive(ps, out, sizeof(out), 0) < 0)
				break;
	if (st && ivs_topic_open_mem(m, REGION, name, IVSHMEM_TOPIC_MONITOR, 0, &mon) == 0)
		ivshmem_topic_stat(mon, st);
	ivshmem_topic_close(mon);
	ivshmem_topic_close(ps);
	ivshmem_topic_close(s);
	ivshmem_topic_close(p);
	((struct ivs_layout_hdr *)m)->lock = 0;
	ivs_chan_delete_mem(m, REGION, name);
	struct ivshmem_topic_config c = {.size = 512, .subscribers = 2};
	ivs_topic_create_mem(m, REGION, "u", &c);
	free(st);
	free(m);
	return 0;
}

/* Seeds: the valid topic, and patches of its lines (offsets in the block:
 * line 0 @0, the publisher's tail @64, slot 0's head @256, its epoch @320,
 * the floor after the parties, the first record). */
static const uint8_t s0[] = {1};
static const uint8_t s1[] = {1, 64, 0, 8, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
static const uint8_t s2[] = {1, 0, 1, 8, 8, 0, 0, 0, 0, 0, 1, 0};
static const uint8_t s3[] = {1, 0x40, 1, 4, 2, 0, 0, 0};
static const uint8_t s4[] = {1, 0x40, 4, 8, 0x10, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t s5[] = {1, 0xc0, 4, 4, 0xff, 0xff, 0xff, 0xff};
static const uint8_t s6[] = {1, 40, 0, 4, 200, 0, 0, 0};
/* Latest: the topic alone, the publisher's count @72 (past 2^62, back),
 * the first buffer's lock @1152 and its length @1160, mode @44. */
static const uint8_t l0[] = {3};
static const uint8_t l1[] = {3, 72, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x40};
static const uint8_t l2[] = {3, 72, 0, 1, 1};
static const uint8_t l3[] = {3, 0x80, 4, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t l4[] = {3, 0x88, 4, 4, 0xff, 0xff, 0, 0};
static const uint8_t l5[] = {3, 44, 0, 4, 0, 0, 0, 0};
static const uint8_t *const seeds_v[] = {s0, s1, s2, s3, s4, s5, s6, l0, l1, l2, l3, l4, l5};
static const size_t sizes_v[] = {sizeof(s0), sizeof(s1), sizeof(s2), sizeof(s3), sizeof(s4),
				 sizeof(s5), sizeof(s6), sizeof(l0), sizeof(l1), sizeof(l2),
				 sizeof(l3), sizeof(l4), sizeof(l5)};

size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes)
{
	*seeds = (const uint8_t **)seeds_v;
	*sizes = sizes_v;
	return sizeof(sizes_v) / sizeof(sizes_v[0]);
}
