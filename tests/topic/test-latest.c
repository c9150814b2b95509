/* SPDX-License-Identifier: MIT */
/* Latest-mode topics over a "file:" endpoint: the API (the newest message,
 * the skipped count, joining at the tail or with the newest, a publisher
 * that never waits, a peek overwritten while held, restarts and the end),
 * a woken sleeper, passive subscribers on a read-only mapping (in a child:
 * any write would kill it), and checker processes that verify every byte
 * of every message they take while the publisher laps four buffers as fast
 * as it can: never a torn message. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ivshmem.h"
#include "proc-util.h"
#include "tap.h"
#include "util/util.h"

#define REGION (4 << 20)
#define T 20000 /* ms: hang guard of waits on the other side, never the property tested */

static char path[64], spec[80];

enum { C_OK = 0, C_SETUP = 10, C_WRONG, C_ORDER, C_ERROR, C_SLOT, C_FEW };

static ivshmem_ep *ep_open(unsigned flags)
{
	ivshmem_ep *ep = NULL;
	struct ivshmem_open_opts o = {.flags = flags};
	return ivshmem_open(spec, &o, &ep) < 0 ? NULL : ep;
}

static ivshmem_topic *open_t(ivshmem_ep *ep, const char *name, int role, unsigned flags)
{
	ivshmem_topic *t = NULL;
	struct ivshmem_topic_opts o = {.flags = flags, .spin_us = -1};
	int r = ivshmem_topic_open(ep, name, role, &o, &t);
	if (r < 0)
		printf("# open %s role %d flags %#x: %d\n", name, role, flags, r);
	return t;
}

static int create(ivshmem_ep *ep, const char *name, size_t size, size_t max_msg, unsigned subs)
{
	struct ivshmem_topic_config c = {.size = size, .max_msg = max_msg, .subscribers = subs,
					 .mode = IVSHMEM_TOPIC_LATEST};
	return ivshmem_topic_create(ep, name, &c);
}

/* Message i: 8..max bytes, all derived from i (its number first). */
static size_t make(unsigned char *b, uint64_t i, size_t max)
{
	size_t n = 8 + (size_t)((i * 2654435761u) >> 7) % (max - 7);
	memcpy(b, &i, 8);
	for (size_t k = 8; k < n; k++)
		b[k] = (unsigned char)(i * 131 + k * 7);
	return n;
}

/* Is b[0..n) message i?  Read byte by byte (in place, it may be torn). */
static bool good(const volatile unsigned char *b, size_t n, uint64_t i, size_t max)
{
	unsigned char w[8192];
	if (n != make(w, i, max))
		return false;
	for (size_t k = 0; k < n; k++)
		if (b[k] != w[k])
			return false;
	return true;
}

static ssize_t recv_s(ivshmem_topic *t, char *buf, size_t cap, int ms)
{
	ssize_t n = ivshmem_topic_receive(t, buf, cap - 1, ms);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

static void test_api(ivshmem_ep *ep)
{
	struct ivshmem_topic_config c = {.mode = IVSHMEM_TOPIC_LATEST, .stall_timeout_ms = 10};
	is(ivshmem_topic_create(ep, "bad", &c), -EINVAL, "latest with a stall timeout: -EINVAL");
	is(create(ep, "bad", 4096, 2048, 2), -EINVAL, "max message leaving room for one buffer: -EINVAL");
	is(create(ep, "bad", 4096, 1984, 2), 0, "... for two (64-byte header + 1984): created");
	is(create(ep, "lt", 0, 0, 4), 0, "latest topic with the defaults");
	ivshmem_topic *mon = open_t(ep, "lt", IVSHMEM_TOPIC_MONITOR, 0);
	struct ivshmem_topic_stat st;
	ok(mon && ivshmem_topic_stat(mon, &st) == 0 && st.mode == IVSHMEM_TOPIC_LATEST &&
		   st.ring_size == (1u << 20) && st.max_msg == 65536 && st.buffers == (1u << 20) / (64 + 65536),
	   "stat: mode latest, 1 MiB, 64 KiB messages, %u buffers", mon ? st.buffers : 0);
	ivshmem_topic *bad = NULL;
	struct ivshmem_topic_opts po = {.flags = IVSHMEM_TOPIC_PASSIVE};
	struct ivshmem_topic_config lc = {.size = 8192};
	is(ivshmem_topic_create(ep, "lossless", &lc), 0, "a lossless topic beside it");
	is(ivshmem_topic_open(ep, "lossless", IVSHMEM_TOPIC_SUBSCRIBER, &po, &bad), -EINVAL,
	   "IVSHMEM_TOPIC_PASSIVE on a lossless topic: -EINVAL");

	ivshmem_topic *sub = open_t(ep, "lt", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ivshmem_topic *pub = open_t(ep, "lt", IVSHMEM_TOPIC_PUBLISHER, 0);
	char b[128];
	uint64_t seq = 99, skipped = 99;
	is(recv_s(sub, b, sizeof(b), 0), -EAGAIN, "nothing published: -EAGAIN");
	is(ivshmem_topic_last(sub, &seq, &skipped), -ENODATA, "last before any: -ENODATA");
	is(ivshmem_topic_last(pub, &seq, &skipped), -EPERM, "last on the publisher: -EPERM");
	int r = 0;
	for (int i = 0; i < 3 && r == 0; i++)
		r = ivshmem_topic_publish(pub, "abc" + i, 1, 0);
	is(r, 0, "three published");
	ok(recv_s(sub, b, sizeof(b), 0) == 1 && !strcmp(b, "c"), "receive gives the newest: %s", b);
	ok(ivshmem_topic_last(sub, &seq, &skipped) == 0 && seq == 2 && skipped == 2,
	   "last: seq 2, 2 skipped (%llu, %llu)", (unsigned long long)seq, (unsigned long long)skipped);
	is(recv_s(sub, b, sizeof(b), 0), -EAGAIN, "taken: nothing new");
	ivshmem_topic_publish(pub, "d", 1, 0);
	ok(recv_s(sub, b, sizeof(b), 0) == 1 && !strcmp(b, "d") && ivshmem_topic_last(sub, &seq, &skipped) == 0 &&
		   seq == 3 && skipped == 0,
	   "the next one: seq 3, none skipped");
	ivshmem_topic *old = open_t(ep, "lt", IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_FROM_OLDEST);
	ivshmem_topic *tail = open_t(ep, "lt", IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ok(recv_s(old, b, sizeof(b), 0) == 1 && !strcmp(b, "d"), "FROM_OLDEST: the newest at once");
	is(recv_s(tail, b, sizeof(b), 0), -EAGAIN, "from the tail: only what comes later");

	/* Never waits, whoever does not read. */
	unsigned char m[8192];
	r = 0;
	unsigned i;
	for (i = 0; i < 100000 && r == 0; i++)
		r = ivshmem_topic_publish(pub, m, make(m, i, 64), 0);
	is(r, 0, "10^5 more published at timeout 0 while three subscribers read nothing");
	ssize_t n = ivshmem_topic_receive(tail, m, sizeof(m), 0);
	ok(n > 0 && good(m, (size_t)n, 99999, 64) && ivshmem_topic_last(tail, &seq, &skipped) == 0 &&
		   seq == 100003 && skipped == 99999,
	   "the tail subscriber gets the last of them, 99999 skipped");
	ok(ivshmem_topic_stat(mon, &st) == 0 && st.published == 100004 && st.sub[2].state == IVSHMEM_TOPIC_SUB_LIVE &&
		   st.sub[2].received == 1 && st.sub[2].skipped == 99999 && st.sub[2].lag == 0 && st.sub[0].lag == 100000 &&
		   st.sub[0].received == 2 && st.sub[0].skipped == 2,
	   "stat: published, each slot's taken, skipped and lag");

	/* A peek overwritten while held. */
	unsigned nb = st.buffers;
	const void *p;
	n = ivshmem_topic_peek(sub, &p, 0);
	ok(n > 0 && good(p, (size_t)n, 99999, 64), "peek: the newest, in place");
	for (i = 0; i + 1 < nb; i++)
		ivshmem_topic_publish(pub, m, make(m, 200000 + i, 64), 0);
	is(ivshmem_topic_release(sub), 0, "%u publishes later (its buffer not reused yet): release 0", nb - 1);
	n = ivshmem_topic_peek(sub, &p, 0);
	uint64_t want = 200000 + nb - 2;
	ok(n > 0 && good(p, (size_t)n, want, 64), "peek the newest again");
	void *w;
	r = 0;
	for (i = 0; i < nb - 1 && r == 0; i++)
		r = ivshmem_topic_publish(pub, m, make(m, 300000 + i, 64), 0);
	r = r ? r : ivshmem_topic_reserve(pub, 64, &w, 0);
	is(ivshmem_topic_release(sub), -EAGAIN, "its buffer reserved again (not even committed): release -EAGAIN");
	memset(w, 'z', 64);
	is(ivshmem_topic_commit(pub, 64), 0, "commit");
	ok(recv_s(sub, b, sizeof(b), 0) == 64 && b[0] == 'z' && b[63] == 'z', "receive: that newest");
	is(ivshmem_topic_receive(sub, b, 10, 0), -EAGAIN, "then nothing");
	ivshmem_topic_publish(pub, m, make(m, 7, 64), 0);
	is(ivshmem_topic_receive(sub, b, 4, 0), -EMSGSIZE, "a buffer too small: -EMSGSIZE");
	n = ivshmem_topic_receive(sub, m, sizeof(m), 0);
	ok(n > 0 && good(m, (size_t)n, 7, 64), "and the message is still there");

	/* Restart, then the end. */
	ivshmem_topic *pub2 = open_t(ep, "lt", IVSHMEM_TOPIC_PUBLISHER, 0);
	is(ivshmem_topic_publish(pub, "x", 1, 0), -ESTALE, "a taken-over publisher: -ESTALE");
	ivshmem_topic_publish(pub2, "e", 1, 0);
	is(recv_s(sub, b, sizeof(b), 0), -ECONNRESET, "the restart is reported once (-ECONNRESET)");
	uint64_t before = seq;
	ivshmem_topic_last(sub, &before, NULL);
	ok(recv_s(sub, b, sizeof(b), 0) == 1 && !strcmp(b, "e") && ivshmem_topic_last(sub, &seq, &skipped) == 0 &&
		   seq == before + 1,
	   "then its message, numbered on (%llu)", (unsigned long long)seq);
	ivshmem_topic_publish(pub2, "f", 1, 0);
	ivshmem_topic_close(pub2);
	ivshmem_topic_close(pub);
	ok(recv_s(sub, b, sizeof(b), 0) == 1 && !strcmp(b, "f"), "the publisher left: its last is still there");
	is(recv_s(sub, b, sizeof(b), 0), -EPIPE, "then -EPIPE");
	pub = open_t(ep, "lt", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic_publish(pub, "g", 1, 0);
	ok(recv_s(sub, b, sizeof(b), 0) == 1 && !strcmp(b, "g"), "not sticky: the next publisher's message");
	ivshmem_topic_close(pub);
	ivshmem_topic_close(sub);
	ivshmem_topic_close(old);
	ivshmem_topic_close(tail);
	ivshmem_topic_close(mon);
	is(ivshmem_chan_delete(ep, "lt"), 0, "delete");
}

/* A subscriber asleep in receive is woken by the next publish. */
static void test_wakeup(ivshmem_ep *ep)
{
	create(ep, "wake", 16384, 64, 2);
	ivshmem_topic *mon = open_t(ep, "wake", IVSHMEM_TOPIC_MONITOR, 0);
	ivshmem_topic *pub = open_t(ep, "wake", IVSHMEM_TOPIC_PUBLISHER, 0);
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0) {
		ivshmem_ep *e = ep_open(0);
		ivshmem_topic *t = e ? open_t(e, "wake", IVSHMEM_TOPIC_SUBSCRIBER, 0) : NULL;
		char b[64];
		if (!t)
			_exit(C_SETUP);
		ssize_t n = ivshmem_topic_receive(t, b, sizeof(b), T);
		_exit(n == 5 && !memcmp(b, "hello", 5) ? C_OK : C_ERROR);
	}
	/* Until it sleeps (its slot live and counting a sleep, the process
	 * in its futex wait). */
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	struct ivshmem_topic_stat st;
	while (!(ivshmem_topic_stat(mon, &st) == 0 && st.sub[0].state == IVSHMEM_TOPIC_SUB_LIVE &&
		 st.sub[0].sleeps > 0) &&
	       ivs_now_ns() < deadline)
		usleep(1000); /* poll interval */
	ok(st.sub[0].sleeps > 0 && wait_asleep(kid, T), "the subscriber sleeps");
	is(ivshmem_topic_publish(pub, "hello", 5, 0), 0, "publish");
	is(reap_bounded(kid, T), C_OK, "it woke and got the message");
	ok(ivshmem_topic_stat(pub, &st) == 0 && st.rings >= 1, "by a futex wake from the publisher (%llu)",
	   (unsigned long long)st.rings);
	ivshmem_topic_close(pub);
	ivshmem_topic_close(mon);
}

/* In a child with a read-only mapping: a passive subscriber (any write
 * would be SIGSEGV), taking `want` messages published by the parent. */
static int passive_child(const char *name, unsigned want, size_t max)
{
	ivshmem_ep *e = ep_open(IVSHMEM_OPEN_READONLY);
	if (!e || ivshmem_mem_readonly(e) != 1)
		return C_SETUP;
	ivshmem_topic *t = NULL;
	if (ivshmem_topic_open(e, name, IVSHMEM_TOPIC_PUBLISHER, NULL, &t) != -EROFS)
		return C_SETUP;
	t = open_t(e, name, IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_FROM_OLDEST);
	struct ivshmem_topic_stat st;
	if (!t || ivshmem_topic_stat(t, &st) < 0)
		return C_SETUP;
	if (st.slot != -1)
		return C_SLOT;
	unsigned char *b = malloc(max);
	uint64_t prev = 0, seq, skipped, sum = 0;
	for (unsigned k = 0; k < want; k++) {
		ssize_t n = ivshmem_topic_receive(t, b, max, T);
		if (n < 0) {
			printf("# passive: receive %zd after %u\n", n, k);
			return C_ERROR;
		}
		if (ivshmem_topic_last(t, &seq, &skipped) < 0 || !good(b, (size_t)n, seq, max))
			return C_WRONG;
		if (k && (seq <= prev || skipped != seq - prev - 1))
			return C_ORDER;
		sum += skipped;
		prev = seq;
	}
	if (ivshmem_topic_stat(t, &st) < 0 || st.skipped != sum || st.messages != want)
		return C_WRONG;
	ivshmem_topic_close(t);
	ivshmem_close(e);
	return C_OK;
}

/* Publish message after message until the children are gone (or T). */
static int publish_until(ivshmem_topic *pub, pid_t *kids, int *status, unsigned nkids, size_t max,
			 ivshmem_topic *mon, bool *slot_taken, uint64_t *published)
{
	unsigned char *m = malloc(max);
	unsigned left = nkids;
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u, i;
	int r = 0;
	for (i = 0; left && r == 0; i++) {
		r = ivshmem_topic_publish(pub, m, make(m, i, max), 0);
		if (i % 256)
			continue;
		for (unsigned k = 0; k < nkids; k++) {
			if (kids[k] > 0 && waitpid(kids[k], &status[k], WNOHANG) == kids[k]) {
				kids[k] = -1;
				left--;
			}
		}
		if (mon && slot_taken) {
			struct ivshmem_topic_stat st;
			if (ivshmem_topic_stat(mon, &st) == 0)
				for (unsigned k = 0; k < st.subscribers; k++)
					*slot_taken |= st.sub[k].state != IVSHMEM_TOPIC_SUB_FREE;
		}
		if (ivs_now_ns() > deadline)
			break;
	}
	for (unsigned k = 0; k < nkids; k++)
		if (kids[k] > 0)
			status[k] = reap_bounded(kids[k], 1000);
	free(m);
	*published = i;
	return r;
}

static int code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void test_read_only(ivshmem_ep *ep)
{
	create(ep, "ro", 64 << 10, 1000, 2);
	ivshmem_topic *pub = open_t(ep, "ro", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *mon = open_t(ep, "ro", IVSHMEM_TOPIC_MONITOR, 0);
	unsigned char m[1000];
	fflush(stdout);
	pid_t kids[3];
	int status[3];
	for (int k = 0; k < 3; k++)
		if ((kids[k] = fork()) == 0)
			_exit(passive_child("ro", 2000, sizeof(m)));
	bool taken = false;
	uint64_t n = 0;
	is(publish_until(pub, kids, status, 3, sizeof(m), mon, &taken, &n), 0, "publisher: %llu messages",
	   (unsigned long long)n);
	for (int k = 0; k < 3; k++)
		is(code(status[k]), C_OK,
		   "passive subscriber %d on a read-only mapping: -EROFS as publisher, no slot, 2000 intact messages "
		   "in order, skips counted",
		   k);
	ok(!taken, "no slot was taken while they read");
	ivshmem_topic_close(pub);
	ivshmem_topic_close(mon);
}

/* A checker: take messages until `want`, verify each (every byte, the
 * number, the skips).  how: 0 receive (copy), 1 peek and verify in place
 * before the release (a release of 0 must mean the bytes were intact),
 * 2 passive (read-only mapping). */
static int checker(const char *name, int how, unsigned want, size_t max)
{
	ivshmem_ep *e = ep_open(how == 2 ? IVSHMEM_OPEN_READONLY : 0);
	ivshmem_topic *t = e ? open_t(e, name, IVSHMEM_TOPIC_SUBSCRIBER, 0) : NULL;
	if (!t)
		return C_SETUP;
	unsigned char *b = malloc(max);
	uint64_t prev = 0, seq, skipped, torn = 0, skips = 0, num = 0;
	for (unsigned k = 0; k < want;) {
		ssize_t n;
		bool intact = true;
		if (how == 1) {
			const void *p;
			n = ivshmem_topic_peek(t, &p, T);
			if (n >= 0) {
				/* The number is in the message: check it in place. */
				memcpy(&num, p, 8);
				intact = n >= 8 && good(p, (size_t)n, num, max);
				int r = ivshmem_topic_release(t);
				if (r == -EAGAIN) {
					torn++;
					continue;
				}
				if (r < 0)
					n = r;
			}
		} else {
			n = ivshmem_topic_receive(t, b, max, T);
			if (n >= 0) {
				memcpy(&num, b, 8);
				intact = n >= 8 && good(b, (size_t)n, num, max);
			}
		}
		if (n == -EAGAIN) {
			torn += 1000;
			continue;
		}
		if (n < 0) {
			printf("# checker %d: %zd after %u\n", how, n, k);
			return C_ERROR;
		}
		if (!intact)
			return C_WRONG;
		if (ivshmem_topic_last(t, &seq, &skipped) < 0)
			return C_ERROR;
		if (seq != num)
			return C_WRONG; /* the message is not the one its number says */
		if (k && (seq <= prev || skipped != seq - prev - 1))
			return C_ORDER;
		skips += skipped;
		prev = seq;
		k++;
	}
	printf("# checker %d: %u taken, %llu skipped, %llu torn reads retried\n", how, want,
	       (unsigned long long)skips, (unsigned long long)torn);
	fflush(stdout);
	ivshmem_topic_close(t);
	ivshmem_close(e);
	return C_OK;
}

static void test_never_torn(ivshmem_ep *ep)
{
	/* 4 buffers of 4 KiB: the publisher laps them while checkers read. */
	const size_t max = 4032;
	is(create(ep, "torn", 16 << 10, max, 4), 0, "a latest topic of 4 buffers of 4032 bytes");
	ivshmem_topic *pub = open_t(ep, "torn", IVSHMEM_TOPIC_PUBLISHER, 0);
	fflush(stdout);
	pid_t kids[3];
	int status[3];
	for (int k = 0; k < 3; k++)
		if ((kids[k] = fork()) == 0)
			_exit(checker("torn", k, 20000, max));
	uint64_t n = 0;
	is(publish_until(pub, kids, status, 3, max, NULL, NULL, &n), 0, "the publisher never waited: %llu messages",
	   (unsigned long long)n);
	static const char *const how[] = {"receive (copy)", "peek, verify in place, release",
					  "passive on a read-only mapping"};
	for (int k = 0; k < 3; k++)
		is(code(status[k]), C_OK, "checker by %s: 20000 messages, every byte as published, in order", how[k]);
	ivshmem_topic_close(pub);
}

/* Review regressions: a passive peek held across delete and re-create
 * (the new topic brings the same lock value back), and a passive
 * subscriber outliving a publisher that died attached. */
static void test_passive_ends(ivshmem_ep *ep)
{
	create(ep, "aba", 4096, 64, 2);
	ivshmem_topic *pub = open_t(ep, "aba", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *ps = open_t(ep, "aba", IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_PASSIVE);
	ivshmem_topic_publish(pub, "AAAA", 4, 0);
	ivshmem_topic_close(pub);
	const void *p;
	ok(ivshmem_topic_peek(ps, &p, 0) == 4, "passive: peek the first message");
	is(ivshmem_chan_delete(ep, "aba"), 0, "the topic is deleted under it (a passive reader holds no slot)");
	create(ep, "aba", 4096, 64, 2);
	pub = open_t(ep, "aba", IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic_publish(pub, "BBBB", 4, 0);
	is(ivshmem_topic_release(ps), -ESTALE, "re-created, its first message in the same buffer: release -ESTALE");
	ivshmem_topic_close(pub);
	ivshmem_topic_close(ps);
	ivshmem_chan_delete(ep, "aba");

	create(ep, "dead", 4096, 64, 2);
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0) {
		ivshmem_ep *e = ep_open(0);
		ivshmem_topic *t = e ? open_t(e, "dead", IVSHMEM_TOPIC_PUBLISHER, 0) : NULL;
		_exit(t && ivshmem_topic_publish(t, "last", 4, 0) == 0 ? 0 : 1); /* dies attached */
	}
	is(reap_bounded(kid, T), 0, "a publisher process published and died attached");
	ps = open_t(ep, "dead", IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_PASSIVE | IVSHMEM_TOPIC_FROM_OLDEST);
	char b[16];
	ok(recv_s(ps, b, sizeof(b), T) == 4 && !strcmp(b, "last"), "passive: its last message");
	is(recv_s(ps, b, sizeof(b), T), -EOWNERDEAD, "then -EOWNERDEAD (it can't reap, it says so once)");
	is(recv_s(ps, b, sizeof(b), T), -EPIPE, "then -EPIPE, not a wait for ever");
	ivshmem_topic_close(ps);
	struct ivshmem_topic_config tiny = {.size = 256, .mode = IVSHMEM_TOPIC_LATEST};
	ivshmem_topic *mon = NULL;
	struct ivshmem_topic_stat st;
	ok(ivshmem_topic_create(ep, "tiny", &tiny) == 0 && (mon = open_t(ep, "tiny", IVSHMEM_TOPIC_MONITOR, 0)) &&
		   ivshmem_topic_stat(mon, &st) == 0 && st.max_msg == 64 && st.buffers == 2,
	   "a 256-byte latest topic defaults to two buffers of 64 bytes");
	ivshmem_topic_close(mon);
}

int main(void)
{
	snprintf(path, sizeof(path), "/dev/shm/ivs-topic-latest-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, REGION) < 0)
		fail_all("create %s", path);
	close(fd);
	ivshmem_ep *ep = ep_open(0);
	if (!ep) {
		unlink(path);
		fail_all("open %s", spec);
	}
	test_api(ep);
	test_wakeup(ep);
	test_read_only(ep);
	test_passive_ends(ep);
	test_never_torn(ep);
	ivshmem_close(ep);
	unlink(path);
	return tap_done();
}
