/* SPDX-License-Identifier: MIT */
/* bar-rw: guest-side checks of register access without mmap
 * (ivshmem_pci_bar_read/_write) on the IVSHMEM device; put in the guest
 * initramfs with --bin.  Prints GUEST-OK NAME / GUEST-FAIL NAME: DETAIL /
 * GUEST-INFO lines (tests/guest/guest-lib.sh's protocol); exits 1 if a check
 * failed.
 *
 *   bar-rw plain ADDR BACKEND HOST_OFF HOST_HEX MARK_OFF MARK
 *       ivshmem-plain: BAR0 IVPosition through bar_read and through a
 *       mapping; BAR2 bytes the host wrote (HOST_HEX at HOST_OFF); bar_read
 *       against a mapping; MARK written with bar_write at MARK_OFF (the host
 *       checks it after the VM exits); range errors; an endpoint whose
 *       registers go through bar_read/bar_write
 *   bar-rw doorbell ADDR PEER VECTOR
 *       ivshmem-doorbell bound to vfio-pci: an endpoint with registers
 *       through bar_read/bar_write has the peer ID a mapped one has, and
 *       rings PEER's VECTOR with a bar_write to the Doorbell register */
#include "ivshmem.h"
#include "endpoint/endpoint.h" /* ivs_ep_open, IVS_OPEN_REGS_NO_MAP (internal, for tests) */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void ok(const char *name)
{
	printf("GUEST-OK %s\n", name);
}

static void fail(const char *name, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	printf("GUEST-FAIL %s: ", name);
	vprintf(f, ap);
	printf("\n");
	va_end(ap);
	failed = 1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	return ivshmem_parse_size(s, v);
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	for (; s[0] && s[1] && n < max; s += 2) {
		unsigned b;
		if (sscanf(s, "%2x", &b) != 1)
			break;
		out[n++] = (uint8_t)b;
	}
	return n;
}

static int plain(const char *addr, const char *backend_s, uint64_t host_off, const char *host_hex,
		 uint64_t mark_off, const char *mark)
{
	int be = ivshmem_backend_parse(backend_s);
	ivshmem_pci_dev *dev = NULL;
	int r = be < 0 ? be : ivshmem_pci_open(addr, (enum ivshmem_backend)be, &dev);
	if (r < 0) {
		fail("bar-rw-open", "ivshmem_pci_open(%s, %s): %s", addr, backend_s, strerror(-r));
		return 1;
	}
	ok("bar-rw-open");
	r = ivshmem_pci_enable(dev, IVSHMEM_PCI_ENABLE_MEMORY);
	if (r < 0)
		printf("GUEST-INFO bar-rw: enable memory: %s\n", strerror(-r));

	/* BAR0: IVPosition and IntrMask through bar_read and a mapping. */
	struct ivshmem_bar_info b0 = {0}, b2 = {0};
	ivshmem_pci_bar_info(dev, IVSHMEM_BAR_REGS, &b0);
	ivshmem_pci_bar_info(dev, IVSHMEM_BAR_SHM, &b2);
	uint32_t pos = 0xffffffff, mask = 0xffffffff;
	int r1 = ivshmem_pci_bar_read(dev, IVSHMEM_BAR_REGS, IVSHMEM_REG_IV_POSITION, &pos, 4);
	int r2 = ivshmem_pci_bar_read(dev, IVSHMEM_BAR_REGS, IVSHMEM_REG_INTR_MASK, &mask, 4);
	void *m0 = NULL;
	int rm = ivshmem_pci_map(dev, IVSHMEM_BAR_REGS, 0, (size_t)b0.size, IVSHMEM_CACHE_UC, 0, &m0,
				 NULL);
	printf("GUEST-INFO bar-rw: BAR0 size %llu flags 0x%x, bar_read IVPosition %d (0x%08x) "
	       "IntrMask 0x%08x, map %s\n",
	       (unsigned long long)b0.size, (unsigned)b0.flags, r1, (unsigned)pos, (unsigned)mask,
	       rm < 0 ? strerror(-rm) : "ok");
	if (r1 != 4 || r2 != 4) {
		fail("bar-rw-bar0-ivposition", "bar_read of BAR0 gave %d, %d", r1, r2);
	} else if (rm == -ENOTSUP) {
		/* The case this API is for: nothing to compare with. */
		printf("GUEST-INFO bar-rw: BAR0 can't be mapped here: bar_read only\n");
		ok("bar-rw-bar0-ivposition");
	} else if (rm < 0) {
		fail("bar-rw-bar0-ivposition", "map BAR0: %s", strerror(-rm));
	} else {
		volatile uint32_t *regs = m0;
		uint32_t mpos = regs[IVSHMEM_REG_IV_POSITION / 4];
		uint32_t mmask = regs[IVSHMEM_REG_INTR_MASK / 4];
		if (mpos == pos && mmask == mask)
			ok("bar-rw-bar0-ivposition");
		else
			fail("bar-rw-bar0-ivposition",
			     "bar_read IVPosition 0x%08x IntrMask 0x%08x, mapping 0x%08x 0x%08x",
			     (unsigned)pos, (unsigned)mask, (unsigned)mpos, (unsigned)mmask);
	}
	if (m0)
		ivshmem_pci_unmap(dev, m0, (size_t)b0.size);

	/* BAR2: what the host wrote before boot. */
	uint8_t want[64], got[64];
	size_t n = unhex(host_hex, want, sizeof(want));
	r = ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, host_off, got, n);
	if (n > 0 && r == (int)n && memcmp(got, want, n) == 0)
		ok("bar-rw-bar2-host-bytes");
	else
		fail("bar-rw-bar2-host-bytes", "bar_read of %zu bytes at %llu gave %d%s", n,
		     (unsigned long long)host_off, r, r == (int)n ? ", different bytes" : "");

	/* BAR2: a long unaligned bar_read against a mapping. */
	size_t len = 65536 + 5;
	uint64_t off = 4096 + 123;
	char *buf = calloc(1, len);
	void *m2 = NULL;
	rm = ivshmem_pci_map(dev, IVSHMEM_BAR_SHM, 0, (size_t)b2.size, IVSHMEM_CACHE_DEFAULT, 0, &m2,
			     NULL);
	r = buf ? ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, off, buf, len) : -ENOMEM;
	if (rm < 0)
		fail("bar-rw-bar2-vs-map", "map BAR2: %s", strerror(-rm));
	else if (r != (int)len)
		fail("bar-rw-bar2-vs-map", "bar_read of %zu bytes at %llu gave %d", len,
		     (unsigned long long)off, r);
	else if (memcmp(buf, (char *)m2 + off, len) != 0)
		fail("bar-rw-bar2-vs-map", "bar_read and the mapping differ");
	else
		ok("bar-rw-bar2-vs-map");
	free(buf);

	/* BAR2: bar_write the marker, read it back both ways. */
	size_t ml = strlen(mark);
	r = ivshmem_pci_bar_write(dev, IVSHMEM_BAR_SHM, mark_off, mark, ml);
	if (r == (int)ml)
		ok("bar-rw-bar2-write");
	else
		fail("bar-rw-bar2-write", "bar_write of %zu bytes at %llu gave %d", ml,
		     (unsigned long long)mark_off, r);
	char back[128] = "";
	r = ml < sizeof(back) ? ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, mark_off, back, ml) : -1;
	if (r == (int)ml && memcmp(back, mark, ml) == 0 && m2 &&
	    memcmp((char *)m2 + mark_off, mark, ml) == 0)
		ok("bar-rw-bar2-write-readback");
	else
		fail("bar-rw-bar2-write-readback", "bar_read gave %d '%.*s'; mapping %s", r, (int)ml,
		     back, m2 && memcmp((char *)m2 + mark_off, mark, ml) == 0 ? "agrees" : "differs");
	if (m2)
		ivshmem_pci_unmap(dev, m2, (size_t)b2.size);

	/* Errors: nothing is transferred. */
	uint64_t q = 0;
	int e1 = ivshmem_pci_bar_read(dev, IVSHMEM_BAR_SHM, b2.size - 4, &q, 8);
	int e2 = ivshmem_pci_bar_write(dev, IVSHMEM_BAR_SHM, b2.size - 4, &q, 8);
	int e3 = ivshmem_pci_bar_read(dev, IVSHMEM_BAR_REGS, b0.size, &q, 4);
	int e4 = ivshmem_pci_bar_read(dev, 5, 0, &q, 4);
	if (e1 == -ERANGE && e2 == -ERANGE && e3 == -ERANGE && e4 == -ENOENT)
		ok("bar-rw-range");
	else
		fail("bar-rw-range", "got %d %d %d %d, want -ERANGE x3, -ENOENT", e1, e2, e3, e4);
	dev = ivshmem_pci_close(dev); /* vfio: one process holds the group */

	/* The endpoint with registers through bar_read/bar_write. */
	struct ivshmem_open_opts opts = {.backend = (enum ivshmem_backend)be,
					 .ready_timeout_ms = 2000,
					 .flags = IVSHMEM_OPEN_NO_IRQ};
	ivshmem_ep *ep = NULL;
	r = ivs_ep_open(addr, &opts, IVS_OPEN_REGS_NO_MAP, &ep);
	const char *mem = ep ? ivshmem_mem(ep) : NULL;
	bool marked = mem && ivshmem_mem_size(ep) == b2.size && memcmp(mem + mark_off, mark, ml) == 0;
	if (r < 0)
		fail("bar-rw-endpoint", "ivshmem_open without a BAR0 mapping: %s", strerror(-r));
	else if (!marked)
		fail("bar-rw-endpoint", "memory %p size %zu: no marker", (const void *)mem,
		     ivshmem_mem_size(ep));
	else if (ivshmem_id(ep) != -ENODATA || ivshmem_ring(ep, 0, 0) != -ENOTSUP)
		fail("bar-rw-endpoint", "plain device: id %d, ring %d", ivshmem_id(ep),
		     ivshmem_ring(ep, 0, 0));
	else
		ok("bar-rw-endpoint");
	ivshmem_close(ep);
	return failed;
}

static int doorbell(const char *addr, unsigned peer, unsigned vector)
{
	struct ivshmem_open_opts opts = {.backend = IVSHMEM_BACKEND_VFIO,
					 .ready_timeout_ms = 5000,
					 .flags = IVSHMEM_OPEN_NO_IRQ};
	ivshmem_ep *ep = NULL;
	int mapped_id = -1;
	int r = ivshmem_open(addr, &opts, &ep);
	if (r == 0) {
		mapped_id = ivshmem_id(ep);
		ep = ivshmem_close(ep);
	}
	int r2 = ivs_ep_open(addr, &opts, IVS_OPEN_REGS_NO_MAP, &ep);
	if (r2 < 0) {
		fail("bar-rw-db-open", "ivshmem_open without a BAR0 mapping: %s", strerror(-r2));
		return 1;
	}
	ok("bar-rw-db-open");
	int id = ivshmem_id(ep);
	printf("GUEST-INFO bar-rw: peer ID %d through bar_read, %d through a mapping (open %d)\n",
	       id, mapped_id, r);
	if (r == 0 && id >= 0 && id == mapped_id)
		ok("bar-rw-db-id");
	else
		fail("bar-rw-db-id", "peer ID %d through bar_read, %d mapped (open: %s)", id, mapped_id,
		     strerror(-r));
	r = ivshmem_ring(ep, peer, vector);
	if (r == 0)
		ok("bar-rw-db-ring");
	else
		fail("bar-rw-db-ring", "ring %u %u through bar_write: %s", peer, vector, strerror(-r));
	ivshmem_close(ep);
	return failed;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t a, b, c, d;
	if (argc == 8 && strcmp(argv[1], "plain") == 0 && parse_u64(argv[4], &a) == 0 &&
	    parse_u64(argv[6], &b) == 0)
		return plain(argv[2], argv[3], a, argv[5], b, argv[7]);
	if (argc == 5 && strcmp(argv[1], "doorbell") == 0 && parse_u64(argv[3], &c) == 0 &&
	    parse_u64(argv[4], &d) == 0 && c < IVSHMEM_MAX_PEERS && d <= 0xff)
		return doorbell(argv[2], (unsigned)c, (unsigned)d);
	fprintf(stderr, "usage: bar-rw plain ADDR BACKEND HOST_OFF HOST_HEX MARK_OFF MARK\n"
			"       bar-rw doorbell ADDR PEER VECTOR\n");
	return 2;
}
