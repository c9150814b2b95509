/* SPDX-License-Identifier: MIT */
#include "endpoint/endpoint.h"

static int server_open(ivshmem_ep *ep, const char *target, const struct ivshmem_open_opts *opts)
{
	return -ENOTSUP;
}

const struct ivs_ep_ops ivs_ep_server_ops = {
	.kind = "server",
	.open = server_open,
};
