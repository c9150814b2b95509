/* SPDX-License-Identifier: MIT */
/* Topics between threads (TSan build): a publisher, four steady
 * subscribers and a churning one that joins (at the tail or the oldest
 * message), reads a little and leaves, over and over, while the ring laps.
 * Every subscriber, steady or churning, sees only intact messages with
 * consecutive numbers: a join that races the publisher's floor must never
 * hand out overwritten bytes (that is the join protocol's Dekker pair).
 * Then a latest-mode topic of two buffers: a publisher that never waits
 * and readers (copying, peeking, passive) that check every message they
 * take and that numbers only go up: the sequence locks, under TSan. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "channel/channel.h"
#include "tap.h"
#include "topic/topic.h"

#define REGION (1024 * 1024)
#define COUNT 200000u
#define STEADY 4
#define T 20000

static unsigned char *mem;
static atomic_int done;
static atomic_uint bad_steady, bad_churn, joins, churn_msgs;
static atomic_uint bad_latest, latest_msgs, latest_torn;

static size_t make(unsigned char *b, unsigned i)
{
	size_t n = 4 + (i * 7u) % 120;
	memcpy(b, &i, 4);
	for (size_t k = 4; k < n; k++)
		b[k] = (unsigned char)(i + k);
	return n;
}

static bool intact(const unsigned char *b, size_t n, unsigned *num)
{
	unsigned char w[128];
	memcpy(num, b, 4);
	return n >= 4 && n == make(w, *num) && !memcmp(b, w, n);
}

static void *steady(void *arg)
{
	ivshmem_topic *t = arg;
	unsigned char b[128];
	for (unsigned i = 0; i < COUNT; i++) {
		ssize_t n = ivshmem_topic_receive(t, b, sizeof(b), T);
		unsigned num;
		if (n < 0 || !intact(b, (size_t)n, &num) || num != i) {
			atomic_fetch_add(&bad_steady, 1);
			break;
		}
	}
	return NULL;
}

static void *churn(void *arg)
{
	(void)arg;
	unsigned char b[128];
	for (unsigned round = 0; !atomic_load(&done); round++) {
		ivshmem_topic *t = NULL;
		unsigned flags = round & 1 ? IVSHMEM_TOPIC_FROM_OLDEST : 0;
		int r = ivs_topic_open_mem(mem, REGION, "t", IVSHMEM_TOPIC_SUBSCRIBER, flags, &t);
		if (r < 0) {
			printf("# churn: round %u: open: %d\n", round, r);
			atomic_fetch_add(&bad_churn, 1);
			break;
		}
		atomic_fetch_add(&joins, 1);
		unsigned last = 0;
		for (int k = 0; k < 50 && !atomic_load(&done); k++) {
			ssize_t n = ivshmem_topic_receive(t, b, sizeof(b), 50);
			if (n == -ETIMEDOUT || n == -EPIPE)
				break;
			unsigned num;
			if (n < 0 || !intact(b, (size_t)n, &num) || (k && num != last + 1)) {
				printf("# churn: round %u message %d: %zd\n", round, k, n);
				atomic_fetch_add(&bad_churn, 1);
				break;
			}
			last = num;
			atomic_fetch_add(&churn_msgs, 1);
		}
		ivshmem_topic_close(t);
	}
	return NULL;
}

/* A latest-mode reader: until the publisher leaves (-EPIPE). */
struct reader {
	ivshmem_topic *t;
	bool peek;
	unsigned taken;
	ssize_t end; /* what ended it */
};

static void *latest_reader(void *arg)
{
	struct reader *rd = arg;
	ivshmem_topic *t = rd->t;
	unsigned char b[128];
	bool peek = rd->peek;
	uint64_t prev = 0;
	ssize_t n = 0;
	for (unsigned k = 0;; k++) {
		unsigned num = 0;
		bool good;
		if (peek) {
			const void *p;
			n = ivshmem_topic_peek(t, &p, T);
			if (n < 0)
				break;
			/* The publisher may be overwriting it: copy by relaxed
			 * atomic bytes (a plain memcpy would be a race for TSan
			 * to report; the release says whether it counts). */
			unsigned char c[128];
			for (size_t i = 0; i < (size_t)n && i < sizeof(c); i++)
				c[i] = __atomic_load_n((const unsigned char *)p + i, __ATOMIC_RELAXED);
			good = intact(c, (size_t)n, &num);
			int r = ivshmem_topic_release(t);
			if (r == -EAGAIN) {
				atomic_fetch_add(&latest_torn, 1);
				continue;
			}
			if (r < 0) {
				n = r;
				break;
			}
		} else {
			n = ivshmem_topic_receive(t, b, sizeof(b), T);
			if (n < 0)
				break;
			good = intact(b, (size_t)n, &num);
		}
		uint64_t seq;
		if (!good || ivshmem_topic_last(t, &seq, NULL) < 0 || seq != num || (k && seq <= prev)) {
			atomic_fetch_add(&bad_latest, 1);
			return NULL;
		}
		prev = seq;
		rd->taken++;
		atomic_fetch_add(&latest_msgs, 1);
	}
	rd->end = n;
	return NULL;
}

static void test_latest(void)
{
	struct ivshmem_topic_config c = {.size = 512, .max_msg = 128, .subscribers = 3, .mode = IVSHMEM_TOPIC_LATEST};
	if (ivs_topic_create_mem(mem, REGION, "l", &c) < 0)
		fail_all("create latest");
	ivshmem_topic *p = NULL;
	struct reader rd[4] = {{.peek = false}, {.peek = true}, {.peek = false}, {.peek = true}};
	pthread_t th[4];
	for (int k = 0; k < 4; k++)
		if (ivs_topic_open_mem(mem, REGION, "l", IVSHMEM_TOPIC_SUBSCRIBER, k >= 2 ? IVSHMEM_TOPIC_PASSIVE : 0,
				       &rd[k].t) < 0)
			fail_all("subscribe %d", k);
	if (ivs_topic_open_mem(mem, REGION, "l", IVSHMEM_TOPIC_PUBLISHER, 0, &p) < 0)
		fail_all("publisher");
	for (int k = 0; k < 4; k++)
		pthread_create(&th[k], NULL, latest_reader, &rd[k]);
	unsigned char b[128];
	int r = 0;
	for (unsigned i = 0; i < COUNT && r == 0; i++)
		r = ivshmem_topic_publish(p, b, make(b, i), 0);
	is(r, 0, "latest: %u messages published at timeout 0 into two buffers, four readers", COUNT);
	ivshmem_topic_close(p);
	for (int k = 0; k < 4; k++)
		pthread_join(th[k], NULL);
	printf("# latest: %u messages taken, %u peeks overwritten while held\n", atomic_load(&latest_msgs),
	       atomic_load(&latest_torn));
	is(atomic_load(&bad_latest), 0, "latest: every message taken was intact, its number its sequence number, rising");
	int fine = 0;
	for (int k = 0; k < 4; k++) {
		printf("# reader %d (%s%s): %u taken, ended by %zd\n", k, rd[k].peek ? "peek" : "receive",
		       k >= 2 ? ", passive" : "", rd[k].taken, rd[k].end);
		fine += rd[k].taken > 0 && rd[k].end == -EPIPE;
		ivshmem_topic_close(rd[k].t);
	}
	is(fine, 4, "latest: each reader (copying or peeking, with a slot or passive) took messages, then -EPIPE");
}

int main(void)
{
	mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail_all("mmap");
	struct ivshmem_topic_config c = {.size = 8192, .max_msg = 128, .subscribers = STEADY + 1,
					 .stall_timeout_ms = 30000};
	if (ivs_topic_create_mem(mem, REGION, "t", &c) < 0)
		fail_all("create");
	ivshmem_topic *p = NULL, *s[STEADY];
	pthread_t th[STEADY], ch;
	for (int k = 0; k < STEADY; k++)
		if (ivs_topic_open_mem(mem, REGION, "t", IVSHMEM_TOPIC_SUBSCRIBER, 0, &s[k]) < 0)
			fail_all("subscribe %d", k);
	if (ivs_topic_open_mem(mem, REGION, "t", IVSHMEM_TOPIC_PUBLISHER, 0, &p) < 0)
		fail_all("publisher");
	for (int k = 0; k < STEADY; k++)
		pthread_create(&th[k], NULL, steady, s[k]);
	pthread_create(&ch, NULL, churn, NULL);
	unsigned char b[128];
	int r = 0;
	for (unsigned i = 0; i < COUNT && r == 0; i++)
		r = ivshmem_topic_publish(p, b, make(b, i), T);
	is(r, 0, "%u messages published with %d steady subscribers and one churning", COUNT, STEADY);
	for (int k = 0; k < STEADY; k++)
		pthread_join(th[k], NULL);
	atomic_store(&done, 1);
	pthread_join(ch, NULL);
	struct ivshmem_topic_stat *st = malloc(sizeof(*st));
	ok(st && ivshmem_topic_stat(p, st) == 0 && st->evictions == 0, "nobody evicted");
	free(st);
	is(atomic_load(&bad_steady), 0, "the steady subscribers got every message, in order");
	printf("# %u joins, %u messages read by them\n", atomic_load(&joins), atomic_load(&churn_msgs));
	ok(atomic_load(&joins) > 1, "the churning subscriber joined again and again");
	is(atomic_load(&bad_churn), 0, "a joiner never saw a torn, overwritten or out-of-order message");
	ivshmem_topic_close(p);
	for (int k = 0; k < STEADY; k++)
		ivshmem_topic_close(s[k]);
	test_latest();
	return tap_done();
}
