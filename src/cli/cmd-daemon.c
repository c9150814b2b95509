/* SPDX-License-Identifier: MIT */
/* ivshmem daemon DEV: options, config file and signals around the daemon
 * core (src/daemon/).  See man/ivshmem-daemon.8.scd. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "endpoint/endpoint.h"

#include "../daemon/daemon.h" /* the daemon core (src/daemon) */
#include "service/signals.h"

enum {
	OPT_SOCKET = CLI_OPT_FIRST_FREE,
	OPT_CONFIG,
	OPT_POLICY, /* long options named as policy keys (ivsd_policy_set) */
	OPT_NO_RING,
	OPT_NO_DIRECT,
};

static bool verbose;
static bool core_said_why; /* the core logged an error: that is the message */

static void log_stderr(void *ctx, enum ivs_log_level level, const char *msg)
{
	(void)ctx;
	core_said_why |= level == IVS_LOG_ERR;
	if (level == IVS_LOG_DEBUG && !verbose)
		return;
	fprintf(stderr, "ivshmem daemon: %s%s\n", level == IVS_LOG_ERR ? "error: " : "", msg);
}

struct cfg_extra {
	char *socket;
	char *dev;
};

static int config_other(void *ctx, const char *key, const char *value)
{
	struct cfg_extra *x = ctx;
	char **slot = !strcmp(key, "socket") ? &x->socket : !strcmp(key, "device") ? &x->dev : NULL;
	if (!slot)
		return -ENOKEY;
	if (!*value)
		return -EINVAL;
	free(*slot);
	*slot = strdup(value);
	return *slot ? 0 : -ENOMEM;
}

/* A policy setting that didn't take: where is "" for an option, else
 * "FILE:LINE: ". */
static int setting_error(const char *where, const char *key, const char *value, int r)
{
	const char *dash = *where ? "" : "--";
	switch (r) {
	case -ENOENT:
		return cli_error("%s%s%s: no such %s '%s'", where, dash, key,
				 strstr(key, "group") ? "group" : "user", value);
	case -ERANGE:
		return cli_error("%s%s%s '%s': must be from 1 to %u", where, dash, key, value,
				 IVSD_MAX_CLIENTS_LIMIT);
	case -ENOKEY:
		return cli_error("%sunknown key '%s' (keys: %s, socket, device)", where, key,
				 ivsd_policy_keys());
	case -EINVAL:
		return cli_error("%s%s%s: bad value '%s' (%s)", where, dash, key, value ? value : "",
				 !strncmp(key, "max-", 4)		       ? "a number"
				 : strstr(key, "-user") || strstr(key, "-group") ? "a user or group"
				 : !strcmp(key, "socket") || !strcmp(key, "device") ? "a path"
										 : "yes or no");
	default:
		return cli_error("%s%s%s: %s", where, dash, key, strerror(-r));
	}
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
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"allow-user", required_argument, NULL, OPT_POLICY},
		{"allow-group", required_argument, NULL, OPT_POLICY},
		{"ring-user", required_argument, NULL, OPT_POLICY},
		{"ring-group", required_argument, NULL, OPT_POLICY},
		{"ring", no_argument, NULL, OPT_POLICY},
		{"no-ring", no_argument, NULL, OPT_NO_RING},
		{"direct-user", required_argument, NULL, OPT_POLICY},
		{"direct-group", required_argument, NULL, OPT_POLICY},
		{"direct", no_argument, NULL, OPT_POLICY},
		{"no-direct", no_argument, NULL, OPT_NO_DIRECT},
		{"read-only", no_argument, NULL, OPT_POLICY},
		{"exclusive", no_argument, NULL, OPT_POLICY},
		{"allow-registers", no_argument, NULL, OPT_POLICY},
		{"max-clients", required_argument, NULL, OPT_POLICY},
		{"max-clients-per-user", required_argument, NULL, OPT_POLICY},
		{"verbose", no_argument, NULL, 'v'},
		{0},
	};
	int rc = 1, c, r, li;
	while ((c = getopt_long(argc, argv, "v", longopts, &li)) != -1) {
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
		case OPT_POLICY: /* flags get no value: "yes" */
			r = ivsd_policy_set(&cfg.policy, longopts[li].name, optarg);
			if (r < 0) {
				setting_error("", longopts[li].name, optarg, r);
				goto out;
			}
			break;
		case OPT_NO_RING:
		case OPT_NO_DIRECT:
			r = ivsd_policy_set(&cfg.policy, c == OPT_NO_RING ? "ring" : "direct", "no");
			if (r < 0)
				goto out;
			break;
		default:
			if (cli_common_opt(c, optarg, &o))
				goto out;
		}
	}
	if (config) {
		struct ivsd_load_error le;
		r = ivsd_policy_load(&cfg.policy, config, &le, config_other, &extra);
		if (r < 0 && le.line == 0) {
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
			char where[4200];
			snprintf(where, sizeof(where), "%s:%u: ", config, le.line);
			if (r == -E2BIG)
				cli_error("%sline longer than 1 KiB", where);
			else
				setting_error(where, le.key, le.value, r);
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
	/* Socket activation: the manager made the socket and owns its file. */
	if (cli_passed_socket("ListenSequentialPacket=", &cfg.listen_fd))
		goto out;
	if (cfg.listen_fd > 0) {
		/* sock, if named, must be the passed one (checked once served) */
	} else if (!sock) {
		if (ivsd_default_socket(dev, defpath, sizeof(defpath)) < 0) {
			cli_error("device name '%s' is too long for a socket path: give --socket", dev);
			goto out;
		}
		sock = defpath;
	}
	if (sock && cli_check_socket_path("--socket", sock))
		goto out_passed;
	cfg.socket_path = sock;
	cfg.debug = verbose;

	/* Signals arrive through a signalfd in the event loop. */
	/* No fd cap beyond the system's: a client costs 1 + one fd per
	 * subscribed vector (the write ends of its relay pipes). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int sfd = ivs_svc_signalfd();
	if (sfd < 0) {
		cli_error("cannot take signals through a signalfd: %s", strerror(-sfd));
		goto out_passed;
	}

	/* A PCI device's memory is handed out through sysfs resource2; the
	 * daemon must not map BAR2 itself, or vfio-pci claims the BAR and the
	 * kernel refuses the clients' mappings (CONFIG_IO_STRICT_DEVMEM). */
	struct ivs_ep_spec sp;
	if (ivs_ep_spec_parse(dev, o.open.backend, &sp) == 0 && sp.kind == IVS_EP_PCI)
		o.open.flags |= IVSHMEM_OPEN_NO_MAP;
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep)) {
		close(sfd);
		goto out_passed;
	}
	struct ivsd *d;
	r = ivsd_new(&cfg, ep, &d); /* owns cfg.listen_fd now */
	if (r == 0 && cfg.listen_fd > 0 &&
	    cli_passed_socket_check(socket_opt ? "--socket" : "config setting socket", sock, ivsd_socket_path(d))) {
		d = ivsd_free(d);
	} else if (r < 0 && cfg.listen_fd > 0 &&
		   (r == -ENOTSOCK || r == -EAFNOSUPPORT || r == -EPROTOTYPE || r == -EDESTADDRREQ)) {
		cli_passed_socket_error(r, "ListenSequentialPacket=");
	} else if (r < 0 && core_said_why) {
		/* its line said why */
	} else if (r == -EADDRINUSE) {
		cli_error("%s: another daemon is already running there: stop it, or pick --socket", sock);
	} else if (r == -EEXIST) {
		cli_error("%s.lock exists and is not a lock file of ours (a symlink, FIFO, directory or another "
			  "user's file): remove it, or pick --socket", sock);
	} else if (r == -ENOTSOCK) {
		cli_error("%s exists and is not a socket: remove it, or pick --socket", sock);
	} else if (r == -EACCES || r == -EPERM) {
		cli_error("cannot create socket %s: permission denied: run as root or pick --socket", sock);
	} else if (r < 0) {
		cli_error("cannot serve %s on %s: %s", dev, sock ? sock : "the passed socket", strerror(-r));
	} else {
		fprintf(stderr, "ivshmem daemon: serving %s on %s%s (%s, %s%s)\n", dev, ivsd_socket_path(d),
			cfg.listen_fd > 0 ? ", passed by the service manager," : "",
			cfg.policy.exclusive ? "exclusive" : "shared",
			cfg.policy.read_only ? "read-only" : "read-write",
			cfg.policy.allow_registers ? ", registers" : "");
		cli_notify("daemon", "READY=1");
		r = ivsd_run(d, sfd);
		cli_notify("daemon", "STOPPING=1");
		d = ivsd_free(d);
		if (r < 0)
			cli_error("daemon loop: %s", strerror(-r));
		else
			rc = 0;
	}
	close(sfd);
	goto out;
out_passed: /* not handed to the daemon core */
	if (cfg.listen_fd > 0)
		close(cfg.listen_fd);
out:
	ivsd_policy_free(&cfg.policy);
	free(extra.socket);
	free(extra.dev);
	return rc;
}
