/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for test-bench.sh: the IVS_FAILFORK_AT-th fork() of the
 * process fails with EAGAIN, so forks that RLIMIT_NPROC cannot single out
 * (one after others with the same process count) fail too. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

pid_t fork(void)
{
	static pid_t (*real)(void);
	static int calls;
	const char *at = getenv("IVS_FAILFORK_AT");
	if (at && ++calls == atoi(at)) {
		errno = EAGAIN;
		return -1;
	}
	if (!real)
		real = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	return real ? real() : -1;
}
