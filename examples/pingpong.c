/* SPDX-License-Identifier: MIT */
/* `make demo`, part 2: two host peers of an ivshmem server ring each other.
 *
 *   pingpong server:/tmp/ivshmem_socket [ROUNDS]
 *
 * Forks: parent and child each open their own endpoint (their own peer ID)
 * and tell each other their IDs through a pipe, so they pair up even when
 * other peers (VMs, other pingpongs) are on the server; each waits until
 * the server has announced the other before the first doorbell.  The child
 * echoes every doorbell on vector 0 back to the parent; the parent
 * measures round trips and prints median and p99.  ivshmem_ring and
 * ivshmem_wait are the same in a guest (DEV = a PCI address bound to
 * vfio-pci); only finding the partner needs the server's peer list. */
#include <errno.h>
#include <ivshmem.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Read len bytes within TIMEOUT_MS (the other side's open included):
 * 0, or -1 when they don't come (it failed, or died). */
static int read_within(int fd, void *buf, size_t len)
{
	double end = now_us() + 2 * TIMEOUT_MS * 1e3;
	size_t have = 0;
	while (have < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)((end - now_us()) / 1e3);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
		ssize_t n = read(fd, (char *)buf + have, len - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

/* Is `id` among the endpoint's peers?  1, 0, or -errno. */
static int listed(ivshmem_ep *ep, int id)
{
	int n = ivshmem_peers(ep, NULL, 0);
	if (n <= 0)
		return n;
	struct ivshmem_peer *p = calloc((size_t)n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int got = ivshmem_peers(ep, p, (size_t)n), found = 0;
	for (int i = 0; i < got && i < n; i++)
		found |= p[i].id == id;
	free(p);
	return got < 0 ? got : found;
}

/* Wait until the server has announced peer `id` to us (we can ring it):
 * 0, or -1 after a message. */
static int wait_for_peer(ivshmem_ep *ep, int id, const char *who)
{
	double end = now_us() + TIMEOUT_MS * 1e3;
	for (;;) {
		struct ivshmem_event ev;
		int r;
		while ((r = ivshmem_next_event(ep, &ev)) == 1)
			if (ev.type == IVSHMEM_EVENT_DISCONNECT) {
				fprintf(stderr, "%s: the server went away\n", who);
				return -1;
			}
		if (r < 0) {
			fprintf(stderr, "%s: reading the server: %s\n", who, strerror(-r));
			return -1;
		}
		r = listed(ep, id);
		if (r < 0) {
			fprintf(stderr, "%s: no peer list (%s): use server:SOCKET\n", who, strerror(-r));
			return -1;
		}
		if (r == 1)
			return 0;
		struct pollfd p = {.fd = ivshmem_event_fd(ep), .events = POLLIN};
		int left = (int)((end - now_us()) / 1e3);
		if (left <= 0 || poll(&p, 1, left) < 0) {
			fprintf(stderr, "%s: peer %d did not show up\n", who, id);
			return -1;
		}
	}
}

/* The child: echo every doorbell back to the parent. */
static int echo(const char *dev, int rounds, int to_parent, int from_parent)
{
	ivshmem_ep *ep = NULL;
	int r = ivshmem_open(dev, NULL, &ep);
	if (r < 0)
		fprintf(stderr, "echo: open %s: %s\n", dev, strerror(-r));
	int id = r < 0 ? -1 : ivshmem_id(ep), partner = -1;
	if (write(to_parent, &id, sizeof(id)) != sizeof(id) || id < 0 ||
	    read_within(from_parent, &partner, sizeof(partner)) < 0 || partner < 0 ||
	    wait_for_peer(ep, partner, "echo") < 0) {
		ivshmem_close(ep); /* the parent tells what went wrong */
		return 1;
	}
	char ready = 1;
	if (write(to_parent, &ready, 1) != 1)
		return 1;
	for (int i = 0; i < rounds; i++) {
		if (ivshmem_wait(ep, 0, TIMEOUT_MS) < 0)
			break;
		ivshmem_ring(ep, (unsigned)partner, 0);
	}
	ivshmem_close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: pingpong server:SOCKET [ROUNDS]\n");
		return 1;
	}
	const char *dev = argv[1];
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	if (rounds < 1 || rounds > 1000000)
		rounds = 2000;
	int up[2], down[2]; /* child -> parent, parent -> child */
	if (pipe(up) < 0 || pipe(down) < 0) {
		perror("pipe");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		close(up[0]);
		close(down[1]);
		return echo(dev, rounds, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);

	ivshmem_ep *ep;
	int r = ivshmem_open(dev, NULL, &ep);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", dev, strerror(-r));
		close(down[1]); /* the child stops at once */
		waitpid(child, NULL, 0);
		return 1;
	}
	int id = ivshmem_id(ep), peer = -1;
	char ready = 0;
	int ok = write(down[1], &id, sizeof(id)) == sizeof(id) && read_within(up[0], &peer, sizeof(peer)) == 0;
	if (!ok)
		fprintf(stderr, "the echo process did not tell its peer ID\n");
	else if (peer < 0)
		ok = 0; /* it could not open: it said why */
	else
		ok = wait_for_peer(ep, peer, "pingpong") == 0;
	if (ok && read_within(up[0], &ready, 1) < 0) {
		fprintf(stderr, "the echo process did not see peer %d\n", id);
		ok = 0;
	}
	close(down[1]);
	int done = 0;
	double *rtt = NULL;
	if (ok) {
		printf("  peer %d (pid %d) <-> peer %d (pid %d), %d doorbell round trips on vector 0\n", id,
		       getpid(), peer, child, rounds);
		fflush(stdout);
		rtt = calloc((size_t)rounds, sizeof(double));
		for (; rtt && done < rounds; done++) {
			double t0 = now_us();
			if (ivshmem_ring(ep, (unsigned)peer, 0) < 0 || ivshmem_wait(ep, 0, TIMEOUT_MS) < 0)
				break;
			rtt[done] = now_us() - t0;
		}
	}
	close(up[0]);
	int st = 0;
	waitpid(child, &st, 0);
	if (ok && done == rounds) {
		qsort(rtt, (size_t)done, sizeof(double), cmp);
		printf("  round trip: median %.1f us, p99 %.1f us\n", rtt[done / 2],
		       rtt[(size_t)(done * 0.99)]);
	} else if (ok) {
		fprintf(stderr, "  stopped after %d round trips\n", done);
	}
	free(rtt);
	ivshmem_close(ep);
	return ok && done == rounds ? 0 : 1;
}
