/* SPDX-License-Identifier: MIT */
/* Unit tests of the channel layout and queue over plain memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel/channel.h"
#include "tap.h"

#define REGION (256 * 1024)

static unsigned char *region(void)
{
	unsigned char *m = aligned_alloc(4096, REGION);
	memset(m, 0, REGION);
	return m;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 31 + i * 7))
			return 0;
	return 1;
}

static void test_layout(void)
{
	unsigned char *m = region();
	struct ivs_layout_view v;
	is(ivs_layout_read(m, REGION, &v), -ENOMSG, "all-zero region has no layout");
	is(ivs_layout_create(m, REGION, "a", 4096, 1000, -1), 0, "create formats an all-zero region");
	is(ivs_layout_read(m, REGION, &v), 0, "layout valid after create");
	ok(v.generation != 0 && v.max_chans == IVS_LAYOUT_NCHANS, "generation set, table size");
	is(ivs_layout_create(m, REGION, "a", 4096, 1000, -1), -EEXIST, "same name again: -EEXIST");
	is(ivs_layout_create(m, REGION, "", 4096, 0, -1), -EINVAL, "empty name");
	is(ivs_layout_create(m, REGION, "0123456789012345678901234567890123", 4096, 0, -1), -EINVAL,
	   "name of 34 bytes");
	is(ivs_layout_create(m, REGION, "0123456789012345678901234567890", 4096, 0, -1), 0,
	   "name of 31 bytes");
	is(ivs_layout_create(m, REGION, "b", 1000, 0, -1), -EINVAL, "ring not a power of two");
	is(ivs_layout_create(m, REGION, "b", 4096, 2041, -1), -EINVAL, "max message above ring/2-8");
	is(ivs_layout_create(m, REGION, "b", 1 << 20, 8, -1), -ENOSPC, "region full");
	struct ivs_entry_view e;
	is(ivs_layout_find(m, REGION, &v, "a", &e), 0, "find by name");
	ok(e.ring_size == 4096 && e.max_msg == 1000 && e.offset >= IVS_LAYOUT_SIZE && e.offset % 64 == 0,
	   "entry fields");
	is(ivs_layout_find(m, REGION, &v, "zz", &e), -ENOENT, "unknown name");
	/* Fill the table. */
	int r = 0;
	char name[8];
	for (int i = 0; i < 40 && r == 0; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		r = ivs_layout_create(m, REGION, name, 256, 8, -1);
	}
	is(r, -ENOSPC, "table full: -ENOSPC");

	/* Corruptions of the header and table are -EPROTO. */
	struct ivs_layout_hdr *h = (void *)m;
	struct ivs_layout_entry *le = (void *)(m + IVS_LAYOUT_HDR);
	ivshmem_chan *ch;
	uint64_t save64 = h->version;
	h->version = 99;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO, "bad version");
	h->version = (uint32_t)save64;
	save64 = le->offset;
	le->offset = REGION - 64;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO,
	   "entry block past the region's end");
	le->offset = UINT64_MAX - 100;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO, "offset overflows");
	le->offset = 8;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO,
	   "entry overlapping the header");
	le->offset = save64;
	memset(le->name, 'x', IVS_NAME_MAX);
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO,
	   "name without NUL");
	memset(le->name, 0, IVS_NAME_MAX);
	le->name[0] = 'a';
	le->ring_size = 3000;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO, "ring not pow2");
	le->ring_size = 4096;
	le->max_msg = 4000;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO, "max_msg too big");
	le->max_msg = 1000;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), 0, "restored entry opens");
	ivshmem_chan_close(ch);
	h->max_chans = 100000;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO, "huge table");
	h->max_chans = IVS_LAYOUT_NCHANS;
	h->magic = 0x1234;
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTO, "bad magic");
	is(ivs_layout_create(m, REGION, "n", 4096, 0, -1), -EPROTO, "create refuses a foreign region");
	is(ivs_layout_format(m, REGION), 0, "explicit format");
	is(ivs_chan_open_mem(m, REGION, "a", IVSHMEM_CHAN_CONSUMER, 0, &ch), -ENOENT, "formatted: empty");
	is(ivs_layout_format(m, 4096), -ENOSPC, "format of a too small region");
	free(m);
}

static void pair(unsigned char *m, const char *name, uint64_t ring, uint32_t max, ivshmem_chan **p,
		 ivshmem_chan **c)
{
	ivs_layout_create(m, REGION, name, ring, max, -1);
	ivs_chan_open_mem(m, REGION, name, IVSHMEM_CHAN_PRODUCER, 0, p);
	ivs_chan_open_mem(m, REGION, name, IVSHMEM_CHAN_CONSUMER, 0, c);
}

static void test_queue(void)
{
	unsigned char *m = region();
	ivshmem_chan *p = NULL, *c = NULL;
	pair(m, "q", 4096, 2040, &p, &c);
	ok(p && c, "producer and consumer open");
	unsigned char buf[4096], out[4096];
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EAGAIN, "empty: -EAGAIN");
	is(ivshmem_chan_recv(c, out, sizeof(out), 20), -ETIMEDOUT, "empty with timeout: -ETIMEDOUT");
	is(ivshmem_chan_send(p, "", 0, 0), 0, "zero-length send");
	is(ivshmem_chan_recv(c, out, 0, 0), 0, "zero-length recv");
	fill(buf, 2040, 1);
	is(ivshmem_chan_send(p, buf, 2040, 0), 0, "max-size send");
	is(ivshmem_chan_send(p, buf, 2041, 0), -EMSGSIZE, "above max: -EMSGSIZE");
	is(ivshmem_chan_recv(c, out, 100, 0), -EMSGSIZE, "small buffer: -EMSGSIZE");
	memset(out, 0, sizeof(out));
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), 2040, "then recv gets it");
	ok(check(out, 2040, 1), "max-size content");
	is(ivshmem_chan_send(c, buf, 1, 0), -EPERM, "consumer cannot send");
	is(ivshmem_chan_recv(p, out, 1, 0), -EPERM, "producer cannot recv");

	/* Full: 4096-byte ring, 100-byte messages take 112 bytes each. */
	int n = 0;
	while (ivshmem_chan_send(p, buf, 100, 0) == 0 && n < 1000)
		n++;
	is(n, 4096 / 112, "ring fills to capacity");
	is(ivshmem_chan_send(p, buf, 100, 10), -ETIMEDOUT, "full with timeout: -ETIMEDOUT");
	struct ivshmem_chan_stat st;
	is(ivshmem_chan_stat(c, &st), 0, "stat");
	is(st.queued, n, "stat: queued");
	ok(st.used >= (uint64_t)n * 112 && st.used <= 4096, "stat: used bytes (%llu)", (unsigned long long)st.used);
	int got = 0;
	while (ivshmem_chan_recv(c, out, sizeof(out), 0) == 100)
		got++;
	is(got, n, "all drained");

	/* Wraparound with varying sizes, sent and received in lockstep-ish
	 * batches so the ring wraps many times. */
	unsigned seq_s = 0, seq_r = 0;
	int bad = 0;
	for (int round = 0; round < 3000; round++) {
		int k = 1 + round % 7;
		for (int i = 0; i < k; i++) {
			size_t len = (seq_s * 131u) % 2041;
			fill(buf, len, seq_s);
			if (ivshmem_chan_send(p, buf, len, 0) < 0)
				break;
			seq_s++;
		}
		for (int i = 0; i < k; i++) {
			ssize_t r = ivshmem_chan_recv(c, out, sizeof(out), 0);
			if (r == -EAGAIN)
				break;
			if (r != (ssize_t)((seq_r * 131u) % 2041) || !check(out, (size_t)r, seq_r))
				bad++;
			seq_r++;
		}
	}
	ssize_t r;
	while ((r = ivshmem_chan_recv(c, out, sizeof(out), 0)) >= 0) {
		if (r != (ssize_t)((seq_r * 131u) % 2041) || !check(out, (size_t)r, seq_r))
			bad++;
		seq_r++;
	}
	is(bad, 0, "wraparound: sizes and contents intact");
	is(seq_r, seq_s, "wraparound: nothing lost (%u messages)", seq_s);
	ivshmem_chan_stat(p, &st);
	ok(st.tail > 20 * 4096, "ring wrapped many times (tail %llu)", (unsigned long long)st.tail);

	/* Zero copy. */
	void *w;
	is(ivshmem_chan_commit(p, 1), -EINVAL, "commit without reserve");
	is(ivshmem_chan_reserve(p, 500, &w, 0), 0, "reserve");
	memcpy(w, "zero-copy", 9);
	is(ivshmem_chan_commit(p, 501), -EINVAL, "commit above the reservation");
	is(ivshmem_chan_commit(p, 9), 0, "commit less than reserved");
	const void *rp, *rp2;
	is(ivshmem_chan_peek(c, &rp, 0), 9, "peek");
	ok(memcmp(rp, "zero-copy", 9) == 0, "peek content");
	is(ivshmem_chan_peek(c, &rp2, 0), 9, "peek again without release");
	ok(rp == rp2, "same message");
	is(ivshmem_chan_release(c), 0, "release");
	is(ivshmem_chan_release(c), -EINVAL, "release without peek");
	is(ivshmem_chan_peek(c, &rp, 0), -EAGAIN, "empty after release");
	/* A dropped reservation publishes nothing. */
	is(ivshmem_chan_reserve(p, 10, &w, 0), 0, "reserve");
	is(ivshmem_chan_reserve(p, 10, &w, 0), 0, "reserve again drops the first");
	memcpy(w, "x", 1);
	is(ivshmem_chan_commit(p, 1), 0, "commit");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), 1, "one message");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EAGAIN, "only one");

	/* Notification suppression: nobody sleeps, nobody rings. */
	ivshmem_chan_stat(p, &st);
	is(st.rings, 0, "no wakeups sent while the consumer never slept");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	free(m);
}

static void test_liveness(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c, *c2, *p2;
	unsigned char out[64];
	pair(m, "l", 4096, 64, &p, &c);
	ivshmem_chan_send(p, "1", 1, 0);
	ivshmem_chan_send(p, "2", 1, 0);
	ivshmem_chan_close(p);
	is(ivshmem_chan_recv(c, out, sizeof(out), -1), 1, "queued message after producer left");
	is(ivshmem_chan_recv(c, out, sizeof(out), -1), 1, "second one");
	is(ivshmem_chan_recv(c, out, sizeof(out), -1), -EPIPE, "then -EPIPE, not a hang");
	is(ivs_chan_open_mem(m, REGION, "l", IVSHMEM_CHAN_PRODUCER, 0, &p), 0, "new producer");
	ivshmem_chan_send(p, "3", 1, 0);
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), 1, "consumer continues with the new producer");
	/* Producer restart without detach (crash + restart): takeover. */
	is(ivs_chan_open_mem(m, REGION, "l", IVSHMEM_CHAN_PRODUCER, IVSHMEM_CHAN_EXCLUSIVE, &p2), -EBUSY,
	   "exclusive attach to a held role: -EBUSY");
	void *w;
	ivshmem_chan_reserve(p, 5, &w, 0);
	memcpy(w, "stale", 5); /* never committed: the "crash" */
	is(ivs_chan_open_mem(m, REGION, "l", IVSHMEM_CHAN_PRODUCER, 0, &p2), 0, "restarted producer");
	is(ivshmem_chan_commit(p, 5), -ESTALE, "old reservation cannot be committed");
	is(ivshmem_chan_send(p, "x", 1, 0), -ESTALE, "old producer handle: -ESTALE");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -ECONNRESET, "consumer told of the restart once");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EAGAIN, "stale reservation not delivered");
	ivshmem_chan_send(p2, "4", 1, 0);
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), 1, "new producer's message");
	ok(out[0] == '4', "content");
	ivshmem_chan_close(p);
	/* Consumer restart: a peeked, unreleased message is delivered again. */
	ivshmem_chan_send(p2, "5", 1, 0);
	ivshmem_chan_send(p2, "6", 1, 0);
	const void *rp;
	is(ivshmem_chan_peek(c, &rp, 0), 1, "peek 5");
	is(ivs_chan_open_mem(m, REGION, "l", IVSHMEM_CHAN_CONSUMER, 0, &c2), 0, "restarted consumer");
	is(ivshmem_chan_release(c), -ESTALE, "old consumer: -ESTALE");
	is(ivshmem_chan_recv(c2, out, sizeof(out), 0), 1, "new consumer gets 5 again");
	ok(out[0] == '5', "content 5");
	is(ivshmem_chan_send(p2, "7", 1, 0), -ECONNRESET, "producer told of the consumer restart once");
	is(ivshmem_chan_send(p2, "7", 1, 0), 0, "then sends");
	ivshmem_chan_close(c);
	ivshmem_chan_close(c2);
	is(ivshmem_chan_send(p2, "8", 1, -1), -EPIPE, "consumer left: -EPIPE");
	/* Re-format: every handle is stale. */
	is(ivs_chan_open_mem(m, REGION, "l", IVSHMEM_CHAN_CONSUMER, 0, &c), 0, "consumer");
	ivs_layout_format(m, REGION);
	is(ivshmem_chan_recv(c, out, sizeof(out), 50), -ESTALE, "re-formatted region: -ESTALE");
	ivshmem_chan_close(c);
	ivshmem_chan_close(p2);
	free(m);
}

/* A consumer that doesn't call for a long time while the producer
 * restarts 70000 times (more than EPOCH_JUMP_MAX / 2): the long history
 * is believed (its attach info matches), not taken for corruption. */
static void test_long_history(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	unsigned char out[64];
	pair(m, "h", 4096, 1000, &p, &c);
	ivshmem_chan_close(p);
	int opened = 0;
	for (int i = 0; i < 70000; i++) {
		p = NULL;
		opened += ivs_chan_open_mem(m, REGION, "h", IVSHMEM_CHAN_PRODUCER, 0, &p) == 0;
		ivshmem_chan_close(p);
	}
	is(opened, 70000, "the producer attached and detached 70000 times while the consumer slept");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EPIPE,
	   "then the consumer sees it detached (-EPIPE), not a corrupt epoch (-EPROTO)");
	ivshmem_chan_close(c);
	free(m);
}

/* Where channel name's block is (0: no such channel). */
static uint64_t offset_of(unsigned char *m, const char *name)
{
	struct ivs_layout_view v;
	struct ivs_entry_view e;
	if (ivs_layout_read(m, REGION, &v) < 0 || ivs_layout_find(m, REGION, &v, name, &e) < 0)
		return 0;
	return e.offset;
}

/* A fresh ring is all zero: a tail moved forward over it must not read
 * as empty messages (before the tags were salted, [0][0] at index 0 was a
 * valid zero-length record). */
static void test_zero_ring(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	unsigned char out[64];
	pair(m, "z", 4096, 1000, &p, &c);
	struct ivs_chan_ctrl *ctl = (void *)(m + offset_of(m, "z"));
	atomic_store(&ctl->tail, 16);
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EBADMSG,
	   "a tail moved over the zero-filled ring: -EBADMSG, not an empty message");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);
	free(m);
}

static void test_corrupt_queue(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c;
	unsigned char out[4096];
	pair(m, "c", 4096, 1000, &p, &c);
	uint64_t off = offset_of(m, "c");
	struct ivs_chan_ctrl *ctl = (void *)(m + off);
	unsigned char *ring = m + off + IVS_CHAN_CTRL;

	ivshmem_chan_send(p, "abc", 3, 0);
	uint64_t t = ctl->tail;
	ctl->tail = t + 8192;
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EBADMSG, "tail beyond capacity: -EBADMSG");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EBADMSG, "sticky");
	ivshmem_chan_close(c);
	ctl->tail = t;
	is(ivs_chan_open_mem(m, REGION, "c", IVSHMEM_CHAN_CONSUMER, 0, &c), 0, "reopen");
	uint32_t *w = (uint32_t *)ring;
	w[0] = 5000;
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EBADMSG, "length above max: -EBADMSG");
	ivshmem_chan_close(c);
	w[0] = 3;
	uint32_t tag = w[1]; /* index 0's: (0 >> 3) xor the channel's salt */
	ok(tag != 0, "a record's tag is salted: the first one's is not 0 (%#x)", tag);
	w[1] = tag ^ 77;
	is(ivs_chan_open_mem(m, REGION, "c", IVSHMEM_CHAN_CONSUMER, 0, &c), 0, "reopen");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EBADMSG, "bad record tag: -EBADMSG");
	ivshmem_chan_close(c);
	w[1] = tag;
	is(ivs_chan_open_mem(m, REGION, "c", IVSHMEM_CHAN_CONSUMER, 0, &c), 0, "reopen");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), 3, "repaired record reads");
	ivshmem_chan_send(p, "d", 1, 0);
	ctl->tail = 0;
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -EBADMSG, "tail going backwards: -EBADMSG");
	ivshmem_chan_close(c);
	ctl->tail = 5;
	is(ivs_chan_open_mem(m, REGION, "c", IVSHMEM_CHAN_CONSUMER, 0, &c), -EBADMSG,
	   "misaligned tail at attach: -EBADMSG");
	ctl->head = 16;
	ctl->tail = 24;
	/* Producer side: a consumer index running past the tail. */
	ivshmem_chan_close(p);
	ctl->head = 16;
	ctl->tail = 16 + 4096;
	is(ivs_chan_open_mem(m, REGION, "c", IVSHMEM_CHAN_PRODUCER, 0, &p), 0, "producer over a full ring");
	ctl->head = 16 + 8192;
	is(ivshmem_chan_send(p, "e", 1, 0), -EBADMSG, "head beyond tail: -EBADMSG");
	ivshmem_chan_close(p);
	ctl->magic = 0;
	is(ivs_chan_open_mem(m, REGION, "c", IVSHMEM_CHAN_CONSUMER, 0, &c), -EPROTO, "bad channel magic");
	free(m);
}

static uint64_t alloc_next(unsigned char *m)
{
	return ((struct ivs_layout_hdr *)m)->alloc_next;
}

static void test_delete(void)
{
	unsigned char *m = region();
	ivshmem_chan *p, *c, *mon;
	unsigned char out[64];
	is(ivs_chan_delete_mem(m, REGION, "x"), -ENOENT, "delete in an all-zero region: -ENOENT");
	is(ivs_layout_create(m, REGION, "a", 4096, 100, -1), 0, "create a");
	is(ivs_layout_create(m, REGION, "b", 8192, 100, -1), 0, "create b");
	is(ivs_layout_create(m, REGION, "c", 4096, 100, -1), 0, "create c");
	uint64_t end = alloc_next(m), ob = offset_of(m, "b"), oc = offset_of(m, "c");
	is(ivs_chan_delete_mem(m, REGION, "zz"), -ENOENT, "unknown name: -ENOENT");
	is(ivs_chan_delete_mem(m, REGION, ""), -EINVAL, "empty name: -EINVAL");

	/* Attached sides (live: this process) refuse. */
	pair(m, "b", 8192, 100, &p, &c);
	is(ivs_chan_open_mem(m, REGION, "b", IVSHMEM_CHAN_MONITOR, 0, &mon), 0, "monitor on b");
	is(ivs_chan_delete_mem(m, REGION, "b"), -EBUSY, "both attached: -EBUSY");
	ivshmem_chan_close(p);
	is(ivs_chan_delete_mem(m, REGION, "b"), -EBUSY, "consumer attached: -EBUSY");
	ivshmem_chan_close(c);
	is(ivs_chan_open_mem(m, REGION, "b", IVSHMEM_CHAN_PRODUCER, 0, &p), 0, "producer again");
	is(ivs_chan_delete_mem(m, REGION, "b"), -EBUSY, "producer attached: -EBUSY");
	ivshmem_chan_close(p);

	/* A dead attached side (a pid that no longer exists) is reaped. */
	struct ivs_chan_ctrl *ctl = (void *)(m + ob);
	pid_t kid = fork();
	if (kid == 0)
		_exit(0);
	waitpid(kid, NULL, 0);
	uint32_t e = ctl->prod.epoch + 1;
	ctl->prod.pid = (uint32_t)kid;
	ctl->prod.host = ivs_host_token();
	ctl->prod.info_epoch = e;
	ctl->prod.epoch = e;
	/* Attaching but without info yet counts as alive. */
	uint32_t ce = ctl->cons.epoch + 1;
	ctl->cons.epoch = ce;
	is(ivs_chan_delete_mem(m, REGION, "b"), -EBUSY, "side still attaching (no info): -EBUSY");
	ok(ctl->prod.epoch == e + 1, "the dead producer was detached on its behalf");
	ctl->cons.epoch = ce + 1;
	ctl->prod.epoch = e;
	is(ivs_chan_delete_mem(m, REGION, "b"), 0, "dead producer attached: deleted");
	is(ivs_chan_open_mem(m, REGION, "b", IVSHMEM_CHAN_CONSUMER, 0, &c), -ENOENT, "open after delete: -ENOENT");
	struct ivshmem_chan_stat st;
	is(ivshmem_chan_stat(mon, &st), -ESTALE, "open monitor handle: -ESTALE");
	ivshmem_chan_close(mon);
	is(alloc_next(m), end, "a middle hole does not move the allocator");

	/* Reuse: a larger channel does not fit the hole, a smaller one does. */
	is(ivs_layout_create(m, REGION, "big", 16384, 100, -1), 0, "bigger than the hole: bump allocated");
	ok(offset_of(m, "big") == end, "after the end");
	is(ivs_layout_create(m, REGION, "small", 2048, 100, -1), 0, "smaller than the hole");
	ok(offset_of(m, "small") == ob, "takes the hole");
	struct ivs_layout_view v;
	struct ivs_entry_view ev;
	ivs_layout_read(m, REGION, &v);
	ivs_layout_find(m, REGION, &v, "small", &ev);
	ok(ev.size == IVS_CHAN_CTRL + 8192, "with the whole extent");
	pair(m, "small", 2048, 100, &p, &c);
	is(ivshmem_chan_send(p, "hi", 2, 0), 0, "send on the reused block");
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), 2, "recv on the reused block");
	ivshmem_chan_close(p);
	ivshmem_chan_close(c);

	/* A handle of the deleted channel whose owner was wrongly judged dead
	 * is stale even after the block is reused and re-attached. */
	is(ivs_chan_open_mem(m, REGION, "small", IVSHMEM_CHAN_CONSUMER, 0, &c), 0, "consumer on small");
	ctl = (void *)(m + ob);
	ctl->cons.epoch++; /* as a reaper would */
	is(ivs_chan_delete_mem(m, REGION, "small"), 0, "delete small");
	is(ivs_layout_create(m, REGION, "again", 4096, 100, -1), 0, "reuse the extent again");
	ok(offset_of(m, "again") == ob, "same block");
	ivshmem_chan *c2;
	is(ivs_chan_open_mem(m, REGION, "again", IVSHMEM_CHAN_CONSUMER, 0, &c2), 0, "new consumer");
	ctl->cons.epoch = 1; /* even the same epoch value as the stale one */
	is(ivshmem_chan_recv(c, out, sizeof(out), 0), -ESTALE, "stale handle: -ESTALE, not the new channel");
	ivshmem_chan_close(c);
	ivshmem_chan_close(c2);

	/* Merging: delete c (at the end), then a and "again": everything
	 * returns to the allocator; "big" stays. */
	is(ivs_chan_delete_mem(m, REGION, "big"), 0, "delete big (at the end)");
	is(alloc_next(m), end, "end hole returned to the allocator");
	is(ivs_chan_delete_mem(m, REGION, "c"), 0, "delete c");
	ok(alloc_next(m) == oc, "allocator back to c");
	is(ivs_chan_delete_mem(m, REGION, "a"), 0, "delete a (a hole at the start)");
	ok(alloc_next(m) == oc, "allocator unchanged");
	is(ivs_chan_delete_mem(m, REGION, "again"), 0, "delete again: merges with a, then the end");
	is(alloc_next(m), (uint64_t)IVS_LAYOUT_SIZE, "allocator back at the start");
	ivs_layout_read(m, REGION, &v);
	is(v.nchans, 0, "no channels");
	unsigned holes = 0;
	for (unsigned i = 0; i < v.max_chans; i++) {
		struct ivs_layout_entry *le = (void *)(m + IVS_LAYOUT_HDR + i * IVS_LAYOUT_ENTRY);
		holes += le->flags != 0;
	}
	is(holes, 0u, "no hole left in the table");
	is(ivs_chan_delete_mem(m, REGION, "a"), -ENOENT, "delete twice: -ENOENT");

	/* Fill the region, delete, create the same again: space is reused. */
	int n = 0;
	char name[16];
	while (n < 40) {
		snprintf(name, sizeof(name), "f%d", n);
		if (ivs_layout_create(m, REGION, name, 16384, 100, -1) < 0)
			break;
		n++;
	}
	ok(n > 4 && n < 31, "region full after %d channels", n);
	int round = 0;
	for (; round < 20; round++) {
		snprintf(name, sizeof(name), "f%d", (round * 7) % n);
		if (ivs_chan_delete_mem(m, REGION, name) != 0 ||
		    ivs_layout_create(m, REGION, name, 16384 >> (round % 3), 100, -1) != 0)
			break;
	}
	is(round, 20, "20 rounds of delete + create in a full region");
	/* A forged hole must not make create write outside the region. */
	struct ivs_layout_entry *le = (void *)(m + IVS_LAYOUT_HDR + 30 * IVS_LAYOUT_ENTRY);
	if (le->state == IVS_ENTRY_FREE) {
		le->flags = IVS_ENTRY_HOLE;
		le->offset = REGION - 64;
		le->size = 1 << 20;
		int r = ivs_layout_create(m, REGION, "forged", 256, 8, -1);
		uint64_t fo = offset_of(m, "forged");
		ok(r == -ENOSPC || (r == 0 && fo != REGION - 64 && fo + 768 <= REGION), "forged hole ignored");
	}
	free(m);
}

/* A producer that attached, sent and left between two looks of a waiting
 * consumer (its epoch went 0 -> 2 unseen): the message, then the end. */
static void test_unseen_peer(void)
{
	unsigned char *m = region();
	ivs_layout_create(m, REGION, "u", 4096, 100, -1);
	ivshmem_chan *c = NULL, *p = NULL;
	ivs_chan_open_mem(m, REGION, "u", IVSHMEM_CHAN_CONSUMER, 0, &c);
	ivs_chan_open_mem(m, REGION, "u", IVSHMEM_CHAN_PRODUCER, 0, &p);
	ivshmem_chan_send(p, "x", 1, 0);
	ivshmem_chan_close(p);
	char b[8];
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), 1, "a producer that came and went unseen: its message");
	is(ivshmem_chan_recv(c, b, sizeof(b), 0), -EPIPE, "then -EPIPE, not a wait for ever");
	ivshmem_chan_close(c);
	free(m);
}

int main(void)
{
	test_layout();
	test_queue();
	test_liveness();
	test_corrupt_queue();
	test_zero_ring();
	test_long_history();
	test_delete();
	test_unseen_peer();
	return tap_done();
}
