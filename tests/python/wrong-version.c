/* SPDX-License-Identifier: MIT */
/* A stand-in libivshmem of another API version, for the binding's test
 * that it refuses a library it does not speak (it must not call anything
 * else). */
#include <errno.h>

const char *ivshmem_version(void);
int ivshmem_version_check(unsigned header_hex);

const char *ivshmem_version(void)
{
	return "9.0.0";
}

int ivshmem_version_check(unsigned header_hex)
{
	(void)header_hex;
	return -ENOTSUP;
}
