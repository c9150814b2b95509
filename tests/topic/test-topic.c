/* SPDX-License-Identifier: MIT */
/* Topics over plain shared memory: the API, lossless delivery to several
 * subscribers, joining at the tail or the oldest message, eviction of a
 * stalled, dead or garbage subscriber, corruption, restarts, delete. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel/channel.h"
#include "tap.h"
#include "topic/topic.h"

#define REGION (1024 * 1024)

static unsigned char *region(void)
{
	unsigned char *m = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fail_all("mmap %d bytes", REGION);
	return m;
}

static struct ivshmem_topic_config cfg(size_t size, size_t max_msg, unsigned subs, unsigned stall)
{
	struct ivshmem_topic_config c = {.size = size, .max_msg = max_msg, .subscribers = subs,
					 .stall_timeout_ms = stall};
	return c;
}

static ivshmem_topic *open_t(unsigned char *m, const char *name, int role, unsigned flags)
{
	ivshmem_topic *t = NULL;
	int r = ivs_topic_open_mem(m, REGION, name, role, flags, &t);
	if (r < 0) {
		printf("# open %s role %d: %d\n", name, role, r);
		return NULL;
	}
	return t;
}

/* Message i: "m<i>" padded with a pattern to len bytes. */
static size_t msg(char *buf, unsigned i, size_t len)
{
	int n = snprintf(buf, len + 1, "m%u", i);
	for (size_t k = (size_t)n; k < len; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	return len < (size_t)n ? (size_t)n : len;
}

static void test_create(void)
{
	unsigned char *m = region();
	struct ivshmem_topic_config c = cfg(4096, 100, 4, 200);
	is(ivs_topic_create_mem(m, REGION, "t", &c), 0, "create a topic in an all-zero region");
	is(ivs_topic_create_mem(m, REGION, "t", &c), -EEXIST, "same name again: -EEXIST");
	c.subscribers = 65;
	is(ivs_topic_create_mem(m, REGION, "u", &c), -EINVAL, "65 subscribers: -EINVAL");
	c = cfg(4096, 2048 - 16 + 1, 4, 200);
	is(ivs_topic_create_mem(m, REGION, "u", &c), -EINVAL, "max message above ring/2 - 16: -EINVAL");
	c = cfg(4096, 0, 4, IVS_TOPIC_MAX_STALL_MS + 1);
	is(ivs_topic_create_mem(m, REGION, "u", &c), -EINVAL, "stall timeout above the maximum: -EINVAL");
	c = cfg(4096, 0, 4, 0);
	c.mode = 2;
	is(ivs_topic_create_mem(m, REGION, "u", &c), -EINVAL, "unknown mode: -EINVAL");
	c = cfg(4096, 0, 4, 0);
	c.reserved[0] = 1;
	is(ivs_topic_create_mem(m, REGION, "u", &c), -EINVAL, "reserved field set: -EINVAL");
	is(ivs_topic_create_mem(m, REGION, "d", NULL), 0, "create with the defaults");
	is(ivs_layout_create(m, REGION, "c", 4096, 0, -1), 0, "a channel beside them");
	ivshmem_topic *t = NULL;
	is(ivs_topic_open_mem(m, REGION, "c", IVSHMEM_TOPIC_SUBSCRIBER, 0, &t), -EPROTOTYPE,
	   "a channel opened as a topic: -EPROTOTYPE");
	ivshmem_chan *ch = NULL;
	is(ivs_chan_open_mem(m, REGION, "t", IVSHMEM_CHAN_CONSUMER, 0, &ch), -EPROTOTYPE,
	   "a topic opened as a channel: -EPROTOTYPE");
	is(ivs_topic_open_mem(m, REGION, "nope", IVSHMEM_TOPIC_SUBSCRIBER, 0, &t), -ENOENT, "no such topic");
	is(ivs_topic_open_mem(m, REGION, "t", 7, 0, &t), -EINVAL, "bad role");
	t = open_t(m, "d", IVSHMEM_TOPIC_MONITOR, 0);
	struct ivshmem_topic_stat st;
	ok(t && ivshmem_topic_stat(t, &st) == 0 && st.subscribers == 8 && st.stall_timeout_ms == 1000 &&
		   st.max_msg == 65536 && st.mode == IVSHMEM_TOPIC_LOSSLESS && !st.publisher_attached,
	   "defaults: 8 subscribers, 1 s stall timeout, 64 KiB messages, lossless");
	ivshmem_topic_close(t);
	munmap(m, REGION);
}

static void test_fanout(void)
{
	unsigned char *m = region();
	struct ivshmem_topic_config c = cfg(4096, 200, 3, 1000);
	ivs_topic_create_mem(m, REGION, "f", &c);
	ivshmem_topic *p = open_t(m, "f", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *s[3];
	for (int i = 0; i < 3; i++)
		s[i] = open_t(m, "f", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ok(p && s[0] && s[1] && s[2], "a publisher and three subscribers attach");
	if (!p || !s[0] || !s[1] || !s[2])
		return;
	ivshmem_topic *extra = NULL;
	is(ivs_topic_open_mem(m, REGION, "f", IVSHMEM_TOPIC_SUBSCRIBER, 0, &extra), -EUSERS,
	   "a fourth subscriber: -EUSERS");
	/* 1000 messages through a 4 KiB ring: each waits for the slowest. */
	char buf[256], got[256];
	int bad = 0, pubfail = 0;
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = msg(buf, i, i % 150);
		int r;
		for (int tries = 0; (r = ivshmem_topic_publish(p, buf, n, 0)) == -EAGAIN && tries < 10; tries++)
			for (int k = 0; k < 3; k++) /* full: everybody reads one */
				if (ivshmem_topic_receive(s[k], got, sizeof(got), 0) < 0)
					bad++;
		if (r < 0)
			pubfail++;
	}
	is(pubfail, 0, "publishing waits for room, never fails while subscribers read");
	/* Drain: every subscriber got every message, in order (the first ones
	 * were read above; check the tail of the stream by content). */
	for (int k = 0; k < 3; k++) {
		ssize_t n;
		unsigned last = 0;
		int cnt = 0;
		while ((n = ivshmem_topic_receive(s[k], got, sizeof(got), 0)) >= 0) {
			got[n] = 0;
			unsigned v = (unsigned)strtoul(got + 1, NULL, 10);
			char want[256];
			size_t wn = msg(want, v, v % 150);
			if ((size_t)n != wn || memcmp(got, want, wn) || (cnt && v != last + 1))
				bad++;
			last = v;
			cnt++;
		}
		ok(n == -EAGAIN && last == 999, "subscriber %d: read up to the last message (%zd)", k, n);
	}
	is(bad, 0, "every message intact and in order for every subscriber");
	struct ivshmem_topic_stat st;
	ok(ivshmem_topic_stat(p, &st) == 0 && st.published == 1000 && st.evictions == 0 &&
		   st.sub[0].state == IVSHMEM_TOPIC_SUB_LIVE && st.sub[0].lag == 0 && st.sub[2].received == 1000,
	   "stat: 1000 published, subscribers live, no lag, no eviction");
	/* Zero copy both ways. */
	void *w;
	is(ivshmem_topic_reserve(p, 5, &w, 0), 0, "reserve");
	memcpy(w, "hello", 5);
	is(ivshmem_topic_commit(p, 5), 0, "commit");
	const void *rp;
	ok(ivshmem_topic_peek(s[1], &rp, 0) == 5 && !memcmp(rp, "hello", 5), "peek sees the bytes in place");
	ok(ivshmem_topic_peek(s[1], &rp, 0) == 5, "peek again: the same message");
	is(ivshmem_topic_release(s[1]), 0, "release");
	is(ivshmem_topic_release(s[1]), -EINVAL, "release without peek: -EINVAL");
	is(ivshmem_topic_receive(s[1], got, 2, 0), -EAGAIN, "nothing more for that one");
	is(ivshmem_topic_receive(s[0], got, 2, 0), -EMSGSIZE, "a buffer too small: -EMSGSIZE");
	is(ivshmem_topic_receive(s[0], got, sizeof(got), 0), 5, "the message stayed");
	is(ivshmem_topic_publish(s[0], "x", 1, 0), -EPERM, "a subscriber can't publish");
	is(ivshmem_topic_receive(p, got, 1, 0), -EPERM, "the publisher can't receive");
	is(ivshmem_topic_publish(p, buf, 201, 0), -EMSGSIZE, "above max message: -EMSGSIZE");
	/* The publisher leaves: subscribers read what is left, then -EPIPE. */
	ivshmem_topic_publish(p, "last", 4, 0);
	ivshmem_topic_close(p);
	is(ivshmem_topic_receive(s[0], got, sizeof(got), 0), 4, "after the publisher left: what it published");
	is(ivshmem_topic_receive(s[0], got, sizeof(got), 0), -EPIPE, "then -EPIPE");
	for (int i = 0; i < 3; i++)
		ivshmem_topic_close(s[i]);
	munmap(m, REGION);
}

static void test_join(void)
{
	unsigned char *m = region();
	struct ivshmem_topic_config c = cfg(4096, 64, 4, 1000);
	ivs_topic_create_mem(m, REGION, "j", &c);
	ivshmem_topic *p = open_t(m, "j", IVSHMEM_TOPIC_PUBLISHER, 0);
	char buf[64], got[64];
	/* No subscriber: 200 messages of 48 bytes (64-byte records) don't fit
	 * in 4 KiB; the publisher drops the oldest, never waits. */
	int r = 0;
	for (unsigned i = 0; i < 200 && r == 0; i++)
		r = ivshmem_topic_publish(p, buf, msg(buf, i, 48), 0);
	is(r, 0, "without subscribers the publisher never waits");
	ivshmem_topic *tail = open_t(m, "j", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ivshmem_topic *old = open_t(m, "j", IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_FROM_OLDEST);
	is(ivshmem_topic_receive(tail, got, sizeof(got), 0), -EAGAIN, "a subscriber at the tail sees nothing old");
	ssize_t n = ivshmem_topic_receive(old, got, sizeof(got), 0);
	unsigned first = n > 0 ? (unsigned)strtoul(got + 1, NULL, 10) : 0;
	ok(n == 48 && first > 100 && first < 199, "one from the oldest gets the oldest kept (m%u)", first);
	int cnt = 1;
	while (ivshmem_topic_receive(old, got, sizeof(got), 0) > 0)
		cnt++;
	is(first + (unsigned)cnt, 200, "and everything after it");
	ivshmem_topic_publish(p, "new", 3, 0);
	ok(ivshmem_topic_receive(tail, got, sizeof(got), 0) == 3 && ivshmem_topic_receive(old, got, sizeof(got), 0) == 3,
	   "both get the next one");
	ivshmem_topic_close(tail);
	ivshmem_topic_close(old);
	ivshmem_topic_close(p);
	munmap(m, REGION);
}

static void test_evict_stall(void)
{
	unsigned char *m = region();
	struct ivshmem_topic_config c = cfg(1024, 64, 2, 100);
	ivs_topic_create_mem(m, REGION, "e", &c);
	ivshmem_topic *p = open_t(m, "e", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *slow = open_t(m, "e", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ivshmem_topic *fast = open_t(m, "e", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	char buf[64], got[64];
	int r = 0, lost = 0;
	unsigned i;
	for (i = 0; i < 20 && r == 0; i++)
		r = ivshmem_topic_publish(p, buf, msg(buf, i, 60), 0);
	is(r, -EAGAIN, "ring full for the slowest subscriber: -EAGAIN with timeout 0");
	for (int k = 0; k < 20; k++)
		ivshmem_topic_receive(fast, got, sizeof(got), 0);
	is(ivshmem_topic_publish(p, buf, 60, 0), -EAGAIN, "the fast one read everything: still full");
	uint64_t t0 = ivs_now_ns();
	is(ivshmem_topic_publish(p, buf, msg(buf, i - 1, 60), 5000), 0,
	   "with a timeout: the stalled subscriber is evicted and the publisher goes on");
	uint64_t ms = (ivs_now_ns() - t0) / 1000000;
	ok(ms >= 100, "not before the stall timeout (%llu ms)", (unsigned long long)ms);
	while (ivshmem_topic_receive(fast, got, sizeof(got), 0) > 0)
		;
	for (unsigned k = i; k < i + 30; k++)
		if (ivshmem_topic_publish(p, buf, msg(buf, k, 60), 0) < 0 ||
		    ivshmem_topic_receive(fast, got, sizeof(got), 0) != 60 || memcmp(got, buf, 60))
			lost++;
	is(lost, 0, "the other subscriber keeps receiving everything");
	is(ivshmem_topic_receive(slow, got, sizeof(got), 0), -ENOBUFS, "the evicted one: -ENOBUFS");
	is(ivshmem_topic_receive(slow, got, sizeof(got), 0), -ENOBUFS, "sticky");
	struct ivshmem_topic_stat st;
	ok(ivshmem_topic_stat(p, &st) == 0 && st.evictions == 1, "stat counts the eviction");
	ivshmem_topic_close(slow);
	slow = open_t(m, "e", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ivshmem_topic_publish(p, "again", 5, 0);
	ok(slow && ivshmem_topic_receive(slow, got, sizeof(got), 0) == 5, "re-subscribed at the tail, it receives");
	ivshmem_topic_close(slow);
	ivshmem_topic_close(fast);
	ivshmem_topic_close(p);
	munmap(m, REGION);
}

/* A subscriber process that dies without closing is dropped at once, not
 * after the (long) stall timeout. */
static void test_evict_dead(void)
{
	unsigned char *m = region();
	struct ivshmem_topic_config c = cfg(1024, 64, 2, 60000);
	ivs_topic_create_mem(m, REGION, "x", &c);
	ivshmem_topic *p = open_t(m, "x", IVSHMEM_TOPIC_PUBLISHER, 0);
	pid_t pid = fork();
	if (pid == 0) {
		ivshmem_topic *s = NULL;
		_exit(ivs_topic_open_mem(m, REGION, "x", IVSHMEM_TOPIC_SUBSCRIBER, 0, &s) == 0 ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	is(status, 0, "a child subscribed and exited without closing");
	char buf[64] = {0};
	int r = 0;
	for (int i = 0; i < 40 && r == 0; i++)
		r = ivshmem_topic_publish(p, buf, 60, 3000);
	is(r, 0, "the publisher finds it dead and goes on (stall timeout 60 s)");
	struct ivshmem_topic_stat st;
	ok(ivshmem_topic_stat(p, &st) == 0 && st.evictions == 1 && st.sub[0].state == IVSHMEM_TOPIC_SUB_FREE,
	   "evicted, its slot free again");
	ivshmem_topic_close(p);
	munmap(m, REGION);
}

/* Garbage in one subscriber's lines evicts it and nobody else. */
static void test_hostile_slot(void)
{
	unsigned char *m = region();
	struct ivshmem_topic_config c = cfg(1024, 64, 3, 60000);
	ivs_topic_create_mem(m, REGION, "h", &c);
	ivshmem_topic *p = open_t(m, "h", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *good = open_t(m, "h", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ivshmem_topic *bad = open_t(m, "h", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ivshmem_topic *bad2 = open_t(m, "h", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	struct ivshmem_topic_stat st;
	char buf[64] = {0}, got[64];
	int lost = 0;
	/* Fill the ring so that the publisher looks at the heads. */
	for (int i = 0; i < 200; i++) {
		if (ivshmem_topic_publish(p, buf, msg(buf, (unsigned)i, 60), 2000) < 0 ||
		    ivshmem_topic_receive(good, got, sizeof(got), 0) != 60 || memcmp(got, buf, 60))
			lost++;
		if (i == 5) { /* a head far past the tail, one not aligned */
			/* The two bad subscribers are slots 1 and 2: parties 2, 3. */
			struct ivs_layout_view v;
			struct ivs_entry_view e;
			ivs_layout_read(m, REGION, &v);
			ivs_layout_find(m, REGION, &v, "h", &e);
			struct ivs_topic_party *p1 = ivs_topic_party(m + e.offset, 2);
			struct ivs_topic_party *p2 = ivs_topic_party(m + e.offset, 3);
			atomic_store(&p1->hot.idx, atomic_load(&p1->hot.idx) + (1ull << 40));
			atomic_store(&p2->hot.idx, atomic_load(&p2->hot.idx) + 3);
		}
	}
	is(lost, 0, "the good subscriber gets all 200 while two others write garbage heads");
	ok(ivshmem_topic_stat(p, &st) == 0 && st.evictions == 2, "both garbage subscribers evicted");
	is(ivshmem_topic_receive(bad, got, sizeof(got), 0), -ENOBUFS, "an evicted one learns it: -ENOBUFS");
	ivshmem_topic_close(bad);
	ivshmem_topic_close(bad2);
	ivshmem_topic_close(good);
	ivshmem_topic_close(p);
	munmap(m, REGION);
}

/* Corrupt records: errors, never a wrong message. */
static void test_corrupt_ring(void)
{
	static const struct {
		unsigned off;
		uint32_t val;
		const char *what;
	} cases[] = {
		{0, 5000, "a length above max message"},
		{4, 0x1234, "a wrong tag"},
		{8, 77, "a sequence number out of order"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *m = region();
		struct ivshmem_topic_config c = cfg(4096, 64, 2, 1000);
		ivs_topic_create_mem(m, REGION, "r", &c);
		ivshmem_topic *p = open_t(m, "r", IVSHMEM_TOPIC_PUBLISHER, 0);
		ivshmem_topic *s = open_t(m, "r", IVSHMEM_TOPIC_SUBSCRIBER, 0);
		char got[64];
		ivshmem_topic_publish(p, "one", 3, 0);
		ivshmem_topic_publish(p, "two", 3, 0);
		ivshmem_topic_receive(s, got, sizeof(got), 0);
		struct ivs_layout_view v;
		struct ivs_entry_view e;
		ivs_layout_read(m, REGION, &v);
		ivs_layout_find(m, REGION, &v, "r", &e);
		unsigned char *rec = m + e.offset + ivs_topic_ctrl_bytes(2) + 24; /* 2nd record */
		memcpy(rec + cases[i].off, &cases[i].val, 4);
		is(ivshmem_topic_receive(s, got, sizeof(got), 0), -EBADMSG, "%s: -EBADMSG", cases[i].what);
		ivshmem_topic_close(s);
		ivshmem_topic_close(p);
		munmap(m, REGION);
	}
}

static void test_restart_delete(void)
{
	unsigned char *m = region();
	ivs_topic_create_mem(m, REGION, "z", NULL);
	ivshmem_topic *p = open_t(m, "z", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *s = open_t(m, "z", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	char got[16];
	ivshmem_topic_publish(p, "a", 1, 0);
	ivshmem_topic *p2 = open_t(m, "z", IVSHMEM_TOPIC_PUBLISHER, 0);
	ok(p2 != NULL, "a second publisher takes over");
	is(ivshmem_topic_publish(p, "b", 1, 0), -ESTALE, "the old publisher: -ESTALE");
	ivshmem_topic *ex = NULL;
	is(ivs_topic_open_mem(m, REGION, "z", IVSHMEM_TOPIC_PUBLISHER, IVSHMEM_TOPIC_EXCLUSIVE, &ex), -EBUSY,
	   "exclusive publisher while one is attached: -EBUSY");
	is(ivshmem_topic_receive(s, got, sizeof(got), 0), -ECONNRESET, "the subscriber hears of the restart once");
	is(ivshmem_topic_receive(s, got, sizeof(got), 0), 1, "then gets the message from before");
	ivshmem_topic_publish(p2, "c", 1, 0);
	ok(ivshmem_topic_receive(s, got, sizeof(got), 0) == 1 && got[0] == 'c', "and the new publisher's");
	is(ivs_chan_delete_mem(m, REGION, "z"), -EBUSY, "delete while attached: -EBUSY");
	ivshmem_topic_close(p);
	ivshmem_topic_close(p2);
	ivshmem_topic_close(s);
	is(ivs_chan_delete_mem(m, REGION, "z"), 0, "delete once everybody closed");
	ivshmem_topic *t = NULL;
	is(ivs_topic_open_mem(m, REGION, "z", IVSHMEM_TOPIC_SUBSCRIBER, 0, &t), -ENOENT, "gone");
	munmap(m, REGION);
}

int main(void)
{
	test_create();
	test_fanout();
	test_join();
	test_evict_stall();
	test_evict_dead();
	test_hostile_slot();
	test_corrupt_ring();
	test_restart_delete();
	return tap_done();
}
