/* SPDX-License-Identifier: MIT */
/* ivshmem chan: message channels in the shared memory.
 *
 *   chan create DEV NAME [--size N] [--max-message N]
 *   chan send DEV NAME [--raw] [--timeout SECONDS]
 *   chan recv DEV NAME [--count N] [--timeout SECONDS]
 *   chan stat DEV NAME [--json]
 *   chan list DEV [--json]
 *   chan delete DEV NAME               (refused while attached)
 *   chan init DEV                      (format: destroys every channel) */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel/channel.h"
#include "cli.h"

enum { OPT_SIZE = CLI_OPT_FIRST_FREE, OPT_MAXMSG, OPT_RAW, OPT_COUNT, OPT_TIMEOUT };

struct chan_args {
	struct cli_opts o;
	uint64_t size, max_msg, count;
	bool has_count, raw;
	int timeout_ms;
	const char *dev, *name;
};

static const char *sub_usage(const char *sub)
{
	if (!strcmp(sub, "create"))
		return "chan create DEV NAME [--size N] [--max-message N]";
	if (!strcmp(sub, "send"))
		return "chan send DEV NAME [--raw] [--timeout SECONDS]";
	if (!strcmp(sub, "recv"))
		return "chan recv DEV NAME [--count N] [--timeout SECONDS]";
	if (!strcmp(sub, "stat"))
		return "chan stat DEV NAME [--json]";
	if (!strcmp(sub, "list"))
		return "chan list DEV [--json]";
	if (!strcmp(sub, "delete"))
		return "chan delete DEV NAME";
	return "chan init DEV";
}

static int parse(int argc, char **argv, const char *sub, int nargs, struct chan_args *a)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"size", required_argument, NULL, OPT_SIZE},
		{"max-message", required_argument, NULL, OPT_MAXMSG},
		{"raw", no_argument, NULL, OPT_RAW},
		{"count", required_argument, NULL, OPT_COUNT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		bool mine = (c == OPT_SIZE || c == OPT_MAXMSG) ? !strcmp(sub, "create")
			    : c == OPT_RAW			 ? !strcmp(sub, "send")
			    : c == OPT_COUNT			 ? !strcmp(sub, "recv")
			    : c == OPT_TIMEOUT ? !strcmp(sub, "send") || !strcmp(sub, "recv")
					       : true;
		if (c == '?')
			return cli_bad_option(argv);
		if (!mine)
			return cli_usage_error("option '%s' does not apply to 'chan %s' (usage: ivshmem %s)",
					       argv[optind - 1], sub, sub_usage(sub));
		switch (c) {
		case OPT_SIZE:
			if (cli_parse_u64("size", optarg, &a->size))
				return 1;
			break;
		case OPT_MAXMSG:
			if (cli_parse_u64("max-message", optarg, &a->max_msg))
				return 1;
			break;
		case OPT_RAW:
			a->raw = true;
			break;
		case OPT_COUNT:
			if (cli_parse_u64("count", optarg, &a->count))
				return 1;
			a->has_count = true;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_seconds("timeout", optarg, &a->timeout_ms))
				return 1;
			break;
		default:
			if (cli_common_opt(c, optarg, &a->o))
				return 1;
		}
	}
	if (argc - optind != nargs)
		return cli_usage_error("expected %s (usage: ivshmem %s)", nargs == 2 ? "DEV NAME" : "DEV",
				       sub_usage(sub));
	a->dev = argv[optind];
	a->name = nargs == 2 ? argv[optind + 1] : NULL;
	if (a->name && (!*a->name || strlen(a->name) >= IVS_NAME_MAX))
		return cli_usage_error("channel name '%s' must be 1 to %d bytes", a->name, IVS_NAME_MAX - 1);
	return 0;
}

/* One line for a channel error (open or operation). */
static int chan_error(const struct chan_args *a, const char *action, int err)
{
	switch (err) {
	case -ENOENT:
		return cli_error("no channel '%s' in %s: create it with 'ivshmem chan create %s %s'", a->name,
				 a->dev, a->dev, a->name);
	case -EPROTO:
		return cli_error("%s does not hold a valid channel layout, or the channel's attach state is "
				 "corrupt (written by something other than ivshmem): "
				 "'ivshmem chan init %s' formats it, destroying its contents",
				 a->dev, a->dev);
	case -EBADMSG:
		return cli_error("channel '%s' in %s is corrupt (inconsistent queue state): "
				 "'ivshmem chan init %s' formats the region, destroying its contents",
				 a->name, a->dev, a->dev);
	case -EEXIST:
		return cli_error("channel '%s' already exists in %s (see 'ivshmem chan list %s')", a->name,
				 a->dev, a->dev);
	case -EPROTOTYPE:
		return cli_error("'%s' in %s is a topic, not a channel: use 'ivshmem topic' (sub, pub, stat)",
				 a->name, a->dev);
	case -ENOSPC:
		return cli_error("no room for channel '%s' in %s: the region or its table (%u channels) is "
				 "full; use a smaller --size or a bigger region",
				 a->name, a->dev, IVS_LAYOUT_NCHANS);
	case -EINVAL:
		return cli_error("invalid channel parameters: --max-message must be at most half of --size "
				 "minus 8 bytes, --size at most 1T");
	case -EROFS:
		return cli_error("%s is mapped read-only: drop --read-only", a->dev);
	case -ESTALE:
		return cli_error("lost channel '%s' in %s: another process took over this role, or the "
				 "region was re-formatted or overwritten", a->name, a->dev);
	case -EPIPE:
		return cli_error("the other side of channel '%s' in %s went away", a->name, a->dev);
	case -EOWNERDEAD:
		return cli_error("the other side of channel '%s' in %s died without detaching (its process "
				 "is gone): it was detached on its behalf", a->name, a->dev);
	case -ETIMEDOUT:
		return cli_error("%s %s: timed out: another process holds the channel table lock", action,
				 a->dev);
	default:
		return cli_lib_error(a->dev, action, err);
	}
}

static int do_create(struct chan_args *a, ivshmem_ep *ep)
{
	if (a->size > IVS_CHAN_MAX_RING)
		return cli_error("--size %llu is too large (at most 1T)", (unsigned long long)a->size);
	int r = ivshmem_chan_create(ep, a->name, (size_t)a->size, (size_t)a->max_msg);
	if (r < 0)
		return chan_error(a, "create", r);
	return 0;
}

static int do_delete(struct chan_args *a, ivshmem_ep *ep)
{
	int r = ivshmem_chan_delete(ep, a->name);
	if (r == -ENOENT)
		return cli_error("no channel '%s' in %s (see 'ivshmem chan list %s')", a->name, a->dev, a->dev);
	if (r == -EBUSY)
		return cli_error("channel '%s' in %s is in use: a producer or consumer is attached "
				 "(see 'ivshmem chan stat %s %s'); close it first",
				 a->name, a->dev, a->dev, a->name);
	if (r < 0)
		return chan_error(a, "delete", r);
	return 0;
}

static int do_send(struct chan_args *a, ivshmem_ep *ep)
{
	ivshmem_chan *ch;
	int r = ivshmem_chan_open(ep, a->name, IVSHMEM_CHAN_PRODUCER, NULL, &ch);
	if (r < 0)
		return chan_error(a, "open channel in", r);
	struct ivshmem_chan_stat st;
	if ((r = ivshmem_chan_stat(ch, &st)) < 0) {
		ivshmem_chan_close(ch);
		return chan_error(a, "send into", r);
	}
	int rc = 0;
	struct cli_input in = {.raw = a->raw, .max = st.max_msg};
	size_t len;
	for (;;) {
		if ((rc = cli_input_next(&in, &len)) != 1 || len == SIZE_MAX)
			break;
		rc = 0;
		unsigned long n = in.n;
		if ((size_t)len > st.max_msg) {
			rc = cli_error("%s %lu is %zu bytes, more than channel '%s' takes (%u): create it with "
				       "a larger --max-message",
				       a->raw ? "input" : "line", n, len, a->name, st.max_msg);
			break;
		}
		/* --timeout is for this message, whatever the consumer does:
		 * a restart (nothing was sent) is retried within it. */
		uint64_t deadline = a->timeout_ms ? ivs_now_ns() + (uint64_t)a->timeout_ms * 1000000u : 0;
		do
			r = ivshmem_chan_send(ch, in.buf, len, ivs_remaining_ms(deadline));
		while (r == -ECONNRESET && (!deadline || ivs_remaining_ms(deadline) > 0));
		if (r == -ECONNRESET || r == -EAGAIN)
			r = -ETIMEDOUT; /* the time ran out among restarts */
		if (r == -ETIMEDOUT) {
			fprintf(stderr, "ivshmem: channel '%s' stayed full for the timeout; %lu message(s) sent\n",
				a->name, n - 1);
			rc = 2;
			break;
		}
		if (r < 0) {
			rc = chan_error(a, "send to", r);
			break;
		}
	}
	cli_input_free(&in);
	ivshmem_chan_close(ch);
	return rc;
}

static int do_recv(struct chan_args *a, ivshmem_ep *ep)
{
	ivshmem_chan *ch;
	int r = ivshmem_chan_open(ep, a->name, IVSHMEM_CHAN_CONSUMER, NULL, &ch);
	if (r < 0)
		return chan_error(a, "open channel in", r);
	struct ivshmem_chan_stat st;
	if ((r = ivshmem_chan_stat(ch, &st)) < 0) {
		ivshmem_chan_close(ch);
		return chan_error(a, "receive from", r);
	}
	int rc = 0;
	char *buf = malloc((size_t)st.max_msg + 1);
	if (!buf) {
		ivshmem_chan_close(ch);
		return cli_error("out of memory");
	}
	/* --timeout is for each message, whatever the producer does: its
	 * restarts are waited through within it, never on top of it. */
	uint64_t deadline = 0;
	for (uint64_t got = 0; !a->has_count || got < a->count;) {
		if (a->timeout_ms && !deadline)
			deadline = ivs_now_ns() + (uint64_t)a->timeout_ms * 1000000u;
		int left = ivs_remaining_ms(deadline);
		ssize_t n = left == 0 ? -ETIMEDOUT : ivshmem_chan_recv(ch, buf, st.max_msg, left);
		if (n == -EAGAIN)
			n = -ETIMEDOUT; /* (a timeout of 0 left) */
		if (n == -ECONNRESET)
			continue; /* the producer restarted: keep reading, same deadline */
		if (n == -ETIMEDOUT) {
			fprintf(stderr, "ivshmem: no message on channel '%s' within the timeout\n", a->name);
			rc = 2;
			break;
		}
		if (n == -EPIPE) {
			if (a->has_count)
				rc = cli_error("the producer of channel '%s' left after %llu of %llu message(s)",
					       a->name, (unsigned long long)got, (unsigned long long)a->count);
			break;
		}
		if (n < 0) {
			rc = chan_error(a, "receive from", (int)n);
			break;
		}
		buf[n] = '\n';
		if ((rc = cli_write_stdout(buf, (size_t)n + 1)))
			break;
		got++;
		deadline = 0; /* the next message gets its own --timeout */
	}
	free(buf);
	ivshmem_chan_close(ch);
	return rc;
}

static int do_stat(struct chan_args *a, ivshmem_ep *ep)
{
	ivshmem_chan *ch;
	int r = ivshmem_chan_open(ep, a->name, IVSHMEM_CHAN_MONITOR, NULL, &ch);
	if (r < 0)
		return chan_error(a, "open channel in", r);
	struct ivshmem_chan_stat s;
	r = ivshmem_chan_stat(ch, &s);
	ivshmem_chan_close(ch);
	if (r < 0)
		return chan_error(a, "stat", r);
	if (a->o.json) {
		printf("{\"name\":");
		cli_json_str(stdout, s.name);
		printf(",\"ring_size\":%llu,\"max_message\":%u,\"used\":%llu,\"queued\":%llu,"
		       "\"head\":%llu,\"tail\":%llu,\"sent\":%llu,\"received\":%llu,"
		       "\"producer\":{\"attached\":%s,\"id\":%d,\"epoch\":%u,\"rings\":%llu,\"sleeps\":%llu},"
		       "\"consumer\":{\"attached\":%s,\"id\":%d,\"epoch\":%u,\"rings\":%llu,\"sleeps\":%llu}}\n",
		       (unsigned long long)s.ring_size, s.max_msg, (unsigned long long)s.used,
		       (unsigned long long)s.queued, (unsigned long long)s.head, (unsigned long long)s.tail,
		       (unsigned long long)s.sent, (unsigned long long)s.received,
		       s.producer_attached ? "true" : "false", s.producer_id, s.producer_epoch,
		       (unsigned long long)s.producer_rings, (unsigned long long)s.producer_sleeps,
		       s.consumer_attached ? "true" : "false", s.consumer_id, s.consumer_epoch,
		       (unsigned long long)s.consumer_rings, (unsigned long long)s.consumer_sleeps);
		return 0;
	}
	printf("channel      %s\n", s.name);
	printf("ring size    %llu bytes\n", (unsigned long long)s.ring_size);
	printf("max message  %u bytes\n", s.max_msg);
	printf("queued       %llu message(s), %llu bytes\n", (unsigned long long)s.queued,
	       (unsigned long long)s.used);
	printf("sent         %llu\n", (unsigned long long)s.sent);
	printf("received     %llu\n", (unsigned long long)s.received);
	printf("producer     %s (peer %d, epoch %u, %llu wakeups sent, %llu sleeps)\n",
	       s.producer_attached ? "attached" : "detached", s.producer_id, s.producer_epoch,
	       (unsigned long long)s.producer_rings, (unsigned long long)s.producer_sleeps);
	printf("consumer     %s (peer %d, epoch %u, %llu wakeups sent, %llu sleeps)\n",
	       s.consumer_attached ? "attached" : "detached", s.consumer_id, s.consumer_epoch,
	       (unsigned long long)s.consumer_rings, (unsigned long long)s.consumer_sleeps);
	return 0;
}

static const char *kind_name(uint32_t kind)
{
	return kind == IVSHMEM_KIND_TOPIC ? "topic" : "channel";
}

static int do_list(struct chan_args *a, ivshmem_ep *ep)
{
	int n = ivshmem_chan_list(ep, NULL, 0);
	if (n < 0)
		return chan_error(a, "list", n);
	struct ivshmem_chan_info *es = calloc((size_t)n + 1, sizeof(*es));
	if (!es)
		return cli_error("out of memory");
	int got = ivshmem_chan_list(ep, es, (size_t)n);
	if (got < 0) {
		free(es);
		return chan_error(a, "list", got);
	}
	n = IVS_MIN(n, got); /* a table that shrank meanwhile */
	if (n == 0 && !a->o.json) {
		free(es);
		printf("no channels\n");
		return 0;
	}
	if (a->o.json)
		printf("[");
	else
		printf("%-31s %-7s %12s %12s %10s\n", "NAME", "KIND", "OFFSET", "RING", "MAX MSG");
	for (int i = 0; i < n; i++) {
		if (a->o.json) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_str(stdout, es[i].name);
			printf(",\"kind\":\"%s\",\"offset\":%llu,\"ring_size\":%llu,\"max_message\":%u}",
			       kind_name(es[i].kind), (unsigned long long)es[i].offset,
			       (unsigned long long)es[i].ring_size, es[i].max_msg);
		} else {
			printf("%-31s %-7s %12llu %12llu %10u\n", es[i].name, kind_name(es[i].kind),
			       (unsigned long long)es[i].offset, (unsigned long long)es[i].ring_size, es[i].max_msg);
		}
	}
	if (a->o.json)
		printf("]\n");
	free(es);
	return 0;
}

int cmd_chan(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("expected create, send, recv, stat, list, delete or init");
	const char *sub = argv[1];
	static const char *const subs[] = {"create", "send", "recv", "stat", "list", "init", "delete"};
	size_t k = 0;
	while (k < IVS_ARRAY_SIZE(subs) && strcmp(sub, subs[k]))
		k++;
	if (k == IVS_ARRAY_SIZE(subs))
		return cli_usage_error(
			"unknown 'chan' command '%s': use create, send, recv, stat, list, delete or init", sub);
	struct chan_args a;
	memset(&a, 0, sizeof(a));
	cli_opts_init(&a.o);
	bool named = k < 4 || k == 6;
	if (parse(argc - 1, argv + 1, sub, named ? 2 : 1, &a))
		return 1;
	if (k != 2) /* only recv sleeps on a doorbell */
		a.o.open.flags |= IVSHMEM_OPEN_NO_IRQ;
	if (k == 3 || k == 4)
		a.o.open.flags |= IVSHMEM_OPEN_READONLY;
	ivshmem_ep *ep;
	if (cli_open(a.dev, &a.o, &ep))
		return 1;
	int rc;
	switch (k) {
	case 0:
		rc = do_create(&a, ep);
		break;
	case 1:
		rc = do_send(&a, ep);
		break;
	case 2:
		rc = do_recv(&a, ep);
		break;
	case 3:
		rc = do_stat(&a, ep);
		break;
	case 4:
		rc = do_list(&a, ep);
		break;
	case 6:
		rc = do_delete(&a, ep);
		break;
	default: {
		int r = ivshmem_layout_init(ep);
		rc = r < 0 ? (r == -ENOSPC ? cli_error("%s is too small for a channel layout (needs 8 KiB)",
						       a.dev)
					   : chan_error(&a, "format", r))
			   : 0;
	}
	}
	ivshmem_close(ep);
	return rc;
}
