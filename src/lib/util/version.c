/* SPDX-License-Identifier: MIT */
/* The library's version, and whether it serves a program built against a
 * given header (see the compatibility rules in ivshmem.h). */
#include "util/util.h"

/* The header's numbers are the build's: meson passes the project version
 * as IVSHMEM_VERSION and its parts; a header edited apart from meson.build
 * fails here. */
#if IVSHMEM_VERSION_MAJOR != IVS_BUILD_MAJOR || IVSHMEM_VERSION_MINOR != IVS_BUILD_MINOR || \
	IVSHMEM_VERSION_PATCH != IVS_BUILD_PATCH
#error "include/ivshmem.h's IVSHMEM_VERSION_* differ from meson.build's project version"
#endif

const char *ivshmem_version(void)
{
	return IVSHMEM_VERSION;
}

unsigned ivshmem_version_hex(void)
{
	return IVSHMEM_VERSION_HEX;
}

int ivshmem_version_check(unsigned header_hex)
{
	unsigned major = header_hex >> 16, minor = (header_hex >> 8) & 0xff;
	if (header_hex > 0xffffff || major != IVSHMEM_VERSION_MAJOR)
		return -ENOTSUP;
	/* Before 1.0 each minor version is its own ABI; from 1.0 on, a minor
	 * version only adds, so an older header is served. */
	if (major == 0 ? minor != IVSHMEM_VERSION_MINOR : minor > IVSHMEM_VERSION_MINOR)
		return -ENOTSUP;
	return 0;
}
