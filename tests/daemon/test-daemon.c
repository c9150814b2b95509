/* SPDX-License-Identifier: MIT */
/* ivshmem daemon on the host, as root, with a file: device in /dev/shm.
 *
 * Two ways to run a daemon:
 *  - the real CLI (`ivshmem daemon file:... --socket ...`) for policy cases;
 *  - the daemon core (ivsd_new/ivsd_run) in a forked child, owning a peer
 *    of a real `ivshmem server -n 2`; the test holds another peer of that
 *    server (`devpeer`), which fires the device's interrupts by ringing the
 *    daemon's peer ID.  Nothing in the daemon is test-only.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "../tap.h"
#include "../proc-util.h"
#include "daemon-util.h"

#define NOBODY 65534
#define ALLOWED_GID 4242
#define SHM_SIZE (1u << 20)
#define T 10000 /* ms: hang guard of every wait, never the property tested */

static char shm_path[64], dir[40], sock[64], cli_log[64];
static char core_dev[96], core_shm[64]; /* the core daemon's device: server:SOCKET, its shm name */
static const char *cli;
static ivshmem_ep *devpeer; /* another peer of that server: fires the device's interrupts */

/* ---- helpers ------------------------------------------------------------ */

static int wait_socket_type(const char *path, int type)
{
	return du_wait_socket(path, type);
}

static int wait_socket(const char *path)
{
	return wait_socket_type(path, SOCK_SEQPACKET);
}

static pid_t start_cli_daemon(const char *const *extra)
{
	unlink(sock);
	pid_t pid = fork();
	if (pid == 0) {
		const char *argv[32] = {cli, "daemon", shm_path, "--socket", sock};
		int n = 5;
		for (; extra && *extra && n < 30; extra++)
			argv[n++] = *extra;
		argv[n] = NULL;
		int fd = open(cli_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		dup2(fd, 2);
		execv(cli, (char **)argv);
		_exit(127);
	}
	if (wait_socket(sock) < 0) {
		printf("# daemon did not come up\n");
		return -1;
	}
	return pid;
}

/* The core daemon in a child, owning a peer of the core server. */
static pid_t start_core_daemon(const struct ivsd_policy *pol)
{
	pid_t pid = du_start_core_daemon(core_dev, sock, pol, devpeer);
	if (pid < 0)
		printf("# core daemon did not come up\n");
	return pid;
}

/* A device interrupt on vector v of the core daemon's device (peer ID
 * id): devpeer rings it, once it has heard of that peer (bounded). */
static int device_interrupt(int id, unsigned v)
{
	if (id < 0)
		return -EINVAL;
	uint64_t deadline = ivs_now_ns() + 5000000000ull;
	for (;;) {
		int r = ivshmem_ring(devpeer, (unsigned)id, v);
		if (r != -ENOENT)
			return r;
		struct ivshmem_event ev;
		while ((r = ivshmem_next_event(devpeer, &ev)) == 1)
			;
		if (r < 0)
			return r;
		if (ivshmem_ring(devpeer, (unsigned)id, v) == 0)
			return 0;
		int rem = ivs_remaining_ms(deadline);
		if (rem == 0)
			return -ETIMEDOUT;
		ivs_poll1(ivshmem_event_fd(devpeer), POLLIN, rem);
	}
}

/* Start `ivshmem server -F -S path -M name -l 1M -n 2` (stderr to the
 * log) and wait until it accepts.  The pid, or -1. */
static pid_t start_server(const char *path, const char *name)
{
	return du_start_server(cli, path, name, cli_log, NULL, NULL);
}

static int stop(pid_t pid, int sig)
{
	int st;
	kill(pid, sig);
	waitpid(pid, &st, 0);
	return st;
}

/* Become uid/gid with one supplementary group (or none). */
static void drop_to(uid_t uid, gid_t gid, gid_t supp)
{
	gid_t g[1] = {supp};
	if (setgroups(supp ? 1 : 0, g) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		_exit(99);
}

/* Run fn in a child as uid/gid(+supp); returns its exit status. */
static int as_user(uid_t uid, gid_t supp, int (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		drop_to(uid, uid, supp);
		_exit(fn());
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void read_all(int fd, char *buf, size_t size)
{
	size_t have = 0;
	ssize_t n;
	while (have < size - 1 && (n = read(fd, buf + have, size - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = 0;
}

/* Run the CLI (optionally as a user), stdin from `in`; stderr captured. */
static int run_cli(uid_t uid, const char *in, char *err, size_t errsz, char *out, size_t outsz,
		   const char *const *args)
{
	int pe[2], po[2], pi[2];
	if (pipe2(pe, O_CLOEXEC) || pipe2(po, O_CLOEXEC) || pipe2(pi, O_CLOEXEC))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (uid)
			drop_to(uid, uid, 0);
		dup2(pi[0], 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		const char *argv[16] = {cli};
		int n = 1;
		for (; *args && n < 15; args++)
			argv[n++] = *args;
		argv[n] = NULL;
		execv(cli, (char **)argv);
		_exit(127);
	}
	close(pi[0]);
	close(po[1]);
	close(pe[1]);
	if (in)
		(void)!write(pi[1], in, strlen(in));
	close(pi[1]);
	read_all(pe[0], err, errsz);
	if (out)
		read_all(po[0], out, outsz);
	close(pe[0]);
	close(po[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void file_bytes(size_t off, void *buf, size_t len)
{
	int fd = open(shm_path + 5, O_RDONLY | O_CLOEXEC);
	(void)!pread(fd, buf, len, (off_t)off);
	close(fd);
}

/* Raw protocol: connect, optionally HELLO. */
static int raw_connect(void)
{
	return du_connect(sock, SOCK_SEQPACKET);
}

static int raw_call(int s, uint16_t op, uint32_t a0, uint32_t a1, uint32_t a2, struct ivs_dp_resp *resp,
		    int *fd)
{
	return du_call(s, op, a0, a1, a2, resp, fd);
}

/* ---- cases run as a user ------------------------------------------------ */

static int user_rw(void)
{
	ivshmem_ep *ep;
	int r = ivshmem_open(strcat(strcpy((char[160]){0}, "daemon:"), sock), NULL, &ep);
	if (r < 0)
		return 10 + (-r & 0x3f);
	if (ivshmem_mem_size(ep) != SHM_SIZE || ivshmem_mem_readonly(ep))
		return 2;
	memcpy((char *)ivshmem_mem(ep) + 100, "nobody-was-here", 15);
	int ok = memcmp((char *)ivshmem_mem(ep) + 200, "root-wrote-this", 15) == 0;
	ivshmem_close(ep);
	return ok ? 0 : 3;
}

static int user_refused(void)
{
	ivshmem_ep *ep;
	int r = ivshmem_open(strcat(strcpy((char[160]){0}, "daemon:"), sock), NULL, &ep);
	if (r == 0)
		ivshmem_close(ep);
	return r == -EACCES ? 0 : 1;
}

/* Read-only: the handed fd itself must refuse writable mappings. */
static int user_ro(void)
{
	ivshmem_ep *ep;
	int r = ivshmem_open(strcat(strcpy((char[160]){0}, "daemon:"), sock), NULL, &ep);
	if (r < 0)
		return 10;
	int ro = ivshmem_mem_readonly(ep);
	ivshmem_close(ep);
	if (ro != 1)
		return 11;
	int s = raw_connect();
	struct ivs_dp_resp resp;
	int fd = -1;
	if (raw_call(s, IVS_DP_HELLO, IVS_DP_VERSION, IVS_DP_VERSION, 0, &resp, NULL) != 0)
		return 12;
	if (resp.v[0] & IVS_DP_GRANT_SHM_RW)
		return 13;
	if (raw_call(s, IVS_DP_MAP, IVS_DP_MAP_SHM_RW, 0, 0, &resp, &fd) != -EACCES || fd >= 0)
		return 14;
	if (raw_call(s, IVS_DP_MAP, IVS_DP_MAP_SHM_RO, 0, 0, &resp, &fd) != 0 || fd < 0)
		return 15;
	void *w = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w != MAP_FAILED || errno != EACCES)
		return 16;
	void *m = mmap(NULL, SHM_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 17;
	if (mprotect(m, SHM_SIZE, PROT_READ | PROT_WRITE) == 0 || errno != EACCES)
		return 18;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int re = open(path, O_RDWR | O_CLOEXEC);
	if (re >= 0)
		return 19; /* reopened writable: the read-only fd is worthless */
	close(fd);
	close(s);
	return 0;
}

/* Read-only, topics: a latest-mode subscriber through the daemon is
 * passive (no slot, no write: its mapping is read-only); a lossless one,
 * or a publisher, is refused with -EROFS. */
static int user_ro_topic(void)
{
	ivshmem_ep *ep;
	if (ivshmem_open(strcat(strcpy((char[160]){0}, "daemon:"), sock), NULL, &ep) < 0 ||
	    ivshmem_mem_readonly(ep) != 1)
		return 10;
	ivshmem_topic *t = NULL;
	if (ivshmem_topic_open(ep, "events", IVSHMEM_TOPIC_SUBSCRIBER, NULL, &t) != -EROFS)
		return 11;
	if (ivshmem_topic_open(ep, "state", IVSHMEM_TOPIC_PUBLISHER, NULL, &t) != -EROFS)
		return 12;
	struct ivshmem_topic_opts o = {.flags = IVSHMEM_TOPIC_FROM_OLDEST};
	if (ivshmem_topic_open(ep, "state", IVSHMEM_TOPIC_SUBSCRIBER, &o, &t) < 0)
		return 13;
	char b[16];
	uint64_t seq;
	if (ivshmem_topic_receive(t, b, sizeof(b), 0) != 2 || memcmp(b, "v2", 2) ||
	    ivshmem_topic_last(t, &seq, NULL) < 0 || seq != 1)
		return 14;
	struct ivshmem_topic_stat *st = malloc(sizeof(*st));
	if (!st || ivshmem_topic_stat(t, st) < 0 || st->slot != -1)
		return 15;
	free(st);
	ivshmem_topic_close(t);
	ivshmem_close(ep);
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_policy(void)
{
	char gid[16];
	snprintf(gid, sizeof(gid), "%d", ALLOWED_GID);
	const char *args[] = {"--allow-group", gid, NULL};
	pid_t d = start_cli_daemon(args);
	ok(d > 0, "daemon starts on a file: device");
	struct stat st;
	ok(stat(sock, &st) == 0 && (st.st_mode & 0777) == 0666, "socket is mode 0666");

	ivshmem_ep *ep;
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	int r = ivshmem_open(spec, NULL, &ep);
	is(r, 0, "root client opens");
	if (r == 0) {
		is(ivshmem_mem_size(ep), SHM_SIZE, "size from the daemon");
		ok(!strcmp(ivshmem_kind(ep), "daemon"), "kind is daemon");
		memcpy((char *)ivshmem_mem(ep) + 200, "root-wrote-this", 15);
		ivshmem_close(ep);
	}
	is(as_user(NOBODY, ALLOWED_GID, user_rw), 0,
	   "uid 65534 with an allowed supplementary group maps, reads and writes");
	char buf[16] = "";
	file_bytes(100, buf, 15);
	ok(!memcmp(buf, "nobody-was-here", 15), "its write reached the device");
	is(as_user(NOBODY, 0, user_refused), 0, "a user outside the policy gets -EACCES");

	char err[512];
	const char *rd[] = {"read", spec, "--length", "4", NULL};
	int rc = run_cli(NOBODY, NULL, err, sizeof(err), NULL, 0, rd);
	ok(rc == 1 && strstr(err, "permission denied") && lines(err) == 1,
	   "CLI as an outsider: exit 1, one line saying permission denied");
	printf("#   %s", err);
	is(WIFSIGNALED(stop(d, SIGTERM)), 0, "daemon exits on SIGTERM");
	ok(access(sock, F_OK) < 0, "and removes its socket");
}

static void test_read_only(void)
{
	char gid[16];
	snprintf(gid, sizeof(gid), "%d", ALLOWED_GID);
	const char *args[] = {"--allow-group", gid, "--read-only", NULL};
	pid_t d = start_cli_daemon(args);
	is(as_user(NOBODY, ALLOWED_GID, user_ro), 0,
	   "read-only: MAP RW refused, the RO fd can't be mapped, mprotected or reopened writable");
	char spec[160], err[512];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *ep;
	int r = ivshmem_open(spec, NULL, &ep);
	ok(r == 0 && ivshmem_mem_readonly(ep) == 1, "the policy forces read-only (reported)");
	if (r == 0)
		ivshmem_close(ep);
	const char *wr[] = {"write", spec, NULL};
	int rc = run_cli(0, "x", err, sizeof(err), NULL, 0, wr);
	ok(rc == 1 && lines(err) == 1 && strstr(err, "read-only"),
	   "CLI write through a read-only daemon fails with one line naming read-only");
	printf("#   rc %d: %.*s\n", rc, (int)strcspn(err, "\n"), err);

	/* Topics through the read-only policy: root publishes on the file. */
	ivshmem_ep *f = NULL;
	ivshmem_topic *pub = NULL, *mon = NULL;
	struct ivshmem_topic_config lt = {.size = 4096, .max_msg = 64, .subscribers = 2,
					  .mode = IVSHMEM_TOPIC_LATEST};
	struct ivshmem_topic_config ll = {.size = 4096, .subscribers = 2};
	if (ivshmem_open(shm_path, NULL, &f) == 0) {
		memset(ivshmem_mem(f), 0, SHM_SIZE); /* earlier tests wrote bytes into it */
		r = ivshmem_topic_create(f, "state", &lt);
		r = r ? r : ivshmem_topic_create(f, "events", &ll);
		r = r ? r : ivshmem_topic_open(f, "state", IVSHMEM_TOPIC_PUBLISHER, NULL, &pub);
		r = r ? r : ivshmem_topic_open(f, "state", IVSHMEM_TOPIC_MONITOR, NULL, &mon);
		r = r ? r : ivshmem_topic_publish(pub, "v1", 2, 0);
		r = r ? r : ivshmem_topic_publish(pub, "v2", 2, 0);
	}
	is(r, 0, "root: a latest topic and a lossless one, two messages published");
	is(as_user(NOBODY, ALLOWED_GID, user_ro_topic), 0,
	   "read-only user: lossless subscriber and publisher -EROFS; a latest subscriber gets the newest "
	   "message (v2, seq 1) without a slot");
	struct ivshmem_topic_stat *st = malloc(sizeof(*st));
	ok(st && mon && ivshmem_topic_stat(mon, st) == 0 && st->sub[0].state == IVSHMEM_TOPIC_SUB_FREE &&
		   st->sub[1].state == IVSHMEM_TOPIC_SUB_FREE,
	   "and no slot of the topic was written");
	free(st);
	ivshmem_topic_close(mon);
	ivshmem_topic_close(pub);
	ivshmem_close(f);
	stop(d, SIGTERM);
}

static void test_exclusive(void)
{
	const char *args[] = {"--exclusive", NULL};
	pid_t d = start_cli_daemon(args);
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *a = NULL, *b = NULL;
	is(ivshmem_open(spec, NULL, &a), 0, "exclusive: first client");
	is(ivshmem_open(spec, NULL, &b), -EBUSY, "exclusive: second client gets -EBUSY");
	char err[512];
	const char *rd[] = {"read", spec, "--length", "1", NULL};
	int rc = run_cli(0, NULL, err, sizeof(err), NULL, 0, rd);
	ok(rc == 1 && strstr(err, "busy") && lines(err) == 1, "CLI says busy in one line");
	printf("#   %s", err);
	ivshmem_close(a);
	int r = -1;
	for (int i = 0; i < T / 10 && r != 0; i++) { /* the daemon sees the close when it gets to it */
		r = ivshmem_open(spec, NULL, &b);
		if (r)
			usleep(10000); /* poll interval */
	}
	is(r, 0, "after the first leaves, another may come");
	ivshmem_close(b);
	stop(d, SIGTERM);
}

static void test_interrupts(void)
{
	pid_t d = start_core_daemon(NULL);
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *a = NULL, *b = NULL;
	is(ivshmem_open(spec, NULL, &a), 0, "client A");
	is(ivshmem_open(spec, NULL, &b), 0, "client B");
	if (!a || !b)
		return;
	is(ivshmem_vectors(a), 2, "two vectors");
	int id = ivshmem_id(a);
	ok(id >= 0 && id == ivshmem_id(b), "peer ID from the daemon (%d), the same for both", id);
	is(device_interrupt(id, 1), 0, "the device gets an interrupt on vector 1");
	ok(ivshmem_wait(a, 1, T) >= 1, "device interrupt reaches A");
	ok(ivshmem_wait(b, 1, T) >= 1, "and the same interrupt reaches B");
	is(ivshmem_ring(a, (unsigned)id, 0), 0, "A rings the device's own ID through the daemon");
	ok(ivshmem_wait(a, 0, T) >= 1 && ivshmem_wait(b, 0, T) >= 1, "both see vector 0");
	is(ivshmem_vector_ack(a, 0), 0, "nothing extra");
	is(ivshmem_ring(a, 999, 0), -ENOENT, "ring to an absent peer: -ENOENT from the device");

	int s = raw_connect();
	struct ivs_dp_resp resp;
	raw_call(s, IVS_DP_HELLO, IVS_DP_VERSION, IVS_DP_VERSION, 0, &resp, NULL);
	is(raw_call(s, IVS_DP_RING, 0, 99, 0, &resp, NULL), -EINVAL, "daemon validates RING vector");
	is(raw_call(s, IVS_DP_SUBSCRIBE, 2, 0, 0, &resp, NULL), -EINVAL, "and SUBSCRIBE vector");
	is(raw_call(s, IVS_DP_MAP, 9, 0, 0, &resp, NULL), -EINVAL, "and MAP type");
	is(raw_call(s, IVS_DP_MAP, IVS_DP_MAP_REGS, 0, 0, &resp, NULL), -EACCES, "registers not allowed");
	is(raw_call(s, 77, 0, 0, 0, &resp, NULL), -EOPNOTSUPP, "unknown opcode: error response");
	is(raw_call(s, IVS_DP_INFO, 0, 0, 0, &resp, NULL), 0, "connection survives it");
	is(resp.v[3], 3, "INFO counts 3 clients");
	(void)!write(s, "garbage", 7);
	char c;
	is(read(s, &c, 1), 0, "malformed message: dropped");
	close(s);
	s = raw_connect();
	is(raw_call(s, IVS_DP_INFO, 0, 0, 0, &resp, NULL), -EPROTO, "request before HELLO: -EPROTO");
	is(read(s, &c, 1), 0, "and dropped");
	close(s);

	/* CLI, unchanged, on daemon:SOCKET. */
	char err[512], out[512];
	const char *wt[] = {"wait", spec, "0", "--timeout", "5", NULL};
	fflush(stdout);
	pid_t w = fork();
	if (w == 0) {
		int rc = run_cli(0, NULL, err, sizeof(err), out, sizeof(out), wt);
		_exit(rc == 0 && strstr(out, "interrupt vector 0") ? 0 : 1);
	}
	/* Ring until the waiter has it (it may not have subscribed yet). */
	char ids[16];
	snprintf(ids, sizeof(ids), "%d", id);
	const char *rg[] = {"ring", spec, ids, "0", NULL};
	int st = -1, rang = 0, ring_rc = 0;
	uint64_t until = ivs_now_ns() + 10000000000ull;
	while (waitpid(w, &st, WNOHANG) == 0 && ivs_now_ns() < until) {
		ring_rc |= run_cli(0, NULL, err, sizeof(err), NULL, 0, rg);
		rang++;
		usleep(50000); /* poll interval */
	}
	if (st == -1)
		waitpid(w, &st, 0);
	ok(rang > 0 && ring_rc == 0, "CLI ring through the daemon (%d times)", rang);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "CLI wait through the daemon gets it");
	const char *inf[] = {"info", spec, NULL};
	ok(run_cli(0, NULL, err, sizeof(err), out, sizeof(out), inf) == 0 && strstr(out, "vectors:    2"),
	   "CLI info through the daemon");

	ivshmem_close(b);
	ivshmem_vector_ack(a, 0); /* the CLI's rings above */
	/* Daemon killed while A waits: an error, not a hang.  The killer
	 * strikes once this process sleeps in the wait (state S), and says
	 * whether it saw that on a pipe. */
	int kp[2];
	if (pipe2(kp, O_CLOEXEC) < 0)
		kp[0] = kp[1] = -1;
	fflush(stdout);
	pid_t k = fork();
	if (k == 0) {
		char asleep = wait_asleep(getppid(), T) ? 'S' : '?';
		kill(d, SIGKILL);
		(void)!write(kp[1], &asleep, 1);
		_exit(0);
	}
	ivs_close(kp[1]);
	uint64_t t0 = ivs_now_ns();
	int r = ivshmem_wait(a, 0, 3 * T); /* the hang guard: longer than the killer's */
	uint64_t us = (ivs_now_ns() - t0) / 1000;
	char asleep = 0;
	ok(kp[0] >= 0 && read_bounded(kp[0], &asleep, 1, T) == 0 && asleep == 'S',
	   "the daemon is killed while the client sleeps in its wait");
	ivs_close(kp[0]);
	is(r, -ECONNRESET, "daemon killed: waiting client gets -ECONNRESET");
	printf("# the wait ended %llu us after it began\n", (unsigned long long)us);
	struct ivshmem_event ev;
	ok(ivshmem_next_event(a, &ev) == 1 && ev.type == IVSHMEM_EVENT_DISCONNECT, "and a DISCONNECT event");
	is(ivshmem_ring(a, (unsigned)id, 0), -ECONNRESET, "ring after the daemon is gone: -ECONNRESET");
	ivshmem_close(a);
	waitpid(k, NULL, 0);
	waitpid(d, NULL, 0);

	ok(access(sock, F_OK) == 0, "a killed daemon leaves a stale socket");
	d = start_core_daemon(NULL);
	ok(d > 0, "a restarted daemon replaces the stale socket");
	r = ivshmem_open(spec, NULL, &a);
	is(r, 0, "and clients reconnect");
	if (r == 0)
		ivshmem_close(a);
	/* A graceful stop tells clients. */
	is(ivshmem_open(spec, NULL, &a), 0, "client before SIGTERM");
	kill(d, SIGTERM);
	is(ivshmem_wait(a, 0, 5000), -ECONNRESET, "SIGTERM: waiting client gets -ECONNRESET");
	ivshmem_close(a);
	waitpid(d, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "core daemon exits 0");
}

/* The real thing: a daemon owning a peer of `ivshmem server`. */
static void test_server(void)
{
	char srv[80], name[48];
	snprintf(srv, sizeof(srv), "%s/srv.sock", dir);
	snprintf(name, sizeof(name), "ivsd-test-srv-%d", (int)getpid());
	pid_t sp = start_server(srv, name);
	ok(sp > 0, "ivshmem server started");
	if (sp < 0)
		return;
	char dev[96];
	snprintf(dev, sizeof(dev), "server:%s", srv);
	unlink(sock);
	pid_t d = fork();
	if (d == 0) {
		int fd = open(cli_log, O_WRONLY | O_APPEND | O_CLOEXEC);
		dup2(fd, 2);
		execl(cli, cli, "daemon", dev, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	ok(wait_socket(sock) == 0, "daemon owns a server: peer");
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *a = NULL, *b = NULL, *peer = NULL;
	is(ivshmem_open(spec, NULL, &a), 0, "client A of the server-peer daemon");
	is(ivshmem_open(spec, NULL, &b), 0, "client B");
	is(ivshmem_open(dev, NULL, &peer), 0, "a direct server peer");
	if (a && b && peer) {
		is(ivshmem_vectors(a), 2, "vectors from the server");
		int id = ivshmem_id(a);
		ok(id >= 0 && id == ivshmem_id(b), "clients share the daemon's peer ID (%d)", id);
		is(ivshmem_ring(peer, (unsigned)id, 1), 0, "the peer rings the daemon's ID, vector 1");
		ok(ivshmem_wait(a, 1, T) >= 1, "A gets the interrupt");
		ok(ivshmem_wait(b, 1, T) >= 1, "B gets the same interrupt");
		is(ivshmem_ring(a, (unsigned)ivshmem_id(peer), 0), 0, "A rings the peer through the daemon");
		ok(ivshmem_wait(peer, 0, T) >= 1, "the peer gets it");
		struct ivshmem_peer list[8];
		int n = ivshmem_peers(a, list, 8);
		ok(n >= 1 && list[0].id == ivshmem_id(peer), "PEERS through the daemon (%d)", n);
		memcpy(ivshmem_mem(a), "via-daemon", 10);
		ok(!memcmp(ivshmem_mem(peer), "via-daemon", 10), "memory is the server's");
	}
	ivshmem_close(a);
	ivshmem_close(b);
	ivshmem_close(peer);
	stop(d, SIGTERM);
	stop(sp, SIGTERM);
	char shm[80];
	snprintf(shm, sizeof(shm), "/dev/shm/%s", name);
	unlink(shm);
}

/* The daemon's fd count once every client but a probe of ours has gone
 * (INFO counts 1), with that probe connected; -1 if it didn't settle. */
static int settled_fds(pid_t d)
{
	int s = raw_connect(), n = -1;
	struct ivs_dp_resp resp;
	if (s < 0 || raw_call(s, IVS_DP_HELLO, IVS_DP_VERSION, IVS_DP_VERSION, 0, &resp, NULL) != 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	uint64_t until = ivs_now_ns() + 5000000000ull;
	while (raw_call(s, IVS_DP_INFO, 0, 0, 0, &resp, NULL) == 0 && ivs_now_ns() < until) {
		if (resp.v[3] == 1) {
			n = count_pid_fds(d);
			break;
		}
		usleep(10000); /* poll interval */
	}
	close(s);
	return n;
}

static int die_holding(void)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *ep;
	if (ivshmem_open(spec, NULL, &ep) < 0)
		return 1;
	_exit(0); /* no close: the kernel cleans up, the daemon must too */
}

static void test_churn(void)
{
	pid_t d = start_core_daemon(NULL);
	char spec[160];
	snprintf(spec, sizeof(spec), "daemon:%s", sock);
	ivshmem_ep *ep;
	/* Warm up (first-use allocations) before counting. */
	if (ivshmem_open(spec, NULL, &ep) == 0)
		ivshmem_close(ep);
	int before = settled_fds(d);
	int opened = 0, died = 0, rung = 0;
	for (int i = 0; i < 100; i++) {
		if (i % 4 == 3) {
			died += as_user(0, 0, die_holding) == 0;
		} else if (ivshmem_open(spec, NULL, &ep) == 0) {
			opened++;
			rung += device_interrupt(ivshmem_id(ep), 0) == 0;
			ivshmem_close(ep);
		}
	}
	is(opened + died, 100, "100 clients connect (25 of them die without closing)");
	is(rung, opened, "an interrupt while each of them is connected");
	int after = settled_fds(d);
	is(after, before, "daemon's fd count is unchanged (%d)", before);
	stop(d, SIGTERM);
}

int main(void)
{
	if (geteuid() != 0)
		skip_all("needs root (setuid to 65534, /dev/shm)");
	cli = getenv("IVSHMEM");
	if (!cli)
		skip_all("IVSHMEM (path of the CLI) not set");
	signal(SIGPIPE, SIG_IGN);
	snprintf(shm_path, sizeof(shm_path), "file:/dev/shm/ivsd-test-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "/tmp/ivsd-test-XXXXXX");
	/* 0755: the clients that drop to other users reach the socket in it. */
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		fail_all("setup: cannot create %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/sub/d.sock", dir);
	snprintf(cli_log, sizeof(cli_log), "%s/daemon.log", dir);
	int fd = open(shm_path + 5, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, SHM_SIZE) < 0)
		fail_all("setup: cannot create %s: %s", shm_path + 5, strerror(errno));
	close(fd);
	/* The core daemon's device: a peer of a real server. */
	char core_sock[80];
	snprintf(core_sock, sizeof(core_sock), "%s/core.sock", dir);
	snprintf(core_dev, sizeof(core_dev), "server:%s", core_sock);
	snprintf(core_shm, sizeof(core_shm), "ivsd-test-core-%d", (int)getpid());
	pid_t core_srv = start_server(core_sock, core_shm);
	ok(core_srv > 0, "ivshmem server for the core daemon started");
	ok(core_srv > 0 && ivshmem_open(core_dev, NULL, &devpeer) == 0, "and a peer of it fires interrupts");
	if (!devpeer) {
		stop(core_srv, SIGKILL);
		return tap_done();
	}

	test_policy();
	test_read_only();
	test_exclusive();
	test_interrupts();
	test_server();
	test_churn();

	char cmd[256];
	snprintf(cmd, sizeof(cmd), "sed 's/^/# log: /' %s", cli_log);
	fflush(stdout);
	if (tap_failed)
		(void)!system(cmd);
	unlink(shm_path + 5);
	ivshmem_close(devpeer);
	stop(core_srv, SIGTERM);
	snprintf(cmd, sizeof(cmd), "/dev/shm/%s", core_shm);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
