/* SPDX-License-Identifier: MIT */
/* ivshmem peers DEV: own ID, vectors and the other peers of a server
 * (or daemon) endpoint. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_peers(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	if (cli_parse_common(argc, argv, &o))
		return 1;
	if (argc - optind != 1)
		return cli_usage_error("expected DEV (e.g. server:/tmp/ivshmem_socket)");
	const char *dev = argv[optind];
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep))
		return 1;
	int rc = 0;
	int n = ivshmem_peers(ep, NULL, 0);
	struct ivshmem_peer *peers = NULL;
	if (n == -ENOTSUP) {
		rc = cli_error("%s does not know its peers (a device or a file): use server:SOCKET or "
			       "daemon:SOCKET", dev);
		goto out;
	}
	if (n < 0) {
		rc = cli_lib_error(dev, "list peers of", n);
		goto out;
	}
	peers = calloc((size_t)n + 1, sizeof(*peers));
	if (!peers) {
		rc = cli_error("out of memory");
		goto out;
	}
	int cap = n;
	n = ivshmem_peers(ep, peers, (size_t)cap);
	if (n < 0) {
		rc = cli_lib_error(dev, "list peers of", n);
		goto out;
	}
	/* The count is the total now: peers may have joined since the first
	 * call (a daemon answers each call afresh); only cap were filled. */
	if (n > cap)
		n = cap;
	int id = ivshmem_id(ep), nvec = ivshmem_vectors(ep);
	if (o.json) {
		if (id >= 0)
			printf("{\"id\":%d,\"vectors\":%d,\"peers\":[", id, nvec);
		else /* no peer ID (e.g. a daemon over a file): not an errno */
			printf("{\"id\":null,\"vectors\":%d,\"peers\":[", nvec);
		for (int i = 0; i < n; i++)
			printf("%s{\"id\":%u,\"vectors\":%u}", i ? "," : "", peers[i].id, peers[i].vectors);
		printf("]}\n");
	} else {
		if (id >= 0)
			printf("self: id %d, %d vector%s\n", id, nvec, nvec == 1 ? "" : "s");
		else
			printf("self: no id, %d vector%s\n", nvec, nvec == 1 ? "" : "s");
		for (int i = 0; i < n; i++)
			printf("peer %u: %u vector%s\n", peers[i].id, peers[i].vectors,
			       peers[i].vectors == 1 ? "" : "s");
		if (n == 0)
			printf("no other peers\n");
	}
out:
	free(peers);
	ivshmem_close(ep);
	return rc;
}
