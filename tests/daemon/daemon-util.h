/* SPDX-License-Identifier: MIT */
/* What the daemon tests share: waiting for a socket, the raw protocol (one
 * request, its answer and fd, bounded), a real `ivshmem server` and the
 * daemon core in a child.  Every wait is bounded by DU_T ms. */
#ifndef IVS_TEST_DAEMON_UTIL_H
#define IVS_TEST_DAEMON_UTIL_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/daemon/daemon.h"
#include "proto/daemon-proto.h"

#define DU_T 10000 /* ms: hang guard of every wait, never the property tested */

static inline int du_connect(const char *path, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

/* Wait until something accepts connections of type on path: 0 or -1. */
static inline int du_wait_socket(const char *path, int type)
{
	for (int i = 0; i < DU_T / 10; i++) {
		int s = du_connect(path, type);
		if (s >= 0) {
			close(s);
			return 0;
		}
		usleep(10000); /* poll interval */
	}
	return -1;
}

/* One request on a raw daemon connection; its status (or a transport
 * error), the answer in *resp, an attached fd in *fd (closed if fd is
 * NULL).  HELLO with a0 = a1 = 0 asks for the current version. */
static inline int du_call(int s, uint16_t op, uint32_t a0, uint32_t a1, uint32_t a2, struct ivs_dp_resp *resp,
			  int *fd)
{
	static uint32_t seq;
	if (op == IVS_DP_HELLO && !a0 && !a1)
		a0 = a1 = IVS_DP_VERSION;
	struct ivs_dp_req req = {.version = IVS_DP_VERSION, .opcode = op, .seq = ++seq, .a0 = a0, .a1 = a1,
				 .a2 = a2};
	uint8_t buf[IVS_DP_RESP_SIZE];
	ivs_dp_req_encode(&req, buf);
	int got = -1, r = ivs_dp_send(s, buf, IVS_DP_REQ_SIZE, -1, 0);
	if (fd)
		*fd = -1;
	if (r < 0)
		return r;
	struct pollfd p = {.fd = s, .events = POLLIN};
	if (poll(&p, 1, DU_T) != 1)
		return -ETIMEDOUT;
	ssize_t n = ivs_dp_recv(s, buf, sizeof(buf), &got, 0);
	if (fd)
		*fd = got;
	else
		ivs_close(got);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	r = ivs_dp_resp_decode(buf, (size_t)n, resp);
	return r < 0 ? r : resp->status;
}

/* `cli server -F -S path -M name -l 1M -n 2 [extra]` with stderr to log,
 * accepting connections: its pid, or -1. */
static inline pid_t du_start_server(const char *cli, const char *path, const char *name, const char *log,
				    const char *extra1, const char *extra2)
{
	fflush(stdout);
	pid_t sp = fork();
	if (sp == 0) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		dup2(fd, 2);
		execl(cli, cli, "server", "-S", path, "-M", name, "-l", "1M", "-n", "2", "-F", extra1, extra2,
		      (char *)NULL);
		_exit(127);
	}
	if (du_wait_socket(path, SOCK_STREAM) < 0) {
		kill(sp, SIGKILL);
		waitpid(sp, NULL, 0);
		return -1;
	}
	return sp;
}

/* The daemon core in a child owning dev (ivsd_new + ivsd_run until
 * SIGTERM), listening on sock: its pid once it accepts, or -1.  The child
 * closes `drop` first (an endpoint of the parent's, or NULL). */
static inline pid_t du_start_core_daemon(const char *dev, const char *sock, const struct ivsd_policy *pol,
					 ivshmem_ep *drop)
{
	unlink(sock);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGTERM);
		sigprocmask(SIG_BLOCK, &m, NULL);
		int sfd = signalfd(-1, &m, SFD_CLOEXEC);
		ivshmem_close(drop);
		ivshmem_ep *ep;
		if (ivshmem_open(dev, NULL, &ep) < 0)
			_exit(3);
		struct ivsd_config cfg = {.socket_path = sock};
		if (pol)
			cfg.policy = *pol;
		struct ivsd *d;
		if (ivsd_new(&cfg, ep, &d) < 0)
			_exit(4);
		int r = ivsd_run(d, sfd);
		ivsd_free(d);
		_exit(r < 0 ? 5 : 0);
	}
	if (du_wait_socket(sock, SOCK_SEQPACKET) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* The daemon's client count (INFO) reaches want, seen from a probe
 * connection of ours (counted): true, or false after DU_T. */
static inline bool du_wait_clients(const char *sock, unsigned want)
{
	int s = du_connect(sock, SOCK_SEQPACKET);
	struct ivs_dp_resp resp;
	bool hit = false;
	if (s >= 0 && du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL) == 0)
		for (int i = 0; i < DU_T / 10 && !hit; i++) {
			hit = du_call(s, IVS_DP_INFO, 0, 0, 0, &resp, NULL) == 0 && resp.v[3] == want + 1;
			if (!hit)
				usleep(10000); /* poll interval */
		}
	if (s >= 0)
		close(s);
	return hit;
}

#endif
