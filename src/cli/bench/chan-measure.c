/* SPDX-License-Identifier: MIT */
/* The channel benchmark's measures; see chan.h. */
#include "bench/chan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

#define RT_MAX_SAMPLES (1u << 20)

static volatile uint64_t sink; /* what the consumers read goes here */

static double now_s(void)
{
	return (double)ivs_now_ns() / 1e9;
}

static ivshmem_chan *open_role(ivshmem_ep *e, const char *name, int role, int spin_us, unsigned flags)
{
	struct ivshmem_chan_opts o = {.flags = flags, .spin_us = spin_us};
	ivshmem_chan *ch;
	int r = ivshmem_chan_open(e, name, role, &o, &ch);
	return r < 0 ? NULL : ch;
}

/* ---- throughput ------------------------------------------------------- */

enum mode { M_CHAN, M_CHAN_ZC, M_SOCK, M_PIPE };

static const struct {
	enum mode m;
	const char *chan; /* the channel, for M_CHAN* */
	size_t msg;
	const char *name;
} tput_methods[T_N] = {
	[T_C64] = {M_CHAN, "b64", CHAN_SMALL, "chan 64 B"},
	[T_S64] = {M_SOCK, NULL, CHAN_SMALL, "unix 64 B"},
	[T_P64] = {M_PIPE, NULL, CHAN_SMALL, "pipe 64 B"},
	[T_C64K] = {M_CHAN, "b64k", CHAN_BIG, "chan 64 KiB"},
	[T_Z64K] = {M_CHAN_ZC, "b64k", CHAN_BIG, "chan 64 KiB zero copy"},
	[T_S64K] = {M_SOCK, NULL, CHAN_BIG, "unix 64 KiB"},
	[T_P64K] = {M_PIPE, NULL, CHAN_BIG, "pipe 64 KiB"},
};

const char *chan_tput_name(enum chan_tput t)
{
	return tput_methods[t].name;
}

size_t chan_tput_msg(enum chan_tput t)
{
	return tput_methods[t].msg;
}

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* What a zero-copy consumer does at least: read every byte in place
 * (16-byte loads, four independent chains: bound by the data transfer, not
 * by the loop). */
typedef uint64_t v2u64 __attribute__((vector_size(16)));

static uint64_t consume(const void *p, size_t n)
{
	const unsigned char *b = p;
	v2u64 x[4] = {{0}};
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		v2u64 w[4];
		memcpy(w, b + i, 64);
		x[0] ^= w[0];
		x[1] ^= w[1];
		x[2] ^= w[2];
		x[3] ^= w[3];
	}
	v2u64 y = x[0] ^ x[1] ^ x[2] ^ x[3];
	uint64_t r = y[0] ^ y[1];
	for (; i < n; i++)
		r ^= b[i];
	return r;
}

static void producer_child(const struct chan_bench *b, enum mode m, const char *name, size_t msg, int fd)
{
	if (bench_child_bind(b->parent, b->keep_out) < 0)
		_exit(1);
	static char buf[CHAN_BIG];
	bench_pin(&b->cpus, 1);
	memset(buf, 'p', sizeof(buf));
	double end = now_s() + b->secs;
	if (m == M_CHAN || m == M_CHAN_ZC) {
		ivshmem_chan *ch = open_role(b->ep, name, IVSHMEM_CHAN_PRODUCER, 0, 0);
		if (!ch)
			_exit(1);
		for (unsigned long i = 0;; i++) {
			if ((i & 63) == 0 && now_s() > end)
				break;
			int r;
			if (m == M_CHAN) {
				r = ivshmem_chan_send(ch, buf, msg, -1);
			} else {
				void *w;
				r = ivshmem_chan_reserve(ch, msg, &w, -1);
				if (r == 0) {
					memcpy(w, buf, msg); /* the producer builds it in place */
					r = ivshmem_chan_commit(ch, msg);
				}
			}
			if (r < 0)
				_exit(2);
		}
		ivshmem_chan_close(ch);
		_exit(0);
	}
	for (unsigned long i = 0;; i++) {
		if ((i & 63) == 0 && now_s() > end)
			break;
		if (ivs_write_all(fd, buf, msg) < 0)
			_exit(2);
	}
	close(fd);
	_exit(0);
}

int chan_measure_tput(const struct chan_bench *b, enum chan_tput t, struct chan_tput_res *out)
{
	enum mode m = tput_methods[t].m;
	const char *name = tput_methods[t].chan;
	size_t msg = tput_methods[t].msg;
	int sv[2] = {-1, -1};
	ivshmem_chan *ch = NULL;
	if (m == M_SOCK && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (m == M_PIPE && pipe2(sv, O_CLOEXEC) < 0)
		return -errno;
	if (m == M_PIPE) { /* sv[0] read end; make the child write sv[1] */
		int rd = sv[0];
		sv[0] = sv[1];
		sv[1] = rd;
	}
	if (m == M_CHAN || m == M_CHAN_ZC) {
		ch = open_role(b->ep, name, IVSHMEM_CHAN_CONSUMER, 0, 0);
		if (!ch)
			return -EPROTO;
	}
	uint64_t rings0 = 0;
	if (ch) {
		struct ivshmem_chan_stat s;
		ivshmem_chan_stat(ch, &s);
		rings0 = s.producer_rings + s.consumer_rings;
	}
	pid_t pid = bench_fork("chan", "the producer process");
	if (pid < 0) {
		ivs_close(sv[0]);
		ivs_close(sv[1]);
		ivshmem_chan_close(ch);
		return 1;
	}
	if (pid == 0) {
		if (sv[1] >= 0)
			close(sv[1]);
		producer_child(b, m, name, msg, sv[0]);
	}
	if (sv[0] >= 0)
		close(sv[0]);
	static char buf[CHAN_BIG];
	unsigned long n = 0;
	uint64_t x = 0;
	double t0 = 0;
	for (;;) {
		int r;
		if (m == M_CHAN) {
			ssize_t k = ivshmem_chan_recv(ch, buf, sizeof(buf), 10000);
			r = k < 0 ? (int)k : 0;
		} else if (m == M_CHAN_ZC) {
			const void *p;
			ssize_t k = ivshmem_chan_peek(ch, &p, 10000);
			if (k >= 0) {
				x ^= consume(p, (size_t)k);
				r = ivshmem_chan_release(ch);
			} else {
				r = (int)k;
			}
		} else {
			r = read_full(sv[1], buf, msg);
		}
		if (r < 0)
			break;
		if (n++ == 0)
			t0 = now_s();
	}
	double dt = now_s() - t0;
	sink = x;
	int st = bench_reap(pid, BENCH_TIMEOUT_MS);
	if (sv[1] >= 0)
		close(sv[1]);
	out->wakeups_per_msg = 0;
	if (ch) {
		struct ivshmem_chan_stat s;
		ivshmem_chan_stat(ch, &s);
		uint64_t w = s.producer_rings + s.consumer_rings - rings0;
		out->wakeups_per_msg = n ? (double)w / (double)n : 0;
		ivshmem_chan_close(ch);
	}
	if (n < 2 || dt <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	out->msgs = (double)(n - 1) / dt;
	out->bytes = out->msgs * (double)msg;
	return 0;
}

double chan_memcpy_rate(const struct chan_bench *b, char *dst, size_t span)
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

/* ---- round trip ------------------------------------------------------- */

enum rt { RT_POLL, RT_BLOCK, RT_EVENTFD };

/* One side of the ping-pong: returns only in the parent. */
static int pong_loop(ivshmem_chan *in, ivshmem_chan *outc, bool poll_mode)
{
	char b[CHAN_SMALL];
	for (;;) {
		ssize_t k;
		do
			k = ivshmem_chan_recv(in, b, sizeof(b), poll_mode ? 0 : -1);
		while (k == -EAGAIN || k == -ECONNRESET);
		if (k < 0)
			return (int)k;
		if (ivshmem_chan_send(outc, b, (size_t)k, -1) < 0)
			return -EIO;
	}
}

/* Round trips, each timed (one clock read per sample, included).
 * child_spec: open a separate endpoint in each process (server peers).
 * Polling is pinned (two spinners on one CPU take turns at scheduler-tick
 * pace); blocking modes are not (waking a task on the waker's own CPU is
 * the fast case, and the one an application gets by default).  0, -1, or 1
 * after bench_fork reported a failure. */
static int run_rt(const struct chan_bench *b, enum rt mode, unsigned flags, const char *child_spec,
		  struct chan_rt_res *res)
{
	bool pinned = mode == RT_POLL;
	static double samples[RT_MAX_SAMPLES];
	/* Unpinned modes: start from an idle machine.  Right after a busy
	 * phase (the pinned polling run spins both CPUs flat out) the
	 * scheduler's load history keeps the two processes on different
	 * CPUs, so every wakeup is a cross-CPU IPI (~20 us to a halted vCPU)
	 * whatever the mechanism: the first unpinned mode measured would pay
	 * for the previous one.  Let the load average of the last run decay
	 * (PELT half-life 32 ms) first. */
	if (!pinned)
		usleep(250000);
	int efd[2] = {-1, -1}, ready[2] = {-1, -1};
	int spin = mode == RT_BLOCK ? -1 : 0;
	ivshmem_ep *mine = b->ep;
	ivshmem_chan *ping = NULL, *pong = NULL;
	size_t n = 0, warm = 0;
	pid_t pid = 0; /* no child yet */
	if (mode == RT_EVENTFD) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		efd[1] = eventfd(0, EFD_CLOEXEC);
		if (efd[0] < 0 || efd[1] < 0)
			goto out;
	}
	if (child_spec && ivshmem_open(child_spec, NULL, &mine) < 0) {
		mine = b->ep;
		goto out;
	}
	if (pipe2(ready, O_CLOEXEC) < 0)
		goto out;
	if (!pinned)
		bench_pin(&b->cpus, -1);
	pid = bench_fork("chan", "the ping-pong's second process");
	if (pid == 0) {
		if (bench_child_bind(b->parent, b->keep_out) < 0)
			_exit(1);
		bench_pin(&b->cpus, pinned ? 1 : -1);
		if (mode == RT_EVENTFD) {
			uint64_t v;
			for (;;) {
				if (read(efd[0], &v, 8) != 8)
					_exit(1);
				v = 1;
				if (write(efd[1], &v, 8) != 8)
					_exit(1);
			}
		}
		ivshmem_ep *e2 = b->ep;
		if (child_spec && ivshmem_open(child_spec, NULL, &e2) < 0)
			_exit(1);
		ivshmem_chan *in = open_role(e2, "ping", IVSHMEM_CHAN_CONSUMER, spin, flags);
		ivshmem_chan *outc = open_role(e2, "pong", IVSHMEM_CHAN_PRODUCER, spin, flags);
		if (!in || !outc)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pong_loop(in, outc, mode == RT_POLL);
		_exit(0);
	}
	char c;
	close(ready[1]);
	if (pid < 0)
		goto out;
	if (mode != RT_EVENTFD) {
		/* Attach after the child, so neither side sees the other's
		 * previous incarnation (killed by the last run) go away. */
		if (read(ready[0], &c, 1) != 1)
			goto out;
		ping = open_role(mine, "ping", IVSHMEM_CHAN_PRODUCER, spin, flags);
		pong = open_role(mine, "pong", IVSHMEM_CHAN_CONSUMER, spin, flags);
		if (!ping || !pong)
			goto out;
	}
	close(ready[0]);
	ready[0] = -1;
	/* Doorbells: ring the child only once the server has announced it (its
	 * channel attach, made before "ready", names its peer ID). */
	int child_peer = -1;
	if (child_spec && bench_wait_event(mine, IVSHMEM_EVENT_PEER_JOIN, &child_peer) < 0)
		goto out;
	char m[CHAN_SMALL] = {0};
	uint64_t end = ivs_now_ns() + (uint64_t)(b->secs / 2 * 1e9), prev = ivs_now_ns();
	uint64_t sleeps0 = 0;
	while (n < RT_MAX_SAMPLES) {
		if (mode == RT_EVENTFD) {
			uint64_t v = 1;
			if (write(efd[0], &v, 8) != 8 || read(efd[1], &v, 8) != 8)
				goto out;
		} else {
			int r;
			while ((r = ivshmem_chan_send(ping, m, 16, -1)) == -ECONNRESET)
				;
			if (r < 0)
				goto out;
			ssize_t k;
			do
				k = ivshmem_chan_recv(pong, m, sizeof(m), mode == RT_POLL ? 0 : 2000);
			while (k == -EAGAIN || k == -ECONNRESET);
			if (k < 0)
				goto out;
		}
		uint64_t t = ivs_now_ns();
		if (warm < 20) { /* warm-up: caches, first wakeups */
			warm++;
			if (warm == 20 && pong) {
				struct ivshmem_chan_stat s;
				ivshmem_chan_stat(pong, &s);
				sleeps0 = s.sleeps;
			}
		} else {
			samples[n++] = (double)(t - prev);
		}
		prev = t;
		/* At least one sample: unpinned pollers sharing a CPU take turns
		 * per scheduler tick, and a short run may end in the warm-up. */
		if (t > end && n > 0)
			break;
	}
out:;
	if (ready[0] >= 0)
		close(ready[0]);
	bench_reap(pid, 0);
	ivs_close(efd[0]);
	ivs_close(efd[1]);
	res->sleeps_per_rt = 0;
	if (pong && n) {
		struct ivshmem_chan_stat s;
		ivshmem_chan_stat(pong, &s);
		res->sleeps_per_rt = (double)(s.sleeps - sleeps0) / (double)n;
	}
	ivshmem_chan_close(ping);
	ivshmem_chan_close(pong);
	if (mine != b->ep)
		ivshmem_close(mine);
	bench_pin(&b->cpus, 0);
	if (pid < 0)
		return 1;
	if (n < 1)
		return -1;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += samples[i];
	res->mean = sum / (double)n;
	res->p50 = bench_quantile(samples, n, 0.5);
	res->p99 = bench_quantile(samples, n, 0.99);
	return 0;
}

int chan_measure_rt(const struct chan_bench *b, enum chan_rt t, struct chan_rt_res *out)
{
	switch (t) {
	case R_POLL: return run_rt(b, RT_POLL, 0, NULL, out);
	case R_BLOCK: return run_rt(b, RT_BLOCK, 0, NULL, out);
	case R_BELL: return b->bell_spec ? run_rt(b, RT_BLOCK, IVSHMEM_CHAN_NO_FUTEX, b->bell_spec, out) : -1;
	case R_EFD: return run_rt(b, RT_EVENTFD, 0, NULL, out);
	default: return -1;
	}
}
