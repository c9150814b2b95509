/* SPDX-License-Identifier: MIT */
/* The daemon core under pressure at its front door:
 *  - two daemons started at the same moment on one socket path (often over
 *    a stale socket): exactly one runs and the socket is its own;
 *  - (root) users the policy refuses can't take client slots: their
 *    connections are judged at accept() (SO_PEERCRED), not at HELLO;
 *  - (root) allowed connections that never send HELLO are dropped after
 *    the HELLO deadline, so they can't hold the slots either;
 *  - (root) one user can't take more than its share (max_per_user), its
 *    silent connections included; over a limit, HELLO is answered -EUSERS;
 *    root is never turned away by the limits.
 *
 * The daemon core runs in forked children around file: endpoints.  For the
 * race, unlink() of the socket path is slowed down in one child (the test's
 * unlink() interposes libc's for the statically linked core): without the
 * instance lock the second daemon then removes the first one's fresh socket
 * every time.  Every wait is bounded; no timing thresholds. */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "../proc-util.h"
#include "../../src/daemon/daemon.h"
#include "proto/daemon-proto.h"

#define NOBODY 65534
#define ALLOWED_UID 4243
#define ALLOWED_UID2 4244
#define ROUNDS 20
#define T 10000 /* ms: bound of every wait */
#define MAX_CLIENTS 4

static char dir[64], sock[100], lock[110], dev[2][96];
static unsigned unlink_delay_us;

int unlink(const char *path)
{
	if (unlink_delay_us && !strcmp(path, sock))
		usleep(unlink_delay_us);
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

/* The daemon core on device `which`, in this (child) process: report
 * {which, result} on `report` (if >= 0), serve until SIGTERM. */
static void run_daemon(int report, unsigned which, const struct ivsd_config *base)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGTERM);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int sfd = signalfd(-1, &m, SFD_CLOEXEC);
	ivshmem_ep *ep;
	int r = ivshmem_open(dev[which], NULL, &ep);
	struct ivsd *d = NULL;
	struct ivsd_config cfg = *base;
	cfg.socket_path = sock;
	if (r == 0)
		r = ivsd_new(&cfg, ep, &d);
	char msg[2] = {(char)which, r == 0 ? 'R' : r == -EADDRINUSE ? 'U' : 'E'};
	if (report >= 0 && write(report, msg, 2) != 2)
		_exit(3);
	if (r < 0)
		_exit(1);
	r = ivsd_run(d, sfd);
	ivsd_free(d);
	_exit(r < 0 ? 5 : 0);
}

static size_t mem_size_of(unsigned which)
{
	return (size_t)(which + 1) << 16;
}

/* ---- the start-up race ----------------------------------------------------- */

static void race_child(unsigned who, int report, unsigned delay_us)
{
	struct ivsd_config cfg = {0};
	unlink_delay_us = delay_us;
	run_daemon(report, who, &cfg);
}

/* A client gets the winner's memory (its size tells which device). */
static bool race_serves(int winner, int round)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *ep = NULL;
	int o = ivshmem_open(spec, NULL, &ep);
	bool good = o == 0 && ivshmem_mem_size(ep) == mem_size_of((unsigned)winner);
	if (!good)
		printf("# round %d: open %d, size %zu, the winner's is %zu\n", round, o, ep ? ivshmem_mem_size(ep) : 0,
		       mem_size_of((unsigned)winner));
	ivshmem_close(ep);
	return good;
}

static void test_race(void)
{
	struct race rc = {.sock = sock, .lock = lock, .rounds = ROUNDS, .timeout_ms = T,
			  .child = race_child, .serves = race_serves};
	struct race_result res = race_rounds(&rc);
	is(res.good, ROUNDS, "%d rounds of two concurrent daemons: exactly one runs, it owns the socket", ROUNDS);
	ok(res.stale >= ROUNDS / 2, "%d rounds started over a stale socket", res.stale);
}

/* ---- slots ------------------------------------------------------------------- */

/* A daemon allowing ALLOWED_UID and ALLOWED_UID2, MAX_CLIENTS slots, at
 * most per_user (0: the default) for one user. */
static pid_t start_daemon(unsigned hello_ms, unsigned per_user)
{
	unlink(sock);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct ivsd_config cfg = {
			.policy = {.max_clients = MAX_CLIENTS, .max_per_user = per_user},
			.hello_timeout_ms = hello_ms,
		};
		char uid[16];
		snprintf(uid, sizeof(uid), "%d", ALLOWED_UID);
		if (ivsd_ids_add_user(&cfg.policy.allow, uid) < 0)
			_exit(2);
		snprintf(uid, sizeof(uid), "%d", ALLOWED_UID2);
		if (ivsd_ids_add_user(&cfg.policy.allow, uid) < 0)
			_exit(2);
		run_daemon(-1, 0, &cfg);
	}
	for (int i = 0; i < T / 10; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		int up = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(s);
		if (up)
			return pid;
		usleep(10000); /* poll interval */
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int raw_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		s = ivs_close(s);
	return s;
}

static int raw_call(int s, uint16_t op, struct ivs_dp_resp *resp)
{
	static uint32_t seq;
	struct ivs_dp_req req = {.version = IVS_DP_VERSION, .opcode = op, .seq = ++seq};
	if (op == IVS_DP_HELLO)
		req.a0 = req.a1 = IVS_DP_VERSION;
	uint8_t buf[IVS_DP_RESP_SIZE];
	ivs_dp_req_encode(&req, buf);
	int r = ivs_dp_send(s, buf, IVS_DP_REQ_SIZE, -1, 0);
	if (r < 0)
		return r;
	struct pollfd p = {.fd = s, .events = POLLIN};
	if (poll(&p, 1, T) != 1)
		return -ETIMEDOUT;
	int fd = -1;
	ssize_t n = ivs_dp_recv(s, buf, sizeof(buf), &fd, 0);
	ivs_close(fd);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	r = ivs_dp_resp_decode(buf, (size_t)n, resp);
	return r < 0 ? r : resp->status;
}

static int open_daemon(ivshmem_ep **ep)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	return ivshmem_open(spec, NULL, ep);
}

static void drop_to(uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
		_exit(99);
}

/* As `uid` in a child: work(n, report) opens what it opens and writes its
 * report to `report`; the child then holds everything until `hold` reaches
 * EOF.  The child's pid, with *ready_fd to read the report from. */
static pid_t holder(uid_t uid, int n, void (*work)(int n, int report), int *ready_fd, int *hold_fd)
{
	int rd[2], hd[2];
	if (pipe2(rd, O_CLOEXEC) < 0 || pipe2(hd, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(rd[0]);
		close(hd[1]);
		drop_to(uid);
		work(n, rd[1]);
		char c;
		while (read(hd[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(rd[1]);
	close(hd[0]);
	*ready_fd = rd[0];
	*hold_fd = hd[1];
	return pid;
}

/* n silent connections; report one byte: how many connected. */
static void silent_work(int n, int report)
{
	unsigned char got = 0;
	for (int i = 0; i < n; i++)
		got += raw_connect() >= 0;
	(void)!write(report, &got, 1);
}

static pid_t silent_user(uid_t uid, int n, int *ready_fd, int *hold_fd)
{
	return holder(uid, n, silent_work, ready_fd, hold_fd);
}

/* What n opens as one user got. */
struct opens {
	unsigned char opened, users, other; /* 0, -EUSERS, anything else */
};

/* n opens of the daemon, kept; report a struct opens. */
static void opens_work(int n, int report)
{
	struct opens o = {0};
	for (int i = 0; i < n; i++) {
		ivshmem_ep *ep; /* kept open until exit */
		int r = open_daemon(&ep);
		if (r == 0)
			o.opened++;
		else if (r == -EUSERS)
			o.users++;
		else
			o.other++;
	}
	(void)!write(report, &o, sizeof(o));
}

/* As `uid`: open the daemon n times, keeping what opens, report on `ready`
 * (struct opens), hold them until `hold` reaches EOF. */
static pid_t user_opens(uid_t uid, int n, int *ready_fd, int *hold_fd)
{
	return holder(uid, n, opens_work, ready_fd, hold_fd);
}

/* The held opens of a user_opens() child, then let it go. */
struct held {
	pid_t pid;
	int ready, hold;
	struct opens got;
	bool reported;
};

static struct held hold_opens(uid_t uid, int n)
{
	struct held h = {.ready = -1, .hold = -1};
	h.pid = user_opens(uid, n, &h.ready, &h.hold);
	h.reported = h.pid > 0 && read_bounded(h.ready, (char *)&h.got, sizeof(h.got), T) == 0;
	return h;
}

static void release(struct held *h)
{
	ivs_close(h->hold);
	ivs_close(h->ready);
	if (h->pid > 0)
		reap_bounded(h->pid, T);
	h->pid = -1;
}

static int refused_user_open(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		drop_to(NOBODY);
		ivshmem_ep *ep;
		int r = open_daemon(&ep);
		_exit(r == -EACCES ? 0 : 10 + (-r & 0x3f));
	}
	return reap_bounded(pid, T);
}

static void test_refused_take_no_slot(void)
{
	pid_t d = start_daemon(60000, 0); /* the deadline plays no part here */
	ok(d > 0, "daemon: %d slots, allows uid %d, HELLO deadline 60 s", MAX_CLIENTS, ALLOWED_UID);
	if (d <= 0)
		return;
	/* Refused users connect many times and say nothing. */
	int n = 3 * MAX_CLIENTS + 24, ready = -1, hold = -1;
	pid_t u = silent_user(NOBODY, n, &ready, &hold);
	unsigned char got = 0;
	ok(read_bounded(ready, (char *)&got, 1, T) == 0 && got == n, "uid %d holds %d silent connections (%d)",
	   NOBODY, n, got);
	struct held a = hold_opens(ALLOWED_UID, MAX_CLIENTS + 1);
	ok(a.reported && a.got.opened == MAX_CLIENTS && a.got.users == 1 && a.got.other == 0,
	   "all %d slots are still there for an allowed user; one more is answered -EUSERS "
	   "(opened %u, EUSERS %u, other %u)", MAX_CLIENTS, a.got.opened, a.got.users, a.got.other);
	is(refused_user_open(), 0, "a refused user still gets -EACCES (not a dropped connection)");
	ivshmem_ep *root_ep = NULL;
	is(open_daemon(&root_ep), 0, "with every slot taken, root still gets in");
	ivshmem_close(root_ep);
	release(&a);
	close(hold);
	close(ready);
	reap_bounded(u, T);
	kill(d, SIGTERM);
	is(reap_bounded(d, T), 0, "daemon exits 0");
}

static void test_hello_deadline(void)
{
	/* Long enough for a client's own connect-then-HELLO on a loaded
	 * machine; the drops it makes are waited for with T. */
	pid_t d = start_daemon(1500, 0);
	ok(d > 0, "daemon: %d slots, HELLO deadline 1.5 s", MAX_CLIENTS);
	if (d <= 0)
		return;
	/* Root opens silent connections: the deadline holds for everyone. */
	int s[MAX_CLIENTS];
	for (int i = 0; i < MAX_CLIENTS; i++)
		s[i] = raw_connect();
	int closed = 0;
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct pollfd p = {.fd = s[i], .events = POLLIN};
		char c;
		if (s[i] >= 0 && poll(&p, 1, ivs_remaining_ms(deadline)) == 1 && read(s[i], &c, 1) == 0)
			closed++;
	}
	is(closed, MAX_CLIENTS, "silent connections are closed by the daemon");
	ivshmem_ep *ep = NULL;
	int r = -1;
	for (int i = 0; i < T / 10 && r != 0; i++) {
		r = open_daemon(&ep);
		if (r)
			usleep(10000); /* poll interval */
	}
	is(r, 0, "then an allowed client gets in");
	ivshmem_close(ep);
	for (int i = 0; i < MAX_CLIENTS; i++)
		ivs_close(s[i]);
	/* A client that completes HELLO is not subject to the deadline. */
	int h = raw_connect();
	struct ivs_dp_resp resp;
	is(raw_call(h, IVS_DP_HELLO, &resp), 0, "a client says HELLO");
	int a = raw_connect(); /* the timer, re-armed, drops this one */
	struct pollfd p = {.fd = a, .events = POLLIN};
	char c;
	ok(poll(&p, 1, T) == 1 && read(a, &c, 1) == 0, "a silent one is dropped meanwhile");
	ivs_close(a);
	is(raw_call(h, IVS_DP_INFO, &resp), 0, "the one that said HELLO is still served");
	ivs_close(h);
	kill(d, SIGTERM);
	is(reap_bounded(d, T), 0, "daemon exits 0");
}

/* One user's share: its silent connections count, others keep theirs. */
static void test_per_user(void)
{
	pid_t d = start_daemon(60000, 2);
	ok(d > 0, "daemon: %d slots, at most 2 per user", MAX_CLIENTS);
	if (d <= 0)
		return;
	struct held a = hold_opens(ALLOWED_UID, 5);
	ok(a.reported && a.got.opened == 2 && a.got.users == 3 && a.got.other == 0,
	   "uid %d opening 5 times gets 2, then -EUSERS (opened %u, EUSERS %u, other %u)", ALLOWED_UID,
	   a.got.opened, a.got.users, a.got.other);
	int ready = -1, hold = -1;
	unsigned char got = 0;
	pid_t u = silent_user(ALLOWED_UID2, 2, &ready, &hold);
	ok(read_bounded(ready, (char *)&got, 1, T) == 0 && got == 2, "uid %d holds 2 silent connections",
	   ALLOWED_UID2);
	struct held b = hold_opens(ALLOWED_UID2, 1);
	ok(b.reported && b.got.users == 1, "then its HELLO is answered -EUSERS: its silent ones count");
	release(&b);
	close(hold);
	close(ready);
	reap_bounded(u, T);
	/* The daemon sees the silent ones close asynchronously: bounded retry. */
	bool in = false;
	for (int i = 0; i < T / 10 && !in; i++) {
		b = hold_opens(ALLOWED_UID2, 2);
		in = b.reported && b.got.opened == 2;
		release(&b);
		if (!in)
			usleep(10000); /* poll interval */
	}
	ok(in, "once they are closed, uid %d gets its 2", ALLOWED_UID2);
	ivshmem_ep *root_ep = NULL;
	is(open_daemon(&root_ep), 0, "root is not limited by the users' shares");
	ivshmem_close(root_ep);
	release(&a);
	kill(d, SIGTERM);
	is(reap_bounded(d, T), 0, "daemon exits 0");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivsd-limits-%d", (int)getpid());
	snprintf(sock, sizeof(sock), "%s/d.sock", dir);
	snprintf(lock, sizeof(lock), "%s.lock", sock);
	if (mkdir(dir, 0755) < 0)
		fail_all("setup: cannot create %s: %s", dir, strerror(errno));
	for (unsigned i = 0; i < 2; i++) {
		snprintf(dev[i], sizeof(dev[i]), "file:%s/dev%u", dir, i);
		int fd = open(dev[i] + 5, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)mem_size_of(i)) < 0)
			fail_all("setup: cannot create %s: %s", dev[i] + 5, strerror(errno));
		close(fd);
	}

	test_race();
	if (geteuid() == 0) {
		test_refused_take_no_slot();
		test_hello_deadline();
		test_per_user();
	} else {
		ok(1, "# SKIP needs root: the slot tests (refused clients, HELLO deadline, per-user caps) "
		      "run clients as other users");
	}

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
