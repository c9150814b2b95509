/* SPDX-License-Identifier: MIT */
/* The batch calls (ivshmem.h, "Batches"; docs/channels.md): send_batch,
 * recv_batch, peek_batch with release, commit_more with flush.  What a
 * batch moves, what it leaves, what bad arguments and corrupt records do,
 * when unpublished records become visible, and a long run of random
 * batches through a small ring (wrap-around, padding) checked byte for
 * byte.  Wakeups under batches: tests/chan/test-wakeup.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "tap.h"

#define REGION (64 * 1024)

static unsigned char *region(void)
{
	unsigned char *m = aligned_alloc(4096, REGION);
	memset(m, 0, REGION);
	return m;
}

static void pair(unsigned char *m, const char *name, uint64_t ring, uint32_t max, ivshmem_chan **p,
		 ivshmem_chan **c)
{
	*p = *c = NULL;
	if (ivs_layout_create(m, REGION, name, ring, max, -1) < 0 ||
	    ivs_chan_open_mem(m, REGION, name, IVSHMEM_CHAN_PRODUCER, 0, p) < 0 ||
	    ivs_chan_open_mem(m, REGION, name, IVSHMEM_CHAN_CONSUMER, 0, c) < 0)
		fail_all("set-up: channel %s", name);
}

/* Message number i of length len: every byte depends on both. */
static void fill(unsigned char *b, size_t len, unsigned i)
{
	for (size_t k = 0; k < len; k++)
		b[k] = (unsigned char)(i * 31 + k * 7 + 1);
}

static bool check(const void *p, size_t len, unsigned i)
{
	unsigned char b[2048];
	fill(b, len, i);
	return memcmp(p, b, len) == 0;
}

static uint64_t queued(ivshmem_chan *ch)
{
	struct ivshmem_chan_stat st;
	return ivshmem_chan_stat(ch, &st) == 0 ? st.queued : UINT64_MAX;
}

static void test_send_recv(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	pair(m, "b", 4096, 1000, &p, &c);
	unsigned char src[10][1000], dst[16][1000];
	struct ivshmem_chan_msg in[10], out[16];
	size_t lens[10] = {0, 1, 7, 8, 9, 64, 100, 1000, 3, 0};
	for (unsigned i = 0; i < 10; i++) {
		fill(src[i], lens[i], i);
		in[i] = (struct ivshmem_chan_msg){.data = src[i], .len = lens[i]};
	}
	for (unsigned i = 0; i < 16; i++)
		out[i] = (struct ivshmem_chan_msg){.data = dst[i], .cap = sizeof(dst[i]), .len = 12345};
	is(ivshmem_chan_recv_batch(c, out, 16, 0), -EAGAIN, "recv_batch on an empty channel: -EAGAIN");
	is(ivshmem_chan_recv_batch(c, out, 16, 20), -ETIMEDOUT, "with a timeout: -ETIMEDOUT");
	is(ivshmem_chan_send_batch(p, in, 10, 0), 10, "send_batch of 10 messages (0 to 1000 bytes): all sent");
	is(queued(c), 10, "10 queued");
	is(ivshmem_chan_recv_batch(c, out, 16, 0), 10, "recv_batch with room for 16: 10");
	bool same = true;
	for (unsigned i = 0; i < 10; i++)
		same &= out[i].len == lens[i] && check(dst[i], lens[i], i);
	ok(same, "each with its length and bytes, in order");
	is(out[10].len, 12345, "entries past the count untouched");
	is(queued(c), 0, "nothing queued");

	/* Bad arguments: nothing is sent. */
	is(ivshmem_chan_send_batch(p, in, 0, 0), -EINVAL, "send_batch of 0: -EINVAL");
	is(ivshmem_chan_send_batch(p, NULL, 1, 0), -EINVAL, "send_batch of NULL: -EINVAL");
	struct ivshmem_chan_msg bad[3] = {in[1], {.data = NULL, .len = 5}, in[2]};
	is(ivshmem_chan_send_batch(p, bad, 3, 0), -EINVAL, "a NULL buffer with a length among them: -EINVAL");
	unsigned char big[1001];
	struct ivshmem_chan_msg over[3] = {in[1], {.data = big, .len = sizeof(big)}, in[2]};
	is(ivshmem_chan_send_batch(p, over, 3, 0), -EMSGSIZE, "one above max_msg among them: -EMSGSIZE");
	is(queued(c), 0, "and nothing of either batch was sent");
	is(ivshmem_chan_send_batch(c, in, 1, 0), -EPERM, "the consumer cannot send_batch");
	is(ivshmem_chan_recv_batch(p, out, 1, 0), -EPERM, "the producer cannot recv_batch");
	is(ivshmem_chan_peek_batch(p, out, 1, 0), -EPERM, "nor peek_batch");
	is(ivshmem_chan_commit_more(c, 0), -EPERM, "the consumer cannot commit_more");
	is(ivshmem_chan_flush(c), -EPERM, "nor flush");
	is(ivshmem_chan_recv_batch(c, out, 0, 0), -EINVAL, "recv_batch of 0: -EINVAL");
	struct ivshmem_chan_msg nobuf = {.data = NULL, .cap = 8};
	is(ivshmem_chan_recv_batch(c, &nobuf, 1, 0), -EINVAL, "a NULL buffer with a capacity: -EINVAL");

	/* A full ring: what fits goes, the rest stays with the caller. */
	struct ivshmem_chan_msg many[64];
	for (unsigned i = 0; i < 64; i++)
		many[i] = (struct ivshmem_chan_msg){.data = src[6], .len = 100}; /* 112-byte records */
	int k = ivshmem_chan_send_batch(p, many, 64, 0);
	is(k, 4096 / 112, "64 messages into a 4 KiB ring: as many as fit (%d)", k);
	is(ivshmem_chan_send_batch(p, many, 64, 0), -EAGAIN, "full: the next batch is -EAGAIN");
	is(ivshmem_chan_send_batch(p, many, 64, 30), -ETIMEDOUT, "or -ETIMEDOUT with a timeout");
	is(queued(c), (uint64_t)k, "%d queued", k);

	/* Capacities: a message longer than its buffer ends the batch. */
	struct ivshmem_chan_msg small[4];
	for (unsigned i = 0; i < 4; i++)
		small[i] = (struct ivshmem_chan_msg){.data = dst[i], .cap = i == 2 ? 99 : 100};
	is(ivshmem_chan_recv_batch(c, small, 4, 0), 2, "third buffer too small: a batch of 2");
	is(queued(c), (uint64_t)k - 2, "the third stays queued");
	is(ivshmem_chan_recv_batch(c, &small[2], 1, 0), -EMSGSIZE, "first too small: -EMSGSIZE");
	is(queued(c), (uint64_t)k - 2, "and it stays queued");
	for (unsigned i = 0; i < 16; i++)
		out[i].cap = sizeof(dst[i]);
	int left = k - 2, calls = 0;
	while (left > 0) {
		ssize_t r = ivshmem_chan_recv_batch(c, out, 16, 0);
		if (r != (left < 16 ? left : 16))
			break;
		left -= (int)r;
		calls++;
	}
	is(left, 0, "the rest in batches of 16, as many as there are buffers (%d calls)", calls);
	ivshmem_chan_close(p);
	is(ivshmem_chan_recv_batch(c, out, 16, 0), -EPIPE, "producer gone, queue empty: -EPIPE");
	ivshmem_chan_close(c);
	free(m);
}

static void test_peek(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	pair(m, "pk", 4096, 1000, &p, &c);
	unsigned char src[6][200];
	for (unsigned i = 0; i < 6; i++) {
		fill(src[i], 10 + i, i);
		ivshmem_chan_send(p, src[i], 10 + i, 0);
	}
	struct ivshmem_chan_msg v[4];
	is(ivshmem_chan_peek_batch(c, v, 4, 0), 4, "peek_batch of 4 of 6");
	bool same = true;
	for (unsigned i = 0; i < 4; i++)
		same &= v[i].len == 10 + i && check(v[i].data, v[i].len, i);
	ok(same, "pointers at each message, in order");
	is(queued(c), 6, "peeked is still queued");
	is(ivshmem_chan_peek_batch(c, v, 4, 0), 4, "peek_batch again before release: the same 4");
	ok(v[0].len == 10 && check(v[0].data, 10, 0) && v[3].len == 13, "from the first again");
	is(ivshmem_chan_release(c), 0, "release");
	is(queued(c), 2, "releases all 4 peeked");
	is(ivshmem_chan_release(c), -EINVAL, "release again: nothing peeked, -EINVAL");
	is(ivshmem_chan_peek_batch(c, v, 4, 0), 2, "peek_batch: the 2 left");
	unsigned char b[200];
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), 14, "recv after peek_batch: the first of them");
	ok(check(b, 14, 4), "its bytes");
	is(queued(c), 1, "only it was taken");
	const void *q;
	is(ivshmem_chan_peek(c, &q, 0), 15, "the other is next");
	ok(check(q, 15, 5), "its bytes");
	is(ivshmem_chan_release(c), 0, "release");
	is(ivshmem_chan_peek_batch(c, v, 4, 0), -EAGAIN, "empty: -EAGAIN");

	/* A single call after a batch peeked: only the first message is
	 * taken, whatever the call; a release releases only it. */
	unsigned char huge[500];
	fill(huge, sizeof(huge), 9);
	ivshmem_chan_send(p, huge, sizeof(huge), 0);
	for (unsigned i = 0; i < 3; i++)
		ivshmem_chan_send(p, src[i], 2, 0);
	is(ivshmem_chan_peek_batch(c, v, 4, 0), 4, "peek_batch of 4");
	is(ivshmem_chan_recv(c, b, 100, 0), -EMSGSIZE, "recv into 100 bytes: the 500-byte first, -EMSGSIZE");
	is(ivshmem_chan_peek(c, &q, 0), 500, "peek: it");
	is(ivshmem_chan_release(c), 0, "release drops it");
	is(queued(c), 3, "and only it: the 3 behind it stay");
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), 2, "the next is the first small one");
	is(ivshmem_chan_peek_batch(c, v, 4, 0), 2, "peek_batch: the other 2");
	is(ivshmem_chan_peek(c, &q, 0), 2, "a single peek cuts the peek back to the first");
	is(ivshmem_chan_release(c), 0, "release");
	is(queued(c), 1, "one left");
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), 2, "received");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	free(m);
}

static void test_commit_more(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	pair(m, "cm", 1024, 100, &p, &c);
	unsigned char b[100];
	void *w;
	for (unsigned i = 0; i < 3; i++) {
		ok(ivshmem_chan_reserve(p, 50, &w, 0) == 0, "reserve %u", i);
		fill(w, 20 + i, i);
		is(ivshmem_chan_commit_more(p, 20 + i), 0, "commit_more %u", i);
	}
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), -EAGAIN, "not published: the consumer sees nothing");
	is(queued(c), 0, "nothing queued yet");
	is(ivshmem_chan_flush(p), 0, "flush");
	is(queued(c), 3, "all 3 published at once");
	struct ivshmem_chan_msg out[4];
	unsigned char d[4][100];
	for (unsigned i = 0; i < 4; i++)
		out[i] = (struct ivshmem_chan_msg){.data = d[i], .cap = 100};
	is(ivshmem_chan_recv_batch(c, out, 4, 0), 3, "received in one batch");
	ok(out[0].len == 20 && out[2].len == 22 && check(d[0], 20, 0) && check(d[2], 22, 2), "in order, intact");
	is(ivshmem_chan_flush(p), 0, "flush with nothing pending: 0");
	is(ivshmem_chan_commit_more(p, 1), -EINVAL, "commit_more without a reservation: -EINVAL");

	/* A plain commit publishes what commit_more left. */
	ivshmem_chan_reserve(p, 10, &w, 0);
	ivshmem_chan_commit_more(p, 10);
	ivshmem_chan_reserve(p, 10, &w, 0);
	ivshmem_chan_commit(p, 10);
	is(queued(c), 2, "commit publishes the earlier commit_more too");
	is(ivshmem_chan_recv_batch(c, out, 4, 0), 2, "both received");

	/* Full with records pending: the reserve that cannot get room
	 * publishes them (the consumer may be waiting for exactly those). */
	int n = 0;
	while (ivshmem_chan_reserve(p, 100, &w, 0) == 0 && n < 100) {
		memset(w, n, 100);
		ivshmem_chan_commit_more(p, 100);
		n++;
	}
	ok(n > 1 && n <= 1024 / 112, "commit_more until full: %d records", n);
	is(queued(c), (uint64_t)n, "the reserve that found it full published all %d", n);
	for (int i = 0; i < n; i++)
		ivshmem_chan_recv(c, b, sizeof(b), 0);

	/* A consumer restart met by commit_more and flush does not stop
	 * them: the next reserve reports it, once, having done nothing. */
	ivshmem_chan_reserve(p, 10, &w, 0);
	ivshmem_chan_close(c);
	ok(ivs_chan_open_mem(m, REGION, "cm", IVSHMEM_CHAN_CONSUMER, 0, &c) == 0, "the consumer restarts");
	is(ivshmem_chan_commit_more(p, 10), 0, "commit_more goes on");
	is(ivshmem_chan_flush(p), 0, "flush goes on (publishes)");
	is(ivshmem_chan_reserve(p, 10, &w, 0), -ECONNRESET, "the next reserve reports the restart");
	is(ivshmem_chan_reserve(p, 10, &w, 0), 0, "once");
	ivshmem_chan_commit(p, 10);
	is(ivshmem_chan_recv_batch(c, out, 4, 0), 2, "both records arrived");

	/* A head past the published tail is corrupt, even if it is not past
	 * commit_more's records. */
	ivshmem_chan_reserve(p, 10, &w, 0);
	ivshmem_chan_commit_more(p, 10);
	struct ivs_layout_view lv;
	struct ivs_entry_view le;
	ivs_layout_read(m, REGION, &lv);
	ivs_layout_find(m, REGION, &lv, "cm", &le);
	struct ivs_chan_ctrl *ctl = (struct ivs_chan_ctrl *)(m + le.offset);
	uint64_t h0 = ctl->head;
	ctl->head = h0 + 24; /* where the unpublished record ends */
	int rr;
	int full = 0;
	while ((rr = ivshmem_chan_reserve(p, 100, &w, 0)) == 0 && full < 100) {
		ivshmem_chan_commit_more(p, 100);
		full++;
	}
	is(rr, -EBADMSG, "the producer's next head read: -EBADMSG");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	memset(m, 0, REGION);
	pair(m, "cm", 1024, 100, &p, &c);

	/* Close publishes; a takeover drops what was not published. */
	ivshmem_chan_reserve(p, 10, &w, 0);
	ivshmem_chan_commit_more(p, 10);
	p = ivshmem_chan_close(p);
	is(queued(c), 1, "close publishes what commit_more left");
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), 10, "received");
	ok(ivs_chan_open_mem(m, REGION, "cm", IVSHMEM_CHAN_PRODUCER, 0, &p) == 0, "a new producer");
	ivshmem_chan *p2 = NULL;
	ivshmem_chan_reserve(p, 10, &w, 0);
	ivshmem_chan_commit_more(p, 10);
	ok(ivs_chan_open_mem(m, REGION, "cm", IVSHMEM_CHAN_PRODUCER, 0, &p2) == 0, "taken over by another");
	is(ivshmem_chan_flush(p), -ESTALE, "the old one's flush: -ESTALE");
	ivshmem_chan_close(p);
	is(queued(c), 0, "its unpublished record is gone, not published by close");
	while (ivshmem_chan_recv(c, b, sizeof(b), 0) == -ECONNRESET)
		;
	is(ivshmem_chan_send(p2, "x", 1, 0), 0, "the new producer sends");
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), 1, "and that is what arrives");
	ivshmem_chan_close(p2);
	ivshmem_chan_close(c);
	free(m);
}

/* A record corrupted inside a batch: the batch ends before it, the next
 * call reports it (sticky), nothing past it is delivered. */
static void test_corrupt(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	pair(m, "x", 1024, 100, &p, &c);
	unsigned char b[3][100];
	struct ivshmem_chan_msg in[3], out[3];
	for (unsigned i = 0; i < 3; i++) {
		fill(b[i], 16, i);
		in[i] = (struct ivshmem_chan_msg){.data = b[i], .len = 16};
		out[i] = (struct ivshmem_chan_msg){.data = b[i], .cap = 100};
	}
	is(ivshmem_chan_send_batch(p, in, 3, 0), 3, "3 sent");
	struct ivs_layout_view v;
	struct ivs_entry_view e;
	ivs_layout_read(m, REGION, &v);
	ivs_layout_find(m, REGION, &v, "x", &e);
	unsigned char *ring = m + e.offset + IVS_CHAN_CTRL;
	ring[24 + 4] ^= 1; /* the second record's tag */
	is(ivshmem_chan_recv_batch(c, out, 3, 0), 1, "recv_batch stops before the corrupt record: 1");
	is(ivshmem_chan_recv_batch(c, out, 3, 0), -EBADMSG, "the next call: -EBADMSG");
	is(ivshmem_chan_peek_batch(c, out, 3, 0), -EBADMSG, "sticky");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);

	pair(m, "y", 1024, 100, &p, &c);
	ivshmem_chan_send_batch(p, in, 3, 0);
	ivs_layout_read(m, REGION, &v);
	ivs_layout_find(m, REGION, &v, "y", &e);
	ring = m + e.offset + IVS_CHAN_CTRL;
	ring[48] = 0xff; /* the third record's length: above max_msg */
	is(ivshmem_chan_peek_batch(c, out, 3, 0), 2, "peek_batch stops before a length above max_msg: 2");
	is(ivshmem_chan_release(c), 0, "the 2 validated messages can be released");
	is(queued(c), 1, "they are gone, the corrupt one is left");
	is(ivshmem_chan_peek_batch(c, out, 3, 0), -EBADMSG, "the next call meets it: -EBADMSG");
	is(ivshmem_chan_recv(c, b[0], 100, 0), -EBADMSG, "sticky");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	free(m);
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Random batches of random lengths through a 512-byte ring, the calls
 * mixed (one-message and batch, copying and zero copy), one thread
 * alternating between the two sides: every message arrives once, in
 * order, byte for byte, across many wraps and padding records. */
static void test_random(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	pair(m, "r", 512, 200, &p, &c);
	uint32_t seed = 12345;
	unsigned sent = 0, got = 0, bad = 0;
	static unsigned char src[8][200], dst[8][200];
	enum { N = 200000 };
	static uint8_t lens[N]; /* as sent */
	while (got < N && !bad) {
		/* Producer: up to 8 messages, one way or another. */
		unsigned want = 1 + next_rand(&seed) % 8, how = next_rand(&seed) % 3;
		struct ivshmem_chan_msg in[8];
		for (unsigned i = 0; i < want && sent + i < N; i++) {
			size_t len = next_rand(&seed) % 201;
			fill(src[i], len, sent + i);
			in[i] = (struct ivshmem_chan_msg){.data = src[i], .len = len};
		}
		if (want > N - sent)
			want = N - sent;
		if (want && how == 0) {
			int k = ivshmem_chan_send_batch(p, in, want, 0);
			for (int i = 0; i < k; i++)
				lens[sent + (unsigned)i] = (uint8_t)in[i].len;
			if (k > 0)
				sent += (unsigned)k;
			else if (k != -EAGAIN)
				bad++;
		} else if (want && how == 1) {
			unsigned i = 0;
			void *w;
			for (; i < want && ivshmem_chan_reserve(p, in[i].len, &w, 0) == 0; i++) {
				memcpy(w, in[i].data, in[i].len);
				lens[sent + i] = (uint8_t)in[i].len;
				if (ivshmem_chan_commit_more(p, in[i].len) < 0)
					bad++;
			}
			sent += i;
			if (ivshmem_chan_flush(p) < 0)
				bad++;
		} else if (want) {
			int r = ivshmem_chan_send(p, in[0].data, in[0].len, 0);
			if (r == 0)
				lens[sent++] = (uint8_t)in[0].len;
			else if (r != -EAGAIN)
				bad++;
		}
		/* Consumer: up to 8, copying, zero copy, or one. */
		unsigned n = 1 + next_rand(&seed) % 8, mode = next_rand(&seed) % 3;
		struct ivshmem_chan_msg out[8];
		for (unsigned i = 0; i < 8; i++)
			out[i] = (struct ivshmem_chan_msg){.data = dst[i], .cap = 200};
		ssize_t k;
		if (mode == 0) {
			k = ivshmem_chan_recv_batch(c, out, n, 0);
		} else if (mode == 1) {
			k = ivshmem_chan_peek_batch(c, out, n, 0);
			for (ssize_t i = 0; i < k; i++)
				bad += out[i].len != lens[got + (unsigned)i] ||
				       !check(out[i].data, out[i].len, got + (unsigned)i);
			if (k > 0 && ivshmem_chan_release(c) < 0)
				bad++;
			got += k > 0 ? (unsigned)k : 0;
			if (k < 0 && k != -EAGAIN)
				bad++;
			continue;
		} else {
			k = ivshmem_chan_recv(c, dst[0], 200, 0);
			if (k >= 0) {
				out[0].len = (size_t)k;
				k = 1;
			}
		}
		if (k < 0 && k != -EAGAIN)
			bad++;
		for (ssize_t i = 0; i < k; i++)
			bad += out[i].len != lens[got + (unsigned)i] || !check(dst[i], out[i].len, got + (unsigned)i);
		got += k > 0 ? (unsigned)k : 0;
	}
	is(bad, 0, "random batches: no error, no wrong byte");
	is(got, N, "all %u messages received, in order, across wraps and padding", N);
	is(queued(c), 0, "nothing left queued");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	free(m);
}

int main(void)
{
	test_send_recv();
	test_peek();
	test_commit_more();
	test_corrupt();
	test_random();
	return tap_done();
}
