/* SPDX-License-Identifier: MIT */
/* DEV strings (see ivshmem_open in ivshmem.h): which kind of endpoint, and
 * what follows the prefix.  The one parser: ivshmem_open, the daemon and
 * the CLI all go through it.  Pure: no I/O. */
#include "endpoint/endpoint.h"

#include <string.h>

static const struct {
	const char *prefix;
	enum ivs_ep_kind kind;
} prefixes[] = {
	{"file:", IVS_EP_FILE},
	{"server:", IVS_EP_SERVER},
	{"daemon:", IVS_EP_DAEMON},
	{"pci:", IVS_EP_PCI},
};

int ivs_ep_spec_parse(const char *spec, enum ivshmem_backend backend, struct ivs_ep_spec *out)
{
	if (!spec || !*spec || !out)
		return -EINVAL;
	struct ivs_ep_spec s = {IVS_EP_PCI, spec}; /* a bare address or "auto" */
	for (size_t i = 0; i < IVS_ARRAY_SIZE(prefixes); i++) {
		size_t n = strlen(prefixes[i].prefix);
		if (strncmp(spec, prefixes[i].prefix, n) == 0) {
			s = (struct ivs_ep_spec){prefixes[i].kind, spec + n};
			break;
		}
	}
	/* The file backend of the PCI layer: the "device" is a file. */
	if (s.kind == IVS_EP_PCI && backend == IVSHMEM_BACKEND_FILE)
		s.kind = IVS_EP_FILE;
	*out = s;
	return 0;
}
