/* SPDX-License-Identifier: MIT */
/* ivshmem bench chan: channels against a UNIX stream socket, a pipe, an
 * eventfd and plain memcpy, all measured in the same run between two
 * processes (fork).
 *
 *   throughput  64 B and 64 KiB messages (copy; zero copy for 64 KiB)
 *   round trip  ping-pong over two channels, polling and blocking, vs eventfd
 *   wakeups     doorbells (or futex wakes), both directions, per message at
 *               saturation
 *   memcpy      the same 64 KiB copies in one process: into a span of the
 *               region as large as the 64 KiB channel's ring (cache
 *               resident), and into a 256 MiB shared buffer (memory bound)
 *
 * Methodology: every measure is repeated --runs times, the repetitions are
 * interleaved (one of each per round) so a burst of foreign load hits all of
 * them alike, and the median is reported (round trips: median of each
 * run's p50 and p99).  When at least two CPUs are allowed, the two processes
 * are pinned to different CPUs.  The load average before and after and the
 * steal time are reported: on a shared machine the numbers are only
 * comparable within one run.
 *
 * By default the region is a temporary file in /dev/shm ("file:"), where
 * blocking mode sleeps on a futex.  If the server core is built in, blocking
 * mode is also measured with real doorbells between two "server:" peers.
 * --dev DEV runs on any endpoint instead (a guest's PCI device): its
 * channel layout is FORMATTED (contents destroyed). */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-common.h"
#include "cli.h"
#include "../server/server.h"
#include "util/util.h"

enum { OPT_SECONDS = CLI_OPT_FIRST_FREE, OPT_DEV, OPT_RUNS, OPT_NO_PIN };

#define BIG (64 * 1024)
#define SMALL 64
#define BIG_RING_DEFAULT (4u << 20)
#define LARGE_SPAN (256u << 20)
#define MAX_RUNS 50
#define RT_MAX_SAMPLES (1u << 20)

static double secs = 0.5;
static ivshmem_ep *ep;
static int pin_cpu[2] = {-1, -1}; /* parent, child; -1: not pinned */
static cpu_set_t all_cpus;	  /* the affinity we started with */
static bool have_all_cpus;
static volatile uint64_t sink;

static double now_s(void)
{
	return (double)ivs_now_ns() / 1e9;
}

/* Pin the calling process to its CPU (0 = parent, 1 = child); -1: let it
 * run on any CPU it started with. */
static void pin(int who)
{
	if (who < 0) {
		if (have_all_cpus)
			(void)sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
		return;
	}
	if (pin_cpu[who] < 0)
		return;
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(pin_cpu[who], &s);
	(void)sched_setaffinity(0, sizeof(s), &s);
}

static ivshmem_chan *open_role(ivshmem_ep *e, const char *name, int role, int spin_us, unsigned flags)
{
	struct ivshmem_chan_opts o = {.flags = flags, .spin_us = spin_us};
	ivshmem_chan *ch;
	int r = ivshmem_chan_open(e, name, role, &o, &ch);
	return r < 0 ? NULL : ch;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Quantile q (0..1) of v[0..n), sorts v. */
static double quantile(double *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static double median(const double *v, int n)
{
	double t[MAX_RUNS];
	memcpy(t, v, sizeof(*v) * (size_t)n);
	return quantile(t, (size_t)n, 0.5);
}

static double vmin(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double vmax(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/* ---- machine state ----------------------------------------------------- */

static double loadavg1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* Total and steal jiffies of all CPUs (0 if unknown). */
static void cpu_jiffies(uint64_t *total, uint64_t *steal)
{
	unsigned long long v[8] = {0};
	*total = *steal = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += v[i];
		*steal = v[7];
	}
	fclose(f);
}

/* ---- throughput ------------------------------------------------------- */

struct tput {
	double msgs, bytes;	/* per second */
	double wakeups_per_msg; /* doorbells/futex wakes, both directions */
};

enum mode { M_CHAN, M_CHAN_ZC, M_SOCK, M_PIPE };

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

static void producer_child(enum mode m, const char *name, size_t msg, int fd)
{
	static char buf[BIG];
	pin(1);
	memset(buf, 'p', sizeof(buf));
	double end = now_s() + secs;
	if (m == M_CHAN || m == M_CHAN_ZC) {
		ivshmem_chan *ch = open_role(ep, name, IVSHMEM_CHAN_PRODUCER, 0, 0);
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

/* 0, -errno, or 1 after bench_fork reported a failure. */
static int run_tput(enum mode m, const char *name, size_t msg, struct tput *out)
{
	int sv[2] = {-1, -1};
	ivshmem_chan *ch = NULL;
	if (m == M_SOCK && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (m == M_PIPE && pipe2(sv, O_CLOEXEC) < 0)
		return -errno;
	if (m == M_PIPE) { /* sv[0] read end; make the child write sv[1] */
		int t = sv[0];
		sv[0] = sv[1];
		sv[1] = t;
	}
	if (m == M_CHAN || m == M_CHAN_ZC) {
		ch = open_role(ep, name, IVSHMEM_CHAN_CONSUMER, 0, 0);
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
		producer_child(m, name, msg, sv[0]);
	}
	if (sv[0] >= 0)
		close(sv[0]);
	static char buf[BIG];
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

/* The producer's work without a consumer: 64 KiB memcpy calls from the same
 * hot 64 KiB source, walking `span` bytes of dst, one process. */
static double memcpy_rate(char *dst, size_t span)
{
	static char src[BIG];
	memset(src, 's', sizeof(src));
	for (size_t o = 0; o < span; o += 4096) /* fault it in */
		dst[o] = 0;
	unsigned long n = 0;
	size_t off = 0;
	double t0 = now_s(), end = t0 + secs / 2;
	while (now_s() < end) {
		for (int i = 0; i < 16; i++) {
			memcpy(dst + off, src, BIG);
			off = off + 2 * BIG > span ? 0 : off + BIG;
		}
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		n += 16;
	}
	return (double)n * BIG / (now_s() - t0);
}

/* ---- round trip ------------------------------------------------------- */

enum rt { RT_POLL, RT_BLOCK, RT_EVENTFD };

struct rtres {
	double p50, p99, mean; /* ns */
	double sleeps_per_rt;
};

/* One side of the ping-pong: returns only in the parent. */
static int pong_loop(ivshmem_chan *in, ivshmem_chan *outc, bool poll_mode)
{
	char b[SMALL];
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
static int run_rt(enum rt mode, unsigned flags, const char *child_spec, struct rtres *res)
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
	int efd[2] = {-1, -1};
	if (mode == RT_EVENTFD) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		efd[1] = eventfd(0, EFD_CLOEXEC);
		if (efd[0] < 0 || efd[1] < 0)
			return -1;
	}
	int spin = mode == RT_BLOCK ? -1 : 0;
	ivshmem_ep *mine = ep;
	if (child_spec && ivshmem_open(child_spec, NULL, &mine) < 0)
		return -1;
	ivshmem_chan *ping = NULL, *pong = NULL;
	int ready[2];
	size_t n = 0, warm = 0;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	if (!pinned)
		pin(-1);
	pid_t pid = bench_fork("chan", "the ping-pong's second process");
	if (pid == 0) {
		pin(pinned ? 1 : -1);
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
		ivshmem_ep *e2 = ep;
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
	/* Wait until the child's attach info is visible (doorbell IDs). */
	usleep(20000);
	char b[SMALL] = {0};
	uint64_t end = ivs_now_ns() + (uint64_t)(secs / 2 * 1e9), prev = ivs_now_ns();
	uint64_t sleeps0 = 0;
	while (n < RT_MAX_SAMPLES) {
		if (mode == RT_EVENTFD) {
			uint64_t v = 1;
			if (write(efd[0], &v, 8) != 8 || read(efd[1], &v, 8) != 8)
				goto out;
		} else {
			int r;
			while ((r = ivshmem_chan_send(ping, b, 16, -1)) == -ECONNRESET)
				;
			if (r < 0)
				goto out;
			ssize_t k;
			do
				k = ivshmem_chan_recv(pong, b, sizeof(b), mode == RT_POLL ? 0 : 2000);
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
	if (efd[0] >= 0) {
		close(efd[0]);
		close(efd[1]);
	}
	res->sleeps_per_rt = 0;
	if (pong && n) {
		struct ivshmem_chan_stat s;
		ivshmem_chan_stat(pong, &s);
		res->sleeps_per_rt = (double)(s.sleeps - sleeps0) / (double)n;
	}
	ivshmem_chan_close(ping);
	ivshmem_chan_close(pong);
	if (mine != ep)
		ivshmem_close(mine);
	pin(0);
	if (pid < 0)
		return 1;
	if (n < 1)
		return -1;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += samples[i];
	res->mean = sum / (double)n;
	res->p50 = quantile(samples, n, 0.5);
	res->p99 = quantile(samples, n, 0.99);
	return 0;
}

/* ---- server for the doorbell variant ----------------------------------- */

/* The server child's pid, or -1 after bench_fork reported a failure. */
static pid_t start_server(const char *dir, char *spec, size_t spec_size, uint64_t size)
{
	char sock[108];
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(spec, spec_size, "server:%s", sock);
	pid_t pid = bench_fork("chan", "the server process");
	if (pid != 0)
		return pid;
	struct ivs_server *s = ivs_server_alloc();
	struct ivs_server_opts o = {.socket_path = sock, .shm_dir = "/dev/shm", .size = size,
				    .nvectors = 1, .socket_mode = -1, .socket_uid = (uid_t)-1,
				    .socket_gid = (gid_t)-1};
	if (ivs_server_init(s, &o) < 0 || ivs_server_start(s) < 0)
		_exit(1);
	for (;;)
		if (ivs_server_handle(s, -1) < 0)
			_exit(1);
}

/* ---- driver ------------------------------------------------------------ */

static const char *met(bool m)
{
	return m ? "met" : "NOT met";
}

/* Median of each measure over the runs. */
enum {
	T_C64, T_S64, T_P64, T_C64K, T_Z64K, T_S64K, T_P64K, T_N
};

static const char *const tput_name[T_N] = {"chan 64 B", "unix 64 B", "pipe 64 B", "chan 64 KiB",
					   "chan 64 KiB zero copy", "unix 64 KiB", "pipe 64 KiB"};

enum { R_POLL, R_BLOCK, R_BELL, R_EFD, R_N };

int bench_chan(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	const char *dev = NULL;
	unsigned runs = 5;
	bool do_pin = true;
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"seconds", required_argument, NULL, OPT_SECONDS},
		{"runs", required_argument, NULL, OPT_RUNS},
		{"no-pin", no_argument, NULL, OPT_NO_PIN},
		{"dev", required_argument, NULL, OPT_DEV},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?')
			return cli_bad_option(argv);
		if (c == OPT_SECONDS) {
			int ms;
			if (cli_parse_seconds("seconds", optarg, &ms))
				return 1;
			secs = ms / 1000.0 > 0.05 ? ms / 1000.0 : 0.05;
		} else if (c == OPT_RUNS) {
			if (cli_parse_uint("runs", optarg, MAX_RUNS, &runs))
				return 1;
			if (runs == 0)
				return cli_usage_error("--runs must be at least 1");
		} else if (c == OPT_NO_PIN) {
			do_pin = false;
		} else if (c == OPT_DEV) {
			dev = optarg;
		} else if (cli_common_opt(c, optarg, &o)) {
			return 1;
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument '%s' (usage: ivshmem bench chan [--json] "
				       "[--seconds N] [--runs N] [--no-pin] [--dev DEV])", argv[optind]);
	char path[64] = "", tmpdir[64] = "", spec[128];
	uint64_t region = 64ull << 20;
	if (!dev) {
		snprintf(path, sizeof(path), "/dev/shm/ivshmem-bench-XXXXXX");
		int fd = mkstemp(path);
		if (fd < 0)
			return cli_error("cannot create a file in /dev/shm: %s", strerror(errno));
		int r = ftruncate(fd, (off_t)region);
		close(fd);
		if (r < 0) {
			unlink(path);
			return cli_error("cannot size %s: %s", path, strerror(errno));
		}
		snprintf(spec, sizeof(spec), "file:%s", path);
		dev = spec;
	}
	o.open.flags |= IVSHMEM_OPEN_NO_IRQ;
	if (cli_open(dev, &o, &ep)) {
		if (path[0])
			unlink(path);
		return 1;
	}

	/* Two CPUs to pin to, from the ones we may run on. */
	have_all_cpus = sched_getaffinity(0, sizeof(all_cpus), &all_cpus) == 0;
	int ncpu_allowed = have_all_cpus ? CPU_COUNT(&all_cpus) : 0;
	if (do_pin && ncpu_allowed >= 2) {
		for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
			if (CPU_ISSET(i, &all_cpus))
				pin_cpu[k++] = i;
		pin(0);
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	int rc = 0;
	pid_t srv = -1;
	ivshmem_ep *sep = NULL;
	char *large = MAP_FAILED;
	int r = ivshmem_layout_init(ep);
	size_t big_ring = getenv("IVS_BENCH_RING") ? strtoul(getenv("IVS_BENCH_RING"), NULL, 0) : BIG_RING_DEFAULT;
	while (big_ring > 256 * 1024 && big_ring + (2u << 20) > ivshmem_mem_size(ep) / 2)
		big_ring >>= 1;
	if (r == 0)
		r = ivshmem_chan_create(ep, "b64", 1u << 20, SMALL);
	if (r == 0)
		r = ivshmem_chan_create(ep, "b64k", big_ring, BIG);
	if (r == 0)
		r = ivshmem_chan_create(ep, "ping", 64 * 1024, SMALL);
	if (r == 0)
		r = ivshmem_chan_create(ep, "pong", 64 * 1024, SMALL);
	if (r < 0) {
		rc = r == -ENOSPC ? cli_error("%s is too small for the benchmark (needs ~1.5 MiB plus 4x64 "
					      "KiB rings)", dev)
				  : cli_lib_error(dev, "set up channels in", r);
		goto out;
	}
	struct ivshmem_chan_stat bst;
	{
		ivshmem_chan *m = open_role(ep, "b64k", IVSHMEM_CHAN_MONITOR, 0, 0);
		if (!m || ivshmem_chan_stat(m, &bst) < 0) {
			rc = cli_error("cannot read back the 64 KiB channel");
			ivshmem_chan_close(m);
			goto out;
		}
		ivshmem_chan_close(m);
	}
	size_t rsize = ivshmem_mem_size(ep);
	char *resident = rsize / 2 >= bst.ring_size ? (char *)ivshmem_mem(ep) + rsize / 2 : NULL;
	large = mmap(NULL, LARGE_SPAN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	/* Doorbells: two server: peers, if a server can be started here. */
	const char *bell_note = "not measured (--dev given)";
	char sspec[160] = "";
	if (path[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ivshmem-bench-XXXXXX");
		bell_note = "server could not be started";
		if (!mkdtemp(tmpdir)) {
			tmpdir[0] = 0;
		} else if ((srv = start_server(tmpdir, sspec, sizeof(sspec), 4u << 20)) < 0) {
			rc = 1; /* no process to spare: the rest would fail too */
			goto out;
		} else {
			usleep(100000);
			if (ivshmem_open(sspec, NULL, &sep) == 0 && ivshmem_layout_init(sep) == 0 &&
			    ivshmem_chan_create(sep, "ping", 64 * 1024, SMALL) == 0 &&
			    ivshmem_chan_create(sep, "pong", 64 * 1024, SMALL) == 0)
				bell_note = "server: peers, doorbells";
			else
				sspec[0] = 0;
		}
	}

	fflush(stdout);
	double load0 = loadavg1();
	uint64_t jt0, js0, jt1, js1;
	cpu_jiffies(&jt0, &js0);
	static const struct {
		enum mode m;
		const char *name;
		size_t msg;
	} tp[T_N] = {
		{M_CHAN, "b64", SMALL},	   {M_SOCK, NULL, SMALL},     {M_PIPE, NULL, SMALL}, {M_CHAN, "b64k", BIG},
		{M_CHAN_ZC, "b64k", BIG}, {M_SOCK, NULL, BIG}, {M_PIPE, NULL, BIG},
	};
	double tv[T_N][MAX_RUNS], wk[T_N][MAX_RUNS], mres[MAX_RUNS], mlarge[MAX_RUNS];
	double p50[R_N][MAX_RUNS], p99[R_N][MAX_RUNS], mean[R_N][MAX_RUNS], slp[MAX_RUNS];
	bool bell_ok = sspec[0] != 0;
	for (unsigned k = 0; k < runs; k++) {
		for (int t = 0; t < T_N; t++) {
			struct tput x = {0};
			int e = run_tput(tp[t].m, tp[t].name, tp[t].msg, &x);
			if (e) {
				rc = e > 0 ? 1
					   : cli_error("throughput run '%s' failed (a child process died?)",
						       tput_name[t]);
				goto out;
			}
			tv[t][k] = tp[t].msg == SMALL ? x.msgs : x.bytes;
			wk[t][k] = x.wakeups_per_msg;
		}
		mres[k] = resident ? memcpy_rate(resident, bst.ring_size) : 0;
		mlarge[k] = large != MAP_FAILED ? memcpy_rate(large, LARGE_SPAN) : 0;
		for (int t = 0; t < R_N; t++) {
			struct rtres x = {0};
			int e;
			if (t == R_BELL && !bell_ok)
				continue;
			if (t == R_POLL)
				e = run_rt(RT_POLL, 0, NULL, &x);
			else if (t == R_BLOCK)
				e = run_rt(RT_BLOCK, 0, NULL, &x);
			else if (t == R_BELL)
				e = run_rt(RT_BLOCK, IVSHMEM_CHAN_NO_FUTEX, sspec, &x);
			else
				e = run_rt(RT_EVENTFD, 0, NULL, &x);
			if (e > 0) {
				rc = 1;
				goto out;
			}
			if (e && t == R_BELL) {
				bell_ok = false;
				bell_note = "server run failed";
				continue;
			}
			if (e) {
				rc = cli_error("round-trip run %d failed (a child process died?)", t);
				goto out;
			}
			p50[t][k] = x.p50;
			p99[t][k] = x.p99;
			mean[t][k] = x.mean;
			if (t == R_BLOCK)
				slp[k] = x.sleeps_per_rt;
		}
	}
	double load1 = loadavg1();
	cpu_jiffies(&jt1, &js1);
	double steal = jt1 > jt0 ? 100.0 * (double)(js1 - js0) / (double)(jt1 - jt0) : 0;
	int n = (int)runs;

	double T[T_N], W[T_N], P50[R_N] = {0}, P99[R_N] = {0}, MEAN[R_N] = {0};
	for (int t = 0; t < T_N; t++) {
		T[t] = median(tv[t], n);
		W[t] = median(wk[t], n);
	}
	for (int t = 0; t < R_N; t++) {
		if (t == R_BELL && !bell_ok)
			continue;
		P50[t] = median(p50[t], n);
		P99[t] = median(p99[t], n);
		MEAN[t] = median(mean[t], n);
	}
	double MRES = median(mres, n), MLARGE = median(mlarge, n), SLP = median(slp, n);
	double r64 = T[T_C64] / T[T_S64], r64k = T[T_C64K] / T[T_S64K], rz = T[T_Z64K] / T[T_S64K];
	/* The ceiling is the memcpy over the same working set as the ring
	 * (same messages, same region); the 256 MiB one is for information. */
	double rml = MLARGE > 0 ? T[T_Z64K] / MLARGE : 0, rmr = MRES > 0 ? T[T_Z64K] / MRES : 0;
	double rrt = P50[R_EFD] > 0 ? P50[R_POLL] / P50[R_EFD] : 0;
	double rrt99 = P99[R_EFD] > 0 ? P99[R_POLL] / P99[R_EFD] : 0;
	double wmax = W[T_C64];
	if (W[T_C64K] > wmax)
		wmax = W[T_C64K];
	if (W[T_Z64K] > wmax)
		wmax = W[T_Z64K];
	bool m64 = r64 >= 15, m64k = r64k >= 1.5, mz = rz >= 1.5, mml = rmr >= 0.5, mrt = rrt > 0 && rrt <= 1.0 / 20,
	     mdb = wmax <= 0.01;
	bool loaded = load0 >= 0.5;
	if (o.json) {
		printf("{\"endpoint\":\"%s\",\"seconds\":%.2f,\"runs\":%u,\"pinned_cpus\":[%d,%d],\"cpus\":%ld,"
		       "\"loadavg_start\":%.2f,\"loadavg_end\":%.2f,\"steal_pct\":%.1f,\"loaded\":%s,"
		       "\"ring_64b\":%u,\"ring_64k\":%llu,",
		       ivshmem_kind(ep), secs, runs, pin_cpu[0], pin_cpu[1], ncpu, load0, load1, steal,
		       loaded ? "true" : "false", 1u << 20, (unsigned long long)bst.ring_size);
		printf("\"msg64\":{\"chan_msgs_s\":%.0f,\"unix_msgs_s\":%.0f,\"pipe_msgs_s\":%.0f,\"ratio_unix\":%.2f,"
		       "\"met\":%s},",
		       T[T_C64], T[T_S64], T[T_P64], r64, m64 ? "true" : "false");
		printf("\"msg64k\":{\"chan_bytes_s\":%.0f,\"chan_zerocopy_bytes_s\":%.0f,\"unix_bytes_s\":%.0f,"
		       "\"pipe_bytes_s\":%.0f,\"memcpy_resident_bytes_s\":%.0f,\"memcpy_256m_bytes_s\":%.0f,"
		       "\"ratio_unix\":%.2f,\"ratio_zerocopy_unix\":%.2f,\"ratio_zerocopy_memcpy_256m\":%.2f,"
		       "\"ratio_zerocopy_memcpy_resident\":%.2f,\"met_unix\":%s,\"met_zerocopy_unix\":%s,"
		       "\"met_memcpy\":%s},",
		       T[T_C64K], T[T_Z64K], T[T_S64K], T[T_P64K], MRES, MLARGE, r64k, rz, rml, rmr,
		       m64k ? "true" : "false", mz ? "true" : "false", mml ? "true" : "false");
		printf("\"round_trip_ns\":{\"poll_p50\":%.0f,\"poll_p99\":%.0f,\"block_p50\":%.0f,\"block_p99\":%.0f,"
		       "\"block_doorbell_p50\":%.0f,\"block_doorbell_p99\":%.0f,\"eventfd_p50\":%.0f,"
		       "\"eventfd_p99\":%.0f,\"poll_mean\":%.0f,\"eventfd_mean\":%.0f,\"ratio_poll_eventfd\":%.4f,"
		       "\"met\":%s},",
		       P50[R_POLL], P99[R_POLL], P50[R_BLOCK], P99[R_BLOCK], bell_ok ? P50[R_BELL] : -1,
		       bell_ok ? P99[R_BELL] : -1, P50[R_EFD], P99[R_EFD], MEAN[R_POLL], MEAN[R_EFD], rrt,
		       mrt ? "true" : "false");
		printf("\"wakeups_per_msg\":{\"saturated_64b\":%.5f,\"saturated_64k\":%.5f,"
		       "\"saturated_64k_zerocopy\":%.5f,\"met\":%s}}\n",
		       W[T_C64], W[T_C64K], W[T_Z64K], mdb ? "true" : "false");
		goto out;
	}
	printf("ivshmem bench chan: %s endpoint, two processes, %u runs x %.2f s, medians\n", ivshmem_kind(ep), runs,
	       secs);
	if (pin_cpu[0] >= 0)
		printf("pinned: parent CPU %d, child CPU %d (%ld CPUs online); blocking round trips not "
		       "pinned\n",
		       pin_cpu[0], pin_cpu[1], ncpu);
	else
		printf("not pinned (%s; %ld CPUs online)\n", do_pin ? "fewer than 2 CPUs allowed" : "--no-pin", ncpu);
	printf("load average %.2f before, %.2f after; steal %.1f%%%s\n", load0, load1, steal,
	       loaded ? "  -- LOADED: other work was running, numbers are noisy" : "");
	printf("rings: 64 B channel 1 MiB; 64 KiB channel %llu KiB (%llu messages in flight)\n\n",
	       (unsigned long long)bst.ring_size >> 10, (unsigned long long)bst.ring_size / (BIG + 8));
	printf("%-36s %12s %12s %12s\n", "throughput", "median", "min", "max");
	static const char *const label[T_N] = {
		"64 B msgs/s: channel",	       "64 B msgs/s: UNIX socket",	"64 B msgs/s: pipe",
		"64 KiB B/s: channel (copy)", "64 KiB B/s: channel (zero copy)", "64 KiB B/s: UNIX socket",
		"64 KiB B/s: pipe",
	};
	for (int t = 0; t < T_N; t++)
		printf("%-36s %12.3g %12.3g %12.3g\n", label[t], T[t], vmin(tv[t], n), vmax(tv[t], n));
	printf("%-36s %12.3g %12.3g %12.3g\n", "memcpy 64 KiB B/s: ring-sized span", MRES, vmin(mres, n),
	       vmax(mres, n));
	printf("%-36s %12.3g %12.3g %12.3g\n", "memcpy 64 KiB B/s: 256 MiB span", MLARGE, vmin(mlarge, n),
	       vmax(mlarge, n));
	printf("  zero copy: the producer writes each message in place, the consumer reads\n"
	       "    every byte in place.\n"
	       "  memcpy: one process, no queue, no second core: the producer's copies alone\n"
	       "    (64 KiB from a hot buffer), walking a span of the region as large as the\n"
	       "    ring (same working set: stays in cache) or a 256 MiB shared mapping\n"
	       "    (memory bound).\n");
	printf("\n%-36s %10s %10s %10s\n", "round trip, 64 B (ns)", "p50", "p99", "mean");
	static const char *const rlabel[R_N] = {"channel, polling", "channel, blocking (futex)",
						"channel, blocking (doorbell)", "eventfd ping-pong"};
	for (int t = 0; t < R_N; t++) {
		if (t == R_BELL && !bell_ok) {
			printf("%-36s %10s   (%s)\n", rlabel[t], "-", bell_note);
			continue;
		}
		printf("%-36s %10.0f %10.0f %10.0f", rlabel[t], P50[t], P99[t], MEAN[t]);
		if (t == R_BLOCK)
			printf("   (%.2f sleeps/round trip)", SLP);
		printf("\n");
	}
	printf("\nwakeups per message at saturation (both directions): 64 B %.5f, 64 KiB copy %.5f, "
	       "zero copy %.5f\n",
	       W[T_C64], W[T_C64K], W[T_Z64K]);
	printf("\ntargets (ratios of medians)\n");
	printf("  64 B: >= 15x UNIX socket msgs/s                  %8.1fx  %s\n", r64, met(m64));
	printf("  64 KiB copy: >= 1.5x UNIX socket bytes/s         %8.2fx  %s\n", r64k, met(m64k));
	printf("  64 KiB zero copy: >= 1.5x UNIX socket bytes/s    %8.2fx  %s\n", rz, met(mz));
	printf("  64 KiB zero copy: >= 0.5x memcpy (ring-sized)    %8.2fx  %s\n", rmr, met(mml));
	printf("    (vs the 256 MiB memcpy: %.2fx, for information)\n", rml);
	printf("  polling round trip p50 <= 1/20 eventfd p50       %8.4fx  %s  (p99: %.3fx)\n", rrt, met(mrt),
	       rrt99);
	printf("  <= 0.01 wakeups/msg at saturation (worst size)   %8.4f   %s\n", wmax, met(mdb));
out:
	if (large != MAP_FAILED)
		munmap(large, LARGE_SPAN);
	if (sep)
		ivshmem_close(sep);
	bench_reap(srv, 0); /* the server runs until killed */
	if (tmpdir[0]) {
		char sock[128];
		snprintf(sock, sizeof(sock), "%s/sock", tmpdir);
		bench_unlink_socket(sock);
		rmdir(tmpdir);
	}
	pin(-1);
	ivshmem_close(ep);
	if (path[0])
		unlink(path);
	return rc;
}
