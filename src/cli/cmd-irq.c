/* SPDX-License-Identifier: MIT */
/* ivshmem ring / wait: doorbells and interrupts. */
#include <getopt.h>
#include <poll.h>
#include <string.h>

#include "cli.h"
#include "endpoint/endpoint.h"

enum { OPT_TIMEOUT = CLI_OPT_FIRST_FREE };

int cmd_ring(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	o.open.flags |= IVSHMEM_OPEN_NO_IRQ;
	if (cli_parse_common(argc, argv, &o))
		return 1;
	int nargs = argc - optind;
	if (nargs < 2 || nargs > 3)
		return cli_usage_error("expected DEV PEER [VECTOR]");
	unsigned peer, vector = 0;
	if (cli_parse_uint("peer", argv[optind + 1], IVSHMEM_MAX_PEERS - 1, &peer))
		return 1;
	if (nargs == 3 && cli_parse_uint("vector", argv[optind + 2], IVSHMEM_MAX_VECTORS - 1, &vector))
		return 1;
	const char *dev = argv[optind];
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep))
		return 1;
	int r = ivshmem_ring(ep, peer, vector);
	int rc = 0;
	if (r == -ENOTSUP)
		rc = cli_error("%s cannot ring doorbells (a plain device or a file has none; use "
			       "ivshmem-doorbell or server:SOCKET)", dev);
	else if (r == -ENOENT)
		rc = cli_error("no peer %u on %s (see 'ivshmem peers %s')", peer, dev, dev);
	else if (r == -EINVAL)
		rc = cli_error("vector %u is out of range for peer %u", vector, peer);
	else if ((r == -EACCES || r == -EPERM) && ivs_ep_kind(ep) == IVS_EP_DAEMON)
		rc = cli_error("ring %s: the daemon's policy doesn't let you ring doorbells: ask its "
			       "administrator for --ring-user/--ring-group", dev);
	else if (r < 0)
		rc = cli_lib_error(dev, "ring", r);
	ivshmem_close(ep);
	return rc;
}

/* ivshmem_wait() for an endpoint whose interrupts outlive its service (a
 * server: the eventfds are the peers'), watching the service too.  When it
 * goes, the wait goes on while some peer could still ring us: a VM whose
 * server died can still ring the peers it was told of.  With no peer left,
 * nobody ever can (no new peer can come without the server), so the wait
 * would never end: -ENOLINK.  Otherwise as ivshmem_wait(). */
static int wait_outliving(ivshmem_ep *ep, const char *dev, unsigned vector, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int efd = ivshmem_event_fd(ep);
	bool gone = false;
	for (;;) {
		int n = ivshmem_vector_ack(ep, vector);
		if (n != 0)
			return n;
		struct ivshmem_event ev;
		while (!gone && (n = ivshmem_next_event(ep, &ev)) != 0) {
			if (n < 0)
				return n;
			if (ev.type != IVSHMEM_EVENT_DISCONNECT)
				continue;
			gone = true;
			n = ivshmem_vector_ack(ep, vector); /* rung just before */
			if (n != 0)
				return n;
			int peers = ivshmem_peers(ep, NULL, 0);
			if (peers <= 0)
				return -ENOLINK;
			fprintf(stderr,
				"ivshmem: the server at %s went away; still waiting, as its %d "
				"peer%s can still ring vector %u (--timeout bounds the wait)\n",
				dev, peers, peers == 1 ? "" : "s", vector);
		}
		int rem = ivs_remaining_ms(deadline);
		if (rem == 0)
			return -ETIMEDOUT;
		struct pollfd p[2] = {{.fd = ivshmem_vector_fd(ep, vector), .events = POLLIN},
				      {.fd = gone ? -1 : efd, .events = POLLIN}};
		if (poll(p, 2, rem) < 0 && errno != EINTR)
			return -errno;
	}
}

int cmd_wait(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	int timeout_ms = -1;
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?')
			return cli_bad_option(argv);
		if (c == OPT_TIMEOUT) {
			if (cli_parse_seconds("timeout", optarg, &timeout_ms))
				return 1;
		} else if (cli_common_opt(c, optarg, &o)) {
			return 1;
		}
	}
	int nargs = argc - optind;
	if (nargs < 1 || nargs > 2)
		return cli_usage_error("expected DEV [VECTOR]");
	unsigned vector = 0;
	if (nargs == 2 && cli_parse_uint("vector", argv[optind + 1], IVSHMEM_MAX_VECTORS - 1, &vector))
		return 1;
	const char *dev = argv[optind];
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep))
		return 1;
	int rc = 0;
	int nvec = ivshmem_vectors(ep);
	int fd = ivshmem_vector_fd(ep, vector);
	if (fd == -ENOTSUP) {
		ivshmem_pci_dev *pci = ivshmem_pci(ep);
		if (pci && ivshmem_pci_backend(pci) == IVSHMEM_BACKEND_SYSFS && nvec > 0)
			rc = cli_error("the sysfs backend cannot receive interrupts: run 'ivshmem bind %s' "
				       "and use the vfio backend", dev);
		else
			rc = cli_error("%s has no interrupts (a plain device or a file): use "
				       "ivshmem-doorbell or server:SOCKET", dev);
		goto out;
	}
	if (fd == -EINVAL) {
		rc = cli_error("vector %u is out of range: %s has %d vector(s)", vector, dev, nvec);
		goto out;
	}
	int r;
	if (ivshmem_event_fd(ep) >= 0 && !ivs_ep_disconnect_fatal(ep))
		r = wait_outliving(ep, dev, vector, timeout_ms);
	else
		r = ivshmem_wait(ep, vector, timeout_ms);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "ivshmem: no interrupt on vector %u within the timeout\n", vector);
		rc = 2;
	} else if (r == -ENOLINK) {
		rc = cli_error("the server at %s went away and no peer is left to ring vector %u: "
			       "restart the server, then wait again", dev, vector);
	} else if (r == -ECONNRESET) {
		rc = cli_error("the daemon at %s went away while waiting: start it again, then wait "
			       "again", dev);
	} else if (r < 0) {
		rc = cli_lib_error(dev, "wait", r);
	} else {
		printf("interrupt vector %u count %d\n", vector, r);
	}
out:
	ivshmem_close(ep);
	return rc;
}
