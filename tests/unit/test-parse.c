/* SPDX-License-Identifier: MIT */
/* Sizes and enum names: ivshmem_parse_size, backend and cache names; DEV
 * strings (ivs_ep_spec_parse, the one parser behind ivshmem_open, the
 * daemon and the CLI). */
#include "ivshmem.h"
#include "endpoint/endpoint.h"
#include "../tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int r = ivshmem_parse_size(s, &v);
	ok(r == 0 && v == want, "parse_size(\"%s\") = %llu", s, (unsigned long long)want);
	if (r != 0 || v != want)
		printf("#   r=%d v=%llu\n", r, (unsigned long long)v);
}

static void size_err(const char *s, int want)
{
	uint64_t v = 12345;
	int r = ivshmem_parse_size(s, &v);
	is(r, want, "parse_size(\"%s\") fails with %d", s, want);
	is(v, 12345, "parse_size(\"%s\") leaves the output alone", s);
}

static void spec_ok(const char *spec, enum ivshmem_backend b, enum ivs_ep_kind kind, const char *target)
{
	struct ivs_ep_spec sp = {-1, NULL};
	int r = ivs_ep_spec_parse(spec, b, &sp);
	ok(r == 0 && sp.kind == kind && sp.target && !strcmp(sp.target, target) &&
		   sp.target >= spec && sp.target <= spec + strlen(spec),
	   "spec \"%s\" (backend %s): kind %d, target \"%s\"", spec, ivshmem_backend_name(b), kind, target);
}

static void specs(void)
{
	spec_ok("file:/dev/shm/x", IVSHMEM_BACKEND_AUTO, IVS_EP_FILE, "/dev/shm/x");
	spec_ok("server:/run/s.sock", IVSHMEM_BACKEND_AUTO, IVS_EP_SERVER, "/run/s.sock");
	spec_ok("daemon:rel/d.sock", IVSHMEM_BACKEND_AUTO, IVS_EP_DAEMON, "rel/d.sock");
	spec_ok("pci:0000:00:04.0", IVSHMEM_BACKEND_VFIO, IVS_EP_PCI, "0000:00:04.0");
	spec_ok("0000:00:04.0", IVSHMEM_BACKEND_SYSFS, IVS_EP_PCI, "0000:00:04.0");
	spec_ok("auto", IVSHMEM_BACKEND_AUTO, IVS_EP_PCI, "auto");
	/* The PCI layer's file backend: the "device" is a file. */
	spec_ok("/dev/shm/x", IVSHMEM_BACKEND_FILE, IVS_EP_FILE, "/dev/shm/x");
	spec_ok("pci:/dev/shm/x", IVSHMEM_BACKEND_FILE, IVS_EP_FILE, "/dev/shm/x");
	spec_ok("server:s", IVSHMEM_BACKEND_FILE, IVS_EP_SERVER, "s");
	/* Prefixes are exact and only at the start. */
	spec_ok("File:/x", IVSHMEM_BACKEND_AUTO, IVS_EP_PCI, "File:/x");
	spec_ok("fileserver:/x", IVSHMEM_BACKEND_AUTO, IVS_EP_PCI, "fileserver:/x");
	spec_ok("server:file:/x", IVSHMEM_BACKEND_AUTO, IVS_EP_SERVER, "file:/x");
	spec_ok("file:", IVSHMEM_BACKEND_AUTO, IVS_EP_FILE, ""); /* ivshmem_open: -EINVAL */
	struct ivs_ep_spec sp = {IVS_EP_DAEMON, "untouched"};
	is(ivs_ep_spec_parse("", IVSHMEM_BACKEND_AUTO, &sp), -EINVAL, "spec \"\": -EINVAL");
	is(ivs_ep_spec_parse(NULL, IVSHMEM_BACKEND_AUTO, &sp), -EINVAL, "spec NULL: -EINVAL");
	ok(sp.kind == IVS_EP_DAEMON && !strcmp(sp.target, "untouched"), "and the output is untouched");
	ivshmem_ep *ep = (ivshmem_ep *)&sp;
	is(ivshmem_open("file:", NULL, &ep), -EINVAL, "ivshmem_open(\"file:\"): -EINVAL");
	is(ivshmem_open("daemon:", NULL, &ep), -EINVAL, "ivshmem_open(\"daemon:\"): -EINVAL");
	ok(ep == (ivshmem_ep *)&sp, "and *out is untouched");
}

int main(void)
{
	specs();
	size_ok("0", 0);
	size_ok("4096", 4096);
	size_ok("0x1000", 4096);
	size_ok("0X10", 16);
	size_ok("4K", 4096);
	size_ok("4k", 4096);
	size_ok("16M", 16ull << 20);
	size_ok("1G", 1ull << 30);
	size_ok("2T", 2ull << 40);
	size_ok("4KiB", 4096);
	size_ok("64MiB", 64ull << 20);
	size_ok("1GB", 1ull << 30);
	size_ok("0x10M", 16ull << 20);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("0xffffffffffffffff", UINT64_MAX);
	size_ok("16777215T", 16777215ull << 40);
	/* Decimal unless 0x: a leading zero is not octal. */
	size_ok("010", 10);
	size_ok("08", 8);
	size_ok("0100K", 100ull << 10);
	size_ok("0x010", 16);
	size_err("00x", -EINVAL);

	size_err("18446744073709551616", -ERANGE);
	size_err("0x10000000000000000", -ERANGE);
	size_err("16777216T", -ERANGE);
	size_err("17179869184G", -ERANGE);
	size_err("", -EINVAL);
	size_err("   ", -EINVAL);
	size_err("-1", -EINVAL);
	size_err("-4K", -EINVAL);
	size_err("+4", -EINVAL);
	size_err("abc", -EINVAL);
	size_err("K", -EINVAL);
	size_err("4X", -EINVAL);
	size_err("4KK", -EINVAL);
	size_err("4 K", -EINVAL);
	size_err("4Ki", -EINVAL);
	size_err("4KiBx", -EINVAL);
	size_err("0x", -EINVAL);
	size_err("1.5M", -EINVAL);
	size_err("4096 ", -EINVAL);
	/* Blanks are refused on both sides, and after 0x. */
	size_err(" 5", -EINVAL);
	size_err("\t5", -EINVAL);
	size_err("0x 5", -EINVAL);
	size_err("0x-5", -EINVAL);
	size_err("0x+5", -EINVAL);
	size_err("0x0x5", -EINVAL);
	size_err("0xg", -EINVAL);
	size_err("1K1", -EINVAL);

	uint64_t v;
	is(ivshmem_parse_size(NULL, &v), -EINVAL, "parse_size(NULL) is -EINVAL");
	is(ivshmem_parse_size("4", NULL), -EINVAL, "parse_size without output is -EINVAL");

	/* Backend names round-trip. */
	static const enum ivshmem_backend backends[] = {IVSHMEM_BACKEND_AUTO, IVSHMEM_BACKEND_VFIO,
							IVSHMEM_BACKEND_SYSFS, IVSHMEM_BACKEND_FILE};
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		is(ivshmem_backend_parse(ivshmem_backend_name(backends[i])), backends[i],
		   "backend %s round-trips", ivshmem_backend_name(backends[i]));
	is(ivshmem_backend_parse("vfio"), IVSHMEM_BACKEND_VFIO, "backend \"vfio\"");
	is(ivshmem_backend_parse("sysfs"), IVSHMEM_BACKEND_SYSFS, "backend \"sysfs\"");
	is(ivshmem_backend_parse("file"), IVSHMEM_BACKEND_FILE, "backend \"file\"");
	is(ivshmem_backend_parse("auto"), IVSHMEM_BACKEND_AUTO, "backend \"auto\"");
	is(ivshmem_backend_parse("VFIO"), -EINVAL, "backend names are case-sensitive");
	is(ivshmem_backend_parse(""), -EINVAL, "empty backend name");
	is(ivshmem_backend_parse("uio"), -EINVAL, "unknown backend name");
	is(ivshmem_backend_parse(NULL), -EINVAL, "NULL backend name");
	ok(strcmp(ivshmem_backend_name((enum ivshmem_backend)42), "?") == 0,
	   "out-of-range backend has name \"?\"");

	static const enum ivshmem_cache caches[] = {IVSHMEM_CACHE_DEFAULT, IVSHMEM_CACHE_UC,
						    IVSHMEM_CACHE_WC, IVSHMEM_CACHE_WB};
	for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
		is(ivshmem_cache_parse(ivshmem_cache_name(caches[i])), caches[i],
		   "cache %s round-trips", ivshmem_cache_name(caches[i]));
	is(ivshmem_cache_parse("uc"), IVSHMEM_CACHE_UC, "cache \"uc\"");
	is(ivshmem_cache_parse("wc"), IVSHMEM_CACHE_WC, "cache \"wc\"");
	is(ivshmem_cache_parse("wb"), IVSHMEM_CACHE_WB, "cache \"wb\"");
	is(ivshmem_cache_parse("default"), IVSHMEM_CACHE_DEFAULT, "cache \"default\"");
	is(ivshmem_cache_parse("writeback"), -EINVAL, "unknown cache name");
	is(ivshmem_cache_parse(""), -EINVAL, "empty cache name");
	is(ivshmem_cache_parse(NULL), -EINVAL, "NULL cache name");
	ok(strcmp(ivshmem_cache_name((enum ivshmem_cache)-1), "?") == 0,
	   "out-of-range cache has name \"?\"");

	ok(ivshmem_version() && *ivshmem_version(), "version string is not empty");
	char ver[32];
	snprintf(ver, sizeof(ver), "%d.%d.%d", IVSHMEM_VERSION_MAJOR, IVSHMEM_VERSION_MINOR, IVSHMEM_VERSION_PATCH);
	ok(strcmp(ivshmem_version(), ver) == 0, "ivshmem_version() \"%s\" is the header's %s", ivshmem_version(), ver);
	is(ivshmem_version_hex(), IVSHMEM_VERSION_HEX, "ivshmem_version_hex() is the header's");
	is(ivshmem_version_check(IVSHMEM_VERSION_HEX), 0, "the library serves its own header");
	is(ivshmem_version_check(IVSHMEM_VERSION_HEX ^ 0xff), 0, "and one of another patch version");
	is(ivshmem_version_check(IVSHMEM_VERSION_HEX + (1u << 16)), -ENOTSUP, "not another major version");
	is(ivshmem_version_check(0x1000000), -ENOTSUP, "nor a number out of range");
	if (IVSHMEM_VERSION_MAJOR == 0) {
		is(ivshmem_version_check(IVSHMEM_VERSION_HEX + (1u << 8)), -ENOTSUP, "0.x: not a newer minor");
		if (IVSHMEM_VERSION_MINOR > 0)
			is(ivshmem_version_check(IVSHMEM_VERSION_HEX - (1u << 8)), -ENOTSUP, "0.x: nor an older one");
	}
	return tap_done();
}
