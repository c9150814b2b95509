/* SPDX-License-Identifier: MIT */
/* ivshmem bench chan: channels against a UNIX stream socket, a pipe, an
 * eventfd and plain memcpy, all measured in the same run between two
 * processes (fork).
 *
 *   throughput  64 B and 64 KiB messages (copy; zero copy for 64 KiB)
 *   round trip  ping-pong over two channels, polling and blocking, vs eventfd
 *   wakeups     doorbells (or futex wakes) per message at saturation
 *
 * By default the region is a temporary file in /dev/shm ("file:"), where
 * blocking mode sleeps on a futex.  If the server core is built in, blocking
 * mode is also measured with real doorbells between two "server:" peers.
 * --dev DEV runs on any endpoint instead (a guest's PCI device): its
 * channel layout is FORMATTED (contents destroyed). */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "../server/server.h"
#include "util/util.h"

enum { OPT_SECONDS = CLI_OPT_FIRST_FREE, OPT_DEV };

#define BIG (64 * 1024)
#define SMALL 64

static double secs = 1.0;
static ivshmem_ep *ep;

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

struct tput {
	double msgs, bytes; /* per second */
	double wakeups_per_msg;
};

/* ---- throughput ------------------------------------------------------- */

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

static void producer_child(enum mode m, const char *name, size_t msg, int fd)
{
	static char buf[BIG];
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
					memcpy(w, buf, msg);
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
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (sv[1] >= 0)
			close(sv[1]);
		producer_child(m, name, msg, sv[0]);
	}
	if (sv[0] >= 0)
		close(sv[0]);
	static char buf[BIG];
	unsigned long n = 0;
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
				volatile char sink = ((const char *)p)[k ? k - 1 : 0]; /* touch it */
				(void)sink;
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
	int st;
	waitpid(pid, &st, 0);
	if (sv[1] >= 0)
		close(sv[1]);
	out->wakeups_per_msg = 0;
	if (ch) {
		struct ivshmem_chan_stat s;
		ivshmem_chan_stat(ch, &s);
		out->wakeups_per_msg = n ? (double)s.producer_rings / (double)n : 0;
		ivshmem_chan_close(ch);
	}
	if (n < 2 || dt <= 0)
		return -EIO;
	out->msgs = (double)(n - 1) / dt;
	out->bytes = out->msgs * (double)msg;
	return 0;
}

/* 64 KiB memcpy calls into the region, walking a span as big as the
 * channel's ring (same memory footprint), one process. */
static double memcpy_ceiling(size_t span)
{
	static char src[BIG];
	memset(src, 's', sizeof(src));
	size_t size = ivshmem_mem_size(ep);
	if (size / 2 < span || span < BIG)
		return 0;
	char *dst = (char *)ivshmem_mem(ep) + size / 2;
	unsigned long n = 0;
	size_t off = 0;
	double t0 = now_s(), end = t0 + secs / 2;
	while (now_s() < end) {
		for (int i = 0; i < 64; i++) {
			memcpy(dst + off, src, BIG);
			off = off + 2 * BIG > span ? 0 : off + BIG;
		}
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		n += 64;
	}
	return (double)n * BIG / (now_s() - t0);
}

/* ---- round trip ------------------------------------------------------- */

enum rt { RT_POLL, RT_BLOCK, RT_EVENTFD };

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

/* ns per round trip.  e2 (may be ep) is the endpoint for the child;
 * open_child creates it after fork when not NULL (server peers). */
static double run_rt(enum rt mode, unsigned flags, const char *child_spec, uint64_t *sleeps, uint64_t *rings)
{
	int efd[2] = {-1, -1};
	if (mode == RT_EVENTFD) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		efd[1] = eventfd(0, EFD_CLOEXEC);
	}
	int spin = mode == RT_BLOCK ? -1 : 0;
	ivshmem_ep *mine = ep;
	if (child_spec && ivshmem_open(child_spec, NULL, &mine) < 0)
		return -1;
	ivshmem_chan *ping = NULL, *pong = NULL;
	int ready[2];
	unsigned long n = 0;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
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
	double t0 = now_s(), end = t0 + secs / 2;
	while (now_s() < end) {
		for (int i = 0; i < 16; i++) {
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
			n++;
		}
	}
out:;
	double dt = now_s() - t0;
	if (ready[0] >= 0)
		close(ready[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (efd[0] >= 0) {
		close(efd[0]);
		close(efd[1]);
	}
	if (ping) {
		struct ivshmem_chan_stat s;
		ivshmem_chan_stat(pong, &s);
		if (sleeps)
			*sleeps = n ? s.sleeps / n : 0;
		if (rings)
			*rings = s.consumer_rings + s.producer_rings;
	}
	ivshmem_chan_close(ping);
	ivshmem_chan_close(pong);
	if (mine != ep)
		ivshmem_close(mine);
	return n ? dt / (double)n * 1e9 : -1;
}

/* ---- server for the doorbell variant ----------------------------------- */

static pid_t start_server(const char *dir, char *spec, size_t spec_size, uint64_t size)
{
	char sock[108];
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(spec, spec_size, "server:%s", sock);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	struct ivs_server s;
	struct ivs_server_opts o = {.socket_path = sock, .shm_dir = "/dev/shm", .size = size,
				    .nvectors = 1, .socket_mode = -1, .socket_uid = (uid_t)-1,
				    .socket_gid = (gid_t)-1};
	if (ivs_server_init(&s, &o) < 0 || ivs_server_start(&s) < 0)
		_exit(1);
	for (;;)
		if (ivs_server_handle(&s, -1) < 0)
			_exit(1);
}

/* ---- driver ------------------------------------------------------------ */

static const char *met(bool m)
{
	return m ? "met" : "NOT met";
}

int bench_chan(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	const char *dev = NULL;
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"seconds", required_argument, NULL, OPT_SECONDS},
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
		} else if (c == OPT_DEV) {
			dev = optarg;
		} else if (cli_common_opt(c, optarg, &o)) {
			return 1;
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument '%s' (usage: ivshmem bench chan [--json] "
				       "[--seconds N] [--dev DEV])", argv[optind]);
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
	int rc = 0;
	int r = ivshmem_layout_init(ep);
	size_t big_ring = getenv("IVS_BENCH_RING") ? strtoul(getenv("IVS_BENCH_RING"), NULL, 0) : 1u << 20;
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
	fflush(stdout);
	struct tput c64, s64, p64, c64k, z64k, s64k, p64k;
	if (run_tput(M_CHAN, "b64", SMALL, &c64) || run_tput(M_SOCK, NULL, SMALL, &s64) ||
	    run_tput(M_PIPE, NULL, SMALL, &p64) || run_tput(M_CHAN, "b64k", BIG, &c64k) ||
	    run_tput(M_CHAN_ZC, "b64k", BIG, &z64k) || run_tput(M_SOCK, NULL, BIG, &s64k) ||
	    run_tput(M_PIPE, NULL, BIG, &p64k)) {
		rc = cli_error("a throughput run failed (a child process died?)");
		goto out;
	}
	double mc = memcpy_ceiling(big_ring);
	uint64_t sl_poll = 0, sl_block = 0, rings_block = 0;
	double rt_poll = run_rt(RT_POLL, 0, NULL, &sl_poll, NULL);
	double rt_block = run_rt(RT_BLOCK, 0, NULL, &sl_block, &rings_block);
	double rt_efd = run_rt(RT_EVENTFD, 0, NULL, NULL, NULL);
	/* Doorbells: two server: peers, if a server can be started here. */
	double rt_bell = -1;
	const char *bell_note = "not measured (--dev given)";
	pid_t srv = -1;
	if (path[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ivshmem-bench-XXXXXX");
		char sspec[160];
		if (mkdtemp(tmpdir) && (srv = start_server(tmpdir, sspec, sizeof(sspec), 4u << 20)) > 0) {
			usleep(100000);
			ivshmem_ep *sep = NULL;
			if (ivshmem_open(sspec, NULL, &sep) == 0 && ivshmem_layout_init(sep) == 0 &&
			    ivshmem_chan_create(sep, "ping", 64 * 1024, SMALL) == 0 &&
			    ivshmem_chan_create(sep, "pong", 64 * 1024, SMALL) == 0) {
				rt_bell = run_rt(RT_BLOCK, IVSHMEM_CHAN_NO_FUTEX, sspec, NULL, NULL);
				bell_note = rt_bell > 0 ? "server: peers, doorbells" : "server run failed";
			} else {
				bell_note = "server could not be started";
			}
			ivshmem_close(sep);
			kill(srv, SIGTERM);
			waitpid(srv, NULL, 0);
		}
		char sock[128];
		snprintf(sock, sizeof(sock), "%s/sock", tmpdir);
		unlink(sock);
		rmdir(tmpdir);
	}

	double r64 = c64.msgs / s64.msgs, r64k = c64k.bytes / s64k.bytes, rz = z64k.bytes / s64k.bytes;
	double rmc = mc > 0 ? c64k.bytes / mc : 0, rrt = rt_efd > 0 ? rt_poll / rt_efd : 0;
	double dpm = c64.wakeups_per_msg;
	bool m64 = r64 >= 15, m64k = r64k >= 1.5 && rmc >= 0.5, mrt = rrt > 0 && rrt <= 1.0 / 20,
	     mdb = dpm <= 0.01;
	if (o.json) {
		printf("{\"endpoint\":\"%s\",\"seconds\":%.2f,"
		       "\"msg64\":{\"chan_msgs_s\":%.0f,\"unix_msgs_s\":%.0f,\"pipe_msgs_s\":%.0f,\"ratio_unix\":%.2f,"
		       "\"met\":%s},"
		       "\"msg64k\":{\"chan_bytes_s\":%.0f,\"chan_zerocopy_bytes_s\":%.0f,\"unix_bytes_s\":%.0f,"
		       "\"pipe_bytes_s\":%.0f,\"memcpy_bytes_s\":%.0f,\"ratio_unix\":%.2f,\"ratio_zerocopy_unix\":%.2f,"
		       "\"ratio_memcpy\":%.2f,\"met\":%s},"
		       "\"round_trip_ns\":{\"poll\":%.0f,\"block\":%.0f,\"block_doorbell\":%.0f,\"eventfd\":%.0f,"
		       "\"ratio_poll_eventfd\":%.3f,\"met\":%s},"
		       "\"wakeups_per_msg\":{\"saturated_64b\":%.5f,\"saturated_64k\":%.5f,\"met\":%s}}\n",
		       ivshmem_kind(ep), secs, c64.msgs, s64.msgs, p64.msgs, r64, m64 ? "true" : "false",
		       c64k.bytes, z64k.bytes, s64k.bytes, p64k.bytes, mc, r64k, rz, rmc, m64k ? "true" : "false",
		       rt_poll, rt_block, rt_bell, rt_efd, rrt, mrt ? "true" : "false", dpm, c64k.wakeups_per_msg,
		       mdb ? "true" : "false");
		goto out;
	}
	printf("ivshmem bench chan: %s endpoint, %.2f s per run, two processes\n\n", ivshmem_kind(ep), secs);
	printf("%-30s %14s %14s %14s\n", "throughput", "channel", "UNIX socket", "pipe");
	printf("%-30s %14.3g %14.3g %14.3g\n", "64 B messages/s", c64.msgs, s64.msgs, p64.msgs);
	printf("%-30s %14.3g %14.3g %14.3g\n", "64 KiB bytes/s (copy)", c64k.bytes, s64k.bytes, p64k.bytes);
	printf("%-30s %14.3g\n", "64 KiB bytes/s (zero copy)", z64k.bytes);
	printf("%-30s %14.3g\n", "memcpy into the region, B/s", mc);
	printf("\n%-30s %14s\n", "round trip (64 B)", "ns");
	printf("%-30s %14.0f\n", "channel, polling", rt_poll);
	printf("%-30s %14.0f   (%s sleeps/round trip)\n", "channel, blocking (futex)", rt_block,
	       sl_block ? ">=1" : "<1");
	if (rt_bell > 0)
		printf("%-30s %14.0f   (%s)\n", "channel, blocking (doorbell)", rt_bell, bell_note);
	else
		printf("%-30s %14s   (%s)\n", "channel, blocking (doorbell)", "-", bell_note);
	printf("%-30s %14.0f\n", "eventfd ping-pong", rt_efd);
	printf("\nwakeups per message at saturation: 64 B %.5f, 64 KiB %.5f\n", dpm, c64k.wakeups_per_msg);
	printf("\ntargets\n");
	printf("  64 B: >= 15x UNIX socket msgs/s          %6.1fx   %s\n", r64, met(m64));
	printf("  64 KiB: >= 1.5x UNIX socket bytes/s      %6.2fx   %s (zero copy %.2fx)\n", r64k,
	       met(r64k >= 1.5), rz);
	printf("  64 KiB: >= 0.5x memcpy                   %6.2fx   %s\n", rmc, met(rmc >= 0.5));
	printf("  polling round trip <= 1/20 eventfd       %6.3fx   %s\n", rrt, met(mrt));
	printf("  <= 0.01 wakeups/msg at saturation        %6.4f    %s\n", dpm, met(mdb));
out:
	ivshmem_close(ep);
	if (path[0])
		unlink(path);
	return rc;
}
