/* SPDX-License-Identifier: MIT */
/* ivshmem topic: one-to-many message queues in the shared memory.
 *
 *   topic create DEV NAME [--subscribers N] [--mode lossless|latest] [--size N]
 *                [--max-message N] [--stall-timeout MS]
 *   topic pub DEV NAME [--raw] [--timeout SECONDS]
 *   topic sub DEV NAME [--count N] [--timeout SECONDS] [--from tail|oldest] [--read-only]
 *   topic stat DEV NAME [--json]
 *
 * Topics live in the channel table: `chan list` lists them and `chan
 * delete` deletes them.  A latest topic's publisher never waits (no stall
 * timeout); its subscribers get the newest message, and with --from oldest
 * start with the newest one already published.  On a read-only mapping a
 * latest subscriber is passive: it takes no slot, writes nothing, polls. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "topic/topic.h"

enum {
	OPT_SUBS = CLI_OPT_FIRST_FREE,
	OPT_MODE,
	OPT_SIZE,
	OPT_MAXMSG,
	OPT_STALL,
	OPT_RAW,
	OPT_COUNT,
	OPT_TIMEOUT,
	OPT_FROM,
};

struct topic_args {
	struct cli_opts o;
	uint64_t size, max_msg, count;
	unsigned subscribers, stall_ms, mode;
	bool has_count, has_timeout, raw, oldest, passive;
	int timeout_ms;
	const char *dev, *name;
};

enum { SUB_CREATE, SUB_PUB, SUB_SUB, SUB_STAT };
static const char *const subs[] = {"create", "pub", "sub", "stat"};

static const char *sub_usage(int k)
{
	switch (k) {
	case SUB_CREATE:
		return "topic create DEV NAME [--subscribers N] [--mode lossless|latest] [--size N] "
		       "[--max-message N] [--stall-timeout MS]";
	case SUB_PUB:
		return "topic pub DEV NAME [--raw] [--timeout SECONDS]";
	case SUB_SUB:
		return "topic sub DEV NAME [--count N] [--timeout SECONDS] [--from tail|oldest] [--read-only]";
	default:
		return "topic stat DEV NAME [--json]";
	}
}

/* A whole number in [min, max] (as cli_parse_uint, whose range starts at 0:
 * here 0 would silently mean the library's default). */
static int parse_range(const char *what, const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	if (ivshmem_parse_size(s, &v) < 0 || v < min || v > max)
		return cli_usage_error("--%s '%s' must be a number from %u to %u", what, s, min, max);
	*out = (unsigned)v;
	return 0;
}

static int parse(int argc, char **argv, int k, struct topic_args *a)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"subscribers", required_argument, NULL, OPT_SUBS},
		{"mode", required_argument, NULL, OPT_MODE},
		{"size", required_argument, NULL, OPT_SIZE},
		{"max-message", required_argument, NULL, OPT_MAXMSG},
		{"stall-timeout", required_argument, NULL, OPT_STALL},
		{"raw", no_argument, NULL, OPT_RAW},
		{"count", required_argument, NULL, OPT_COUNT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"from", required_argument, NULL, OPT_FROM},
		{0},
	};
	int c, li;
	while ((li = -1, c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		bool mine;
		switch (c) {
		case OPT_SUBS:
		case OPT_MODE:
		case OPT_SIZE:
		case OPT_MAXMSG:
		case OPT_STALL:
			mine = k == SUB_CREATE;
			break;
		case OPT_RAW:
			mine = k == SUB_PUB;
			break;
		case OPT_COUNT:
		case OPT_FROM:
			mine = k == SUB_SUB;
			break;
		case OPT_TIMEOUT:
			mine = k == SUB_PUB || k == SUB_SUB;
			break;
		default:
			mine = true;
		}
		if (c == '?')
			return cli_bad_option(argv);
		/* Named from the table: argv[optind - 1] is the option's argument
		 * when it came as a separate word.  The subcommand's own usage,
		 * not the whole command's. */
		if (!mine)
			return cli_error("option '--%s' does not apply to 'topic %s' (usage: ivshmem %s)",
					 longopts[li].name, subs[k], sub_usage(k));
		switch (c) {
		case OPT_SUBS:
			if (parse_range("subscribers", optarg, 1, IVSHMEM_TOPIC_MAX_SUBSCRIBERS,
					&a->subscribers))
				return 1;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "lossless"))
				a->mode = IVSHMEM_TOPIC_LOSSLESS;
			else if (!strcmp(optarg, "latest"))
				a->mode = IVSHMEM_TOPIC_LATEST;
			else
				return cli_usage_error("unknown --mode '%s': use lossless or latest", optarg);
			break;
		case OPT_SIZE:
			if (cli_parse_u64("size", optarg, &a->size))
				return 1;
			break;
		case OPT_MAXMSG:
			if (cli_parse_u64("max-message", optarg, &a->max_msg))
				return 1;
			break;
		case OPT_STALL:
			if (parse_range("stall-timeout", optarg, 1, IVS_TOPIC_MAX_STALL_MS, &a->stall_ms))
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
			a->has_timeout = true;
			break;
		case OPT_FROM:
			if (!strcmp(optarg, "oldest"))
				a->oldest = true;
			else if (!strcmp(optarg, "tail"))
				a->oldest = false;
			else
				return cli_usage_error("unknown --from '%s': use tail or oldest", optarg);
			break;
		default:
			if (cli_common_opt(c, optarg, &a->o))
				return 1;
		}
	}
	/* Here, after the loop: in either order on the command line. */
	if (a->mode == IVSHMEM_TOPIC_LATEST && a->stall_ms)
		return cli_usage_error("--stall-timeout does not apply to --mode latest: its publisher never "
				       "waits for a subscriber (drop --stall-timeout, or use --mode lossless)");
	if (argc - optind != 2)
		return cli_error("expected DEV NAME (usage: ivshmem %s)", sub_usage(k));
	a->dev = argv[optind];
	a->name = argv[optind + 1];
	if (!*a->name || strlen(a->name) >= IVS_NAME_MAX)
		return cli_usage_error("topic name '%s' must be 1 to %d bytes", a->name, IVS_NAME_MAX - 1);
	return 0;
}

/* One line for a topic error (create, open or operation). */
static int topic_error(const struct topic_args *a, const char *action, int err)
{
	switch (err) {
	case -ENOENT:
		return cli_error("no topic '%s' in %s: create it with 'ivshmem topic create %s %s'", a->name,
				 a->dev, a->dev, a->name);
	case -EPROTOTYPE:
		return cli_error("'%s' in %s is a channel, not a topic: use 'ivshmem chan' commands with it "
				 "(see 'ivshmem chan list %s')",
				 a->name, a->dev, a->dev);
	case -EUSERS:
		return cli_error("every subscriber slot of topic '%s' in %s is taken (see 'ivshmem topic stat "
				 "%s %s'): wait for a subscriber to leave, or re-create the topic with more "
				 "--subscribers (of a latest topic, --read-only subscribes without a slot)",
				 a->name, a->dev, a->dev, a->name);
	case -ENOBUFS:
		if (a->mode == IVSHMEM_TOPIC_LATEST)
			return cli_error("lost the subscriber slot of topic '%s' in %s (another subscriber took "
					 "it, or something overwrote it): running the command again "
					 "re-subscribes (--from oldest: with the newest message)",
					 a->name, a->dev);
		return cli_error("fell behind on topic '%s' in %s and was evicted by the publisher (it kept "
				 "the publisher waiting past the stall timeout, or its unread messages were "
				 "overwritten): running the command again re-subscribes at the tail",
				 a->name, a->dev);
	case -EPROTO:
		return cli_error("%s does not hold a valid channel layout, or the topic's attach state is "
				 "corrupt (written by something other than ivshmem): "
				 "'ivshmem chan init %s' formats it, destroying its contents",
				 a->dev, a->dev);
	case -EBADMSG:
		return cli_error("topic '%s' in %s is corrupt (inconsistent queue state): "
				 "'ivshmem chan init %s' formats the region, destroying its contents",
				 a->name, a->dev, a->dev);
	case -EEXIST:
		return cli_error("a channel or topic '%s' already exists in %s (see 'ivshmem chan list %s')",
				 a->name, a->dev, a->dev);
	case -ENOSPC:
		return cli_error("no room for topic '%s' in %s: the region or its table (%u channels and "
				 "topics) is full; use a smaller --size or a bigger region",
				 a->name, a->dev, IVS_LAYOUT_NCHANS);
	case -EINVAL:
		if (a->mode == IVSHMEM_TOPIC_LATEST)
			return cli_error("invalid topic parameters: --subscribers must be 1 to %u, --max-message "
					 "at most half of --size minus 64 bytes (room for 2 buffers), --size at "
					 "most 16G",
					 IVSHMEM_TOPIC_MAX_SUBSCRIBERS);
		return cli_error("invalid topic parameters: --subscribers must be 1 to %u, --max-message at "
				 "most half of --size minus 16 bytes, --stall-timeout at most %u (ms), --size "
				 "at most 16G",
				 IVSHMEM_TOPIC_MAX_SUBSCRIBERS, IVS_TOPIC_MAX_STALL_MS);
	case -EROFS:
		return cli_error("%s is mapped read-only: drop --read-only", a->dev);
	case -ESTALE:
		return cli_error("lost topic '%s' in %s: another publisher took over, or the topic was "
				 "deleted, or the region was re-formatted or overwritten",
				 a->name, a->dev);
	case -EPIPE:
		return cli_error("the publisher of topic '%s' in %s went away", a->name, a->dev);
	case -EOWNERDEAD:
		if (a->passive)
			return cli_error("the publisher of topic '%s' in %s died without detaching (its process "
					 "is gone); a read-only subscriber can't detach it: a new publisher "
					 "takes its place",
					 a->name, a->dev);
		return cli_error("the publisher of topic '%s' in %s died without detaching (its process is "
				 "gone): it was detached on its behalf",
				 a->name, a->dev);
	case -ECONNRESET:
		return cli_error("the publisher of topic '%s' in %s restarted", a->name, a->dev);
	case -ETIMEDOUT:
		return cli_error("%s %s: timed out: another process holds the channel table lock", action,
				 a->dev);
	default:
		return cli_lib_error(a->dev, action, err);
	}
}

static int do_create(struct topic_args *a, ivshmem_ep *ep)
{
	if (a->size > IVS_TOPIC_MAX_RING)
		return cli_error("--size %llu is too large (at most 16G)", (unsigned long long)a->size);
	struct ivshmem_topic_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = (size_t)a->size;
	/* Too big for size_t (32-bit): the library's -EINVAL, not a truncated
	 * value that might fit. */
	cfg.max_msg = a->max_msg > SIZE_MAX ? SIZE_MAX : (size_t)a->max_msg;
	cfg.subscribers = a->subscribers;
	cfg.mode = a->mode;
	cfg.stall_timeout_ms = a->stall_ms;
	int r = ivshmem_topic_create(ep, a->name, &cfg);
	return r < 0 ? topic_error(a, "create", r) : 0;
}

static int open_topic(struct topic_args *a, ivshmem_ep *ep, enum ivshmem_topic_role role, unsigned flags,
		      ivshmem_topic **t, struct ivshmem_topic_stat *st)
{
	struct ivshmem_topic_opts opts;
	memset(&opts, 0, sizeof(opts));
	opts.flags = flags;
	int r = ivshmem_topic_open(ep, a->name, role, &opts, t);
	if (r == -EUSERS) {
		/* Say how many slots there are: a monitor takes none. */
		ivshmem_topic *m;
		if (ivshmem_topic_open(ep, a->name, IVSHMEM_TOPIC_MONITOR, NULL, &m) == 0) {
			int sr = ivshmem_topic_stat(m, st);
			ivshmem_topic_close(m);
			if (sr == 0 && st->mode == IVSHMEM_TOPIC_LATEST)
				return cli_error("all %u subscriber slot(s) of topic '%s' in %s are taken "
						 "(see 'ivshmem topic stat %s %s'): subscribe with --read-only "
						 "(a passive subscriber of a latest topic needs no slot), or wait "
						 "for a subscriber to leave",
						 st->subscribers, a->name, a->dev, a->dev, a->name);
			if (sr == 0)
				return cli_error("all %u subscriber slot(s) of topic '%s' in %s are taken "
						 "(see 'ivshmem topic stat %s %s'): wait for a subscriber to "
						 "leave, or re-create the topic with more --subscribers",
						 st->subscribers, a->name, a->dev, a->dev, a->name);
		}
	}
	/* Only a lossless subscriber is refused a read-only mapping (a
	 * latest one reads passively): it must write its position. */
	if (r == -EROFS && role == IVSHMEM_TOPIC_SUBSCRIBER)
		return cli_error("topic '%s' in %s is lossless: a subscriber writes its position into the "
				 "shared memory, which is mapped read-only%s (only a --mode latest topic "
				 "takes read-only subscribers)",
				 a->name, a->dev,
				 a->o.open.flags & IVSHMEM_OPEN_READONLY ? ": drop --read-only"
									  : ": map it writable");
	if (r < 0)
		return topic_error(a, "open topic in", r);
	if ((r = ivshmem_topic_stat(*t, st)) < 0) {
		*t = ivshmem_topic_close(*t);
		return topic_error(a, "stat", r);
	}
	a->mode = st->mode; /* for the messages */
	a->passive = role == IVSHMEM_TOPIC_SUBSCRIBER && st->slot < 0;
	return 0;
}

static int do_pub(struct topic_args *a, ivshmem_ep *ep)
{
	ivshmem_topic *t;
	struct ivshmem_topic_stat st;
	if (open_topic(a, ep, IVSHMEM_TOPIC_PUBLISHER, 0, &t, &st))
		return 1;
	uint32_t max_msg = st.max_msg;
	int rc = 0;
	struct cli_input in = {.raw = a->raw, .max = max_msg};
	size_t len;
	for (;;) {
		if ((rc = cli_input_next(&in, &len)) != 1 || len == SIZE_MAX)
			break;
		rc = 0;
		unsigned long n = in.n;
		if ((size_t)len > max_msg && a->raw) {
			rc = cli_error("the input is more than the %u bytes topic '%s' takes in one message: "
				       "create it with a larger --max-message", max_msg, a->name);
			break;
		}
		if ((size_t)len > max_msg) {
			rc = cli_error("line %lu is %zu bytes, more than topic '%s' takes (%u): create it "
				       "with a larger --max-message", n, len, a->name, max_msg);
			break;
		}
		/* --timeout is for this message: how long a subscriber may keep
		 * it waiting (one that stalls past the stall timeout is evicted,
		 * and the publish goes on). */
		int tmo = a->has_timeout ? a->timeout_ms : -1;
		int r = ivshmem_topic_publish(t, in.buf, len, tmo);
		if (r == -EAGAIN)
			r = -ETIMEDOUT; /* (--timeout 0) */
		if (r == -ETIMEDOUT) {
			fprintf(stderr,
				"ivshmem: topic '%s' stayed full for the timeout (a subscriber is behind, "
				"within the stall timeout); %lu message(s) published\n",
				a->name, n - 1);
			rc = 2;
			break;
		}
		if (r < 0) {
			rc = topic_error(a, "publish to", r);
			break;
		}
	}
	cli_input_free(&in);
	ivshmem_topic_close(t);
	return rc;
}

/* How many times sub retries a latest receive that gave -EAGAIN (each after
 * 1000 overwritten copies in a row) before it gives up. */
#define SUB_TEAR_RETRIES 100u

static int do_sub(struct topic_args *a, ivshmem_ep *ep)
{
	/* --timeout is for the whole command, from the start: neither the
	 * messages nor the publisher's restarts extend it. */
	uint64_t deadline = a->has_timeout ? ivs_now_ns() + (uint64_t)a->timeout_ms * 1000000u : 0;
	ivshmem_topic *t;
	struct ivshmem_topic_stat st;
	if (open_topic(a, ep, IVSHMEM_TOPIC_SUBSCRIBER, a->oldest ? IVSHMEM_TOPIC_FROM_OLDEST : 0, &t, &st))
		return 1;
	uint32_t max_msg = st.max_msg;
	char *buf = malloc((size_t)max_msg + 1);
	if (!buf) {
		ivshmem_topic_close(t);
		return cli_error("out of memory");
	}
	int rc = 0;
	uint64_t got = 0;
	unsigned tears = 0;
	while (!a->has_count || got < a->count) {
		/* With no time left, still take what is already there. */
		int left = ivs_remaining_ms(deadline);
		ssize_t n = ivshmem_topic_receive(t, buf, max_msg, left);
		/* Latest: the newest message was overwritten while we copied it
		 * (receive looked again 1000 times): look again, for a while. */
		if (n == -EAGAIN && left != 0 && ++tears < SUB_TEAR_RETRIES)
			continue;
		if (n == -EAGAIN && left != 0) {
			rc = cli_error("every message of topic '%s' in %s was overwritten while it was being "
				       "read (%u times in a row): the publisher goes round its %u buffers "
				       "faster than this subscriber copies one; re-create the topic with a "
				       "larger --size (more buffers)",
				       a->name, a->dev, SUB_TEAR_RETRIES * 1000u, st.buffers);
			break;
		}
		if (n == -EAGAIN)
			n = -ETIMEDOUT; /* none there, and no time left to wait */
		if (n == -ECONNRESET)
			continue; /* the publisher restarted (said once): keep receiving, same deadline */
		if (n == -ETIMEDOUT) {
			if (!got)
				fprintf(stderr, "ivshmem: nothing arrived on topic '%s' within the timeout\n",
					a->name);
			else if (a->has_count)
				fprintf(stderr,
					"ivshmem: only %llu of %llu message(s) arrived on topic '%s' within "
					"the timeout\n",
					(unsigned long long)got, (unsigned long long)a->count, a->name);
			else
				fprintf(stderr, "ivshmem: timeout on topic '%s' after %llu message(s)\n",
					a->name, (unsigned long long)got);
			rc = 2;
			break;
		}
		if (n == -EPIPE) {
			/* Without --count, the publisher's detach is the end. */
			if (a->has_count)
				rc = cli_error("the publisher of topic '%s' left after %llu of %llu "
					       "message(s)", a->name, (unsigned long long)got,
					       (unsigned long long)a->count);
			break;
		}
		if (n < 0) {
			rc = topic_error(a, "receive from", (int)n);
			break;
		}
		/* Unbuffered, so each message shows as it arrives. */
		buf[n] = '\n';
		if ((rc = cli_write_stdout(buf, (size_t)n + 1)))
			break;
		got++;
		tears = 0;
	}
	free(buf);
	ivshmem_topic_close(t);
	return rc;
}

static const char *mode_name(unsigned mode)
{
	switch (mode) {
	case IVSHMEM_TOPIC_LOSSLESS:
		return "lossless";
	case IVSHMEM_TOPIC_LATEST:
		return "latest";
	default:
		return "unknown";
	}
}

static const char *state_name(int state)
{
	switch (state) {
	case IVSHMEM_TOPIC_SUB_FREE:
		return "free";
	case IVSHMEM_TOPIC_SUB_JOINING:
		return "joining";
	case IVSHMEM_TOPIC_SUB_LIVE:
		return "live";
	default:
		return "bad";
	}
}

static void print_stat(const struct topic_args *a, const struct ivshmem_topic_stat *s)
{
	unsigned slots = IVS_MIN(s->subscribers, (unsigned)IVSHMEM_TOPIC_MAX_SUBSCRIBERS);
	if (a->o.json) {
		printf("{\"name\":");
		cli_json_str(stdout, s->name);
		/* New keys go after the ones there were (scripts grep them). */
		printf(",\"mode\":\"%s\",\"ring_size\":%llu,\"max_msg\":%u,\"subscribers\":%u,"
		       "\"stall_timeout_ms\":%u,\"buffers\":%u,\"publisher\":{\"attached\":%s,\"id\":%d,"
		       "\"epoch\":%u},\"tail\":%llu,\"published\":%llu,\"floor\":%llu,\"evictions\":%llu,"
		       "\"slots\":[",
		       mode_name(s->mode), (unsigned long long)s->ring_size, s->max_msg, s->subscribers,
		       s->stall_timeout_ms, s->buffers, s->publisher_attached ? "true" : "false", s->publisher_id,
		       s->publisher_epoch, (unsigned long long)s->tail, (unsigned long long)s->published,
		       (unsigned long long)s->floor, (unsigned long long)s->evictions);
		bool first = true;
		for (unsigned i = 0; i < slots; i++) {
			const struct ivshmem_topic_sub_stat *u = &s->sub[i];
			if (u->state == IVSHMEM_TOPIC_SUB_FREE)
				continue;
			printf("%s{\"slot\":%u,\"state\":\"%s\",\"id\":%d,\"pid\":%u,\"epoch\":%u,"
			       "\"head\":%llu,\"received\":%llu,\"lag\":%llu,\"sleeps\":%llu,\"rings\":%llu,"
			       "\"skipped\":%llu}",
			       first ? "" : ",", i, state_name(u->state), u->id, u->pid, u->epoch,
			       (unsigned long long)u->head, (unsigned long long)u->received,
			       (unsigned long long)u->lag, (unsigned long long)u->sleeps,
			       (unsigned long long)u->rings, (unsigned long long)u->skipped);
			first = false;
		}
		printf("]}\n");
		return;
	}
	unsigned used = 0;
	for (unsigned i = 0; i < slots; i++)
		used += s->sub[i].state != IVSHMEM_TOPIC_SUB_FREE;
	printf("topic          %s\n", s->name);
	printf("mode           %s\n", mode_name(s->mode));
	printf("ring size      %llu bytes\n", (unsigned long long)s->ring_size);
	printf("max message    %u bytes\n", s->max_msg);
	bool latest = s->mode == IVSHMEM_TOPIC_LATEST;
	if (latest)
		printf("buffers        %u\n", s->buffers);
	/* Passive (read-only) subscribers of a latest topic take no slot. */
	printf("subscribers    %u in use of %u slot(s)%s\n", used, s->subscribers,
	       latest ? ", besides any passive ones" : "");
	if (!latest) /* a latest publisher never waits: nothing to time out */
		printf("stall timeout  %u ms\n", s->stall_timeout_ms);
	printf("publisher      %s (peer %d, epoch %u)\n", s->publisher_attached ? "attached" : "detached",
	       s->publisher_id, s->publisher_epoch);
	if (!latest)
		printf("tail           %llu\n", (unsigned long long)s->tail);
	printf("published      %llu\n", (unsigned long long)s->published);
	if (!latest) {
		printf("floor          %llu\n", (unsigned long long)s->floor);
		printf("evictions      %llu\n", (unsigned long long)s->evictions);
	}
	if (!used)
		return;
	/* HEAD: lossless, the byte index read up to; latest, the messages
	 * published when it took its last. */
	printf("%4s %-7s %5s %10s %10s %14s %12s %10s %10s\n", "SLOT", "STATE", "PEER", "PID", "EPOCH", "HEAD",
	       "RECEIVED", "LAG", "SKIPPED");
	for (unsigned i = 0; i < slots; i++) {
		const struct ivshmem_topic_sub_stat *u = &s->sub[i];
		if (u->state == IVSHMEM_TOPIC_SUB_FREE)
			continue;
		printf("%4u %-7s %5d %10u %10u %14llu %12llu %10llu %10llu\n", i, state_name(u->state), u->id,
		       u->pid, u->epoch, (unsigned long long)u->head, (unsigned long long)u->received,
		       (unsigned long long)u->lag, (unsigned long long)u->skipped);
	}
}

static int do_stat(struct topic_args *a, ivshmem_ep *ep)
{
	ivshmem_topic *t;
	struct ivshmem_topic_stat s;
	if (open_topic(a, ep, IVSHMEM_TOPIC_MONITOR, 0, &t, &s))
		return 1;
	ivshmem_topic_close(t);
	print_stat(a, &s);
	return 0;
}

int cmd_topic(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("expected create, pub, sub or stat");
	int k = 0;
	while (k < (int)IVS_ARRAY_SIZE(subs) && strcmp(argv[1], subs[k]))
		k++;
	if (k == (int)IVS_ARRAY_SIZE(subs))
		return cli_usage_error("unknown 'topic' command '%s': use create, pub, sub or stat", argv[1]);
	struct topic_args a;
	memset(&a, 0, sizeof(a));
	cli_opts_init(&a.o);
	if (parse(argc - 1, argv + 1, k, &a))
		return 1;
	if (k != SUB_SUB) /* only a subscriber sleeps on a doorbell */
		a.o.open.flags |= IVSHMEM_OPEN_NO_IRQ;
	if (k == SUB_STAT)
		a.o.open.flags |= IVSHMEM_OPEN_READONLY;
	ivshmem_ep *ep;
	if (cli_open(a.dev, &a.o, &ep))
		return 1;
	int rc;
	switch (k) {
	case SUB_CREATE:
		rc = do_create(&a, ep);
		break;
	case SUB_PUB:
		rc = do_pub(&a, ep);
		break;
	case SUB_SUB:
		rc = do_sub(&a, ep);
		break;
	default:
		rc = do_stat(&a, ep);
	}
	ivshmem_close(ep);
	return rc;
}
