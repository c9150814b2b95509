/* SPDX-License-Identifier: MIT */
/* `make demo`, part 1: two processes share one region through the file:
 * endpoint (what QEMU's ivshmem-plain maps on the host) and see each
 * other's writes.  No VM, no root. */
#include <ivshmem.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct board {
	_Atomic unsigned seq; /* bumped after each message */
	char msg[252];
};

static int wait_seq(struct board *b, unsigned want)
{
	for (int i = 0; i < 5000; i++) { /* at most ~5 s */
		if (atomic_load_explicit(&b->seq, memory_order_acquire) >= want)
			return 0;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return -1;
}

static void post(struct board *b, const char *text)
{
	snprintf(b->msg, sizeof(b->msg), "%s", text);
	atomic_fetch_add_explicit(&b->seq, 1, memory_order_release);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: share file:PATH\n");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	ivshmem_ep *ep;
	int r = ivshmem_open(argv[1], NULL, &ep);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	struct board *b = ivshmem_mem(ep);
	char line[128];
	if (pid == 0) { /* the "other VM" */
		if (wait_seq(b, 1) == 0) {
			printf("  [pid %d] read:  \"%s\"\n", getpid(), b->msg);
			snprintf(line, sizeof(line), "hello back from pid %d", getpid());
			post(b, line);
			printf("  [pid %d] wrote: \"%s\"\n", getpid(), line);
		}
		ivshmem_close(ep);
		return 0;
	}
	atomic_store(&b->seq, 0);
	snprintf(line, sizeof(line), "hello from pid %d", getpid());
	post(b, line);
	printf("  [pid %d] wrote: \"%s\" into %s (%zu bytes)\n", getpid(), line, argv[1],
	       ivshmem_mem_size(ep));
	fflush(stdout);
	int ok = wait_seq(b, 2) == 0;
	if (ok)
		printf("  [pid %d] read:  \"%s\"\n", getpid(), b->msg);
	int st;
	waitpid(pid, &st, 0);
	ivshmem_close(ep);
	return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
