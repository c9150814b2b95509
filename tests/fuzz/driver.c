/* SPDX-License-Identifier: MIT */
/* A standalone driver for libFuzzer-style targets (LLVMFuzzerTestOneInput),
 * so `make check` can fuzz with gcc + ASan for a bounded time:
 *
 *   fuzz-X [FILE...]          run each file once (corpus / crash replay)
 *   fuzz-X                    random + mutated inputs: IVSHMEM_FUZZ_ITERS of
 *                             them, or else for IVSHMEM_FUZZ_SECONDS
 *                             (default 5); from IVSHMEM_FUZZ_SEED, by
 *                             default a fixed one, so that a run (as `make
 *                             check` makes it: a count) is the same run on
 *                             every machine; "time" seeds from the clock
 *
 * The same target source links with clang -fsanitize=fuzzer for long runs
 * (scripts/fuzz.sh).  Prints TAP: one line per phase. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: a target may provide seed inputs (weak). */
__attribute__((weak)) size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes);

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
	int ops = 1 + (int)(rnd() % 8);
	for (int i = 0; i < ops; i++) {
		switch (rnd() % 6) {
		case 0: /* flip a bit */
			if (len)
				buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1: /* random byte */
			if (len)
				buf[rnd() % len] = (uint8_t)rnd();
			break;
		case 2: /* interesting value */
			if (len >= 8) {
				static const int64_t vals[] = {0, -1, 1, 0x7fffffffffffffffll, INT64_MIN, 65535,
							       65536, 64, 65, 255, 256, 0x7fffffff};
				int64_t v = vals[rnd() % (sizeof(vals) / sizeof(vals[0]))];
				memcpy(buf + (rnd() % (len - 7)), &v, 8);
			}
			break;
		case 3: /* truncate */
			if (len)
				len = rnd() % len;
			break;
		case 4: /* grow with random bytes */
			while (len < cap && rnd() % 4)
				buf[len++] = (uint8_t)rnd();
			break;
		case 5: /* duplicate a chunk */
			if (len && len < cap) {
				size_t from = rnd() % len, n = 1 + rnd() % (len - from);
				if (n > cap - len)
					n = cap - len;
				memmove(buf + len, buf + from, n);
				len += n;
			}
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		int n = 0;
		for (int i = 1; i < argc; i++) {
			FILE *f = fopen(argv[i], "rb");
			if (!f) {
				printf("not ok %d - open %s\n", ++n, argv[i]);
				continue;
			}
			static uint8_t buf[1 << 20];
			size_t len = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, len);
			printf("ok %d - replay %s\n", ++n, argv[i]);
		}
		printf("1..%d\n", n);
		return 0;
	}
	const char *s = getenv("IVSHMEM_FUZZ_SECONDS");
	double secs = s ? atof(s) : 5.0;
	const char *it = getenv("IVSHMEM_FUZZ_ITERS");
	unsigned long max_iters = it ? strtoul(it, NULL, 0) : 0;
	const char *seed_env = getenv("IVSHMEM_FUZZ_SEED");
	rng_state = !seed_env ? 0x2545f4914f6cdd1dull
		    : !strcmp(seed_env, "time") ? (uint64_t)time(NULL) : strtoull(seed_env, NULL, 0);
	if (!rng_state)
		rng_state = 0x9e3779b97f4a7c15ull;
	if (max_iters)
		printf("# seed %llu, %lu inputs\n", (unsigned long long)rng_state, max_iters);
	else
		printf("# seed %llu, %.1f s\n", (unsigned long long)rng_state, secs);

	const uint8_t **seeds = NULL;
	const size_t *sizes = NULL;
	size_t nseeds = ivs_fuzz_seeds ? ivs_fuzz_seeds(&seeds, &sizes) : 0;
	for (size_t i = 0; i < nseeds; i++)
		LLVMFuzzerTestOneInput(seeds[i], sizes[i]);
	printf("ok 1 - %zu seed inputs\n", nseeds);

	enum { CAP = 4096 };
	static uint8_t buf[CAP];
	unsigned long iters = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		size_t len;
		if (nseeds && rnd() % 4) {
			size_t k = rnd() % nseeds;
			len = sizes[k] > CAP ? CAP : sizes[k];
			memcpy(buf, seeds[k], len);
			len = mutate(buf, len, CAP);
		} else {
			len = rnd() % 256;
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rnd();
		}
		/* Copy to an exact-size heap buffer so ASan sees overreads. */
		uint8_t *in = malloc(len ? len : 1);
		memcpy(in, buf, len);
		LLVMFuzzerTestOneInput(in, len);
		free(in);
		iters++;
		if (max_iters) {
			if (iters >= max_iters)
				break;
		} else if ((iters & 255) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
				break;
		}
	}
	printf("ok 2 - %lu random and mutated inputs without a crash\n", iters);
	printf("1..2\n");
	return 0;
}
