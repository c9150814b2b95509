/* SPDX-License-Identifier: MIT */
/* ivshmem daemon DEV: options, config file and signals around the daemon
 * core (src/daemon/).  See docs/ivshmem-daemon.md. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"

#include "../daemon/daemon.h" /* the daemon core (src/daemon) */

enum {
	OPT_SOCKET = CLI_OPT_FIRST_FREE,
	OPT_CONFIG,
	OPT_ALLOW_USER,
	OPT_ALLOW_GROUP,
	OPT_READ_ONLY,
	OPT_EXCLUSIVE,
	OPT_ALLOW_REGS,
	OPT_MAX_CLIENTS,
};

static bool verbose;

static void log_stderr(void *ctx, enum ivsd_log_level level, const char *msg)
{
	(void)ctx;
	if (level == IVSD_LOG_DEBUG && !verbose)
		return;
	fprintf(stderr, "ivshmem daemon: %s%s\n", level == IVSD_LOG_ERR ? "error: " : "", msg);
}

struct cfg_extra {
	char *socket;
	char *dev;
};

static int config_other(void *ctx, const char *key, const char *value)
{
	struct cfg_extra *x = ctx;
	char **slot = !strcmp(key, "socket") ? &x->socket : !strcmp(key, "device") ? &x->dev : NULL;
	if (!slot || !*value)
		return -EINVAL;
	free(*slot);
	*slot = strdup(value);
	return *slot ? 0 : -ENOMEM;
}

static int policy_error(const char *what, const char *name, int r)
{
	if (r == -ENOENT)
		return cli_usage_error("no such %s '%s'", what, name);
	return cli_error("%s '%s': %s", what, name, strerror(-r));
}

int cmd_daemon(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	struct ivsd_config cfg = {.log = log_stderr};
	struct cfg_extra extra = {0};
	const char *socket_opt = NULL, *config = NULL;
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, CLI_OPT_BACKEND},
		{"cache", required_argument, NULL, CLI_OPT_CACHE},
		{"sysfs-root", required_argument, NULL, CLI_OPT_SYSFS},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"allow-user", required_argument, NULL, OPT_ALLOW_USER},
		{"allow-group", required_argument, NULL, OPT_ALLOW_GROUP},
		{"read-only", no_argument, NULL, OPT_READ_ONLY},
		{"exclusive", no_argument, NULL, OPT_EXCLUSIVE},
		{"allow-registers", no_argument, NULL, OPT_ALLOW_REGS},
		{"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
		{"verbose", no_argument, NULL, 'v'},
		{0},
	};
	int rc = 1, c, r;
	unsigned u;
	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case '?':
			rc = cli_bad_option(argv);
			goto out;
		case 'v':
			verbose = true;
			break;
		case OPT_SOCKET:
			socket_opt = optarg;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_ALLOW_USER:
			r = ivsd_policy_add_user(&cfg.policy, optarg);
			if (r < 0) {
				policy_error("user", optarg, r);
				goto out;
			}
			break;
		case OPT_ALLOW_GROUP:
			r = ivsd_policy_add_group(&cfg.policy, optarg);
			if (r < 0) {
				policy_error("group", optarg, r);
				goto out;
			}
			break;
		case OPT_READ_ONLY:
			cfg.policy.read_only = true;
			break;
		case OPT_EXCLUSIVE:
			cfg.policy.exclusive = true;
			break;
		case OPT_ALLOW_REGS:
			cfg.policy.allow_registers = true;
			break;
		case OPT_MAX_CLIENTS:
			if (cli_parse_uint("max-clients", optarg, 65536, &u))
				goto out;
			cfg.max_clients = u;
			break;
		default:
			if (cli_common_opt(c, optarg, &o))
				goto out;
		}
	}
	if (config) {
		unsigned line;
		r = ivsd_policy_load(&cfg.policy, config, &line, config_other, &extra);
		if (r < 0 && line == 0) {
			if (r == -EISDIR)
				cli_error("config %s is a directory: give the config file's path", config);
			else if (r == -EINVAL)
				cli_error("config %s is not a regular file (a FIFO or device?): give the config "
					  "file's path", config);
			else
				cli_error("cannot read config %s: %s", config, strerror(-r));
			goto out;
		}
		if (r < 0) {
			cli_error("%s:%u: %s (keys: allow-user, allow-group, read-only, exclusive, "
				  "allow-registers, socket, device)",
				  config, line, r == -ENOENT ? "no such user or group" : "bad setting");
			goto out;
		}
	}
	int nargs = argc - optind;
	if (nargs > 1 || (nargs == 0 && !extra.dev)) {
		cli_usage_error("expected DEV");
		goto out;
	}
	const char *dev = nargs ? argv[optind] : extra.dev;
	char defpath[108];
	const char *sock = socket_opt ? socket_opt : extra.socket;
	if (!sock) {
		if (ivsd_default_socket(dev, defpath, sizeof(defpath)) < 0) {
			cli_error("device name '%s' is too long for a socket path: give --socket", dev);
			goto out;
		}
		sock = defpath;
	}
	if (cli_check_socket_path("--socket", sock))
		goto out;
	cfg.socket_path = sock;
	cfg.debug = verbose;

	/* Signals arrive through a signalfd in the event loop. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		cli_error("sigprocmask: %s", strerror(errno));
		goto out;
	}
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		cli_error("signalfd: %s", strerror(errno));
		goto out;
	}

	/* A PCI device's memory is handed out through sysfs resource2; the
	 * daemon must not map BAR2 itself, or vfio-pci claims the BAR and the
	 * kernel refuses the clients' mappings (CONFIG_IO_STRICT_DEVMEM). */
	if (strncmp(dev, "file:", 5) && strncmp(dev, "server:", 7) && strncmp(dev, "daemon:", 7))
		o.open.flags |= IVSHMEM_OPEN_NO_MAP;
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep)) {
		close(sfd);
		goto out;
	}
	struct ivsd *d;
	r = ivsd_new(&cfg, ep, &d);
	if (r == -EADDRINUSE) {
		cli_error("%s: another daemon is already running there: stop it, or pick --socket", sock);
	} else if (r == -EEXIST) {
		cli_error("%s.lock exists and is not a lock file of ours (a symlink, FIFO, directory or another "
			  "user's file): remove it, or pick --socket", sock);
	} else if (r == -ENOTSOCK) {
		cli_error("%s exists and is not a socket: remove it, or pick --socket", sock);
	} else if (r == -EACCES || r == -EPERM) {
		cli_error("cannot create socket %s: permission denied: run as root or pick --socket", sock);
	} else if (r < 0) {
		cli_error("cannot serve %s on %s: %s", dev, sock, strerror(-r));
	} else {
		fprintf(stderr, "ivshmem daemon: serving %s on %s (%s, %s%s)\n", dev, sock,
			cfg.policy.exclusive ? "exclusive" : "shared",
			cfg.policy.read_only ? "read-only" : "read-write",
			cfg.policy.allow_registers ? ", registers" : "");
		r = ivsd_run(d, sfd);
		d = ivsd_free(d);
		if (r < 0)
			cli_error("daemon loop: %s", strerror(-r));
		else
			rc = 0;
	}
	close(sfd);
out:
	ivsd_policy_free(&cfg.policy);
	free(extra.socket);
	free(extra.dev);
	return rc;
}
