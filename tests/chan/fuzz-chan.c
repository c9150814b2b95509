/* SPDX-License-Identifier: MIT */
/* Fuzz target: the input becomes (part of) a region holding a channel
 * layout; attaching and a receive/send loop must terminate without a crash
 * or an access outside the region (which is an exact-size heap block).
 * Then delete and create run over the same (hostile) table, whose base
 * holds a hole left by a delete.
 *
 * Input: byte 0 selects the mode.
 *   even: the rest is copied over the region from offset 0 (header, table)
 *   odd:  the rest is a list of patches [u16 offset][u8 len][len bytes]
 *         applied to a valid region with queued, wrapped messages. */
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"

#define REGION 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes);

static unsigned char base[REGION] __attribute__((aligned(64)));
static int base_ready;

static void make_base(void)
{
	memset(base, 0, sizeof(base));
	ivs_layout_create(base, REGION, "f", 2048, 500, -1);
	ivs_layout_create(base, REGION, "x", 256, 8, -1);
	ivs_layout_create(base, REGION, "y", 256, 8, -1);
	ivs_chan_delete_mem(base, REGION, "x"); /* a hole between f and y */
	ivshmem_chan *p, *c;
	ivs_chan_open_mem(base, REGION, "f", IVSHMEM_CHAN_PRODUCER, 0, &p);
	ivs_chan_open_mem(base, REGION, "f", IVSHMEM_CHAN_CONSUMER, 0, &c);
	unsigned char buf[500], out[500];
	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 12; i++) { /* wrap the ring once */
		ivshmem_chan_send(p, buf, (size_t)(i * 53) % 400, 0);
		ivshmem_chan_recv(c, out, sizeof(out), 0);
	}
	for (int i = 0; i < 5; i++)
		ivshmem_chan_send(p, buf, (size_t)(i * 97) % 500, 0);
	ivshmem_chan_close(c);
	ivshmem_chan_close(p);
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
	if (size >= 1 && !(data[0] & 1)) {
		size_t n = size - 1 > REGION ? REGION : size - 1;
		memcpy(m, data + 1, n);
	} else if (size >= 1) {
		size_t i = 1;
		while (i + 3 <= size) {
			size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8) % REGION, len = data[i + 2];
			i += 3;
			if (len > size - i)
				len = size - i;
			if (len > REGION - off)
				len = REGION - off;
			memcpy(m + off, data + i, len);
			i += len;
		}
	}
	ivshmem_chan *c = NULL, *p = NULL, *mon = NULL;
	unsigned char out[600];
	struct ivshmem_chan_stat st;
	if (ivs_chan_open_mem(m, REGION, "f", IVSHMEM_CHAN_CONSUMER, 0, &c) == 0) {
		for (int k = 0; k < 64; k++)
			if (ivshmem_chan_recv(c, out, sizeof(out), 0) < 0)
				break;
		ivshmem_chan_stat(c, &st);
	}
	if (ivs_chan_open_mem(m, REGION, "f", IVSHMEM_CHAN_PRODUCER, 0, &p) == 0) {
		for (int k = 0; k < 64; k++)
			if (ivshmem_chan_send(p, out, (size_t)k * 7, 0) < 0)
				break;
		struct ivshmem_chan_msg v[3] = {{.data = out, .len = 3}, {.data = out, .len = 300}, {.data = out, .len = 0}};
		for (int k = 0; k < 16; k++)
			if (ivshmem_chan_send_batch(p, v, 3, 0) < 0)
				break;
	}
	if (c) {
		/* The batch calls walk several records per call: copying
		 * into buffers of mixed sizes, and zero copy (every byte of
		 * each message read, within its length). */
		unsigned char bufs[4][600];
		struct ivshmem_chan_msg v[4];
		for (int k = 0; k < 32; k++) {
			for (int j = 0; j < 4; j++)
				v[j] = (struct ivshmem_chan_msg){.data = bufs[j], .cap = j == 2 ? 100 : sizeof(bufs[j])};
			ssize_t n = (k & 1) ? ivshmem_chan_recv_batch(c, v, 4, 0) : ivshmem_chan_peek_batch(c, v, 4, 0);
			if (n < 0)
				break;
			unsigned sum = 0;
			for (ssize_t j = 0; j < n; j++)
				for (size_t b = 0; b < v[j].len; b++)
					sum += ((const unsigned char *)v[j].data)[b];
			out[0] = (unsigned char)sum;
			if (!(k & 1) && ivshmem_chan_release(c) < 0)
				break;
		}
		for (int k = 0; k < 64; k++)
			if (ivshmem_chan_recv(c, out, sizeof(out), 0) < 0)
				break;
	}
	if (ivs_chan_open_mem(m, REGION, "f", IVSHMEM_CHAN_MONITOR, 0, &mon) == 0)
		ivshmem_chan_stat(mon, &st);
	ivshmem_chan_close(mon);
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	/* Table writers over the hostile table (the lock word is not what is
	 * fuzzed here: a held lock only costs a 1 s takeover). */
	((struct ivs_layout_hdr *)m)->lock = 0;
	ivs_chan_delete_mem(m, REGION, "f");
	ivs_layout_create(m, REGION, "g", 512, 8, -1);
	ivs_chan_delete_mem(m, REGION, "y");
	ivs_layout_create(m, REGION, "h", 1024, 8, -1);
	struct ivs_layout_view v;
	if (ivs_layout_read(m, REGION, &v) == 0) {
		struct ivs_entry_view e;
		for (unsigned i = 0; i < v.max_chans; i++)
			ivs_layout_entry(m, REGION, &v, i, &e);
	}
	free(m);
	return 0;
}

/* Seeds: the valid region, and patches of the indices and a record. */
static const uint8_t s0[] = {1};
static const uint8_t s1[] = {1, 0x40, 0x10, 8, 0xff, 0xff, 0, 0, 0, 0, 0, 0};		/* tail */
static const uint8_t s2[] = {1, 0x00, 0x11, 8, 8, 0, 0, 0, 0, 0, 0, 0};			/* head */
static const uint8_t s3[] = {1, 0x00, 0x12, 4, 0xff, 0xff, 0xff, 0xff};			/* record */
static const uint8_t s4[] = {1, 0x80, 0x00, 4, 0, 0x10, 0, 0};				/* entry offset */
static const uint8_t s5[] = {1, 0x80, 0x10, 4, 3, 0, 0, 0};				/* prod epoch */
static const uint8_t s6[] = {0, 'I', 'V', 'S', 'H', 'C', 'H', 'A', 'N', 1, 0, 0, 0};
static const uint8_t *const seeds_v[] = {s0, s1, s2, s3, s4, s5, s6};
static const size_t sizes_v[] = {sizeof(s0), sizeof(s1), sizeof(s2), sizeof(s3),
				 sizeof(s4), sizeof(s5), sizeof(s6)};

size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes)
{
	*seeds = (const uint8_t **)seeds_v;
	*sizes = sizes_v;
	return sizeof(sizes_v) / sizeof(sizes_v[0]);
}
