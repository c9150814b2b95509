/* SPDX-License-Identifier: MIT */
/* The channel benchmark's throughput measures of the channel and its
 * alternatives, memcpy, and the dispatch of every measure (round trips are
 * in chan-rt.c, the floors in chan-floor.c); see chan.h. */
#include "bench/chan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

/* The bound on a consumer's wait for the next message. */
#define RECV_TIMEOUT_MS 10000

volatile uint64_t chan_sink;

static double now_s(void)
{
	return (double)ivs_now_ns() / 1e9;
}

static const struct chan_m_info infos[CM_N] = {
	[CM_FLOOR64] = {"floor_ring_64b", "raw ring 64 B (consumer 16 pauses between polls)", CK_MSGS},
	[CM_CHAN64] = {"chan_64b", "channel 64 B", CK_MSGS},
	[CM_CHAN64_BATCH] = {"chan_64b_batch", "channel 64 B, batches of 16", CK_MSGS},
	[CM_ZC64_BATCH] = {"chan_64b_zerocopy_batch", "channel 64 B, zero-copy batches of 16", CK_MSGS},
	[CM_FLOOR64_POLL] = {"floor_ring_64b_poll", "raw ring 64 B (consumer 1 pause between polls)", CK_MSGS},
	[CM_CHAN64_POLL] = {"chan_64b_poll", "channel 64 B, consumer polling (timeout 0)", CK_MSGS},
	[CM_SOCK64] = {"unix_64b", "UNIX socket 64 B", CK_MSGS},
	[CM_PIPE64] = {"pipe_64b", "pipe 64 B", CK_MSGS},
	[CM_FLOOR64K] = {"floor_ring_64k", "raw ring 64 KiB", CK_BYTES},
	[CM_ZC64K] = {"chan_64k_zerocopy", "channel 64 KiB zero copy", CK_BYTES},
	[CM_CHAN64K] = {"chan_64k_copy", "channel 64 KiB copy", CK_BYTES},
	[CM_SOCK64K] = {"unix_64k", "UNIX socket 64 KiB", CK_BYTES},
	[CM_PIPE64K] = {"pipe_64k", "pipe 64 KiB", CK_BYTES},
	[CM_MEMCPY_RES] = {"memcpy_resident", "memcpy over a ring-sized span", CK_BYTES},
	[CM_MEMCPY_LARGE] = {"memcpy_256m", "memcpy over 256 MiB", CK_BYTES},
	[CM_RT_LINE] = {"floor_rt_line", "cache-line round trip", CK_RT},
	[CM_RT_RINGS] = {"floor_rt_rings", "round trip through two raw rings", CK_RT},
	[CM_RT_POLL] = {"chan_rt_poll", "polling round trip", CK_RT},
	[CM_RT_BLOCK] = {"chan_rt_futex", "blocking round trip (futex)", CK_RT},
	[CM_RT_BELL] = {"chan_rt_doorbell", "blocking round trip (doorbells)", CK_RT},
	[CM_RT_EFD] = {"eventfd_rt", "eventfd round trip", CK_RT},
};

const struct chan_m_info *chan_m_info(enum chan_m m)
{
	return &infos[m];
}

int chan_taker_check(const struct chan_taker *t, const char *name)
{
	chan_sink = t->sum;
	if (!t->bad)
		return 0;
	return cli_error("bench chan: %s: %llu of %llu messages out of order or damaged (their numbers did not "
			 "follow)", name, (unsigned long long)t->bad, (unsigned long long)t->n);
}

/* ---- throughput ------------------------------------------------------- */

/* How the messages go: the consumer's side. */
enum way { W_CHAN, W_CHAN_POLL, W_CHAN_ZC, W_CHAN_BATCH, W_CHAN_ZC_BATCH, W_SOCK, W_PIPE };

static const struct {
	enum way w;
	const char *chan; /* the channel, for W_CHAN* */
	size_t msg;
} tput_methods[CM_N] = {
	[CM_CHAN64] = {W_CHAN, "b64", CHAN_SMALL},
	[CM_CHAN64_POLL] = {W_CHAN_POLL, "b64", CHAN_SMALL},
	[CM_CHAN64_BATCH] = {W_CHAN_BATCH, "b64", CHAN_SMALL},
	[CM_ZC64_BATCH] = {W_CHAN_ZC_BATCH, "b64", CHAN_SMALL},
	[CM_SOCK64] = {W_SOCK, NULL, CHAN_SMALL},
	[CM_PIPE64] = {W_PIPE, NULL, CHAN_SMALL},
	[CM_ZC64K] = {W_CHAN_ZC, "b64k", CHAN_BIG},
	[CM_CHAN64K] = {W_CHAN, "b64k", CHAN_BIG},
	[CM_SOCK64K] = {W_SOCK, NULL, CHAN_BIG},
	[CM_PIPE64K] = {W_PIPE, NULL, CHAN_BIG},
};

/* 0, 1 at end of file before any byte of a message, -errno. */
static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t want = n;
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return n == want ? 1 : -EIO; /* a message cut short */
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* CHAN_BATCH messages numbered *i on (each 64 B of buf a message):
 * send_batch, or reserve + commit_more each and commit the last; *i is
 * left at the last one sent.  0 or -errno. */
static int produce_batch(ivshmem_chan *ch, enum way w, char *buf, uint64_t *i)
{
	struct ivshmem_chan_msg v[CHAN_BATCH];
	for (unsigned k = 0; k < CHAN_BATCH; k++) {
		uint64_t num = *i + k;
		memcpy(buf + k * CHAN_SMALL, &num, 8);
		v[k] = (struct ivshmem_chan_msg){.data = buf + k * CHAN_SMALL, .len = CHAN_SMALL};
	}
	if (w == W_CHAN_BATCH) {
		int r = ivshmem_chan_send_batch(ch, v, CHAN_BATCH, -1);
		if (r > 0)
			*i += (uint64_t)r - 1;
		return r < 0 ? r : 0;
	}
	for (unsigned k = 0; k < CHAN_BATCH; k++) {
		void *p;
		int r = ivshmem_chan_reserve(ch, CHAN_SMALL, &p, -1);
		if (r < 0)
			return r;
		memcpy(p, v[k].data, CHAN_SMALL); /* the producer builds it in place */
		r = k + 1 < CHAN_BATCH ? ivshmem_chan_commit_more(ch, CHAN_SMALL) : ivshmem_chan_commit(ch, CHAN_SMALL);
		if (r < 0)
			return r;
	}
	*i += CHAN_BATCH - 1;
	return 0;
}

/* The producer (a child): each message stamped with its number, sent for
 * b->secs.  Channels send with the default spin, then sleep; zero copy
 * writes the message in place from a hot buffer. */
static void producer_child(const struct chan_bench *b, enum way w, const char *name, size_t msg, int fd)
{
	if (bench_child_bind(b->parent, b->keep_out) < 0)
		_exit(1);
	static char buf[CHAN_BIG];
	bench_pin(&b->cpus, 1);
	memset(buf, 'p', sizeof(buf));
	ivshmem_chan *ch = NULL;
	if (w != W_SOCK && w != W_PIPE && !(ch = chan_open_role(b->ep, name, IVSHMEM_CHAN_PRODUCER, 0, 0)))
		_exit(1);
	double end = now_s() + b->secs;
	for (uint64_t i = 0;; i++) {
		if ((i & 63) == 0 && now_s() > end)
			break;
		int r;
		if (w == W_CHAN_BATCH || w == W_CHAN_ZC_BATCH) {
			r = produce_batch(ch, w, buf, &i); /* i: the last one sent */
			if (r < 0)
				_exit(2);
			if (now_s() > end) /* i moves by up to 16: no (i & 63) */
				break;
			continue;
		}
		memcpy(buf, &i, 8);
		if (w == W_CHAN || w == W_CHAN_POLL) {
			r = ivshmem_chan_send(ch, buf, msg, -1);
		} else if (w == W_CHAN_ZC) {
			void *p;
			r = ivshmem_chan_reserve(ch, msg, &p, -1);
			if (r == 0) {
				memcpy(p, buf, msg); /* the producer builds it in place */
				r = ivshmem_chan_commit(ch, msg);
			}
		} else {
			r = ivs_write_all(fd, buf, msg);
		}
		if (r < 0)
			_exit(2);
	}
	ivshmem_chan_close(ch);
	ivs_close(fd);
	_exit(0);
}

/* Take one message of msg bytes (a constant in each branch: the checksum
 * unrolls as the floor's does). */
static void take(struct chan_taker *t, const void *p, ssize_t k, size_t msg)
{
	if (k != (ssize_t)msg)
		t->bad++;
	else if (msg == CHAN_SMALL)
		chan_take(t, p, CHAN_SMALL);
	else
		chan_take(t, p, CHAN_BIG);
}

/* The consumer (this process), until the producer is done: 0 at the end
 * (EOF, -EPIPE), or -errno. */
static int consume_all(enum way w, ivshmem_chan *ch, int fd, size_t msg, struct chan_taker *t, double *t0)
{
	static char buf[CHAN_BIG];
	for (;;) {
		ssize_t k;
		if (w == W_CHAN) {
			k = ivshmem_chan_recv(ch, buf, sizeof(buf), RECV_TIMEOUT_MS);
		} else if (w == W_CHAN_POLL) {
			uint64_t idle = 0;
			for (unsigned i = 1; (k = ivshmem_chan_recv(ch, buf, sizeof(buf), 0)) == -EAGAIN; i++) {
				bench_cpu_relax();
				if ((i & 4095) == 0) { /* bounded, as the blocking consumer */
					uint64_t now = ivs_now_ns();
					if (!idle)
						idle = now + RECV_TIMEOUT_MS * 1000000ull;
					else if (now >= idle)
						return -ETIMEDOUT;
				}
			}
		} else if (w == W_CHAN_BATCH || w == W_CHAN_ZC_BATCH) {
			static char bufs[CHAN_BATCH][CHAN_SMALL];
			struct ivshmem_chan_msg v[CHAN_BATCH];
			for (unsigned j = 0; j < CHAN_BATCH; j++)
				v[j] = (struct ivshmem_chan_msg){.data = bufs[j], .cap = CHAN_SMALL};
			k = w == W_CHAN_BATCH ? ivshmem_chan_recv_batch(ch, v, CHAN_BATCH, RECV_TIMEOUT_MS)
					      : ivshmem_chan_peek_batch(ch, v, CHAN_BATCH, RECV_TIMEOUT_MS);
			for (ssize_t j = 0; j < k; j++)
				take(t, v[j].data, (ssize_t)v[j].len, CHAN_SMALL); /* in place, or the copy */
			if (k > 0 && w == W_CHAN_ZC_BATCH) {
				int r = ivshmem_chan_release(ch);
				if (r < 0)
					return r;
			}
			if (k > 0 && t->n == (uint64_t)k)
				*t0 = now_s();
			if (k > 0)
				continue;
		} else if (w == W_CHAN_ZC) {
			const void *p;
			k = ivshmem_chan_peek(ch, &p, RECV_TIMEOUT_MS);
			if (k >= 0) {
				take(t, p, k, msg); /* read in place */
				int r = ivshmem_chan_release(ch);
				if (r < 0)
					return r;
			}
		} else {
			int r = read_full(fd, buf, msg);
			if (r > 0)
				return 0;
			k = r < 0 ? r : (ssize_t)msg;
		}
		if (k == -EPIPE)
			return 0;
		if (k == -ECONNRESET)
			continue;
		if (k < 0)
			return (int)k;
		if (w != W_CHAN_ZC)
			take(t, buf, k, msg);
		if (t->n == 1)
			*t0 = now_s();
	}
}

static uint64_t wakeups(ivshmem_chan *ch)
{
	struct ivshmem_chan_stat s;
	return ch && ivshmem_chan_stat(ch, &s) == 0 ? s.producer_rings + s.consumer_rings : 0;
}

/* Measure m's way on channel name (NULL: none) with messages of msg bytes
 * for b->secs. */
static int measure_tput(const struct chan_bench *b, enum chan_m m, const char *name, struct chan_val *out)
{
	enum way w = tput_methods[m].w;
	size_t msg = tput_methods[m].msg;
	int sv[2] = {-1, -1};
	ivshmem_chan *ch = NULL;
	if (w == W_SOCK && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (w == W_PIPE) {
		if (pipe2(sv, O_CLOEXEC) < 0)
			return -errno;
		int rd = sv[0]; /* sv[0]: the child's end (writes), sv[1]: ours */
		sv[0] = sv[1];
		sv[1] = rd;
	}
	if (name && !(ch = chan_open_role(b->ep, name, IVSHMEM_CHAN_CONSUMER, 0, 0)))
		return -EPROTO;
	uint64_t rings0 = wakeups(ch);
	pid_t pid = bench_fork("chan", "the producer process");
	if (pid < 0) {
		ivs_close(sv[0]);
		ivs_close(sv[1]);
		ivshmem_chan_close(ch);
		return 1;
	}
	if (pid == 0) {
		ivs_close(sv[1]);
		producer_child(b, w, name, msg, sv[0]);
	}
	sv[0] = ivs_close(sv[0]);
	struct chan_taker t = {0};
	double t0 = 0;
	int err = consume_all(w, ch, sv[1], msg, &t, &t0);
	double dt = now_s() - t0;
	int st = bench_reap(pid, err ? 0 : BENCH_TIMEOUT_MS);
	ivs_close(sv[1]);
	uint64_t w1 = wakeups(ch);
	ivshmem_chan_close(ch);
	if (err)
		return err;
	if (chan_taker_check(&t, infos[m].name))
		return 1;
	if (t.n < 2 || dt <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	out->per_msg = (double)(w1 - rings0) / (double)t.n;
	out->v = (double)(t.n - 1) / dt * (msg == CHAN_SMALL ? 1 : (double)msg);
	return 0;
}

/* The producer's work without a consumer or a queue: 64 KiB memcpy calls
 * from a hot buffer walking span bytes of dst, for b->secs / 2.  Bytes/s. */
static double memcpy_rate(const struct chan_bench *b, char *dst, size_t span)
{
	static char src[CHAN_BIG];
	memset(src, 's', sizeof(src));
	for (size_t o = 0; o < span; o += 4096) /* fault it in */
		dst[o] = 0;
	unsigned long n = 0;
	size_t off = 0;
	double t0 = now_s(), end = t0 + b->secs / 2;
	while (now_s() < end) {
		for (int i = 0; i < 16; i++) {
			memcpy(dst + off, src, CHAN_BIG);
			off = off + 2 * CHAN_BIG > span ? 0 : off + CHAN_BIG;
		}
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		n += 16;
	}
	return (double)n * CHAN_BIG / (now_s() - t0);
}

int chan_measure(const struct chan_bench *b, enum chan_m m, struct chan_val *out)
{
	switch (m) {
	case CM_FLOOR64:
	case CM_FLOOR64_POLL:
	case CM_FLOOR64K: return chan_floor_tput(b, m, out);
	case CM_RT_LINE:
	case CM_RT_RINGS: return chan_floor_rt(b, m, out);
	case CM_MEMCPY_RES:
		out->v = b->resident ? memcpy_rate(b, b->resident, b->ring_64k) : 0;
		return 0;
	case CM_MEMCPY_LARGE:
		out->v = b->large ? memcpy_rate(b, b->large, b->large_span) : 0;
		return 0;
	case CM_RT_POLL:
	case CM_RT_BLOCK:
	case CM_RT_BELL:
	case CM_RT_EFD: return chan_measure_rt(b, m, out);
	default: return measure_tput(b, m, tput_methods[m].chan, out);
	}
}

int chan_measure_ring(const struct chan_bench *b, int way, unsigned i, struct chan_val *out)
{
	struct chan_bench half = *b;
	half.secs = b->secs / 2;
	return measure_tput(&half, way == SW_ZC ? CM_ZC64K : CM_CHAN64K, b->sweep->name[i], out);
}
