/* SPDX-License-Identifier: MIT */
/* `make demo`, part 2: two host peers of an ivshmem server ring each other.
 * The same code runs in a guest with DEV = a PCI address (bound to vfio-pci).
 *
 *   pingpong server:/tmp/ivshmem_socket [ROUNDS]
 *
 * Forks: the child echoes every doorbell on vector 0 back to its sender; the
 * parent measures round trips and prints median and p99. */
#include <ivshmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Wait until a peer other than ourselves shows up; returns its ID. */
static int other_peer(ivshmem_ep *ep)
{
	for (int i = 0; i < 500; i++) {
		struct ivshmem_peer p[8];
		struct ivshmem_event ev;
		while (ivshmem_next_event(ep, &ev) > 0)
			;
		int n = ivshmem_peers(ep, p, 8);
		for (int k = 0; k < n && k < 8; k++)
			if (p[k].id != ivshmem_id(ep))
				return p[k].id;
		usleep(10000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pingpong server:SOCKET [ROUNDS]\n");
		return 1;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	if (rounds < 1 || rounds > 1000000)
		rounds = 2000;
	pid_t child = fork();
	if (child < 0)
		return 1;
	ivshmem_ep *ep;
	int r = ivshmem_open(argv[1], NULL, &ep);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	int peer = other_peer(ep);
	if (peer < 0) {
		fprintf(stderr, "no other peer showed up\n");
		return 1;
	}
	if (child == 0) { /* echo */
		for (int i = 0; i < rounds; i++) {
			if (ivshmem_wait(ep, 0, 5000) < 0)
				break;
			ivshmem_ring(ep, (unsigned)peer, 0);
		}
		ivshmem_close(ep);
		return 0;
	}
	printf("  peer %d (pid %d) <-> peer %d (pid %d), %d doorbell round trips on vector 0\n",
	       ivshmem_id(ep), getpid(), peer, child, rounds);
	double *rtt = calloc((size_t)rounds, sizeof(double));
	int done = 0;
	for (; rtt && done < rounds; done++) {
		double t0 = now_us();
		if (ivshmem_ring(ep, (unsigned)peer, 0) < 0 || ivshmem_wait(ep, 0, 5000) < 0)
			break;
		rtt[done] = now_us() - t0;
	}
	int st = 0;
	waitpid(child, &st, 0);
	if (done == rounds) {
		qsort(rtt, (size_t)done, sizeof(double), cmp);
		printf("  round trip: median %.1f us, p99 %.1f us\n", rtt[done / 2],
		       rtt[(size_t)(done * 0.99)]);
	} else {
		fprintf(stderr, "  stopped after %d round trips\n", done);
	}
	free(rtt);
	ivshmem_close(ep);
	return done == rounds ? 0 : 1;
}
