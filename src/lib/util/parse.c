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
	/* Decimal, or hex after 0x.  Not octal: "010" is ten, as a user
	 * typing an offset means.  No whitespace or sign anywhere (strtoull
	 * would skip leading blanks and accept "-1"), so " 5" fails like "5 ". */
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16; /* strtoull takes the 0x itself: "0x0x5" stays invalid */
		if (!isxdigit((unsigned char)s[2]))
			return -EINVAL; /* "0x", "0x 5", "0x-1" */
	} else if (!isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
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
