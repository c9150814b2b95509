/* SPDX-License-Identifier: MIT */
/* Two servers started at the same moment on one socket path, many times,
 * half of the rounds over a stale socket (and a stale lock file) left by a
 * SIGKILLed server: exactly one must run, the other must fail with
 * -EADDRINUSE, and the socket at the path must be the winner's (a peer that
 * connects gets the winner's vector count).  Before the instance lock, both
 * could see the stale socket and the second removed the first's fresh one:
 * both ran, one of them unreachable.
 *
 * The server core runs in forked children released together by closing a
 * pipe.  In one of them (alternating) unlink() of the socket path is slowed
 * down (the test's unlink() interposes libc's for the statically linked
 * core), which makes the window between "the socket is stale" and "remove
 * it" wide enough to hit every time without the lock.  Every wait is
 * bounded; no timing thresholds. */
#include "srv-test.h"
#include "../tap.h"
#include "../proc-util.h"
#include "../../src/server/server.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define ROUNDS 20
#define T 10000 /* ms: bound of every wait */

static char dir[64], sock[128], shm[64], shm_never[80];
static volatile sig_atomic_t stop_flag;
static unsigned unlink_delay_us;

int unlink(const char *path)
{
	if (unlink_delay_us && !strcmp(path, sock))
		usleep(unlink_delay_us);
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Child `who` (0 or 1): start a server with who + 1 vectors, report
 * {who, result} on `report`, serve until SIGTERM (clean stop) or SIGKILL. */
static void child(unsigned who, int report, unsigned delay_us)
{
	unlink_delay_us = delay_us;
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	struct ivs_server_opts o = {
		.socket_path = sock,
		.shm_name = shm,
		.shm_reuse = true, /* a killed winner leaves its shm: restart over it */
		.size = 1 << 20,
		.nvectors = who + 1,
		.socket_mode = -1,
		.socket_uid = (uid_t)-1,
		.socket_gid = (gid_t)-1,
	};
	struct ivs_server *s = ivs_server_alloc();
	int r = ivs_server_init(s, &o);
	if (r == 0)
		r = ivs_server_start(s);
	char msg[2] = {(char)who, r == 0 ? 'R' : r == -EADDRINUSE ? 'U' : 'E'};
	if (write(report, msg, 2) != 2)
		_exit(3);
	if (r < 0) {
		ivs_server_close(s);
		_exit(1);
	}
	while (!stop_flag && ivs_server_handle(s, 100) >= 0)
		;
	ivs_server_close(s);
	_exit(0);
}

/* A peer that connects gets the winner's vector count (who + 1). */
static bool serves(int winner, int round)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	ivshmem_ep *ep = NULL;
	int o = ivshmem_open(spec, NULL, &ep);
	bool good = o == 0 && ivshmem_vectors(ep) == winner + 1;
	if (!good)
		printf("# round %d: open %d, %d vectors, winner has %d\n", round, o, ep ? ivshmem_vectors(ep) : -1,
		       winner + 1);
	ivshmem_close(ep);
	return good;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-race-%d", (int)getpid());
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	snprintf(shm, sizeof(shm), "ivs-race-%d", (int)getpid());
	snprintf(shm_never, sizeof(shm_never), "%s-must-not-exist", shm);
	if (mkdir(dir, 0755) < 0)
		fail_all("setup: cannot create %s: %s", dir, strerror(errno));
	char lock[160];
	snprintf(lock, sizeof(lock), "%s.lock", sock);

	struct race rc = {.sock = sock, .lock = lock, .rounds = ROUNDS, .timeout_ms = T,
			  .child = child, .serves = serves};
	struct race_result res = race_rounds(&rc);
	is(res.good, ROUNDS, "%d rounds of two concurrent starts: exactly one runs, it owns the socket", ROUNDS);
	ok(res.stale >= ROUNDS / 2, "%d rounds started over a stale socket", res.stale);

	/* The lock alone keeps a second server out, before it touches the shm. */
	struct ivs_server_opts o = {.socket_path = sock, .shm_name = shm, .shm_reuse = true, .size = 1 << 20,
				    .socket_mode = -1,
				    .socket_uid = (uid_t)-1, .socket_gid = (gid_t)-1};
	struct ivs_server *a = ivs_server_alloc(), *b = ivs_server_alloc();
	is(ivs_server_init(a, &o), 0, "first server: init");
	is(ivs_server_start(a), 0, "first server: start");
	struct ivs_server_opts o2 = o;
	o2.shm_name = shm_never;
	is(ivs_server_init(b, &o2), -EADDRINUSE, "second server: init fails with -EADDRINUSE");
	char never_path[96];
	snprintf(never_path, sizeof(never_path), "/dev/shm/%s", shm_never);
	ok(access(never_path, F_OK) < 0, "without creating its shm");
	ivs_server_close(b);
	ok(access(sock, F_OK) == 0 && access(lock, F_OK) == 0, "the first one's socket and lock stay");
	ivs_server_close(a);
	ok(access(sock, F_OK) < 0 && access(lock, F_OK) < 0, "close removes both");
	b = ivs_server_alloc();
	is(ivs_server_init(b, &o), 0, "a new server takes over");
	ivs_server_close(b);

	shm_unlink(shm);
	shm_unlink(shm_never);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
