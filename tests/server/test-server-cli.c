/* SPDX-License-Identifier: MIT */
/* `ivshmem server` options and limits: -p (pid file), daemonizing (no -F),
 * -m DIR, -v (debug lines per message), and running out of fds (the loop
 * must shed connections, not spin); `ivshmem wait` on a server that goes
 * away.  Every wait is bounded. */
#include "srv-test.h"
#include "../tap.h"

#include <sys/resource.h>

#define T 5000

static char dir[64], sock[128], logpath[128], pidpath[128], shmdir[128];
static const char *cli;

static int open_peer(ivshmem_ep **ep)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	return ivshmem_open(spec, NULL, ep);
}

static long read_pid(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long v = -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Bounded wait for a child's exit; its status or -1. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int st;
	for (int i = 0; i < timeout_ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000); /* poll interval */
	}
	return -1;
}

static bool wait_gone(pid_t pid, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 10; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		usleep(10000); /* poll interval */
	}
	return false;
}

static int count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void test_pid_file_foreground(void)
{
	char *argv[] = {(char *)cli, "server", "-F", "-S", sock, "-m", shmdir, "-l", "64K", "-n", "0", "-p",
			pidpath, NULL};
	unlink(logpath);
	pid_t pid = spawn_logged(argv, logpath);
	ok(wait_log(logpath, "listening on", T), "-F -p: server listens");
	for (int i = 0; i < 500 && read_pid(pidpath) != pid; i++)
		usleep(10000); /* poll interval */
	is(read_pid(pidpath), pid, "-p: the pid file holds the server's pid");
	kill(pid, SIGTERM);
	is(wait_exit(pid, T), 0, "SIGTERM: exit 0");
	ok(access(pidpath, F_OK) < 0, "pid file removed at exit");
	ok(access(sock, F_OK) < 0, "socket removed at exit");
}

static void test_daemonize(void)
{
	char *argv[] = {(char *)cli, "server", "-S", sock, "-m", shmdir, "-l", "64K", "-n", "1", "-p", pidpath, NULL};
	unlink(logpath);
	pid_t parent = spawn_logged(argv, logpath);
	is(wait_exit(parent, T), 0, "without -F: the parent exits 0 once ready");
	/* Ready means: listening and the pid file written, before the exit. */
	ok(access(sock, F_OK) == 0, "the socket exists when the parent has exited");
	long pid = read_pid(pidpath);
	ok(pid > 0 && pid != parent, "pid file holds the daemon's pid (%ld), not the parent's", pid);
	ok(pid > 0 && kill((pid_t)pid, 0) == 0, "the daemon runs");
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	long sid = -1;
	if (f) {
		(void)!fscanf(f, "%*d %*s %*c %*d %*d %ld", &sid);
		fclose(f);
	}
	is(sid, pid, "the daemon leads its own session (setsid)");
	ivshmem_ep *ep = NULL;
	is(open_peer(&ep), 0, "a peer opens on the daemonized server");
	is(ivshmem_vectors(ep), 1, "with 1 vector");
	ep = ivshmem_close(ep);
	if (pid > 0)
		kill((pid_t)pid, SIGTERM);
	ok(pid > 0 && wait_gone((pid_t)pid, T), "SIGTERM stops the daemon");
	ok(access(pidpath, F_OK) < 0, "pid file removed");
	ok(access(sock, F_OK) < 0, "socket removed");
}

static void test_shm_dir(void)
{
	char *argv[] = {(char *)cli, "server", "-F", "-S", sock, "-m", shmdir, "-l", "128K", "-n", "2", NULL};
	unlink(logpath);
	pid_t pid = spawn_logged(argv, logpath);
	ok(wait_log(logpath, "listening on", T), "-m DIR: server listens");
	ok(file_contains(logpath, "(unlinked file)"), "-m DIR: logged as an unlinked file");
	ivshmem_ep *a = NULL, *b = NULL;
	is(open_peer(&a), 0, "peer A opens");
	is(open_peer(&b), 0, "peer B opens");
	is(ivshmem_mem_size(a), 128 << 10, "memory size from -l");
	if (a && b) {
		memcpy(ivshmem_mem(a), "hello", 6);
		ok(memcmp(ivshmem_mem(b), "hello", 6) == 0, "A and B share the memory");
	}
	int entries = 0;
	DIR *d = opendir(shmdir);
	for (struct dirent *e; d && (e = readdir(d));)
		entries += e->d_name[0] != '.';
	if (d)
		closedir(d);
	is(entries, 0, "nothing left in DIR (the file is unlinked at once)");
	ivshmem_close(a);
	ivshmem_close(b);
	stop_child(pid, SIGTERM);

	char shmname[32]; /* never created: -M and -m exclude each other */
	snprintf(shmname, sizeof(shmname), "ivs-srvcli-%d", (int)getpid());
	char *bad[] = {(char *)cli, "server", "-F", "-S", sock, "-m", shmdir, "-M", shmname, NULL};
	unlink(logpath);
	pid = spawn_logged(bad, logpath);
	is(wait_exit(pid, T), 1, "-M with -m: exit 1");
	ok(file_contains(logpath, "exclude each other"), "with a usage error");
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	char *bad2[] = {(char *)cli, "server", "-F", "-S", sock, "-m", missing, NULL};
	unlink(logpath);
	pid = spawn_logged(bad2, logpath);
	is(wait_exit(pid, T), 1, "-m with a missing directory: exit 1");
	ok(file_contains(logpath, "does not exist"), "and says the directory does not exist");
	ok(access(sock, F_OK) < 0, "no socket left behind");
}

static void test_verbose(void)
{
	for (int verbose = 0; verbose < 2; verbose++) {
		char *argv[] = {(char *)cli, "server", "-F", "-S", sock, "-m", shmdir, "-l", "64K", "-n", "1",
				verbose ? "-v" : NULL, NULL};
		unlink(logpath);
		pid_t pid = spawn_logged(argv, logpath);
		ok(wait_log(logpath, "listening on", T), "server%s listens", verbose ? " -v" : "");
		ivshmem_ep *a = NULL;
		is(open_peer(&a), 0, "peer opens");
		int s = connect_raw(sock);
		ok(s >= 0, "a client that writes connects");
		if (s >= 0 && write(s, "x", 1) != 1)
			printf("# write failed\n");
		ok(wait_log(logpath, "clients must not write", T), "it is dropped");
		if (s >= 0)
			close(s);
		ivshmem_close(a);
		stop_child(pid, SIGTERM);
		if (verbose) {
			ok(file_contains(logpath, "peer 0 <- 0"), "-v: the version sent to peer 0 is logged");
			ok(file_contains(logpath, "peer 0 <- -1 + fd"), "-v: the shm fd sent to peer 0 is logged");
			ok(file_contains(logpath, "peer 1 -> 1 byte"), "-v: the byte received from peer 1 is logged");
		} else {
			is(count_lines(logpath, " <- "), 0, "without -v: no per-message lines");
		}
	}
}

static pid_t start_verbose_server(void)
{
	char *argv[] = {(char *)cli, "server", "-F", "-S", sock, "-m", shmdir, "-l", "64K", "-n", "1", "-v", NULL};
	unlink(logpath);
	pid_t pid = spawn_logged(argv, logpath);
	return wait_log(logpath, "listening on", T) ? pid : -1;
}

/* `ivshmem wait server:SOCK 0` in a child, its stderr to waitlog. */
static pid_t spawn_wait(const char *waitlog)
{
	char spec[160];
	snprintf(spec, sizeof(spec), "server:%s", sock);
	char *argv[] = {(char *)cli, "wait", spec, "0", NULL};
	unlink(waitlog);
	return spawn_logged(argv, waitlog);
}

/* The server dies under `ivshmem wait` (no --timeout).  With no peer
 * left, nobody can ever ring it (no new peer comes without a server): it
 * ends, exit 1, one line.  With a peer, that peer can still ring it (the
 * eventfds are the peers'): it says so and waits on. */
static void test_wait_server_gone(void)
{
	char waitlog[160];
	snprintf(waitlog, sizeof(waitlog), "%s/wait.log", dir);

	pid_t srv = start_verbose_server();
	ok(srv > 0, "wait, alone: server listens");
	pid_t w = spawn_wait(waitlog);
	/* -v: logged once sent, so its greeting is complete in its socket. */
	ok(wait_log(logpath, "peer 0 <- 0 + fd", T), "the waiter (peer 0) has its vector");
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	int st = wait_exit(w, T);
	is(st, 1, "the server is killed: the lone waiter ends with exit 1");
	if (st < 0)
		stop_child(w, SIGKILL);
	ok(file_contains(waitlog, "went away and no peer is left to ring vector 0: restart the server"),
	   "naming the cause and the way out");
	is(count_lines(waitlog, ""), 1, "in one line");

	srv = start_verbose_server(); /* on the stale socket */
	ok(srv > 0, "wait, with a peer: server listens");
	ivshmem_ep *a = NULL;
	is(open_peer(&a), 0, "peer A opens");
	w = spawn_wait(waitlog);
	ok(a && wait_event_type(a, IVSHMEM_EVENT_PEER_JOIN, 1, NULL, T) == 1, "A sees the waiter join");
	ok(wait_log(logpath, "peer 1 <- 1 + fd", T), "the waiter (peer 1) has its vector");
	kill(srv, SIGTERM);
	is(wait_exit(srv, T), 0, "the server stops");
	ok(wait_log(waitlog, "went away; still waiting, as its 1 peer can still ring vector 0", T),
	   "the waiter says the server went away and that it waits on");
	is(waitpid(w, NULL, WNOHANG), 0, "and still waits");
	is(a ? ivshmem_ring(a, 1, 0) : -1, 0, "A rings it without the server");
	st = wait_exit(w, T);
	is(st, 0, "the waiter gets the interrupt: exit 0");
	if (st < 0)
		stop_child(w, SIGKILL);
	ivshmem_close(a);
}

/* Out of fds: pending connections must be shed, not spun on.  Checked on
 * what can be seen, not on time: every client gets an answer (its greeting
 * starts, or the server closes it: none is left pending in the backlog),
 * the refusal is logged once for the streak, and the server then sleeps in
 * its event wait.  A loop that spins leaves clients unanswered and never
 * sleeps (state R); one that logs each refusal logs a line per client. */
static void test_fd_exhaustion(void)
{
	unlink(logpath);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = {32, 32};
		setrlimit(RLIMIT_NOFILE, &rl);
		int n = open("/dev/null", O_RDWR);
		int l = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(n, 0);
		dup2(n, 1);
		dup2(l, 2);
		for (int fd = 3; fd < 32; fd++)
			close(fd);
		execl(cli, cli, "server", "-F", "-S", sock, "-m", shmdir, "-l", "64K", "-n", "0", (char *)NULL);
		_exit(127);
	}
	ok(wait_log(logpath, "listening on", T), "server with a 32-fd limit listens");
	enum { NCLIENTS = 60 };
	int c[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++)
		c[i] = connect_raw(sock);
	int answered = 0, shed = 0;
	uint64_t deadline = ivs_now_ns() + (uint64_t)T * 1000000u;
	for (int i = 0; i < NCLIENTS; i++) {
		if (c[i] < 0 || ivs_poll1(c[i], POLLIN, ivs_remaining_ms(deadline)) <= 0)
			continue; /* not connected, or still pending at the hang guard */
		answered++;
		char b;
		ssize_t r = recv(c[i], &b, 1, MSG_PEEK | MSG_DONTWAIT);
		shed += r == 0 || (r < 0 && errno == ECONNRESET);
	}
	printf("# %d clients: %d answered, %d of them turned away\n", NCLIENTS, answered, shed);
	is(answered, NCLIENTS, "every client is answered, served or turned away: none left pending");
	ok(shed > 0, "some are turned away (the fd limit is reached)");
	char wchan[64];
	ok(wait_asleep(pid, T), "then the server sleeps while full (in %s), it does not spin",
	   proc_wchan(pid, wchan, sizeof(wchan)));
	int warn = count_lines(logpath, "accept:"), turned = count_lines(logpath, "turned away");
	is(warn, 0, "no accept() error logged");
	is(turned, 1, "the refusals are logged once for the streak, not once per client");
	ok(file_contains(logpath, "raise the fd limit"), "the refusal names the fd limit");
	for (int i = 0; i < NCLIENTS; i++)
		if (c[i] >= 0)
			close(c[i]);
	/* The server sees the closes when it gets to them. */
	ivshmem_ep *ep = NULL;
	int r = -1;
	for (uint64_t end = ivs_now_ns() + (uint64_t)T * 1000000u; (r = open_peer(&ep)) < 0 && ivs_now_ns() < end;)
		usleep(20000); /* poll interval */
	is(r, 0, "once clients leave, a peer opens again");
	ivshmem_close(ep);
	stop_child(pid, SIGTERM);
}

int main(void)
{
	cli = getenv("IVSHMEM");
	if (!cli)
		skip_all("IVSHMEM (path of the ivshmem binary) not set");
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/ivs-srvcli-XXXXXX");
	if (!mkdtemp(dir))
		fail_all("setup: mkdtemp %s: %s", dir, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
	snprintf(pidpath, sizeof(pidpath), "%s/server.pid", dir);
	snprintf(shmdir, sizeof(shmdir), "%s/shm", dir);
	if (mkdir(shmdir, 0700) < 0)
		fail_all("setup: mkdir %s: %s", shmdir, strerror(errno));

	test_pid_file_foreground();
	test_daemonize();
	test_shm_dir();
	test_verbose();
	test_fd_exhaustion();
	test_wait_server_gone();

	char cmd[200];
	if (tap_failed) {
		snprintf(cmd, sizeof(cmd), "tail -n 20 %s | sed 's/^/# log: /'", logpath);
		fflush(stdout);
		(void)!system(cmd);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return tap_done();
}
