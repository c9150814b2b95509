/* SPDX-License-Identifier: MIT */
/* A tiny TAP producer for the project's C tests (meson protocol: 'tap'). */
#ifndef IVS_TAP_H
#define IVS_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                              \
	do {                                                                                       \
		int ok_c_ = !!(cond);                                                              \
		printf("%sok %d - ", ok_c_ ? "" : "not ", ++tap_n);                                \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		if (!ok_c_) {                                                                      \
			tap_failed++;                                                              \
			printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
		}                                                                                  \
		fflush(stdout);                                                                    \
	} while (0)

/* Compare two integers, printing both on failure. */
#define is(got, want, ...)                                                                         \
	do {                                                                                       \
		long long is_g_ = (long long)(got), is_w_ = (long long)(want);                     \
		ok(is_g_ == is_w_, __VA_ARGS__);                                                   \
		if (is_g_ != is_w_)                                                                \
			printf("#   got %lld, want %lld\n", is_g_, is_w_);                         \
	} while (0)

#define skip_all(...)                                                                              \
	do {                                                                                       \
		printf("1..0 # SKIP ");                                                            \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		exit(0);                                                                           \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* Setup that `make check` provides failed (a directory, a file, a program
 * it installs): a failure, never a skip.  skip_all is for real limits of the
 * environment only (not root, a variable only meson sets). */
#define fail_all(...)                                                                              \
	do {                                                                                       \
		ok(0, __VA_ARGS__);                                                                \
		exit(tap_done());                                                                  \
	} while (0)

#endif
