/* SPDX-License-Identifier: MIT */
/* ivshmem server: QEMU's contrib/ivshmem-server, option-compatible.  The
 * protocol lives in src/server/server.c; this file has the options, signals,
 * pid file and the loop; daemonizing is the service runtime's
 * (src/service/daemonize.c).  See docs/server.md. */
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../server/server.h"
#include "service/daemonize.h"
#include "service/runtime-files.h"
#include "service/signals.h"
#include "cli.h"

enum {
	OPT_SOCKET_MODE = CLI_OPT_FIRST_FREE,
	OPT_SOCKET_OWNER,
	OPT_SOCKET_GROUP,
	OPT_MAX_PEERS,
	OPT_JSON_LOG,
	OPT_IDS,
	OPT_SHM_REUSE,
	OPT_GREETING_TIMEOUT,
};

struct log_ctx {
	bool verbose, json;
};

static void log_line(void *ctx, enum ivs_log_level level, const char *line)
{
	const struct log_ctx *l = ctx;
	if (level == IVS_LOG_DEBUG && !l->verbose)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (l->json) {
		fprintf(stderr, "{\"time\":\"%s.%03ld\",\"level\":\"%s\",\"msg\":", when, ts.tv_nsec / 1000000,
			ivs_log_level_name(level));
		cli_json_str(stderr, line);
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "%s.%03ld ivshmem-server: %s%s\n", when, ts.tv_nsec / 1000000,
			level == IVS_LOG_WARN ? "warning: " : "", line);
	}
	fflush(stderr);
}

static int parse_user(const char *s, uid_t *uid)
{
	struct passwd *pw = getpwnam(s);
	if (pw) {
		*uid = pw->pw_uid;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= (uid_t)-1)
		return cli_usage_error("--socket-owner: no user '%s' (give a name or a numeric uid)", s);
	*uid = (uid_t)v;
	return 0;
}

static int parse_group(const char *s, gid_t *gid)
{
	struct group *gr = getgrnam(s);
	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= (gid_t)-1)
		return cli_usage_error("--socket-group: no group '%s' (give a name or a numeric gid)", s);
	*gid = (gid_t)v;
	return 0;
}

/* Create the pid file before anything else, so its errors come before
 * "listening"; the pid itself is written once known (after daemonizing). */
static int open_pid_file(struct ivs_rt_pidfile *pf, const char *path)
{
	int r = ivs_rt_pidfile_open(pf, path);
	if (r == 0)
		return 0;
	if (r == -EADDRINUSE)
		return cli_error("pid file %s is held by a running process: stop it or choose another -p", path);
	if (r == -EEXIST)
		return cli_error("pid file %s exists and is not a stale pid file of ours (a symlink, FIFO, "
				 "directory, another user's file or other contents): remove it or choose another -p",
				 path);
	if (r == -EMLINK)
		return cli_error("pid file %s has other hard links: remove it or choose another -p", path);
	if (r == -EINVAL)
		return cli_error("pid file '%s' names no file: give a file path with -p", path);
	return cli_error("pid file %s: %s: choose a writable path with -p", path, strerror(-r));
}

/* An existing POSIX shm: say whose it is and what to do. */
static int shm_exists_error(const struct ivs_server_opts *o, int r)
{
	const char *name = o->shm_name ? o->shm_name : IVS_SERVER_DEFAULT_SHM;
	char path[300], who[64] = "";
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	struct stat st;
	if (lstat(path, &st) == 0) {
		struct passwd *pw = getpwuid(st.st_uid);
		const char *type = S_ISREG(st.st_mode) ? "" : S_ISLNK(st.st_mode) ? "symlink, " :
				   S_ISDIR(st.st_mode) ? "directory, " : S_ISFIFO(st.st_mode) ? "FIFO, " : "special, ";
		snprintf(who, sizeof(who), " (%sowner %s, mode %04o)", type, pw ? pw->pw_name : "?",
			 (unsigned)(st.st_mode & 07777));
	}
	if (r == -EEXIST)
		return cli_error("shared memory %s already exists%s: remove it, use another -M, or --shm-reuse "
				 "to take it if it is this server's own", path, who);
	if (r == -EPERM)
		return cli_error("shared memory %s is not this server's private file%s: others could read or "
				 "resize it; remove it or use another -M", path, who);
	if (r == -ERANGE)
		return cli_error("shared memory %s has %llu bytes, not the %llu of -l: give its size or remove it",
				 path, (unsigned long long)st.st_size,
				 (unsigned long long)(o->size ? o->size : IVS_SERVER_DEFAULT_SIZE));
	return cli_error("shared memory %s is in use by another server: stop it or use another -M", path);
}

static int start_error(const struct ivs_server_opts *o, int r, bool init)
{
	const char *sock = o->socket_path ? o->socket_path : IVS_SERVER_DEFAULT_SOCKET;
	if (init) {
		const char *what = o->shm_dir ? o->shm_dir : o->shm_name ? o->shm_name : IVS_SERVER_DEFAULT_SHM;
		if (r == -ENAMETOOLONG)
			return cli_error("socket path %s is too long (at most 107 bytes): use a shorter -S", sock);
		if (r == -EINVAL && !o->shm_dir)
			return cli_error("'%s' is not a valid POSIX shm name: use a name without '/' (-M NAME)",
					 what);
		if (r == -EISDIR && !o->shm_dir)
			r = -EPERM;
		if (r == -EEXIST || r == -EPERM || r == -ERANGE || r == -EBUSY)
			return shm_exists_error(o, r);
		if (r == -EACCES)
			return cli_error("shared memory %s: permission denied: use another -M name or -m DIR",
					 what);
		if (r == -ENOTDIR && o->shm_dir)
			return cli_error("-m %s is not a directory: give the directory the file is made in "
					 "(a hugetlbfs or tmpfs mount)", what);
		if (r == -ENOENT || r == -ENOTDIR)
			return cli_error("shared memory directory %s does not exist: create it or fix -m", what);
		if (r == -EFBIG)
			return cli_error("shared memory %s: -l %llu bytes is more than its filesystem holds: use "
					 "a smaller -l (or a bigger filesystem: -m DIR)", what,
					 (unsigned long long)o->size);
		if (r == -ENOSPC || r == -ENOMEM)
			return cli_error("shared memory %s: cannot allocate %llu bytes: use a smaller -l", what,
					 (unsigned long long)o->size);
		return cli_error("shared memory %s: %s", what, strerror(-r));
	}
	if (r == -EADDRINUSE)
		return cli_error("a server is already running on %s: stop it or use another -S path", sock);
	if (r == -EEXIST)
		return cli_error("%s exists and is not a socket: remove it or use another -S path", sock);
	if (r == -EACCES || r == -EPERM)
		return cli_error("socket %s: permission denied: use a path in a writable directory (-S), or "
				 "check --socket-owner/--socket-group", sock);
	if (r == -ENOENT || r == -ENOTDIR)
		return cli_error("socket %s: the directory does not exist: create it or fix -S", sock);
	return cli_error("socket %s: %s", sock, strerror(-r));
}

int cmd_server(int argc, char **argv)
{
	struct ivs_server_opts o = {
		.nvectors = 1,
		.socket_mode = -1,
		.socket_uid = (uid_t)-1,
		.socket_gid = (gid_t)-1,
	};
	struct log_ctx lc = {0};
	bool foreground = false;
	const char *pid_file = NULL;
	struct ivs_rt_pidfile pf;
	ivs_rt_pidfile_init(&pf);
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 'S'},
		{"shm", required_argument, NULL, 'M'},
		{"shm-dir", required_argument, NULL, 'm'},
		{"size", required_argument, NULL, 'l'},
		{"vectors", required_argument, NULL, 'n'},
		{"foreground", no_argument, NULL, 'F'},
		{"pid-file", required_argument, NULL, 'p'},
		{"verbose", no_argument, NULL, 'v'},
		{"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
		{"socket-owner", required_argument, NULL, OPT_SOCKET_OWNER},
		{"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
		{"max-peers", required_argument, NULL, OPT_MAX_PEERS},
		{"json-log", no_argument, NULL, OPT_JSON_LOG},
		{"ids", required_argument, NULL, OPT_IDS},
		{"shm-reuse", no_argument, NULL, OPT_SHM_REUSE},
		{"greeting-timeout", required_argument, NULL, OPT_GREETING_TIMEOUT},
		{0},
	};
	int c;
	unsigned u;
	char *end;
	while ((c = getopt_long(argc, argv, "S:M:m:l:n:Fp:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			o.socket_path = optarg;
			break;
		case 'M':
			o.shm_name = optarg;
			break;
		case 'm':
			o.shm_dir = optarg;
			break;
		case 'l':
			if (cli_parse_u64("size", optarg, &o.size))
				return 1;
			if (o.size > (uint64_t)INT64_MAX)
				return cli_usage_error("size '%s' is beyond any file's size (at most 4E): "
						       "e.g. 1M or 4M", optarg);
			if (o.size == 0 || (o.size & (o.size - 1)))
				return cli_usage_error("size '%s' must be a power of two (QEMU maps it as a PCI "
						       "BAR), e.g. 1M or 4M", optarg);
			break;
		case 'n':
			if (cli_parse_uint("vectors", optarg, IVSHMEM_MAX_VECTORS, &o.nvectors))
				return 1;
			break;
		case 'F':
			foreground = true;
			break;
		case 'p':
			pid_file = optarg;
			break;
		case 'v':
			lc.verbose = true;
			break;
		case OPT_SOCKET_MODE:
			errno = 0;
			unsigned long m = strtoul(optarg, &end, 8);
			if (errno || end == optarg || *end || m > 0777)
				return cli_usage_error("--socket-mode '%s' must be octal permission bits up to "
						       "0777, e.g. 0660", optarg);
			o.socket_mode = (int)m;
			break;
		case OPT_SOCKET_OWNER:
			if (parse_user(optarg, &o.socket_uid))
				return 1;
			break;
		case OPT_SOCKET_GROUP:
			if (parse_group(optarg, &o.socket_gid))
				return 1;
			break;
		case OPT_MAX_PEERS:
			if (cli_parse_uint("max-peers", optarg, IVSHMEM_MAX_PEERS, &u))
				return 1;
			if (u == 0)
				return cli_usage_error("--max-peers must be from 1 to %u", IVSHMEM_MAX_PEERS);
			o.max_peers = u;
			break;
		case OPT_IDS:
			if (!strcmp(optarg, "next"))
				o.ids = IVS_SERVER_IDS_NEXT;
			else if (!strcmp(optarg, "lowest"))
				o.ids = IVS_SERVER_IDS_LOWEST;
			else
				return cli_usage_error("--ids '%s': use next (QEMU-safe, default) or lowest", optarg);
			break;
		case OPT_SHM_REUSE:
			o.shm_reuse = true;
			break;
		case OPT_GREETING_TIMEOUT: {
			int ms;
			if (cli_parse_seconds("--greeting-timeout", optarg, &ms))
				return 1;
			if (ms <= 0)
				return cli_usage_error("--greeting-timeout must be more than 0 seconds");
			o.greeting_timeout_ms = (unsigned)ms;
			break;
		}
		case OPT_JSON_LOG:
			lc.json = true;
			break;
		default:
			return cli_bad_option(argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (o.socket_path && cli_check_socket_path("-S", o.socket_path))
		return 1;
	if (o.shm_dir && o.shm_name)
		return cli_usage_error("-M and -m exclude each other: use a POSIX shm name or a directory");
	if (o.shm_dir && o.shm_reuse)
		return cli_usage_error("--shm-reuse goes with -M NAME: -m DIR always makes a new file");
	if (o.shm_name && (!*o.shm_name || strchr(o.shm_name, '/') || strlen(o.shm_name) > 250))
		return cli_usage_error("'%s' is not a valid POSIX shm name: use a name of at most 250 bytes "
				       "without '/' (-M NAME)", o.shm_name);
	o.log = log_line;
	o.log_ctx = &lc;
	o.debug = lc.verbose;
	/* Socket activation: the manager made the socket and owns its file. */
	if (cli_passed_socket("ListenStream=", &o.listen_fd))
		return 1;
	const bool passed = o.listen_fd > 0;
	if (passed && (o.socket_mode >= 0 || o.socket_uid != (uid_t)-1 || o.socket_gid != (gid_t)-1)) {
		close(o.listen_fd);
		return cli_usage_error("--socket-mode, --socket-owner and --socket-group don't apply to the socket "
				       "the service manager passed: set SocketMode=, SocketUser=, SocketGroup= in "
				       "its .socket unit");
	}
	/* A manager waiting for READY=1 from its main process: don't fork. */
	if (getenv("NOTIFY_SOCKET"))
		foreground = true;

	/* No fd cap beyond the system's: peers cost 1 + vectors fds each. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Signals through a signalfd: handled in the loop, never mid-send. */
	int sfd = ivs_svc_signalfd();
	if (sfd < 0) {
		if (passed)
			close(o.listen_fd);
		return cli_error("cannot take signals through a signalfd: %s", strerror(-sfd));
	}

	struct ivs_server *s = ivs_server_alloc();
	int rc = 0;
	if (s && pid_file && open_pid_file(&pf, pid_file)) {
		close(sfd);
		if (passed)
			close(o.listen_fd);
		ivs_server_close(s);
		return 1;
	}
	int r = ivs_server_init(s, &o); /* owns o.listen_fd now, whatever r (s NULL too) */
	if (!s) {
		close(sfd);
		return cli_error("out of memory");
	}
	if (passed && !ivs_server_locked(s)) {
		rc = cli_passed_socket_error(r, "ListenStream=");
		goto out;
	}
	if (passed && r == -EADDRNOTAVAIL) {
		rc = cli_error("the socket the service manager passed (LISTEN_FDS) has no path (%s): any local user "
			       "could connect and map the memory: give the .socket unit ListenStream=/run/ivshmem/"
			       "server/NAME.sock", *ivs_server_socket_path(s) ? ivs_server_socket_path(s) : "unnamed");
		goto out;
	}
	if (passed && cli_passed_socket_check("-S", o.socket_path, ivs_server_socket_path(s))) {
		rc = 1;
		goto out;
	}
	if (passed)
		o.socket_path = ivs_server_socket_path(s); /* what the errors below name */
	if (r < 0 && !ivs_server_locked(s) && r != -EINVAL && r != -ENAMETOOLONG && r != -ENOMEM) {
		/* The instance lock (SOCKET.lock): a socket-path problem. */
		if (r == -EEXIST)
			rc = cli_error("%s exists and is not a lock file of ours (a symlink, FIFO, directory or "
				       "another user's file): remove it or use another -S path",
				       ivs_server_lock_path(s));
		else
			rc = start_error(&o, r, false);
		goto out;
	}
	if (r < 0) {
		rc = start_error(&o, r, true);
		goto out;
	}
	r = ivs_server_start(s);
	if (r < 0) {
		rc = start_error(&o, r, false);
		goto out;
	}
	if (!foreground) {
		const char *step = "";
		r = ivs_svc_daemonize(&pf, &step);
		if (r < 0) {
			rc = strcmp(step, "pid file") == 0
				     ? cli_error("pid file %s: write failed: %s", pf.path, strerror(-r))
				     : cli_error("cannot daemonize: %s: %s (use -F)", step, strerror(-r));
			goto out;
		}
	} else if (pf.fd >= 0 && (r = ivs_rt_pidfile_write(&pf, getpid())) < 0) {
		rc = cli_error("pid file %s: write failed: %s", pf.path, strerror(-r));
		goto out;
	}
	cli_notify("server", "READY=1");
	for (;;) {
		struct pollfd p[2] = {{.fd = ivs_server_fd(s), .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = cli_error("poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				char msg[64];
				snprintf(msg, sizeof(msg), "%s: shutting down, %u peer%s", strsignal((int)si.ssi_signo),
					 ivs_server_npeers(s), ivs_server_npeers(s) == 1 ? "" : "s");
				log_line(&lc, IVS_LOG_INFO, msg);
				break;
			}
		}
		if (p[0].revents) {
			r = ivs_server_handle(s, 0);
			if (r < 0) {
				rc = cli_error("server loop: %s", strerror(-r));
				break;
			}
		}
	}
	cli_notify("server", "STOPPING=1");
out:
	ivs_server_close(s);
	/* Last: once the pid file is gone, so are the socket and the shm. */
	ivs_rt_pidfile_remove(&pf);
	close(sfd);
	return rc;
}
