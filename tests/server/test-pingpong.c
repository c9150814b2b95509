/* SPDX-License-Identifier: MIT */
/* examples/pingpong.c against a real `ivshmem server` with other peers on
 * it: an unrelated peer that was there first (the lowest ID, which a
 * pingpong that takes the first other peer would pick) and two pingpongs
 * at once.  Each pingpong (a parent and its echo child) must find its own
 * partner: every round trip completes, and nobody rings the bystander.
 * Every wait is bounded; no timing thresholds. */
#include "srv-test.h"
#include "../tap.h"

#include <sys/mman.h>

#define T 5000
#define ROUNDS "200"

static char dir[64], sock[128], logpath[128], shm[64];

/* Run the example with stdout to out and stderr to err. */
static pid_t spawn_pingpong(const char *prog, const char *out, const char *err)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	pid_t pid = fork();
	if (pid == 0) {
		int n = open("/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (n < 0 || o < 0 || e < 0)
			_exit(127);
		dup2(n, 0);
		dup2(o, 1);
		dup2(e, 2);
		execl(prog, prog, spec, ROUNDS, (char *)NULL);
		_exit(127);
	}
	return pid;
}

int main(void)
{
	const char *prog = getenv("PINGPONG");
	if (!getenv("IVSHMEM") || !prog) {
		printf("Bail out! IVSHMEM and PINGPONG (paths of the binaries) must be set\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-pingpong-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
	snprintf(shm, sizeof(shm), "ivs-test-pp-%d", (int)getpid());
	pid_t srv = start_server(sock, shm, 1, logpath, NULL);
	ok(srv > 0, "server starts");

	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	ivshmem_ep *bystander = NULL;
	is(srv > 0 ? ivshmem_open(spec, NULL, &bystander) : -1, 0, "an unrelated peer joins first");
	is(bystander ? ivshmem_id(bystander) : -1, 0, "as peer 0");

	char out[2][160], err[2][160];
	pid_t pp[2];
	for (int i = 0; i < 2; i++) {
		snprintf(out[i], sizeof(out[i]), "%s/pingpong%d.out", dir, i);
		snprintf(err[i], sizeof(err[i]), "%s/pingpong%d.err", dir, i);
		pp[i] = srv > 0 ? spawn_pingpong(prog, out[i], err[i]) : -1;
	}
	for (int i = 0; i < 2; i++) {
		/* A bound far above the run: each wait in it is bounded by 5 s. */
		is(pp[i] > 0 ? reap_bounded(pp[i], 6 * T) : -1, 0, "pingpong %d exits 0", i + 1);
		ok(file_contains(out[i], "doorbell round trips on vector 0"), "pingpong %d paired up", i + 1);
		ok(file_contains(out[i], "round trip: median"), "pingpong %d completed its round trips", i + 1);
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "sed 's/^/# pingpong %d: /' %s %s", i + 1, out[i], err[i]);
		fflush(stdout);
		(void)!system(cmd);
	}
	is(bystander ? ivshmem_vector_ack(bystander, 0) : -1, 0, "nobody rang the unrelated peer");
	ivshmem_close(bystander);
	stop_child(srv, SIGTERM);

	if (tap_failed) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "sed 's/^/# log: /' %s", logpath);
		fflush(stdout);
		(void)!system(cmd);
	}
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	char path[128];
	snprintf(path, sizeof(path), "/%s", shm);
	shm_unlink(path);
	return tap_done();
}
