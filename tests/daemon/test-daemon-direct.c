/* SPDX-License-Identifier: MIT */
/* The daemon's fast path and its relay, on the real parts: a real
 * `ivshmem server --ids lowest`, the daemon core owning one peer of it (D),
 * a direct peer B held here, clients as root and as nobody.
 *   - direct doorbells (DOORBELL) and claimed vectors (CLAIM) work with the
 *     daemon stopped (SIGSTOP): it is out of both paths;
 *   - the policy: nobody gets neither without a direct grant (-EACCES),
 *     and still rings and receives through the daemon;
 *   - a claim is exclusive both ways (-EBUSY), and when the claimant goes
 *     the daemon relays that vector again;
 *   - a doorbell kept by a client dies with its peer: a new peer with the
 *     same ID gets the next ring;
 *   - the relay: a client that clears O_NONBLOCK on its vector fd and never
 *     reads it can neither write into it nor stall the daemon: its pipe
 *     fills, every other client still gets every interrupt;
 *   - eventfd reads never sleep even on a file description someone else
 *     made blocking. */
#include <endian.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "../tap.h"
#include "../proc-util.h"
#include "daemon-util.h"
#include "endpoint/endpoint.h"

#define NOBODY 65534
#define T DU_T
#define RELAY_ROUNDS 5000 /* more than a relay pipe holds (4096 bytes) */

static char dir[40], sock[64], srv[64], spec[96], dev[96], shm[64], log_path[64];
static pid_t dmn = -1;
static ivshmem_ep *peer_b; /* the direct peer */

static int open_client(unsigned flags, ivshmem_ep **ep)
{
	struct ivshmem_open_opts o = {.flags = flags, .ready_timeout_ms = -1};
	return ivshmem_open(spec, &o, ep);
}

/* Wait for an event of type about peer id on ep (bounded): 0 or -errno. */
static int wait_event(ivshmem_ep *ep, enum ivshmem_event_type type, int id)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	for (;;) {
		struct ivshmem_event ev;
		int r;
		while ((r = ivshmem_next_event(ep, &ev)) == 1)
			if (ev.type == type && ev.peer == id)
				return 0;
		if (r < 0)
			return r;
		int rem = ivs_remaining_ms(deadline);
		if (rem == 0)
			return -ETIMEDOUT;
		ivs_poll1(ivshmem_event_fd(ep), POLLIN, rem);
	}
}

/* B rings the daemon's peer D on vector v, once B has heard of D. */
static int ring_d(int did, unsigned v)
{
	for (int i = 0; i < T / 10; i++) {
		int r = ivshmem_ring(peer_b, (unsigned)did, v);
		if (r != -ENOENT)
			return r;
		ivs_ep_pump(peer_b);
		usleep(10000); /* poll interval: B reads the server's news */
	}
	return -ETIMEDOUT;
}

/* ---- as nobody ------------------------------------------------------------ */

static int nobody_case(void)
{
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 90;
	int s = du_connect(sock, SOCK_SEQPACKET);
	struct ivs_dp_resp resp;
	if (s < 0 || du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL) != 0)
		return 91;
	if (resp.v[0] & (IVS_DP_GRANT_DIRECT_RING | IVS_DP_GRANT_DIRECT_IRQ))
		return 92; /* granted what the policy doesn't */
	if (du_call(s, IVS_DP_DOORBELL, (uint32_t)ivshmem_id(peer_b), 0, 0, &resp, NULL) != -EACCES)
		return 93;
	if (du_call(s, IVS_DP_CLAIM, 0, 0, 0, &resp, NULL) != -EACCES)
		return 94;
	close(s);
	ivshmem_ep *ep;
	if (open_client(IVSHMEM_OPEN_EXCLUSIVE_IRQ, &ep) != -EACCES)
		return 95;
	if (open_client(0, &ep) != 0)
		return 96;
	/* Rings through the daemon. */
	int r = ivshmem_ring(ep, (unsigned)ivshmem_id(peer_b), 0);
	ivshmem_close(ep);
	return r == 0 ? 0 : 97;
}

static void test_policy(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(nobody_case());
	int st = reap_bounded(pid, 3 * T);
	ok(st == 0,
	   "nobody (allowed, no direct grant): no direct grants, DOORBELL and CLAIM -EACCES, "
	   "EXCLUSIVE_IRQ open -EACCES, a plain client rings through the daemon (exit %d)", st);
	ok(ivshmem_wait(peer_b, 0, T) >= 1, "  and B gets that ring");
	int s = du_connect(sock, SOCK_SEQPACKET);
	struct ivs_dp_resp resp;
	is(du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL), 0, "root's HELLO");
	ok((resp.v[0] & IVS_DP_GRANT_DIRECT_RING) && (resp.v[0] & IVS_DP_GRANT_DIRECT_IRQ),
	   "  grants root direct doorbells and interrupts (0x%llx)", (unsigned long long)resp.v[0]);
	close(s);
}

/* ---- the fast path ---------------------------------------------------------- */

static void test_direct(void)
{
	ivshmem_ep *c = NULL;
	is(open_client(IVSHMEM_OPEN_EXCLUSIVE_IRQ, &c), 0, "a client claims every vector (EXCLUSIVE_IRQ)");
	if (!c)
		return;
	int did = ivshmem_id(c), bid = ivshmem_id(peer_b);
	is(ivshmem_ring(c, (unsigned)bid, 0), 0, "it rings B (fetching B's doorbell)");
	ok(ivshmem_wait(peer_b, 0, T) >= 1, "  B gets it");

	kill(dmn, SIGSTOP);
	bool stopped = false;
	for (int i = 0; i < T / 10 && !stopped; i++) {
		stopped = proc_state(dmn) == 't' || proc_state(dmn) == 'T';
		if (!stopped)
			usleep(10000); /* poll interval */
	}
	ok(stopped, "the daemon is stopped (SIGSTOP)");
	is(ivshmem_ring(c, (unsigned)bid, 0), 0, "the client rings B with the daemon stopped");
	ok(ivshmem_wait(peer_b, 0, T) >= 1, "  B gets it: the doorbell is direct");
	is(ring_d(did, 1), 0, "B rings the daemon's peer ID, vector 1");
	ok(ivshmem_wait(c, 1, T) >= 1, "  the client gets it with the daemon stopped: the vector is direct");
	kill(dmn, SIGCONT);

	/* Exclusive, both ways. */
	ivshmem_ep *r = NULL;
	is(open_client(0, &r), -EBUSY, "another client can't subscribe to a claimed vector (-EBUSY)");
	int s = du_connect(sock, SOCK_SEQPACKET);
	struct ivs_dp_resp resp;
	du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL);
	is(du_call(s, IVS_DP_SUBSCRIBE, 0, 0, 0, &resp, NULL), -EBUSY, "  SUBSCRIBE: -EBUSY");
	is(du_call(s, IVS_DP_CLAIM, 0, 0, 0, &resp, NULL), -EBUSY, "  CLAIM by another: -EBUSY");
	is(du_call(s, IVS_DP_CLAIM, 9, 0, 0, &resp, NULL), -EINVAL, "  CLAIM of a vector it lacks: -EINVAL");
	close(s);

	/* The claimant goes: the daemon relays the vector again. */
	ivshmem_close(c);
	ok(du_wait_clients(sock, 0), "the claimant is gone (the daemon counts no client)");
	is(open_client(0, &r), 0, "a client subscribes to the vectors again");
	if (r) {
		is(ring_d(did, 0), 0, "B rings D, vector 0");
		ok(ivshmem_wait(r, 0, T) >= 1, "  relayed to the subscriber");
		ivshmem_ep *c2 = NULL;
		is(open_client(IVSHMEM_OPEN_EXCLUSIVE_IRQ, &c2), -EBUSY,
		   "a claim while another client subscribes: -EBUSY");
		ivshmem_close(r);
	}
	ok(du_wait_clients(sock, 0), "clients gone");
}

/* A HELLO in header version 1: answered in version 1, so that the old
 * client can read why. */
static void test_version(void)
{
	int s = du_connect(sock, SOCK_SEQPACKET);
	struct ivs_dp_req req = {.version = 1, .opcode = IVS_DP_HELLO, .seq = 7, .a0 = 1, .a1 = 1};
	uint8_t buf[IVS_DP_RESP_SIZE];
	ivs_dp_req_encode(&req, buf);
	int fd = -1;
	ssize_t n = ivs_dp_send(s, buf, IVS_DP_REQ_SIZE, -1, 0) == 0 ? ivs_dp_recv(s, buf, sizeof(buf), &fd, 0) : -1;
	ivs_close(fd);
	uint16_t ver = 0;
	int32_t status = 0;
	if (n == IVS_DP_RESP_SIZE) {
		memcpy(&ver, buf + 4, 2);
		memcpy(&status, buf + 12, 4);
	}
	ok(n == IVS_DP_RESP_SIZE && le16toh(ver) == 1 && (int32_t)le32toh((uint32_t)status) == -EPROTONOSUPPORT,
	   "a version 1 HELLO: -EPROTONOSUPPORT in a version 1 header (version %u, status %d)",
	   (unsigned)le16toh(ver), (int)(int32_t)le32toh((uint32_t)status));
	char c;
	is(read(s, &c, 1), 0, "  then closed");
	close(s);
}

/* SUBSCRIBE once per vector; CLAIM not over one's own subscription. */
static void test_subscribe_calls(void)
{
	int s = du_connect(sock, SOCK_SEQPACKET), fd = -1;
	struct ivs_dp_resp resp;
	du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL);
	is(du_call(s, IVS_DP_SUBSCRIBE, 0, 0, 0, &resp, &fd), 0, "SUBSCRIBE vector 0");
	is(du_call(s, IVS_DP_SUBSCRIBE, 0, 0, 0, &resp, NULL), -EALREADY, "  again: -EALREADY");
	is(du_call(s, IVS_DP_CLAIM, 0, 0, 0, &resp, NULL), -EBUSY, "  CLAIM of it by the subscriber: -EBUSY");
	close(s);
	ok(du_wait_clients(sock, 0), "the subscriber is gone");
	char c;
	is(read(fd, &c, 1), 0, "  its pipe reads end-of-file (the daemon closed its end)");
	ivs_close(fd);
}

static void test_doorbell_calls(void)
{
	int s = du_connect(sock, SOCK_SEQPACKET), fd = -1;
	struct ivs_dp_resp resp;
	du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL);
	int did = (int)resp.v[1], bid = ivshmem_id(peer_b);
	is(du_call(s, IVS_DP_DOORBELL, (uint32_t)did, 0, 0, &resp, NULL), -EINVAL,
	   "DOORBELL of the daemon's own ID: -EINVAL (that is its interrupt)");
	is(du_call(s, IVS_DP_DOORBELL, 999, 0, 0, &resp, NULL), -ENOENT, "DOORBELL of an absent peer: -ENOENT");
	is(du_call(s, IVS_DP_DOORBELL, (uint32_t)bid, 5, 0, &resp, NULL), -EINVAL,
	   "DOORBELL of a vector B lacks: -EINVAL");
	is(du_call(s, IVS_DP_DOORBELL, (uint32_t)bid, 1, 0, &resp, &fd), 0, "DOORBELL of B's vector 1");
	ok(fd >= 0 && ivs_eventfd_signal(fd) == 0, "  an fd; writing it rings B");
	ok(ivshmem_wait(peer_b, 1, T) >= 1, "  B gets it on vector 1");
	ivs_close(fd);
	close(s);
}

/* Whether the daemon lists peer id (with all of D's vectors) now, or, with
 * want false, no longer: waits until it does (bounded). */
static bool daemon_lists(int id, bool want)
{
	int s = du_connect(sock, SOCK_SEQPACKET);
	struct ivs_dp_resp resp;
	bool hit = false;
	if (s >= 0 && du_call(s, IVS_DP_HELLO, 0, 0, 0, &resp, NULL) == 0)
		for (int i = 0; i < T / 10 && !hit; i++) {
			bool listed = false;
			if (du_call(s, IVS_DP_PEERS, 0, 0, 0, &resp, NULL) != 0)
				break;
			for (unsigned k = 0; k < IVS_DP_PEERS_PER_MSG && k < resp.v[0]; k++)
				listed |= (resp.v[1 + k] & 0xffff) == (uint64_t)id &&
					  ((resp.v[1 + k] >> 16) & 0xffff) >= 2;
			hit = listed == want;
			if (!hit)
				usleep(10000); /* poll interval */
		}
	if (s >= 0)
		close(s);
	return hit;
}

/* A peer leaves, another joins with its ID (--ids lowest): the client's
 * kept doorbell of the old one must not swallow the ring. */
static void test_peer_leaves(void)
{
	ivshmem_ep *c = NULL;
	is(open_client(0, &c), 0, "a client with direct doorbells");
	if (!c)
		return;
	int bid = ivshmem_id(peer_b);
	is(ivshmem_ring(c, (unsigned)bid, 0), 0, "it rings B");
	ok(ivshmem_wait(peer_b, 0, T) >= 1, "  B gets it");
	peer_b = ivshmem_close(peer_b);
	ok(daemon_lists(bid, false), "B leaves (the daemon has seen it; its notice waits in the client's socket)");
	is(ivshmem_open(dev, NULL, &peer_b), 0, "B' joins");
	if (!peer_b) {
		ivshmem_close(c);
		return;
	}
	is(ivshmem_id(peer_b), bid, "  with B's ID (--ids lowest)");
	ok(daemon_lists(bid, true), "  the daemon has seen it join");
	/* No call of ours reads the client's socket before the ring: a
	 * client that only rings must still drop the dead doorbell. */
	is(ivshmem_ring(c, (unsigned)bid, 0), 0, "the client rings that ID, reading nothing first");
	ok(ivshmem_wait(peer_b, 0, T) >= 1, "  B' gets it (not B's dead eventfd)");
	is(wait_event(c, IVSHMEM_EVENT_PEER_JOIN, bid), 0, "and the client's events say LEAVE, then JOIN");
	ivshmem_close(c);
	ok(du_wait_clients(sock, 0), "clients gone");
}

/* ---- the relay ---------------------------------------------------------------- */

static void test_relay_hostile(void)
{
	ivshmem_ep *x = NULL, *y = NULL;
	is(open_client(0, &x), 0, "client X (hostile)");
	is(open_client(0, &y), 0, "client Y");
	if (!x || !y)
		goto out;
	int did = ivshmem_id(y);
	int fd = ivshmem_vector_fd(x, 1);
	struct stat st;
	ok(fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode), "X's vector fd is a pipe");
	ok(fcntl(fd, F_SETFL, 0) == 0, "X clears O_NONBLOCK on it");
	uint64_t big = UINT64_MAX - 1;
	ok(write(fd, &big, sizeof(big)) < 0, "X can't write into it (the end the daemon writes is its own)");
	int got = 0;
	for (int i = 0; i < RELAY_ROUNDS; i++) {
		if (ring_d(did, 1) != 0 || ivshmem_wait(y, 1, T) < 1)
			break;
		got++;
	}
	is(got, RELAY_ROUNDS, "Y gets every one of %d interrupts while X never reads", RELAY_ROUNDS);
	int queued = -1;
	ioctl(fd, FIONREAD, &queued);
	is(queued, 4096, "X's pipe is full (4096 bytes: the daemon skips a full pipe, never sleeps)");
	is(ivshmem_vector_ack(x, 1), 4096, "X's ack counts what was queued");
out:
	ivshmem_close(x);
	ivshmem_close(y);
	ok(du_wait_clients(sock, 0), "clients gone");
}

/* ---- eventfd reads -------------------------------------------------------------- */

static void test_drain_nowait(void)
{
	int e = ivs_eventfd();
	ok(e >= 0 && fcntl(e, F_SETFL, 0) == 0, "an eventfd made blocking (as another holder could)");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(ivs_eventfd_drain(e) == 0 ? 0 : 1); /* a blocking read would hang here */
	ok(reap_bounded(pid, T) == 0, "  draining it empty returns 0 at once (RWF_NOWAIT)");
	ivs_close(e);
}

int main(void)
{
	if (geteuid() != 0)
		skip_all("needs root (a client as nobody)");
	const char *cli = getenv("IVSHMEM");
	if (!cli)
		skip_all("IVSHMEM (path of the CLI) not set");
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivsd-direct-XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		fail_all("setup: cannot create %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/d.sock", dir);
	snprintf(srv, sizeof(srv), "%s/srv.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	snprintf(dev, sizeof(dev), "server:%s", srv);
	snprintf(shm, sizeof(shm), "ivsd-direct-%d", (int)getpid());

	test_drain_nowait();
	pid_t sp = du_start_server(cli, srv, shm, log_path, "--ids", "lowest");
	if (sp < 0)
		fail_all("setup: the server did not start");
	uid_t nobody = NOBODY;
	struct ivsd_policy pol = {.allow = {.users = &nobody, .nusers = 1}};
	dmn = du_start_core_daemon(dev, sock, &pol, NULL);
	ok(dmn > 0, "the daemon core owns peer D of a real server");
	ok(ivshmem_open(dev, NULL, &peer_b) == 0, "peer B of the server");
	if (dmn > 0 && peer_b) {
		test_policy();
		test_direct();
		test_doorbell_calls();
		test_version();
		test_subscribe_calls();
		test_peer_leaves();
		test_relay_hostile();
	}
	ivshmem_close(peer_b);
	if (dmn > 0) {
		kill(dmn, SIGCONT);
		kill(dmn, SIGTERM);
		ok(reap_bounded(dmn, T) == 0, "the daemon exits 0");
	}
	kill(sp, SIGTERM);
	reap_bounded(sp, T);
	char path[96];
	snprintf(path, sizeof(path), "/dev/shm/%s", shm);
	unlink(path);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "sed 's/^/# log: /' %s", log_path);
	fflush(stdout);
	if (tap_failed)
		(void)!system(cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
