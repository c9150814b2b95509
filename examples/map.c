/* SPDX-License-Identifier: MIT */
/* The README's example: map an IVSHMEM region and use it.
 *   cc map.c $(pkg-config --cflags --libs libivshmem)
 *   ./a.out 0000:00:04.0       # in a guest (root, or through the daemon)
 *   ./a.out file:/dev/shm/vm   # on the host, QEMU's memory-backend-file
 */
#include <ivshmem.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	ivshmem_ep *ep;
	int r = ivshmem_open(argc > 1 ? argv[1] : "auto", NULL, &ep);
	if (r < 0) {
		fprintf(stderr, "open: %s\n", strerror(-r));
		return 1;
	}
	char *mem = ivshmem_mem(ep);
	printf("%zu bytes mapped (%s), %d vectors, ", ivshmem_mem_size(ep),
	       ivshmem_cache_name(ivshmem_mem_cache(ep)), ivshmem_vectors(ep));
	if (ivshmem_id(ep) >= 0)
		printf("peer id %d\n", ivshmem_id(ep));
	else
		printf("no peer id (no doorbell)\n");
	printf("first bytes: %.16s\n", mem);
	ivshmem_close(ep);
	return 0;
}
