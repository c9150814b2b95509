/* SPDX-License-Identifier: MIT */
/* The channel benchmark's round trips: 64 B ping-pong over two channels,
 * polling and blocking (futex; doorbells between server peers), and an
 * eventfd ping-pong; and the batch timing every round trip uses, the
 * floors' too (chan.h).  Each process reads what it receives; the number
 * stamped in each message must come back in order. */
#include "bench/chan.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/util.h"

void chan_batches_init(struct chan_batches *bt, unsigned full, double secs)
{
	static double means[CHAN_RT_MAX];
	*bt = (struct chan_batches){.full = full, .size = CHAN_BATCH_BLOCK, .secs = secs, .mean = means};
	bt->start = bt->prev = ivs_now_ns();
}

int chan_batches_next(struct chan_batches *bt)
{
	uint64_t now = ivs_now_ns();
	double mean = (double)(now - bt->prev) / bt->size;
	int r = 1;
	bt->done += bt->size;
	if (bt->end) {
		bt->mean[bt->n++] = mean;
		bt->timed += bt->size;
		if (now > bt->end || bt->n == CHAN_RT_MAX)
			return 0;
	} else if (bt->done >= CHAN_WARM_RT || now - bt->start >= CHAN_WARM_NS) {
		bt->end = now + (uint64_t)(bt->secs * 1e9);
		r = 2;
	}
	bt->prev = now;
	bt->size = mean > CHAN_SLOW_NS ? 1 : bt->full;
	return r;
}

void chan_batches_finish(struct chan_batches *bt, struct chan_val *out)
{
	out->v = bench_quantile(bt->mean, bt->n, 0.5);
	out->p99 = bench_quantile(bt->mean, bt->n, 0.99);
}

enum rt { RT_POLL, RT_BLOCK, RT_EVENTFD };

/* Receive one message into b (polling: recv with timeout 0, 1 pause
 * between polls; else wait up to timeout_ms).  Its length or -errno. */
static ssize_t rt_recv(ivshmem_chan *in, char *b, bool poll_mode, int timeout_ms)
{
	ssize_t k;
	for (;;) {
		k = ivshmem_chan_recv(in, b, CHAN_SMALL, poll_mode ? 0 : timeout_ms);
		if (k == -EAGAIN && poll_mode)
			bench_cpu_relax();
		else if (k != -ECONNRESET)
			return k;
	}
}

/* The echo side (a child): read every message, send it back; returns only
 * when the channel ends. */
static int pong_loop(ivshmem_chan *in, ivshmem_chan *outc, bool poll_mode)
{
	char b[CHAN_SMALL];
	for (;;) {
		ssize_t k = rt_recv(in, b, poll_mode, -1);
		if (k < 0)
			return (int)k;
		chan_sink = chan_consume(b, (size_t)k);
		if (ivshmem_chan_send(outc, b, (size_t)k, -1) < 0)
			return -EIO;
	}
}

/* Round trips of 64 B, timed in batches (chan.h), for b->secs / 2.
 * child_spec: open a separate endpoint in each process (server peers).
 * Polling is pinned (two spinners on one CPU take turns at scheduler-tick
 * pace); blocking modes are not (waking a task on the waker's own CPU is
 * the fast case, and the one an application gets by default).  0, -errno,
 * or 1 after a message. */
static int run_rt(const struct chan_bench *b, enum chan_m which, enum rt mode, unsigned flags,
		  const char *child_spec, struct chan_val *res)
{
	bool pinned = mode == RT_POLL;
	struct chan_batches bt = {0};
	/* Unpinned modes: start from an idle machine.  Right after a busy
	 * phase (a pinned run spins both CPUs flat out) the scheduler's load
	 * history keeps the two processes on different CPUs, so every wakeup
	 * is a cross-CPU IPI (~20 us to a halted vCPU) whatever the
	 * mechanism: the first unpinned mode measured would pay for the
	 * previous one.  Let the load average of the last run decay (PELT
	 * half-life 32 ms) first. */
	if (!pinned)
		usleep(250000);
	int efd[2] = {-1, -1}, ready[2] = {-1, -1};
	int spin = mode == RT_BLOCK ? -1 : 0;
	ivshmem_ep *mine = b->ep;
	ivshmem_chan *ping = NULL, *pong = NULL;
	int err = -EIO;
	struct chan_taker t = {0};
	pid_t pid = 0; /* no child yet */
	if (mode == RT_EVENTFD) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		efd[1] = eventfd(0, EFD_CLOEXEC);
		if (efd[0] < 0 || efd[1] < 0) {
			err = -errno;
			goto out;
		}
	}
	if (child_spec && (err = ivshmem_open(child_spec, NULL, &mine)) < 0) {
		mine = b->ep;
		goto out;
	}
	if (pipe2(ready, O_CLOEXEC) < 0) {
		err = -errno;
		goto out;
	}
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
		ivshmem_chan *in = chan_open_role(e2, "ping", IVSHMEM_CHAN_CONSUMER, spin, flags);
		ivshmem_chan *outc = chan_open_role(e2, "pong", IVSHMEM_CHAN_PRODUCER, spin, flags);
		if (!in || !outc)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pong_loop(in, outc, mode == RT_POLL);
		_exit(0);
	}
	char c;
	ready[1] = ivs_close(ready[1]);
	if (pid < 0)
		goto out;
	err = -EIO;
	if (mode != RT_EVENTFD) {
		/* Attach after the child, so neither side sees the other's
		 * previous incarnation (killed by the last run) go away. */
		if (read(ready[0], &c, 1) != 1)
			goto out;
		ping = chan_open_role(mine, "ping", IVSHMEM_CHAN_PRODUCER, spin, flags);
		pong = chan_open_role(mine, "pong", IVSHMEM_CHAN_CONSUMER, spin, flags);
		if (!ping || !pong)
			goto out;
	}
	ready[0] = ivs_close(ready[0]);
	/* Doorbells: ring the child only once the server has announced it (its
	 * channel attach, made before "ready", names its peer ID). */
	int child_peer = -1;
	if (child_spec && (err = bench_wait_event(mine, IVSHMEM_EVENT_PEER_JOIN, &child_peer)) < 0)
		goto out;
	err = -EIO;
	char m[CHAN_SMALL];
	memset(m, 'q', sizeof(m));
	uint64_t sleeps0 = 0, num = 0;
	chan_batches_init(&bt, pinned ? CHAN_BATCH_POLL : CHAN_BATCH_BLOCK, b->secs / 2);
	for (int more = 1; more;) {
		for (unsigned j = 0; j < bt.size; j++, num++) {
			if (mode == RT_EVENTFD) {
				uint64_t v = 1;
				if (write(efd[0], &v, 8) != 8 || read(efd[1], &v, 8) != 8)
					goto out;
				continue;
			}
			memcpy(m, &num, 8);
			int r;
			while ((r = ivshmem_chan_send(ping, m, sizeof(m), -1)) == -ECONNRESET)
				;
			if (r < 0) {
				err = r;
				goto out;
			}
			ssize_t k = rt_recv(pong, m, mode == RT_POLL, 2000);
			if (k < 0) {
				err = (int)k;
				goto out;
			}
			if (k != sizeof(m))
				t.bad++;
			else
				chan_take(&t, m, sizeof(m)); /* the number comes back: it must follow */
		}
		more = chan_batches_next(&bt);
		struct ivshmem_chan_stat s;
		if (more == 2 && pong && ivshmem_chan_stat(pong, &s) == 0) /* timed from here */
			sleeps0 = s.sleeps;
	}
	err = 0;
out:;
	ready[0] = ivs_close(ready[0]);
	ready[1] = ivs_close(ready[1]);
	bench_reap(pid, 0);
	ivs_close(efd[0]);
	ivs_close(efd[1]);
	res->per_msg = 0;
	if (pong && err == 0) {
		struct ivshmem_chan_stat s;
		if (ivshmem_chan_stat(pong, &s) == 0)
			res->per_msg = (double)(s.sleeps - sleeps0) / (double)bt.timed;
	}
	ivshmem_chan_close(ping);
	ivshmem_chan_close(pong);
	if (mine != b->ep)
		ivshmem_close(mine);
	bench_pin(&b->cpus, 0);
	if (pid < 0)
		return 1;
	if (err)
		return err;
	if (chan_taker_check(&t, chan_m_info(which)->name))
		return 1;
	chan_batches_finish(&bt, res);
	return 0;
}

int chan_measure_rt(const struct chan_bench *b, enum chan_m m, struct chan_val *out)
{
	switch (m) {
	case CM_RT_POLL: return run_rt(b, m, RT_POLL, 0, NULL, out);
	case CM_RT_BLOCK: return run_rt(b, m, RT_BLOCK, 0, NULL, out);
	case CM_RT_BELL:
		return b->bell_spec ? run_rt(b, m, RT_BLOCK, IVSHMEM_CHAN_NO_FUTEX, b->bell_spec, out) : -ENOTCONN;
	case CM_RT_EFD: return run_rt(b, m, RT_EVENTFD, 0, NULL, out);
	default: return -EINVAL;
	}
}
