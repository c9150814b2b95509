/* SPDX-License-Identifier: MIT */
/* A `server:` endpoint reports each peer once: peers that joined while it
 * opened (after its own vectors, before the greeting settled) are in
 * ivshmem_peers() when ivshmem_open() returns and are not reported as
 * joins; one that joined and left meanwhile is neither; what changes after
 * the open comes as events, a peer listed at open included (its later
 * vectors are no join, its leave is a leave).
 *
 * A fake server makes the open window deterministic: the client (a child)
 * is stopped once it has connected, the whole greeting and the news are
 * written, and then it runs on and finds everything in its socket at once.
 * Every wait is bounded; no timing thresholds. */
#include "proto/server-proto.h"
#include "srv-test.h"
#include "../tap.h"

#include <sys/mman.h>

#define T 5000
#define LINE 128 /* the child's report: fixed-size lines */

static char dir[64], sock[100];

/* A message with a fresh eventfd (the client gets its own copy). */
static int send_vector(int c, int64_t id)
{
	int e = ivs_eventfd();
	if (e < 0)
		return e;
	int r = ivs_srv_send_msg(c, id, e, T);
	close(e);
	return r;
}

static void put(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(char *buf, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, LINE - n, fmt, ap);
	va_end(ap);
}

static void put_event(char *buf, const struct ivshmem_event *ev)
{
	const char *sep = buf[strlen(buf) - 1] == '=' ? "" : ",";
	if (ev->type == IVSHMEM_EVENT_PEER_JOIN)
		put(buf, "%sJ%u/%u", sep, ev->peer, ev->vectors);
	else if (ev->type == IVSHMEM_EVENT_PEER_LEAVE)
		put(buf, "%sL%u/%u", sep, ev->peer, ev->vectors);
	else if (ev->type == IVSHMEM_EVENT_DISCONNECT)
		put(buf, "%sD", sep);
	else
		put(buf, "%s?", sep);
}

/* The client: open, report the peers and the events pending right after
 * the open, then (once the server has sent more and closed) the events
 * up to the disconnect. */
static void client(int out)
{
	char spec[160], line[LINE] = "";
	snprintf(spec, sizeof(spec), "server:%s", sock);
	/* The open timeout runs while we are stopped: far beyond the test's. */
	struct ivshmem_open_opts o = {.ready_timeout_ms = 10 * T};
	ivshmem_ep *ep = NULL;
	int r = ivshmem_open(spec, &o, &ep);
	put(line, "open=%d vectors=%d peers=", r, r == 0 ? ivshmem_vectors(ep) : -1);
	struct ivshmem_peer pl[8];
	int n = r == 0 ? ivshmem_peers(ep, pl, 8) : 0;
	for (int i = 0; i < n && i < 8; i++)
		put(line, "%s%u/%u", i ? "," : "", pl[i].id, pl[i].vectors);
	put(line, " events=");
	struct ivshmem_event ev;
	while (ep && ivshmem_next_event(ep, &ev) == 1)
		put_event(line, &ev);
	if (write(out, line, LINE) != LINE)
		_exit(1);
	memset(line, 0, sizeof(line));
	put(line, "after=");
	bool gone = false;
	while (ep && !gone && wait_event(ep, &ev, T) == 1) {
		put_event(line, &ev);
		gone = ev.type == IVSHMEM_EVENT_DISCONNECT;
	}
	if (write(out, line, LINE) != LINE)
		_exit(1);
	ivshmem_close(ep);
	_exit(0);
}

/* The fake server's socket, and a child running FN with the write end of
 * a pipe for its report (the read end in rep[0]). */
static pid_t start_client(void (*fn)(int out), int *lfd, int rep[2])
{
	*lfd = listen_unix(sock, SOCK_STREAM, 4);
	if (*lfd < 0 || pipe2(rep, O_CLOEXEC) < 0)
		fail_all("setup: the fake server's socket or pipe: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		fail_all("setup: fork: %s", strerror(errno));
	if (kid == 0) {
		close(*lfd);
		close(rep[0]);
		fn(rep[1]);
		_exit(0);
	}
	close(rep[1]);
	return kid;
}

static void test_open_window(void)
{
	int lfd, rep[2];
	pid_t kid = start_client(client, &lfd, rep);
	ok(lfd >= 0, "fake server listens");
	int c = ivs_poll1(lfd, POLLIN, T) > 0 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	ok(c >= 0, "the client connects");
	/* Stop it before anything is written: when it runs on, the greeting
	 * and the news are in its socket together. */
	int st = 0;
	bool stopped = c >= 0 && kill(kid, SIGSTOP) == 0 && waitpid(kid, &st, WUNTRACED) == kid &&
		       WIFSTOPPED(st);
	ok(stopped, "the client is stopped");
	int mem = memfd_create("open-window", MFD_CLOEXEC);
	int bad = mem < 0 || ftruncate(mem, 65536) < 0;
	/* Greeting: we are peer 0 with 2 vectors; peer 5 exists (2 vectors). */
	bad |= ivs_srv_send_msg(c, IVS_SRV_PROTO_VERSION, -1, T) < 0;
	bad |= ivs_srv_send_msg(c, 0, -1, T) < 0;
	bad |= ivs_srv_send_msg(c, IVS_SRV_SHM_ID, mem, T) < 0;
	bad |= send_vector(c, 5) < 0 || send_vector(c, 5) < 0;
	bad |= send_vector(c, 0) < 0 || send_vector(c, 0) < 0;
	/* News while the client opens: peer 4 joins, peer 1 joins (its first
	 * vector of two so far), peer 2 joins and leaves. */
	bad |= send_vector(c, 4) < 0 || send_vector(c, 4) < 0;
	bad |= send_vector(c, 1) < 0;
	bad |= send_vector(c, 2) < 0 || send_vector(c, 2) < 0;
	bad |= ivs_srv_send_msg(c, 2, -1, T) < 0;
	ok(!bad, "greeting and news written");
	if (mem >= 0)
		close(mem);
	if (stopped)
		kill(kid, SIGCONT);

	char line[LINE + 1] = "";
	int r = read_bounded(rep[0], line, LINE, T);
	is(r, 0, "the client reports its open");
	printf("# %s\n", line);
	is(strncmp(line, "open=0 vectors=2 ", 17), 0, "open() succeeds with 2 vectors");
	ok(strstr(line, " peers=1/1,4/2,5/2 ") != NULL,
	   "it lists the peer present before it and those that joined meanwhile");
	ok(strstr(line, " events=") && !strcmp(strstr(line, " events="), " events="),
	   "and reports neither as a join, nor the one that came and went");

	/* After the open: peer 1's second vector (no join: it was listed),
	 * peer 3 joins, peer 1 leaves, the server goes. */
	bad = send_vector(c, 1) < 0;
	bad |= send_vector(c, 3) < 0 || send_vector(c, 3) < 0;
	bad |= ivs_srv_send_msg(c, 1, -1, T) < 0;
	ok(!bad, "changes written after the open");
	if (c >= 0)
		close(c);
	memset(line, 0, sizeof(line));
	is(read_bounded(rep[0], line, LINE, T), 0, "the client reports the events after its open");
	printf("# %s\n", line);
	ok(!strcmp(line, "after=J3/2,L1/2,D"), "a join for the newcomer, a leave for the listed peer, the disconnect");
	is(reap_bounded(kid, T), 0, "the client exits");
	close(rep[0]);
	close(lfd);
}

/* 'S' once PID sleeps (in its open, waiting for the greeting), 'Z' or 0
 * once it has ended; bounded. */
static char wait_sleeping(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < T; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return 0;
		buf[n] = 0;
		const char *st = strrchr(buf, ')');
		if (st && (st[2] == 'S' || st[2] == 'Z'))
			return st[2];
		usleep(1000);
	}
	return 0;
}

/* The client of test_zeroed_opts: open with options memset to 0. */
static void client_zeroed(int out)
{
	char spec[160], line[LINE] = "";
	snprintf(spec, sizeof(spec), "server:%s", sock);
	struct ivshmem_open_opts o;
	memset(&o, 0, sizeof(o));
	ivshmem_ep *ep = NULL;
	put(line, "open=%d", ivshmem_open(spec, &o, &ep));
	ivshmem_close(ep);
	_exit(write(out, line, LINE) == LINE ? 0 : 1);
}

/* Options left zeroed (memset, as the header says to initialise them):
 * ready_timeout_ms 0 is the default wait, not "don't wait".  The fake
 * server greets only once the client sleeps in its open: a client that
 * did not wait has failed by then. */
static void test_zeroed_opts(void)
{
	int lfd, rep[2];
	pid_t kid = start_client(client_zeroed, &lfd, rep);
	int c = ivs_poll1(lfd, POLLIN, T) > 0 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	ok(c >= 0, "zeroed options: the client connects");
	char st = c >= 0 ? wait_sleeping(kid) : 0;
	is(st, 'S', "zeroed options: the client waits for its greeting");
	int mem = memfd_create("zeroed-opts", MFD_CLOEXEC);
	int bad = mem < 0 || ftruncate(mem, 65536) < 0;
	bad |= ivs_srv_send_msg(c, IVS_SRV_PROTO_VERSION, -1, T) < 0;
	bad |= ivs_srv_send_msg(c, 0, -1, T) < 0;
	bad |= ivs_srv_send_msg(c, IVS_SRV_SHM_ID, mem, T) < 0;
	bad |= send_vector(c, 0) < 0;
	ok(!bad, "zeroed options: greeting written once it waits");
	if (mem >= 0)
		close(mem);
	char line[LINE + 1] = "";
	is(read_bounded(rep[0], line, LINE, T), 0, "zeroed options: the client reports its open");
	printf("# %s\n", line);
	ok(!strcmp(line, "open=0"), "zeroed options: open() succeeds");
	if (c >= 0)
		close(c);
	is(reap_bounded(kid, T), 0, "zeroed options: the client exits");
	close(rep[0]);
	close(lfd);
	unlink(sock);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-window-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	test_open_window();
	test_zeroed_opts();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
