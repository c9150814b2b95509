/* SPDX-License-Identifier: MIT */
/* Option parsing and error messages shared by the subcommands. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "endpoint/endpoint.h"

void cli_opts_init(struct cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->open.ready_timeout_ms = -1;
}

__attribute__((format(printf, 1, 0))) static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", cli_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return 1;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", cli_prog);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	/* One line: the first line of the usage, or a pointer to --help. */
	const char *u = cli_current ? cli_current->usage : NULL;
	if (u && !strchr(u, '\n'))
		fprintf(stderr, " (usage: ivshmem %s)\n", u);
	else if (cli_current)
		fprintf(stderr, " (see 'ivshmem %s --help')\n", cli_current->name);
	else
		fputc('\n', stderr);
	return 1;
}

int cli_bad_option(char **argv)
{
	extern int optind, optopt;
	const char *arg = argv[optind - 1];
	if (optopt && optopt < 0x1000 && (!arg || arg[0] != '-' || arg[1] == '-' || strlen(arg) > 2))
		return cli_usage_error("option '-%c' is unknown or needs an argument", optopt);
	return cli_usage_error("option '%s' is unknown or needs an argument", arg ? arg : "?");
}

int cli_common_opt(int c, const char *arg, struct cli_opts *o)
{
	int v;
	switch (c) {
	case CLI_OPT_BACKEND:
		v = ivshmem_backend_parse(arg);
		if (v < 0)
			return cli_usage_error("unknown backend '%s': use vfio, sysfs or file", arg);
		o->open.backend = (enum ivshmem_backend)v;
		return 0;
	case CLI_OPT_CACHE:
		v = ivshmem_cache_parse(arg);
		if (v < 0)
			return cli_usage_error("unknown cache mode '%s': use uc, wc or wb", arg);
		o->open.cache = (enum ivshmem_cache)v;
		return 0;
	case CLI_OPT_JSON:
		o->json = true;
		return 0;
	case CLI_OPT_READONLY:
		o->open.flags |= IVSHMEM_OPEN_READONLY;
		return 0;
	default:
		return 1;
	}
}

int cli_parse_common(int argc, char **argv, struct cli_opts *o)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (c == '?' ? cli_bad_option(argv) : cli_common_opt(c, optarg, o))
			return 1;
	return 0;
}

int cli_parse_u64(const char *what, const char *s, uint64_t *out)
{
	int r = ivshmem_parse_size(s, out);
	if (r == -ERANGE)
		return cli_usage_error("%s '%s' is too large", what, s);
	if (r < 0)
		return cli_usage_error("%s '%s' is not a number (use decimal, 0x hex, or K/M/G)", what, s);
	return 0;
}

int cli_parse_uint(const char *what, const char *s, unsigned max, unsigned *out)
{
	uint64_t v;
	if (ivshmem_parse_size(s, &v) < 0 || v > max)
		return cli_usage_error("%s '%s' must be a number from 0 to %u", what, s, max);
	*out = (unsigned)v;
	return 0;
}

int cli_parse_seconds(const char *what, const char *s, int *ms)
{
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	/* At most INT_MAX ms (24.8 days): beyond, the conversion to int is
	 * undefined (in practice a negative value, i.e. "wait forever"). */
	if (errno || end == s || *end || !isfinite(d) || d < 0 || d * 1000.0 + 0.5 > (double)INT_MAX)
		return cli_usage_error("%s '%s' must be a number of seconds up to %d", what, s,
				       INT_MAX / 1000);
	*ms = (int)(d * 1000.0 + 0.5);
	return 0;
}

/* The kind DEV names (PCI for anything that isn't one of the others). */
static enum ivs_ep_kind dev_kind(const char *dev, enum ivshmem_backend backend)
{
	struct ivs_ep_spec sp = {IVS_EP_PCI, dev};
	(void)ivs_ep_spec_parse(dev, backend, &sp);
	return sp.kind;
}

/* For a PCI target, find out precisely why it can't be opened. */
static int explain_pci(const char *dev, const struct cli_opts *o, int err)
{
	if (strcmp(dev, "auto") == 0) {
		struct ivshmem_pci_info devs[16];
		int n = ivshmem_pci_scan(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, devs, 16);
		if (n == 0)
			return cli_error("no IVSHMEM device (1af4:1110) found: give the VM one "
					 "(-device ivshmem-plain or ivshmem-doorbell) or name a DEV");
		if (n > 1) {
			char list[512] = "";
			size_t len = 0;
			for (int i = 0; i < n && i < 16; i++) {
				int w = snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
						 devs[i].addr);
				if (w < 0 || (size_t)w >= sizeof(list) - len)
					break;
				len += (size_t)w;
			}
			return cli_error("'auto' is ambiguous: %d IVSHMEM devices (%s); name one", n, list);
		}
	}
	char addr[IVSHMEM_PCI_ADDR_LEN];
	struct ivshmem_pci_info info;
	if (strcmp(dev, "auto") != 0 && ivshmem_pci_addr_parse(dev, addr) < 0)
		return cli_error("'%s' is not a device: use a PCI address (0000:00:04.0), auto, "
				 "file:PATH, server:SOCKET or daemon:SOCKET", dev);
	if (strcmp(dev, "auto") != 0) {
		int r = ivshmem_pci_lookup(addr, &info);
		if (r == -ENOENT)
			return cli_error("no such PCI device %s (see 'ivshmem list')", addr);
		if (r == 0 && (info.vendor != IVSHMEM_VENDOR_ID || info.device != IVSHMEM_DEVICE_ID))
			return cli_error("%s is not an IVSHMEM device (it is %04x:%04x, want 1af4:1110)",
					 addr, info.vendor, info.device);
		if (r == 0 && o->open.backend == IVSHMEM_BACKEND_VFIO && strcmp(info.driver, "vfio-pci") != 0)
			return cli_error("%s is not bound to vfio-pci (driver: %s): run 'ivshmem bind %s'",
					 addr, info.driver[0] ? info.driver : "none", addr);
	}
	return cli_lib_error(dev, "open", err);
}

int cli_lib_error(const char *dev, const char *action, int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
		if (dev_kind(dev, IVSHMEM_BACKEND_AUTO) == IVS_EP_DAEMON)
			return cli_error("%s %s: permission denied by the daemon's policy: ask its "
					 "administrator for --allow-user/--allow-group", action, dev);
		return cli_error("%s %s: permission denied: needs root, or access through "
				 "'ivshmem daemon' (daemon:SOCKET)", action, dev);
	case -ENOENT:
		return cli_error("%s %s: no such file or device", action, dev);
	case -EUSERS:
		if (dev_kind(dev, IVSHMEM_BACKEND_AUTO) == IVS_EP_SERVER)
			return cli_error("%s %s: the server is full: it has as many peers as its --max-peers "
					 "allows; wait for one to leave, or raise it", action, dev);
		return cli_error("%s %s: too many connections: the daemon's limit for your user "
				 "(--max-clients-per-user) or in all (--max-clients) is reached: close some, "
				 "or ask its administrator to raise it", action, dev);
	case -EPROTOTYPE:
		if (dev_kind(dev, IVSHMEM_BACKEND_AUTO) == IVS_EP_DAEMON)
			return cli_error("%s %s: not an ivshmem daemon socket (a stream socket: an ivshmem "
					 "server's? then use server:%s)", action, dev, dev + 7);
		if (dev_kind(dev, IVSHMEM_BACKEND_AUTO) == IVS_EP_SERVER)
			return cli_error("%s %s: not an ivshmem server socket (a packet socket: an ivshmem "
					 "daemon's? then use daemon:%s)", action, dev, dev + 7);
		return cli_error("%s %s: %s", action, dev, strerror(-err));
	case -ENOTSUP:
		return cli_error("%s %s: not supported by this endpoint/backend", action, dev);
	case -ENXIO:
		return cli_error("%s %s: the device has no IOMMU group: boot with intel_iommu=on "
				 "(or amd_iommu=on) for vfio", action, dev);
	case -EBUSY:
		return cli_error("%s %s: device busy: another process holds it (use one owner, e.g. "
				 "'ivshmem daemon')", action, dev);
	case -ETIMEDOUT:
		return cli_error("%s %s: timed out waiting for the device/server to be ready", action, dev);
	case -ECONNRESET:
		if (dev_kind(dev, IVSHMEM_BACKEND_AUTO) == IVS_EP_DAEMON)
			return cli_error("%s %s: the daemon went away (it stopped, or dropped this connection: "
					 "see its log); start it again, then retry", action, dev);
		return cli_error("%s %s: the server went away (it stopped, or dropped this connection: see "
				 "its log); start it again, then retry", action, dev);
	case -ECONNREFUSED:
		return cli_error("%s %s: connection refused: is the server/daemon running?", action, dev);
	case -EPROTO:
	case -EBADMSG:
		return cli_error("%s %s: protocol error: the other side sent malformed data", action, dev);
	case -ENODATA:
		return cli_error("%s %s: the file is empty: give it a size first (e.g. truncate -s 4M)",
				 action, dev);
	default:
		return cli_error("%s %s: %s", action, dev, strerror(-err));
	}
}

int cli_open(const char *dev, const struct cli_opts *o, ivshmem_ep **ep)
{
	int r = ivshmem_open(dev, &o->open, ep);
	if (r == 0)
		return 0;
	struct ivs_ep_spec sp = {IVS_EP_PCI, dev};
	(void)ivs_ep_spec_parse(dev, o->open.backend, &sp); /* "" stays a PCI "address" */
	bool pci = sp.kind == IVS_EP_PCI;
	if (pci && r != -EACCES && r != -EPERM)
		return explain_pci(sp.target, o, r);
	if (r == -EINVAL && sp.kind == IVS_EP_FILE && sp.target != dev && *sp.target)
		return cli_error("open %s: not a regular file: use a shared-memory file "
				 "(/dev/shm/NAME, hugetlbfs)", dev);
	if (r == -EINVAL && !pci)
		return cli_error("'%s': missing or invalid path after the prefix", dev);
	if (r == -ENOTSUP && o->open.cache != IVSHMEM_CACHE_DEFAULT)
		return cli_error("open %s: cache mode %s is not available here (sysfs: uc, or wc on a "
				 "prefetchable BAR; vfio: uc; file:/server:: wb)",
				 dev, ivshmem_cache_name(o->open.cache));
	return cli_lib_error(dev, "open", r);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one
 * (stray continuation, overlong form, surrogate, above U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void cli_json_str(FILE *f, const char *s)
{
	/* JSON text is UTF-8: a path or name can be any bytes, so a byte that
	 * is not part of valid UTF-8 becomes U+FFFD instead of making the whole
	 * document unparsable. */
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	while (*p) {
		unsigned char c = *p;
		size_t n = utf8_len(p);
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (n == 0)
			fputs("\\ufffd", f);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

bool cli_stdout_gone;

int cli_write_stdout(const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			/* The reader went away (| head -c 10): stop, quietly. */
			cli_stdout_gone = true;
			return 1;
		}
		if (n < 0 && errno == EBADF)
			return cli_error("writing to stdout: it is closed: redirect it (e.g. > FILE)");
		if (n < 0)
			return cli_error("writing to stdout: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cli_check_socket_path(const char *option, const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (*base && strcmp(base, ".") && strcmp(base, ".."))
		return 0;
	return cli_usage_error("%s '%s' names no socket file: give a path such as /run/ivshmem/NAME.sock", option,
			       path);
}

int cli_input_next(struct cli_input *in, size_t *len)
{
	*len = 0;
	if (in->done)
		return 0;
	if (!in->raw) {
		ssize_t k = getline(&in->buf, &in->cap, stdin);
		if (k < 0) {
			in->done = true;
			if (ferror(stdin)) {
				*len = SIZE_MAX;
				return cli_error("reading stdin: %s", strerror(errno));
			}
			return 0;
		}
		if (k && in->buf[k - 1] == '\n')
			k--;
		*len = (size_t)k;
		in->n++;
		return 1;
	}
	/* All of stdin, at most max + 1 bytes: one more tells it is too big. */
	in->done = true;
	size_t want = in->max + 1, have = 0;
	free(in->buf);
	in->buf = malloc(want);
	if (!in->buf) {
		*len = SIZE_MAX;
		return cli_error("out of memory");
	}
	for (;;) {
		ssize_t k = read(STDIN_FILENO, in->buf + have, want - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			*len = SIZE_MAX;
			return cli_error("reading stdin: %s", strerror(errno));
		}
		have += (size_t)k;
		if (k == 0 || have == want)
			break;
	}
	*len = have;
	in->n++;
	return 1;
}

void cli_input_free(struct cli_input *in)
{
	free(in->buf);
	in->buf = NULL;
}
