/* SPDX-License-Identifier: MIT */
/* The eviction rules against subscribers that fake progress, and the
 * corners around them (each a bug found by an attack review):
 *   - a subscriber that re-attaches over and over at the same head, or
 *     crawls its head 8 bytes at a time, is evicted after one stall timeout:
 *     the stall clock is the slot's, and only freeing the room of a message
 *     restarts it;
 *   - a head put in the middle of a record doesn't break a later joiner
 *     from the oldest message;
 *   - an honest subscriber joining from the oldest message into the slot
 *     of an evicted one is waited for;
 *   - a publisher that died between its two stores of a commit doesn't
 *     leave subscribers with -EBADMSG;
 *   - a publisher that never waits (timeout 0) still evicts. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define GUARD 5000 /* ms: a hang guard, never the property tested */

static unsigned char *mem;
static void *blk;
static atomic_int stop;

static void setup(size_t ring, unsigned stall_ms)
{
	if (!mem)
		mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail_all("mmap");
	memset(mem, 0, REGION);
	struct ivshmem_topic_config c = {.size = ring, .max_msg = 100, .subscribers = 2, .stall_timeout_ms = stall_ms};
	struct ivs_layout_view v;
	struct ivs_entry_view e;
	if (ivs_topic_create_mem(mem, REGION, "t", &c) < 0 || ivs_layout_read(mem, REGION, &v) < 0 ||
	    ivs_layout_find(mem, REGION, &v, "t", &e) < 0)
		fail_all("create a topic");
	blk = mem + e.offset;
}

static ivshmem_topic *op(int role, unsigned flags)
{
	ivshmem_topic *t = NULL;
	if (ivs_topic_open_mem(mem, REGION, "t", role, flags, &t) < 0)
		fail_all("open role %d", role);
	return t;
}

static int fill(ivshmem_topic *p)
{
	char buf[100] = {0};
	int n = 0;
	while (ivshmem_topic_publish(p, buf, sizeof(buf), 0) == 0)
		n++;
	return n;
}

static uint64_t evictions(ivshmem_topic *t)
{
	static struct ivshmem_topic_stat st;
	return ivshmem_topic_stat(t, &st) == 0 ? st.evictions : UINT64_MAX;
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Slot 0's side and hot line (party 1). */
static struct ivs_topic_party *slot0(void)
{
	return ivs_topic_party(blk, 1);
}

/* The hostile subscriber in slot 0: re-attach at the same head (epoch and
 * info_epoch moved on by 2 in one store), or move the head on by 8. */
static void *flapper(void *arg)
{
	(void)arg;
	_Atomic uint64_t *w = (_Atomic uint64_t *)&slot0()->side.epoch; /* epoch | info_epoch << 32 */
	while (!atomic_load(&stop)) {
		nap_ms(20);
		uint32_t e = atomic_load(&slot0()->side.epoch) + 2;
		atomic_store(w, (uint64_t)e | (uint64_t)e << 32);
	}
	return NULL;
}

static void *crawler(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		nap_ms(20);
		atomic_fetch_add(&slot0()->hot.idx, 8);
	}
	return NULL;
}

static void faker(const char *what, void *(*fn)(void *))
{
	setup(4096, 100);
	ivshmem_topic *p = op(IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *h = op(IVSHMEM_TOPIC_SUBSCRIBER, 0);
	ok(fill(p) > 0, "%s: the ring is full for the subscriber in slot 0", what);
	atomic_store(&stop, 0);
	pthread_t th;
	pthread_create(&th, NULL, fn, NULL);
	char buf[100] = {0};
	int r = ivshmem_topic_publish(p, buf, sizeof(buf), GUARD);
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	is(r, 0, "%s: the publisher gets past it (stall timeout 100 ms)", what);
	ok(evictions(p) >= 1, "%s: it was evicted", what);
	free(h); /* its slot is the fake's: no close */
	ivshmem_topic_close(p);
}

/* A head in the middle of record 0 becomes the floor; a joiner from the
 * oldest message must not start there. */
static void mid_record(void)
{
	setup(4096, 1000);
	ivshmem_topic *p = op(IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *a = op(IVSHMEM_TOPIC_SUBSCRIBER, 0);
	fill(p);
	atomic_store(&slot0()->hot.idx, 8);
	char buf[100] = {0};
	ivshmem_topic_publish(p, buf, sizeof(buf), 0); /* a refresh: the floor is 8 now */
	ivshmem_topic *b = op(IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_FROM_OLDEST);
	is(ivshmem_topic_receive(b, buf, sizeof(buf), 0), -EAGAIN,
	   "a joiner from the oldest message, the floor in mid-record: starts at the tail (nothing yet)");
	free(a);
	ivshmem_topic_close(b);
	ivshmem_topic_close(p);
}

/* B joins from the oldest message into the slot the publisher just took
 * from a stalled A: the publisher waits for B. */
static void rejoin_evicted_slot(void)
{
	setup(4096, 100);
	ivshmem_topic *p = op(IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *a = op(IVSHMEM_TOPIC_SUBSCRIBER, 0);
	fill(p);
	char buf[100] = "x";
	is(ivshmem_topic_publish(p, buf, sizeof(buf), GUARD), 0, "rejoin: A stalled and was evicted");
	ivshmem_topic_close(a);
	ivshmem_topic *b = op(IVSHMEM_TOPIC_SUBSCRIBER, IVSHMEM_TOPIC_FROM_OLDEST);
	static struct ivshmem_topic_stat st;
	ivshmem_topic_stat(b, &st);
	is(st.slot, 0, "rejoin: B has A's slot");
	int more = 0;
	while (more < 100 && ivshmem_topic_publish(p, buf, sizeof(buf), 0) == 0)
		more++;
	ok(more < 100, "rejoin: the publisher waits for B (%d more fit)", more);
	is(ivshmem_topic_receive(b, buf, sizeof(buf), 0), 100, "rejoin: B gets the oldest message");
	ivshmem_topic_close(b);
	ivshmem_topic_close(p);
}

/* The publisher dies between storing its message count and its tail: the
 * next one numbers on from the count, one ahead of the records. */
static void crash_in_commit(void)
{
	setup(4096, 1000);
	ivshmem_topic *s = op(IVSHMEM_TOPIC_SUBSCRIBER, 0);
	char buf[100] = "hello";
	pid_t pid = fork();
	if (pid == 0) { /* publishes three, then dies without detaching */
		ivshmem_topic *p = NULL;
		if (ivs_topic_open_mem(mem, REGION, "t", IVSHMEM_TOPIC_PUBLISHER, 0, &p) < 0)
			_exit(1);
		for (int i = 0; i < 3; i++)
			ivshmem_topic_publish(p, buf, 10, 0);
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	int got = 0;
	for (int i = 0; i < 3; i++)
		got += ivshmem_topic_receive(s, buf, sizeof(buf), 0) == 10;
	ok(status == 0 && got == 3, "crash in commit: three messages from a publisher that died");
	/* ... in its 4th commit, between storing the count and the tail. */
	struct ivs_topic_hot *hot = &ivs_topic_party(blk, 0)->hot;
	atomic_store(&hot->msgs, atomic_load(&hot->msgs) + 1);
	ivshmem_topic *p2 = op(IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic_publish(p2, buf, 10, 0);
	is(ivshmem_topic_receive(s, buf, sizeof(buf), 0), -ECONNRESET, "crash in commit: the restart, once");
	is(ivshmem_topic_receive(s, buf, sizeof(buf), 0), 10, "then the new publisher's message, not -EBADMSG");
	ivshmem_topic_close(s);
	ivshmem_topic_close(p2);
}

/* An event-loop publisher (timeout 0 only) still evicts a stalled one. */
static void never_waits(void)
{
	setup(4096, 50);
	ivshmem_topic *p = op(IVSHMEM_TOPIC_PUBLISHER, 0);
	ivshmem_topic *s = op(IVSHMEM_TOPIC_SUBSCRIBER, 0);
	fill(p);
	char buf[100] = {0};
	uint64_t deadline = ivs_now_ns() + (uint64_t)GUARD * 1000000u;
	int r;
	while ((r = ivshmem_topic_publish(p, buf, sizeof(buf), 0)) == -EAGAIN && ivs_now_ns() < deadline)
		nap_ms(5);
	is(r, 0, "timeout 0 only: once the stall timeout passed, a publish gets through");
	is(evictions(p), 1, "timeout 0 only: the stalled subscriber was evicted");
	ivshmem_topic_close(s);
	ivshmem_topic_close(p);
}

int main(void)
{
	faker("re-attaching at the same head", flapper);
	faker("crawling 8 bytes at a time", crawler);
	mid_record();
	rejoin_evicted_slot();
	crash_in_commit();
	never_waits();
	return tap_done();
}
