/* SPDX-License-Identifier: MIT */
/* Host peers against `ivshmem server`: join, leave, doorbells both ways on
 * several vectors, a SIGKILLed peer, a killed server, missing peers,
 * a second instance, fd hygiene over 1000 join/leave cycles,
 * misbehaving clients, and -n 0 (no leave for a peer never announced).
 * Every wait is bounded; no timing thresholds. */
#include "proto/server-proto.h"
#include "srv-test.h"
#include "../tap.h"

#include <stdlib.h>
#include <sys/mman.h>

#define NVEC 3
#define T 5000 /* ms: bound of every wait */

static char dir[64], sock[128], logpath[128], shm[64];

static int open_peer(ivshmem_ep **ep)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	return ivshmem_open(spec, NULL, ep);
}

/* Read a raw client's greeting through the shm fd and nvec own vectors:
 * its ID, or a negative error. */
static int read_raw_greeting(int s, unsigned nvec)
{
	struct ivs_srv_dec d;
	struct ivs_srv_rx rx;
	ivs_srv_dec_init(&d);
	ivs_srv_rx_init(&rx);
	int r = 0;
	while (r == 0 && (!d.shm_seen || d.own_nvec < nvec)) {
		int64_t v;
		int fd;
		r = ivs_srv_recv_wait(s, &rx, &v, &fd, T);
		if (r == 1) {
			struct ivs_srv_dec_out o;
			r = ivs_srv_dec_feed(&d, v, fd, &o);
		}
	}
	int id = r < 0 ? r : d.id;
	ivs_srv_rx_reset(&rx);
	ivs_srv_dec_free(&d);
	return id;
}

/* A raw protocol client: read the greeting up to our own vectors, close. */
static int raw_join_leave(void)
{
	int s = connect_raw(sock);
	if (s < 0)
		return -errno;
	int r = read_raw_greeting(s, NVEC);
	close(s);
	return r < 0 ? r : 0;
}

/* Pump until A and B each know exactly one peer (bounded). */
static int settle(ivshmem_ep *a, ivshmem_ep *b)
{
	struct ivshmem_event ev;
	for (int i = 0; i < 500 && (ivshmem_peers(a, NULL, 0) != 1 || ivshmem_peers(b, NULL, 0) != 1); i++) {
		wait_event(a, &ev, 10);
		wait_event(b, &ev, 10);
	}
	while (wait_event(a, &ev, 0) == 1)
		;
	while (wait_event(b, &ev, 0) == 1)
		;
	return ivshmem_peers(a, NULL, 0);
}

static void test_join_ring(pid_t srv)
{
	ivshmem_ep *a = NULL, *b = NULL, *c = NULL;
	is(open_peer(&a), 0, "peer A opens");
	is(ivshmem_id(a), 0, "A is peer 0");
	is(ivshmem_vectors(a), NVEC, "A has %d vectors", NVEC);
	is(ivshmem_mem_size(a), 1 << 20, "1 MiB shared memory");
	ok(strcmp(ivshmem_kind(a), "server") == 0, "kind server");
	is(ivshmem_peers(a, NULL, 0), 0, "A sees no peers yet");

	is(open_peer(&b), 0, "peer B opens");
	is(ivshmem_id(b), 1, "B is peer 1");
	struct ivshmem_event ev;
	is(wait_event(a, &ev, T), 1, "A gets an event");
	ok(ev.type == IVSHMEM_EVENT_PEER_JOIN && ev.peer == 1 && ev.vectors == NVEC, "A: PEER_JOIN 1 with %d vectors",
	   NVEC);
	struct ivshmem_peer pl[4];
	is(ivshmem_peers(b, pl, 4), 1, "B sees one peer");
	ok(pl[0].id == 0 && pl[0].vectors == NVEC, "B: peer 0 with %d vectors", NVEC);

	is(open_peer(&c), 0, "peer C opens");
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_JOIN, 2, NULL, T), 1, "A sees C join");
	is(wait_event_type(b, IVSHMEM_EVENT_PEER_JOIN, 2, NULL, T), 1, "B sees C join");

	/* Shared memory is shared. */
	memcpy(ivshmem_mem(a), "hello", 6);
	ok(memcmp(ivshmem_mem(c), "hello", 6) == 0, "C reads what A wrote");

	/* Doorbells both ways, every vector. */
	for (unsigned v = 0; v < NVEC; v++) {
		is(ivshmem_ring(a, 1, v), 0, "A rings B vector %u", v);
		is(ivshmem_wait(b, v, T), 1, "B gets vector %u", v);
		is(ivshmem_ring(b, 0, v), 0, "B rings A vector %u", v);
		is(ivshmem_wait(a, v, T), 1, "A gets vector %u", v);
	}
	is(ivshmem_ring(c, 0, 2), 0, "C rings A vector 2");
	is(ivshmem_wait(a, 2, T), 1, "A gets C's ring on vector 2");
	/* The ring has arrived: had it also gone to vector 1, that would
	 * show now, without waiting for it. */
	is(ivshmem_vector_ack(a, 1), 0, "A's vector 1 stays quiet");
	is(ivshmem_ring(a, 0, 1), 0, "A rings itself");
	is(ivshmem_wait(a, 1, T), 1, "and gets it");

	/* Missing peers and bad vectors. */
	is(ivshmem_ring(a, 77, 0), -ENOENT, "ring a missing peer: -ENOENT");
	is(ivshmem_ring(a, 1, NVEC), -EINVAL, "ring a vector the peer lacks: -EINVAL");
	is(ivshmem_ring(a, 1, 0), 0, "A still rings B after that");
	is(ivshmem_wait(b, 0, T), 1, "B gets it");

	/* Leave and ID reuse (this server runs with --ids lowest). */
	c = ivshmem_close(c);
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_LEAVE, 2, &ev, T), 1, "A sees C leave");
	is(ev.vectors, NVEC, "leave reports its vectors");
	is(wait_event_type(b, IVSHMEM_EVENT_PEER_LEAVE, 2, NULL, T), 1, "B sees C leave");
	is(ivshmem_ring(a, 2, 0), -ENOENT, "ringing the departed C: -ENOENT");
	is(open_peer(&c), 0, "peer D opens");
	is(ivshmem_id(c), 2, "D reuses the lowest free ID 2");
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_JOIN, 2, NULL, T), 1, "A sees D join");
	c = ivshmem_close(c);
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_LEAVE, 2, NULL, T), 1, "A sees D leave");
	is(wait_event_type(b, IVSHMEM_EVENT_PEER_LEAVE, 2, NULL, T), 1, "B sees D leave");

	/* A peer killed with SIGKILL. */
	int pfd[2];
	if (pipe(pfd) < 0)
		fail_all("setup: pipe: %s", strerror(errno));
	pid_t kid = fork();
	if (kid == 0) {
		ivshmem_ep *k;
		char id = open_peer(&k) == 0 ? (char)ivshmem_id(k) : -1;
		if (write(pfd[1], &id, 1) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	char kid_id = -1;
	ok(ivs_poll1(pfd[0], POLLIN, T) > 0 && read(pfd[0], &kid_id, 1) == 1 && kid_id >= 0, "child peer joined");
	close(pfd[0]);
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_JOIN, kid_id, NULL, T), 1, "A sees the child join");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_LEAVE, kid_id, NULL, T), 1, "SIGKILLed peer: A gets PEER_LEAVE");
	is(wait_event_type(b, IVSHMEM_EVENT_PEER_LEAVE, kid_id, NULL, T), 1, "SIGKILLed peer: B gets PEER_LEAVE");

	/* 1000 join/leave cycles leave the server's fd count unchanged (A and
	 * B don't read meanwhile: the server queues for them).  E holds the
	 * next ID through them (IDs are the lowest free): its leave, sent
	 * after the churn's, marks the end of what A has to catch up with. */
	ivshmem_ep *e_end = NULL;
	is(open_peer(&e_end), 0, "peer E opens, to leave after the churn");
	int id_end = e_end ? ivshmem_id(e_end) : -1;
	/* Once A knows E, E's leave must reach A (never purged with its join). */
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_JOIN, id_end, NULL, T), 1, "A sees E join");
	int before = count_pid_fds(srv);
	int bad = 0;
	for (int i = 0; i < 1000; i++)
		bad += raw_join_leave() != 0;
	is(bad, 0, "1000 join/leave cycles");
	/* The server handles the last leave asynchronously: let it settle. */
	int after = -1;
	for (int i = 0; i < 500 && (after = count_pid_fds(srv)) != before; i++)
		usleep(10000); /* poll interval */
	ok(before > 0 && after == before, "server fd count unchanged (%d -> %d)", before, after);
	/* A catches up with the backlog, up to E's leave, and then has
	 * exactly B: every churn peer it heard of has left. */
	ivshmem_close(e_end);
	int n = 0, r_end = 0;
	while ((r_end = wait_event(a, &ev, T)) == 1) {
		n++;
		if (ev.type == IVSHMEM_EVENT_PEER_LEAVE && ev.peer == id_end)
			break;
	}
	printf("# A drained %d events, up to E's leave\n", n);
	is(r_end, 1, "A gets E's leave after the churn's events");
	is(ivshmem_peers(a, pl, 4), 1, "A's peer table is back to just B");
	is(ivshmem_ring(a, 1, 2), 0, "A rings B after the churn");
	is(ivshmem_wait(b, 2, T), 1, "B gets it");

	/* Misbehaving clients. */
	int g = connect_raw(sock);
	ok(g >= 0, "garbage client connects");
	int e = ivs_eventfd();
	/* With an fd: the kernel refuses it where it can (SO_PASSRIGHTS). */
	int sr = ivs_srv_send_msg(g, 0x4141414141414141ll, e, T);
	ok(sr == 0 || sr == -EPERM, "a client's fd is refused (EPERM) or taken (old kernels): %d", sr);
	if (sr == -EPERM)
		ivs_srv_send_msg(g, 0x4141414141414141ll, -1, T);
	close(e);
	ok(wait_log(logpath, "clients must not write", T), "server drops the garbage client");
	char buf[64];
	/* Its socket gets closed: read until EOF (bounded). */
	bool eof = false;
	for (int i = 0; i < 1000 && !eof; i++) {
		if (ivs_poll1(g, POLLIN, T) <= 0)
			break;
		ssize_t r = recv(g, buf, sizeof(buf), MSG_DONTWAIT);
		eof = r == 0 || (r < 0 && errno == ECONNRESET);
	}
	ok(eof, "garbage client's connection is closed");
	close(g);

	int base = count_pid_fds(srv);
	int mute = connect_raw(sock); /* connects and never reads */
	ok(mute >= 0, "mute client connects");
	/* Churn while it sleeps; A and B keep reading.  Its queue holds only
	 * what matters now, so the server's fds stay bounded. */
	struct ivshmem_event ev2;
	int peak = 0;
	for (int i = 0; i < 1300; i++) {
		raw_join_leave();
		if (i % 50 == 0) {
			while (ivshmem_next_event(a, &ev2) == 1)
				;
			while (ivshmem_next_event(b, &ev2) == 1)
				;
			peak = IVS_MAX(peak, count_pid_fds(srv));
		}
	}
	printf("# server fds: %d before the mute client, peak %d\n", base, peak);
	ok(peak - base <= (1 + NVEC) + 2 * NVEC + (1 + NVEC) + 2, "server fds stay bounded with a mute client");
	ivshmem_ep *d2 = NULL;
	is(open_peer(&d2), 0, "a new peer still opens while a client never reads");
	is(ivshmem_ring(d2, 0, 0), 0, "new peer rings A");
	is(ivshmem_wait(a, 0, T), 1, "A gets it");
	d2 = ivshmem_close(d2);
	close(mute);
	/* Until A and B have seen every leave (the mute client's and D's). */
	is(settle(a, b), 1, "A is back to one peer");

	/* A second server on the same live socket is refused. */
	char log2[160];
	snprintf(log2, sizeof(log2), "%s/second.log", dir);
	char shm_second[80]; /* refused before it is created */
	snprintf(shm_second, sizeof(shm_second), "%s-second", shm);
	char *argv2[] = {getenv("IVSHMEM"), "server", "-F", "-S", sock, "-M", shm_second, NULL};
	pid_t p2 = spawn_logged(argv2, log2);
	int st = 0;
	ok(p2 > 0, "second server started");
	/* Bounded wait for its exit. */
	int waited = 0;
	for (int i = 0; i < 500 && !(waited = waitpid(p2, &st, WNOHANG)); i++)
		usleep(10000); /* poll interval */
	if (!waited)
		stop_child(p2, SIGKILL);
	ok(waited && WIFEXITED(st) && WEXITSTATUS(st) == 1, "second server exits 1");
	ok(file_contains(log2, "already running"), "with 'already running'");
	is(access(sock, F_OK), 0, "the live socket is still there");
	ivshmem_ep *d3 = NULL;
	is(open_peer(&d3), 0, "the first server still serves");
	int id3 = d3 ? ivshmem_id(d3) : -1;
	d3 = ivshmem_close(d3);
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_LEAVE, id3, NULL, T), 1, "A sees it leave");
	is(wait_event_type(b, IVSHMEM_EVENT_PEER_LEAVE, id3, NULL, T), 1, "B sees it leave");

	/* The second server's liveness probe joined and left too. */
	is(settle(a, b), 1, "A is back to one peer after the probe");

	/* The server dies: peers keep ringing each other. */
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	is(wait_event_type(a, IVSHMEM_EVENT_DISCONNECT, -1, NULL, T), 1, "A gets DISCONNECT");
	is(wait_event_type(b, IVSHMEM_EVENT_DISCONNECT, -1, NULL, T), 1, "B gets DISCONNECT");
	is(ivshmem_ring(a, 1, 1), 0, "A rings B without the server");
	is(ivshmem_wait(b, 1, T), 1, "B gets it");
	is(ivshmem_ring(b, 0, 2), 0, "B rings A without the server");
	is(ivshmem_wait(a, 2, T), 1, "A gets it");
	is(ivshmem_peers(a, pl, 4), 1, "A still knows B");
	ivshmem_close(a);
	ivshmem_close(b);
}

static void test_graceful(void)
{
	/* The SIGKILLed server left a stale socket: a new one removes it. */
	ok(access(sock, F_OK) == 0, "stale socket file left by SIGKILL");
	char shm2[80];
	snprintf(shm2, sizeof(shm2), "%s-2", shm);
	char log2[160];
	snprintf(log2, sizeof(log2), "%s/server2.log", dir);
	pid_t srv = start_server(sock, shm2, 1, log2, NULL);
	ok(srv > 0, "a new server starts on the stale socket");
	if (srv <= 0)
		return;
	ok(file_contains(log2, "replaced stale socket"), "and says it replaced the stale socket");
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm/%s", shm2);
	is(access(path, F_OK), 0, "POSIX shm created");
	ivshmem_ep *a = NULL, *b = NULL;
	is(open_peer(&a), 0, "peer opens");
	is(open_peer(&b), 0, "second peer opens");
	int ida = ivshmem_id(a);
	b = ivshmem_close(b);
	is(wait_event_type(a, IVSHMEM_EVENT_PEER_LEAVE, -1, NULL, T), 1, "leave seen");
	is(open_peer(&b), 0, "third peer opens");
	is(ivshmem_id(b), ida + 2, "default ID policy: next, not the freed one (QEMU-safe)");
	kill(srv, SIGTERM);
	int st = 0;
	int waited = 0;
	for (int i = 0; i < 500 && !(waited = waitpid(srv, &st, WNOHANG)); i++)
		usleep(10000); /* poll interval */
	if (!waited)
		stop_child(srv, SIGKILL);
	ok(waited && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: server exits 0");
	is(wait_event_type(a, IVSHMEM_EVENT_DISCONNECT, -1, NULL, T), 1, "peer gets DISCONNECT");
	ok(access(sock, F_OK) < 0, "socket removed");
	ok(access(path, F_OK) < 0, "shm unlinked");
	ok(file_contains(log2, "shutting down"), "shutdown logged");
	is(ivshmem_ring(a, ivshmem_id(b), 0), 0, "peers still ring each other");
	is(ivshmem_wait(b, 0, T), 1, "and get it");
	ivshmem_close(a);
	ivshmem_close(b);
}

/* Read a raw client's greeting (version, ID, shm: -n 0 has no vectors);
 * its ID, or -1. */
static int raw_greeting(int s)
{
	int id = read_raw_greeting(s, 0);
	return id < 0 ? -1 : id;
}

/* -n 0: a peer is announced by nothing (it has no vector to send), so its
 * leave is not sent either: QEMU's ivshmem-client disconnects on a leave
 * of a peer it never saw. */
static void test_no_vectors(void)
{
	char sock0[160], log0[160], shm0[80];
	snprintf(sock0, sizeof(sock0), "%s/sock0", dir);
	snprintf(log0, sizeof(log0), "%s/server0.log", dir);
	snprintf(shm0, sizeof(shm0), "%s-0", shm);
	pid_t srv = start_server(sock0, shm0, 0, log0, NULL);
	ok(srv > 0, "-n 0: server starts");
	if (srv <= 0)
		return;
	int a = connect_raw(sock0);
	is(a >= 0 ? raw_greeting(a) : -1, 0, "-n 0: client A is peer 0");
	int b = connect_raw(sock0);
	is(b >= 0 ? raw_greeting(b) : -1, 1, "-n 0: client B is peer 1");
	if (b >= 0)
		close(b);
	ok(wait_log(log0, "peer 1 disconnected", T), "B leaves");
	/* The leave would have been sent when the server logged it; a clean
	 * stop flushes what is pending and closes A. */
	kill(srv, SIGTERM);
	int st = 0, waited = 0;
	for (int i = 0; i < 500 && !(waited = waitpid(srv, &st, WNOHANG)); i++)
		usleep(10000); /* poll interval */
	if (!waited)
		stop_child(srv, SIGKILL);
	ok(waited && WIFEXITED(st) && WEXITSTATUS(st) == 0, "-n 0: server stops");
	/* What A got after its greeting: until EOF (bounded). */
	int msgs = 0, r = 0;
	struct ivs_srv_rx rx;
	ivs_srv_rx_init(&rx);
	while (a >= 0 && msgs < 100) {
		int64_t v;
		int fd;
		r = ivs_srv_recv_wait(a, &rx, &v, &fd, T);
		if (r != 1)
			break;
		printf("# A got %lld%s\n", (long long)v, fd >= 0 ? " + fd" : "");
		ivs_close(fd);
		msgs++;
	}
	ivs_srv_rx_reset(&rx);
	is(r, -ECONNRESET, "A's connection ends");
	is(msgs, 0, "A got no leave for B, which it was never told of");
	if (a >= 0)
		close(a);
}

int main(void)
{
	if (!getenv("IVSHMEM"))
		skip_all("IVSHMEM (path of the ivshmem binary) not set");
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-srv-XXXXXX");
	if (!mkdtemp(dir))
		fail_all("setup: mkdtemp %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
	snprintf(shm, sizeof(shm), "ivs-test-%d", (int)getpid());
	pid_t srv = start_server(sock, shm, NVEC, logpath, "--ids=lowest");
	ok(srv > 0, "server starts");
	if (srv > 0) {
		test_join_ring(srv);
		test_graceful();
	}
	test_no_vectors();
	char cmd[256];
	printf("# server log:\n");
	snprintf(cmd, sizeof(cmd), "grep -v ' connected (\\|(closed)' %s | sed 's/^/#   /'; rm -rf %s", logpath, dir);
	fflush(stdout);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	char path[128];
	snprintf(path, sizeof(path), "/%s", shm);
	shm_unlink(path);
	return tap_done();
}
