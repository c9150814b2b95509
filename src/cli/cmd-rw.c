/* SPDX-License-Identifier: MIT */
/* ivshmem read / write: raw bytes between stdio and the shared memory. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_OFFSET = CLI_OPT_FIRST_FREE, OPT_LENGTH };

static int parse(int argc, char **argv, struct cli_opts *o, uint64_t *off, uint64_t *len, bool *has_len)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"offset", required_argument, NULL, OPT_OFFSET},
		{"length", required_argument, NULL, OPT_LENGTH},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?')
			return cli_bad_option(argv);
		if (c == OPT_OFFSET) {
			if (cli_parse_u64("offset", optarg, off))
				return 1;
		} else if (c == OPT_LENGTH && len) {
			if (cli_parse_u64("length", optarg, len))
				return 1;
			*has_len = true;
		} else if (cli_common_opt(c, optarg, o)) {
			return 1;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("expected one DEV");
	return 0;
}

int cmd_read(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	o.open.flags |= IVSHMEM_OPEN_NO_IRQ | IVSHMEM_OPEN_READONLY;
	uint64_t off = 0, len = 0;
	bool has_len = false;
	if (parse(argc, argv, &o, &off, &len, &has_len))
		return 1;
	const char *dev = argv[optind];
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep))
		return 1;
	size_t size = ivshmem_mem_size(ep);
	int rc = 0;
	if (off > size) {
		rc = cli_error("offset %llu is outside the region (%zu bytes)", (unsigned long long)off, size);
		goto out;
	}
	if (has_len && len > size - off) {
		rc = cli_error("range outside the region: offset %llu length %llu, region is %zu bytes",
			       (unsigned long long)off, (unsigned long long)len, size);
		goto out;
	}
	if (!has_len)
		len = size - off;
	/* Copy out in chunks: device memory may be uncached, stdout may be a
	 * pipe; never hand the mapping itself to write(). */
	char buf[65536];
	const volatile char *src = (const char *)ivshmem_mem(ep) + off;
	while (len && rc == 0) {
		size_t n = len > sizeof(buf) ? sizeof(buf) : (size_t)len;
		memcpy(buf, (const void *)src, n);
		rc = cli_write_stdout(buf, n);
		src += n;
		len -= n;
	}
out:
	ivshmem_close(ep);
	return rc;
}

int cmd_write(int argc, char **argv)
{
	struct cli_opts o;
	cli_opts_init(&o);
	o.open.flags |= IVSHMEM_OPEN_NO_IRQ;
	uint64_t off = 0;
	if (parse(argc, argv, &o, &off, NULL, NULL))
		return 1;
	const char *dev = argv[optind];
	/* The bytes come from stdin: refuse before touching the device when
	 * that can't be what was meant. */
	int fl = fcntl(STDIN_FILENO, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) /* main() fills a closed stdin so */
		return cli_error("stdin is closed or not readable: pipe or redirect the bytes to write "
				 "(e.g. printf hello | ivshmem write DEV)");
	if (isatty(STDIN_FILENO))
		return cli_error("stdin is a terminal: pipe or redirect the bytes to write "
				 "(e.g. ivshmem write DEV < FILE)");
	ivshmem_ep *ep;
	if (cli_open(dev, &o, &ep))
		return 1;
	size_t size = ivshmem_mem_size(ep);
	int rc = 0;
	char *data = NULL;
	if (ivshmem_mem_readonly(ep) == 1) {
		rc = cli_error("%s is read-only (a read-only file, or the daemon's --read-only policy); "
			       "nothing was written", dev);
		goto out;
	}
	if (off > size) {
		rc = cli_error("offset %llu is outside the region (%zu bytes)", (unsigned long long)off, size);
		goto out;
	}
	/* Read all of stdin first (at most what fits, plus one byte to detect
	 * overflow), so a write that would pass the end changes nothing. */
	size_t room = size - (size_t)off, have = 0, cap = room + 1 < 65536 ? room + 1 : 65536;
	data = malloc(cap);
	if (!data) {
		rc = cli_error("out of memory");
		goto out;
	}
	for (;;) {
		if (have == cap) {
			if (cap > room)
				break;
			size_t ncap = cap * 2 > room + 1 ? room + 1 : cap * 2;
			char *nd = realloc(data, ncap);
			if (!nd) {
				rc = cli_error("out of memory");
				goto out;
			}
			data = nd;
			cap = ncap;
		}
		ssize_t n = read(STDIN_FILENO, data + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cli_error("reading stdin: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > room) {
		rc = cli_error("input does not fit: %zu bytes left after offset %llu in a %zu-byte region; "
			       "nothing was written",
			       room, (unsigned long long)off, size);
		goto out;
	}
	memcpy((char *)ivshmem_mem(ep) + off, data, have);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
out:
	free(data);
	ivshmem_close(ep);
	return rc;
}
