/* SPDX-License-Identifier: MIT */
/* ivshmem bench daemon: doorbell round trip through the daemon against the
 * direct path, in the same run.
 *
 *   direct:  the client rings an echo peer by writing its eventfd and waits
 *            on its own eventfd for the echo's ring back: exactly what two
 *            server: peers do with the eventfds the server hands out.
 *   daemon:  the client is a daemon:SOCKET endpoint.  Its ring goes to the
 *            daemon (RING request), the daemon's device rings the same kind
 *            of echo peer, whose ring back fires the device's vector; the
 *            daemon passes it to the client's subscribed eventfd.
 *
 * The daemon owns a file: device in /dev/shm whose doorbell and vector are
 * wired to the echo process (a server peer in miniature), so the benchmark
 * needs no server, VM or root. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../daemon/daemon.h" /* the daemon core (src/daemon) */
#include "cli.h"
#include "endpoint/endpoint.h"

enum { OPT_ITER = CLI_OPT_FIRST_FREE };

static int wait_fd(int fd)
{
	for (;;) {
		uint64_t v;
		if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) == 0)
			return -ETIMEDOUT;
	}
}

/* The echo peer: every ring on `in` rings `out` back. */
static pid_t start_echo(int in, int out)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) {
			if (wait_fd(in) == -ETIMEDOUT && getppid() == 1)
				_exit(0);
			ivs_eventfd_signal(out);
		}
	}
	return pid;
}

static int echo_fd = -1; /* the daemon device's doorbell target */

static int bench_ring(ivshmem_ep *ep, unsigned peer, unsigned vector)
{
	(void)ep;
	(void)vector;
	return peer == 1 ? ivs_eventfd_signal(echo_fd) : -ENOENT;
}

static struct ivs_ep_ops bench_ops;

static pid_t start_daemon(const char *dev, const char *sock, int vec_fd[1])
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGTERM);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int sfd = signalfd(-1, &m, SFD_CLOEXEC);
	ivshmem_ep *ep;
	if (ivshmem_open(dev, NULL, &ep) < 0)
		_exit(3);
	bench_ops = *ep->ops;
	bench_ops.ring = bench_ring;
	ep->ops = &bench_ops;
	ep->id = 0;
	ep->nvectors = 1;
	ep->vec_fds = vec_fd;
	struct ivsd_config cfg = {.socket_path = sock};
	struct ivsd *d;
	if (ivsd_new(&cfg, ep, &d) < 0)
		_exit(4);
	int r = ivsd_run(d, sfd);
	ivsd_free(d);
	_exit(r < 0 ? 5 : 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double median_us, p99_us;
};

static struct stats summarize(uint64_t *ns, unsigned n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	return (struct stats){ns[n / 2] / 1000.0, ns[(size_t)n * 99 / 100] / 1000.0};
}

int bench_daemon(int argc, char **argv)
{
	bool json = false;
	unsigned iters = 20000;
	static const struct option longopts[] = {
		{"json", no_argument, NULL, CLI_OPT_JSON},
		{"iterations", required_argument, NULL, OPT_ITER},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == CLI_OPT_JSON)
			json = true;
		else if (c == OPT_ITER) {
			if (cli_parse_uint("iterations", optarg, 10000000, &iters))
				return 1;
		} else
			return cli_bad_option(argv);
	}
	if (iters < 100)
		return cli_usage_error("iterations must be at least 100");

	char dir[] = "/tmp/ivshmem-bench-XXXXXX";
	if (!mkdtemp(dir))
		return cli_error("cannot create a directory in /tmp: %s", strerror(errno));
	char shm[64], dev[72], sock[64], spec[72];
	snprintf(shm, sizeof(shm), "/dev/shm/ivshmem-bench-%d", (int)getpid());
	snprintf(dev, sizeof(dev), "file:%s", shm);
	snprintf(sock, sizeof(sock), "%s/d.sock", dir);
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	int rc = 1;
	pid_t pids[3] = {-1, -1, -1};
	uint64_t *ns = malloc(2 * (size_t)iters * sizeof(*ns));
	int fd = open(shm, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (!ns || fd < 0 || ftruncate(fd, 1 << 20) < 0) {
		rc = cli_error("cannot create %s: %s", shm, strerror(errno));
		goto out;
	}
	close(fd);

	int to_echo1 = ivs_eventfd(), back1 = ivs_eventfd();
	int to_echo2 = ivs_eventfd(), dev_vec = ivs_eventfd();
	if (to_echo1 < 0 || back1 < 0 || to_echo2 < 0 || dev_vec < 0) {
		rc = cli_error("eventfd: %s", strerror(errno));
		goto out;
	}
	echo_fd = to_echo2;
	pids[0] = start_echo(to_echo1, back1);
	pids[1] = start_echo(to_echo2, dev_vec);
	int vec[1] = {dev_vec};
	pids[2] = start_daemon(dev, sock, vec);

	ivshmem_ep *ep = NULL;
	int r = -ECONNREFUSED;
	for (int i = 0; i < 300 && r < 0; i++) {
		r = ivshmem_open(spec, NULL, &ep);
		if (r < 0)
			usleep(10000);
	}
	if (r < 0) {
		rc = cli_lib_error(spec, "open", r);
		goto out;
	}
	uint64_t *direct = ns, *via = ns + iters;
	unsigned warm = iters / 20;
	for (unsigned i = 0; i < warm + iters; i++) {
		uint64_t t0 = ivs_now_ns();
		ivs_eventfd_signal(to_echo1);
		r = wait_fd(back1);
		uint64_t t1 = ivs_now_ns();
		if (r == 0)
			r = ivshmem_ring(ep, 1, 0);
		if (r == 0)
			r = ivshmem_wait(ep, 0, 5000) < 0 ? -ETIMEDOUT : 0;
		uint64_t t2 = ivs_now_ns();
		if (r < 0) {
			rc = cli_error("round trip %u failed: %s", i, strerror(-r));
			ivshmem_close(ep);
			goto out;
		}
		if (i >= warm) {
			direct[i - warm] = t1 - t0;
			via[i - warm] = t2 - t1;
		}
	}
	ivshmem_close(ep);
	struct stats sd = summarize(direct, iters), sv = summarize(via, iters);
	double rm = sv.median_us / sd.median_us, rp = sv.p99_us / sd.p99_us;
	if (json) {
		printf("{\"bench\":\"daemon\",\"iterations\":%u,"
		       "\"direct\":{\"median_us\":%.2f,\"p99_us\":%.2f},"
		       "\"daemon\":{\"median_us\":%.2f,\"p99_us\":%.2f},"
		       "\"ratio_median\":%.2f,\"ratio_p99\":%.2f}\n",
		       iters, sd.median_us, sd.p99_us, sv.median_us, sv.p99_us, rm, rp);
	} else {
		printf("doorbell round trip, %u iterations (interleaved)\n", iters);
		printf("  %-34s median %8.2f us   p99 %8.2f us\n", "direct (eventfd peers, as server:)",
		       sd.median_us, sd.p99_us);
		printf("  %-34s median %8.2f us   p99 %8.2f us\n", "through ivshmem daemon", sv.median_us,
		       sv.p99_us);
		printf("  daemon / direct: %.2fx median, %.2fx p99\n", rm, rp);
	}
	rc = 0;
out:
	for (int i = 0; i < 3; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			waitpid(pids[i], NULL, 0);
		}
	unlink(shm);
	unlink(sock);
	rmdir(dir);
	free(ns);
	return rc;
}
