/* SPDX-License-Identifier: MIT */
/* Unmodified QEMU (ivshmem-doorbell, 2 vectors) against `ivshmem server`:
 * the server logs QEMU's connection, a host peer sees it join with 2
 * vectors and can ring it, and sees it leave when QEMU is killed.
 * QEMU is killed with SIGKILL: QEMU's own exit path double-frees the
 * eventfd array of a peer that left earlier (its bug, not ours). */
#include "srv-test.h"
#include "../tap.h"

#include <stdlib.h>
#include <sys/mman.h>

#define T 30000 /* ms: TCG startup can be slow on a loaded machine */

static char *find_qemu(void)
{
	static char path[512];
	const char *env = getenv("IVSHMEM_QEMU");
	if (env)
		return access(env, X_OK) == 0 ? (char *)env : NULL;
	const char *p = getenv("PATH");
	char *dup = strdup(p ? p : "/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof(path), "%s/qemu-system-x86_64", d);
		if (access(path, X_OK) == 0) {
			free(dup);
			return path;
		}
	}
	free(dup);
	return NULL;
}

int main(void)
{
	if (!getenv("IVSHMEM"))
		skip_all("IVSHMEM (path of the ivshmem binary) not set");
	char *qemu = find_qemu();
	if (!qemu) /* scripts/deps.sh installs it for make check */
		fail_all("setup: qemu-system-x86_64 not found in PATH (package qemu-system-x86)");
	char dir[64] = "/tmp/ivs-qemu-XXXXXX";
	if (!mkdtemp(dir))
		fail_all("setup: mkdtemp %s: %s", dir, strerror(errno));
	char sock[128], logp[128], qlog[128], shm[64], chardev[200];
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(logp, sizeof(logp), "%s/server.log", dir);
	snprintf(qlog, sizeof(qlog), "%s/qemu.log", dir);
	snprintf(shm, sizeof(shm), "ivs-qemu-%d", (int)getpid());
	snprintf(chardev, sizeof(chardev), "socket,path=%s,id=ivs", sock);

	pid_t srv = start_server(sock, shm, 2, logp, NULL);
	ok(srv > 0, "server starts");
	ivshmem_ep *a = NULL;
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	is(ivshmem_open(spec, NULL, &a), 0, "host peer opens");

	char *argv[] = {qemu, "-machine", "pc", "-accel", "tcg", "-nographic", "-nodefaults", "-S",
			"-display", "none", "-chardev", chardev, "-device", "ivshmem-doorbell,chardev=ivs,vectors=2",
			"-monitor", "none", NULL};
	pid_t q = a ? spawn_logged(argv, qlog) : -1;
	ok(q > 0, "QEMU started");
	struct ivshmem_event ev = {0};
	int r = a ? wait_event_type(a, IVSHMEM_EVENT_PEER_JOIN, -1, &ev, T) : -1;
	is(r, 1, "host peer sees QEMU join");
	is(ev.vectors, 2, "QEMU's peer has 2 vectors");
	int qid = ev.peer;
	ok(wait_log(logp, "peer 1 connected (2 vectors", T), "server logs QEMU's connection");
	if (r == 1) {
		is(ivshmem_ring(a, (unsigned)qid, 0), 0, "ring QEMU's vector 0");
		is(ivshmem_ring(a, (unsigned)qid, 1), 0, "ring QEMU's vector 1");
		is(ivshmem_ring(a, (unsigned)qid, 2), -EINVAL, "QEMU has no vector 2");
	}
	int st = 0;
	ok(q > 0 && waitpid(q, &st, WNOHANG) == 0, "QEMU is still running after the doorbells");
	stop_child(q, SIGKILL);
	r = a ? wait_event_type(a, IVSHMEM_EVENT_PEER_LEAVE, qid, &ev, T) : -1;
	is(r, 1, "killing QEMU: PEER_LEAVE");
	ok(wait_log(logp, "peer 1 disconnected", T), "server logs QEMU's disconnection");
	ivshmem_close(a);
	stop_child(srv, SIGTERM);

	char cmd[400];
	printf("# server log:\n");
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "sed 's/^/#   /' %s; sed 's/^/#   qemu: /' %s; rm -rf %s", logp, qlog, dir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	char path[80];
	snprintf(path, sizeof(path), "/%s", shm);
	shm_unlink(path);
	return tap_done();
}
