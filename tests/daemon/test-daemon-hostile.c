/* SPDX-License-Identifier: MIT */
/* A `daemon:` endpoint and `ivshmem peers` against a fake daemon that
 * misbehaves: a peer count that grows between calls, a flood of notices
 * instead of an answer, a backlog that never drains; and the daemon core
 * starting next to a live daemon whose backlog is full.  Every client runs
 * in a child waited for with a bound. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "../proc-util.h"
#include "../../src/daemon/daemon.h"
#include "proto/daemon-proto.h"

#define T 5000

static char dir[64], sock[100], outpath[128];

static void answer(int c, const struct ivs_dp_req *q, const uint64_t *v, int fd)
{
	struct ivs_dp_resp r = {.version = IVS_DP_VERSION, .opcode = q->opcode, .seq = q->seq};
	memcpy(r.v, v, sizeof(r.v));
	uint8_t b[IVS_DP_RESP_SIZE];
	ivs_dp_resp_encode(&r, b);
	ivs_dp_send(c, b, sizeof(b), fd, 0);
}

/* The fake daemon: serves connections one after the other.  PEERS reports
 * 3 more peers at each call (bad_page: 8 peers, the second page with a
 * malformed entry); RING is never answered: notices flood in. */
static pid_t fake_daemon(int lfd, bool bad_page)
{
	pid_t pid = fork();
	if (pid != 0) {
		setpgid(pid, pid);
		return pid;
	}
	setpgid(0, 0);
	signal(SIGPIPE, SIG_IGN);
	int mem = memfd_create("t", MFD_CLOEXEC);
	if (mem < 0 || ftruncate(mem, 65536) < 0)
		_exit(1);
	unsigned total = 3;
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			_exit(1);
		for (;;) {
			uint8_t b[IVS_DP_REQ_SIZE];
			int fd;
			ssize_t n = ivs_dp_recv(c, b, sizeof(b), &fd, 0);
			struct ivs_dp_req q;
			if (n <= 0 || ivs_dp_req_decode(b, (size_t)n, &q) < 0)
				break;
			uint64_t v[6] = {0};
			if (q.opcode == IVS_DP_HELLO) {
				v[0] = IVS_DP_GRANT_SHM_RW | IVS_DP_GRANT_SHM_RO | IVS_DP_GRANT_RING;
				v[1] = IVS_DP_NO_PEER_ID;
				v[3] = 65536;
				v[5] = IVS_DP_VERSION;
				answer(c, &q, v, -1);
			} else if (q.opcode == IVS_DP_MAP) {
				v[0] = 65536;
				v[2] = IVSHMEM_CACHE_WB;
				answer(c, &q, v, mem);
			} else if (q.opcode == IVS_DP_PEERS) {
				if (bad_page)
					total = 8;
				v[0] = total;
				for (unsigned i = 0; i < IVS_DP_PEERS_PER_MSG && q.a0 + i < total; i++)
					v[1 + i] = ivs_dp_peer_pack((uint16_t)(q.a0 + i), 1);
				if (bad_page && q.a0 > 0)
					v[2] = 0; /* "no such peer" inside the count */
				total += 3;
				answer(c, &q, v, -1);
			} else if (q.opcode == IVS_DP_RING) {
				/* No answer, only notices, from several writers. */
				struct ivs_dp_resp nt = {.version = IVS_DP_VERSION, .opcode = IVS_DP_EVENT,
							 .v = {IVSHMEM_EVENT_PEER_JOIN, 7, 1}};
				uint8_t nb[IVS_DP_RESP_SIZE];
				ivs_dp_resp_encode(&nt, nb);
				for (int i = 0; i < 3; i++)
					if (fork() == 0)
						break;
				while (ivs_dp_send(c, nb, sizeof(nb), -1, 0) == 0)
					;
				_exit(0);
			}
		}
		close(c);
	}
}

static void test_growing_peers(void)
{
	const char *cli = getenv("IVSHMEM");
	if (!cli) {
		ok(1, "# SKIP IVSHMEM not set");
		return;
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "timeout 10 %s peers daemon:%s > %s 2>&1", cli, sock, outpath);
	int st = system(cmd);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ivshmem peers runs against a daemon whose peer count grows");
	FILE *f = fopen(outpath, "re");
	int lines = 0;
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		lines++;
		printf("#   %s", line);
	}
	if (f)
		fclose(f);
	is(lines, 1 + 3, "it prints itself and the 3 peers it made room for, no more");
	ok(f && strstr(line, "peer 2:") != NULL, "the last line is peer 2");
	f = fopen(outpath, "re");
	ok(f && fgets(line, sizeof(line), f) && strcmp(line, "self: no id, 0 vectors\n") == 0,
	   "no peer ID is shown as such, not as an errno");
	if (f)
		fclose(f);
}

static void test_notice_flood(void)
{
	pid_t kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "daemon:%s", sock);
		struct ivshmem_open_opts o = {.ready_timeout_ms = 2000};
		ivshmem_ep *ep;
		if (ivshmem_open(spec, &o, &ep) < 0)
			_exit(10);
		int r = ivshmem_ring(ep, 1, 0);
		if (r != -ETIMEDOUT)
			_exit(11);
		/* The flood goes on: next_event must return all the same. */
		struct ivshmem_event ev;
		for (int i = 0; i < 20; i++)
			if (ivshmem_next_event(ep, &ev) != 1)
				_exit(12);
		ivshmem_close(ep);
		_exit(0);
	}
	is(reap_bounded(kid, T), 0, "a request times out, and events come, while notices flood in");
}

/* A bad second page of the peer list: -EPROTO, and nothing of the first
 * page written (output parameters are untouched on failure). */
static void test_bad_page(const char *path)
{
	pid_t kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "daemon:%s", path);
		ivshmem_ep *ep;
		if (ivshmem_open(spec, NULL, &ep) < 0)
			_exit(10);
		struct ivshmem_peer out[8];
		memset(out, 0xa5, sizeof(out));
		if (ivshmem_peers(ep, out, 8) != -EPROTO)
			_exit(11);
		for (size_t i = 0; i < sizeof(out); i++)
			if (((unsigned char *)out)[i] != 0xa5)
				_exit(12);
		if (ivshmem_peers(ep, out, 3) != 8 || out[2].id != 2)
			_exit(13); /* the first page alone is fine */
		ivshmem_close(ep);
		_exit(0);
	}
	is(reap_bounded(kid, T), 0, "a malformed second page of peers: -EPROTO, the output untouched");
}

static void test_backlog_full(void)
{
	int lfd = listen_unix(sock, SOCK_SEQPACKET, 0); /* never accepts */
	int fill[16];
	int n = fill_backlog(sock, SOCK_SEQPACKET, fill, 16);
	ok(lfd >= 0 && n < 16, "a daemon that never accepts, its backlog full");
	pid_t kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "daemon:%s", sock);
		struct ivshmem_open_opts o = {.ready_timeout_ms = 300};
		ivshmem_ep *ep;
		_exit(ivshmem_open(spec, &o, &ep) == -ETIMEDOUT ? 0 : 10);
	}
	is(reap_bounded(kid, T), 0, "daemon: open gives -ETIMEDOUT instead of sleeping in connect()");

	/* The daemon core's stale-socket probe must not sleep either. */
	char file[128];
	snprintf(file, sizeof(file), "%s/mem", dir);
	int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 65536) < 0)
		printf("# cannot create %s\n", file);
	if (fd >= 0)
		close(fd);
	kid = fork();
	if (kid == 0) {
		char spec[160];
		snprintf(spec, sizeof(spec), "file:%s", file);
		ivshmem_ep *ep;
		if (ivshmem_open(spec, NULL, &ep) < 0)
			_exit(10);
		struct ivsd_config cfg = {.socket_path = sock};
		struct ivsd *d;
		int r = ivsd_new(&cfg, ep, &d);
		_exit(r == -EADDRINUSE ? 0 : 11);
	}
	is(reap_bounded(kid, T), 0, "a daemon starting there sees a live daemon (-EADDRINUSE), without hanging");
	ok(access(sock, F_OK) == 0, "and leaves its socket alone");
	for (int i = 0; i < n; i++)
		close(fill[i]);
	close(lfd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivsd-hostile-XXXXXX");
	if (!mkdtemp(dir))
		fail_all("setup: mkdtemp %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(outpath, sizeof(outpath), "%s/out", dir);
	int lfd = listen_unix(sock, SOCK_SEQPACKET, 8);
	pid_t fake = lfd >= 0 ? fake_daemon(lfd, false) : -1;
	if (lfd >= 0)
		close(lfd);
	ok(fake > 0, "fake daemon runs");
	test_growing_peers();
	test_notice_flood();
	kill(-fake, SIGKILL);
	waitpid(fake, NULL, 0);
	char bad[128];
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	lfd = listen_unix(bad, SOCK_SEQPACKET, 8);
	fake = lfd >= 0 ? fake_daemon(lfd, true) : -1;
	if (lfd >= 0)
		close(lfd);
	ok(fake > 0, "a second fake daemon runs (a bad page of peers)");
	test_bad_page(bad);
	kill(-fake, SIGKILL);
	waitpid(fake, NULL, 0);
	test_backlog_full();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
