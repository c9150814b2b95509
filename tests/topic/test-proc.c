/* SPDX-License-Identifier: MIT */
/* Topics between processes over a "file:" endpoint: one publisher and 8
 * subscribers move 10^6 messages, every subscriber gets all of them in
 * order (lossless); a SIGSTOPped subscriber is evicted after the stall
 * timeout while the others go on, and hears of it after SIGCONT; a
 * SIGKILLed one is dropped without waiting for the stall timeout. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem.h"
#include "proc-util.h"
#include "tap.h"
#include "util/util.h"

#define REGION (4 << 20)
#define T 20000 /* ms: hang guard of waits on the other side, never the property tested */

static char path[64], spec[80];

/* Exit statuses of a subscriber child. */
enum { SUB_OK = 0, SUB_SETUP = 10, SUB_WRONG, SUB_ERROR, SUB_EVICTED };

static ivshmem_ep *ep_open(void)
{
	ivshmem_ep *ep = NULL;
	return ivshmem_open(spec, NULL, &ep) < 0 ? NULL : ep;
}

/* Message i: its number, then bytes derived from it; 4..60 bytes. */
static size_t make(unsigned char *b, unsigned i)
{
	size_t n = 4 + ((i * 2654435761u) >> 11) % 57;
	memcpy(b, &i, 4);
	for (size_t k = 4; k < n; k++)
		b[k] = (unsigned char)(i * 131 + k);
	return n;
}

static bool good(const unsigned char *b, size_t n, unsigned i)
{
	unsigned char w[64];
	return n == make(w, i) && !memcmp(b, w, n);
}

/* A subscriber: receive `count` messages numbered 0.. in order, reading
 * every byte; then expect the end (-EPIPE) if `until_end`. */
static int subscriber(const char *name, unsigned count, bool until_end)
{
	ivshmem_ep *ep = ep_open();
	ivshmem_topic *t = NULL;
	struct ivshmem_topic_opts o = {.spin_us = -1};
	if (!ep || ivshmem_topic_open(ep, name, IVSHMEM_TOPIC_SUBSCRIBER, &o, &t) < 0)
		return SUB_SETUP;
	unsigned char b[64];
	for (unsigned i = 0; i < count; i++) {
		ssize_t n = ivshmem_topic_receive(t, b, sizeof(b), T);
		if (n == -ECONNRESET) {
			i--;
			continue;
		}
		if (n == -ENOBUFS)
			return SUB_EVICTED;
		if (n < 0)
			return SUB_ERROR;
		if (!good(b, (size_t)n, i))
			return SUB_WRONG;
	}
	if (until_end && ivshmem_topic_receive(t, b, sizeof(b), T) != -EPIPE)
		return SUB_ERROR;
	ivshmem_topic_close(t);
	ivshmem_close(ep);
	return SUB_OK;
}

static pid_t spawn(const char *name, unsigned count, bool until_end)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(subscriber(name, count, until_end));
	return pid;
}

/* Until `n` subscriber slots are live (each child has joined). */
static bool wait_live(ivshmem_topic *mon, unsigned n)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	for (;;) {
		struct ivshmem_topic_stat st;
		unsigned live = 0;
		if (ivshmem_topic_stat(mon, &st) == 0)
			for (unsigned k = 0; k < st.subscribers; k++)
				live += st.sub[k].state == IVSHMEM_TOPIC_SUB_LIVE;
		if (live >= n)
			return true;
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(1000); /* poll interval */
	}
}

/* Until the stopped child shows state T (a hang guard bounds it). */
static bool wait_stopped(pid_t pid)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	while (proc_state(pid) != 'T') {
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(1000); /* poll interval */
	}
	return true;
}

static int status_of(pid_t pid)
{
	int st = reap_bounded(pid, T);
	return st;
}

static void test_fanout(ivshmem_ep *ep)
{
	const unsigned N = 8, COUNT = 1000000;
	struct ivshmem_topic_config c = {.size = 256 << 10, .max_msg = 64, .subscribers = N,
					 .stall_timeout_ms = 30000};
	is(ivshmem_topic_create(ep, "fan", &c), 0, "create a topic for 8 subscribers");
	ivshmem_topic *pub = NULL, *mon = NULL;
	ivshmem_topic_open(ep, "fan", IVSHMEM_TOPIC_MONITOR, NULL, &mon);
	pid_t kids[8];
	for (unsigned k = 0; k < N; k++)
		kids[k] = spawn("fan", COUNT, true);
	ok(mon && wait_live(mon, N), "8 subscriber processes joined");
	struct ivshmem_topic_opts o = {.spin_us = -1};
	int r = ivshmem_topic_open(ep, "fan", IVSHMEM_TOPIC_PUBLISHER, &o, &pub);
	unsigned char b[64];
	unsigned i;
	uint64_t t0 = ivs_now_ns();
	for (i = 0; r == 0 && i < COUNT; i++)
		r = ivshmem_topic_publish(pub, b, make(b, i), T);
	double secs = (double)(ivs_now_ns() - t0) / 1e9;
	is(r, 0, "10^6 messages published (%.2f s)", secs);
	struct ivshmem_topic_stat st;
	ok(ivshmem_topic_stat(pub, &st) == 0 && st.evictions == 0, "nobody evicted");
	ivshmem_topic_close(pub);
	int all = 0;
	for (unsigned k = 0; k < N; k++) {
		int s = status_of(kids[k]);
		if (s != SUB_OK)
			printf("# subscriber %u: status %d\n", k, s);
		all += s == SUB_OK;
	}
	is(all, (int)N, "each of the 8 got all 10^6 messages, in order, intact, then the end");
	ivshmem_topic_close(mon);
}

static void test_stopped(ivshmem_ep *ep)
{
	const unsigned COUNT = 3000;
	struct ivshmem_topic_config c = {.size = 16 << 10, .max_msg = 64, .subscribers = 3,
					 .stall_timeout_ms = 300};
	ivshmem_topic_create(ep, "stop", &c);
	ivshmem_topic *pub = NULL, *mon = NULL;
	ivshmem_topic_open(ep, "stop", IVSHMEM_TOPIC_MONITOR, NULL, &mon);
	pid_t a = spawn("stop", COUNT, false), b = spawn("stop", COUNT, false);
	ok(mon && wait_live(mon, 2), "two subscribers joined");
	pid_t s = spawn("stop", COUNT, false);
	ok(wait_live(mon, 3), "a third joined");
	kill(s, SIGSTOP);
	ok(wait_stopped(s), "the third is stopped");
	ivshmem_topic_open(ep, "stop", IVSHMEM_TOPIC_PUBLISHER, NULL, &pub);
	unsigned char m[64];
	int r = 0;
	for (unsigned i = 0; r == 0 && i < COUNT; i++)
		r = ivshmem_topic_publish(pub, m, make(m, i), T);
	is(r, 0, "the publisher got past the stopped subscriber (16 KiB ring, 3000 messages)");
	struct ivshmem_topic_stat st;
	ok(ivshmem_topic_stat(pub, &st) == 0 && st.evictions == 1, "one eviction");
	is(status_of(a), SUB_OK, "the first subscriber got everything");
	is(status_of(b), SUB_OK, "the second too");
	kill(s, SIGCONT);
	is(status_of(s), SUB_EVICTED, "after SIGCONT the stopped one reports its eviction (-ENOBUFS)");
	ivshmem_topic_close(pub);
	ivshmem_topic_close(mon);
}

static void test_killed(ivshmem_ep *ep)
{
	struct ivshmem_topic_config c = {.size = 4096, .max_msg = 64, .subscribers = 2,
					 .stall_timeout_ms = 3600000};
	ivshmem_topic_create(ep, "kill", &c);
	ivshmem_topic *pub = NULL, *mon = NULL;
	ivshmem_topic_open(ep, "kill", IVSHMEM_TOPIC_MONITOR, NULL, &mon);
	pid_t a = spawn("kill", 500, false), s = spawn("kill", 500, false);
	ok(mon && wait_live(mon, 2), "two subscribers joined");
	kill(s, SIGSTOP);
	ok(wait_stopped(s), "one of them is stopped");
	ivshmem_topic_open(ep, "kill", IVSHMEM_TOPIC_PUBLISHER, NULL, &pub);
	unsigned char m[64];
	int r = 0;
	unsigned i = 0;
	while (i < 500 && (r = ivshmem_topic_publish(pub, m, make(m, i), 0)) == 0)
		i++;
	is(r, -EAGAIN, "a stopped subscriber holds the ring full (stall timeout 1 h)");
	kill(s, SIGKILL);
	waitpid(s, NULL, 0);
	for (r = 0; r == 0 && i < 500; i++)
		r = ivshmem_topic_publish(pub, m, make(m, i), T);
	is(r, 0, "once it is killed the publisher goes on without waiting an hour");
	is(status_of(a), SUB_OK, "the other subscriber got everything");
	ivshmem_topic_close(pub);
	ivshmem_topic_close(mon);
}

int main(void)
{
	snprintf(path, sizeof(path), "/dev/shm/ivs-topic-proc-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, REGION) < 0)
		fail_all("create %s", path);
	close(fd);
	ivshmem_ep *ep = ep_open();
	if (!ep) {
		unlink(path);
		fail_all("open %s", spec);
	}
	test_fanout(ep);
	test_stopped(ep);
	test_killed(ep);
	ivshmem_close(ep);
	unlink(path);
	return tap_done();
}
