/* SPDX-License-Identifier: MIT */
/* Parsing of sizes, names of enums: shared by the CLI and the library. */
#include "util/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int ivshmem_parse_size(const char *s, uint64_t *out)
{
	if (!s || !out)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL; /* no sign, no empty string */
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == s)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (*end == 'i' || *end == 'I') && (end[1] == 'B' || end[1] == 'b'))
		end += 2; /* accept "KiB" */
	else if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static const char *const backend_names[] = {
	[IVSHMEM_BACKEND_AUTO] = "auto",
	[IVSHMEM_BACKEND_VFIO] = "vfio",
	[IVSHMEM_BACKEND_SYSFS] = "sysfs",
	[IVSHMEM_BACKEND_FILE] = "file",
};

static const char *const cache_names[] = {
	[IVSHMEM_CACHE_DEFAULT] = "default",
	[IVSHMEM_CACHE_UC] = "uc",
	[IVSHMEM_CACHE_WC] = "wc",
	[IVSHMEM_CACHE_WB] = "wb",
};

static int lookup(const char *const *names, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

const char *ivshmem_backend_name(enum ivshmem_backend b)
{
	return (unsigned)b < IVS_ARRAY_SIZE(backend_names) ? backend_names[b] : "?";
}

int ivshmem_backend_parse(const char *s)
{
	return lookup(backend_names, IVS_ARRAY_SIZE(backend_names), s);
}

const char *ivshmem_cache_name(enum ivshmem_cache c)
{
	return (unsigned)c < IVS_ARRAY_SIZE(cache_names) ? cache_names[c] : "?";
}

int ivshmem_cache_parse(const char *s)
{
	return lookup(cache_names, IVS_ARRAY_SIZE(cache_names), s);
}

const char *ivshmem_version(void)
{
	return IVSHMEM_VERSION;
}
