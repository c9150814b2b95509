/* SPDX-License-Identifier: MIT */
/* Fuzz the client-side server-protocol decoder.  The input is a sequence of
 * 9-byte records: an int64 value (little-endian) and a flag byte (bit 0: the
 * message carries an fd; bit 1: an eventfd rather than /dev/null).  Real fds
 * are passed, and after each input the process's open-fd count must be what
 * it was before: a leak abort()s. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/server-proto.h"

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before = count_fds();
	struct ivs_srv_dec d;
	ivs_srv_dec_init(&d);
	for (size_t off = 0; off + 9 <= size; off += 9) {
		int64_t v = ivs_srv_decode(data + off);
		uint8_t flag = data[off + 8];
		int fd = -1;
		if (flag & 1) {
			fd = (flag & 2) ? ivs_eventfd() : open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				break; /* out of fds: not the decoder's fault */
		}
		struct ivs_srv_dec_out o;
		int r = ivs_srv_dec_feed(&d, v, fd, &o);
		if (r != 0 && r != -EPROTO && r != -EUSERS && r != -ENOMEM)
			abort();
		if (r == 0 && o.what == IVS_SRV_GOT_SHM && (flag & 4)) {
			int shm = ivs_srv_dec_take_shm(&d);
			if (shm < 0)
				abort();
			close(shm);
		}
		/* Invariants. */
		if (d.own_nvec > IVSHMEM_MAX_VECTORS)
			abort();
		for (size_t i = 0; i < d.npeers; i++) {
			if (d.peers[i].nvec > IVSHMEM_MAX_VECTORS || (i && d.peers[i - 1].id >= d.peers[i].id))
				abort();
			if ((int)d.peers[i].id == d.id)
				abort();
		}
	}
	ivs_srv_dec_free(&d);
	if (count_fds() != before)
		abort();
	return 0;
}

/* Seeds: a valid greeting with joins and leaves. */
static uint8_t seed1[9 * 10];
static const uint8_t *seed_ptrs[1] = {seed1};
static const size_t seed_sizes[1] = {sizeof(seed1)};

size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes);
size_t ivs_fuzz_seeds(const uint8_t ***seeds, const size_t **sizes)
{
	static const struct {
		int64_t v;
		uint8_t flag;
	} msgs[10] = {{0, 0}, {2, 0}, {-1, 1}, {0, 3}, {0, 3}, {2, 3}, {2, 3}, {1, 3}, {1, 3}, {0, 0}};
	for (int i = 0; i < 10; i++) {
		ivs_srv_encode(msgs[i].v, seed1 + 9 * i);
		seed1[9 * i + 8] = msgs[i].flag;
	}
	*seeds = seed_ptrs;
	*sizes = seed_sizes;
	return 1;
}
