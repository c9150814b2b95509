/* SPDX-License-Identifier: MIT */
/* ivshmem bench chan, the driver (chan.h has the parts): channels against
 * the hardware's floors and against a UNIX stream socket, a pipe and an
 * eventfd, all measured in the same run between the same two processes
 * (fork) on the same CPUs.
 *
 *   floors      raw SPSC rings of fixed slots in the same memory (64 B, with
 *               the consumer polling as the channel's in the measure it is
 *               the floor of; 64 KiB written and read in place), a raw
 *               cache-line round trip and a 64 B round trip through two raw
 *               rings (chan-floor.c); memcpy in one process, for information
 *   throughput  64 B messages (blocking consumer; consumer polling with
 *               timeout 0) and 64 KiB ones (copy; zero copy)
 *   round trip  ping-pong over two channels, polling and blocking, vs eventfd
 *   wakeups     doorbells (or futex wakes), both directions, per message at
 *               saturation
 *   ring sizes  the 64 KiB channel zero copy and copying with rings of 256
 *               KiB to 8 MiB, the library's default (1 MiB here) among
 *               them, at the end of every round: the default's figures and
 *               the best size tried, per mode
 * Every consumer, channel, socket, pipe and floor alike, reads every byte
 * it receives (a checksum) and checks each message's number.  Round trips
 * are timed in batches (chan.h), not with a clock read each.
 *
 * Methodology: every measure is repeated --runs times, the repetitions are
 * interleaved (one of each per round, each floor next to what it is the
 * floor of) so a burst of foreign load hits all of them alike.  The machine
 * is bimodal (a cache-line round trip of ~110 or ~510 ns, changing every
 * few seconds to minutes): a short cache-line ping-pong before the first
 * measure of a round and after every measure gives each measure its mode;
 * one whose mode changed is flagged and left out of the medians, which are
 * taken per mode over the runs that stayed in it.  When at least two CPUs
 * are allowed, the two processes are pinned to different CPUs (not for the
 * blocking round trips: see chan-measure.c).  The load average before and
 * after and the steal time are reported: on a shared machine the numbers
 * are only comparable within one run.
 *
 * By default the region is a temporary file in /dev/shm ("file:"), where
 * blocking mode sleeps on a futex.  Blocking mode is also measured with real
 * doorbells between two "server:" peers of a server child.
 * --dev DEV runs on any endpoint instead (a guest's PCI device): its
 * channel layout is FORMATTED (contents destroyed). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/chan.h"
#include "cli/cli.h"
#include "util/util.h"

enum { OPT_SECONDS = CLI_OPT_FIRST_FREE, OPT_DEV, OPT_RUNS, OPT_NO_PIN };

#define RING_64B (1u << 20)
#define LARGE_SPAN (256u << 20)
/* Each mode probe: batches of 100 cache-line round trips (2x10^4). */
#define PROBE_BATCHES 200

struct opts {
	struct cli_opts cli;
	const char *dev; /* NULL: a temporary file in /dev/shm */
	double secs;
	unsigned runs;
	bool pin;
};

/* Everything set up, and undone by teardown() whatever was reached. */
struct setup {
	char path[64];		 /* the temporary region file, "" if --dev */
	char spec[128];		 /* "file:PATH" */
	ivshmem_ep *ep;		 /* the region */
	uint64_t ring_64k;	 /* the 64 KiB channel's ring as created */
	char *resident;		 /* a ring-sized span of the region, or NULL */
	char *large;		 /* LARGE_SPAN of shared memory, or MAP_FAILED */
	char *floor;		 /* the floors' memory */
	char *anon;		 /* floor when the region has no room for it, or MAP_FAILED */
	size_t anon_size;
	const char *floor_where;
	struct bench_server srv; /* for the doorbell round trip */
	ivshmem_ep *sep;	 /* holds the server's channels */
	const char *bell_note;	 /* why no doorbell round trip, or NULL */
	struct chan_sweep sweep; /* the 64 KiB channels by ring size */
};

static int parse(int argc, char **argv, struct opts *o)
{
	cli_opts_init(&o->cli);
	o->secs = 0.5;
	o->runs = 5;
	o->pin = true;
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"seconds", required_argument, NULL, OPT_SECONDS},
		{"runs", required_argument, NULL, OPT_RUNS},
		{"no-pin", no_argument, NULL, OPT_NO_PIN},
		{"dev", required_argument, NULL, OPT_DEV},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?')
			return cli_bad_option(argv);
		if (c == OPT_SECONDS) {
			int ms;
			if (cli_parse_seconds("seconds", optarg, &ms))
				return 1;
			o->secs = ms / 1000.0 > 0.05 ? ms / 1000.0 : 0.05;
		} else if (c == OPT_RUNS) {
			if (cli_parse_uint("runs", optarg, BENCH_MAX_RUNS, &o->runs))
				return 1;
			if (o->runs == 0)
				return cli_usage_error("--runs must be at least 1");
		} else if (c == OPT_NO_PIN) {
			o->pin = false;
		} else if (c == OPT_DEV) {
			o->dev = optarg;
		} else if (cli_common_opt(c, optarg, &o->cli)) {
			return 1;
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument '%s' (usage: ivshmem bench chan [--json] "
				       "[--seconds N] [--runs N] [--no-pin] [--dev DEV])", argv[optind]);
	return 0;
}

/* Where the channels end in the region (their blocks, with room for their
 * headers), or 0 if the table cannot be read. */
static uint64_t channels_end(ivshmem_ep *ep)
{
	struct ivshmem_chan_info ci[16];
	int n = ivshmem_chan_list(ep, ci, IVS_ARRAY_SIZE(ci));
	if (n < 0 || (size_t)n > IVS_ARRAY_SIZE(ci))
		return 0;
	uint64_t end = 0;
	for (int i = 0; i < n; i++)
		if (ci[i].offset + ci[i].ring_size > end)
			end = ci[i].offset + ci[i].ring_size;
	return end + (64u << 10);
}

/* The memory past the channels (from the middle of the region on, at
 * least): a ring-sized span for memcpy and the floors' rings, which are
 * then in the same memory as the channels; the floors go to an anonymous
 * shared mapping if there is no room.  And the 256 MiB memcpy span.  0, or
 * 1 after a message. */
static int setup_spare(struct setup *s, const char *dev)
{
	size_t rsize = ivshmem_mem_size(s->ep);
	uint64_t used = channels_end(s->ep), from = rsize / 2;
	if (!used)
		return cli_error("bench chan: cannot read back the channel table of %s", dev);
	if (used > from)
		from = (used + 4095) & ~(uint64_t)4095;
	char *spare = from < rsize ? (char *)ivshmem_mem(s->ep) + from : NULL;
	size_t room = from < rsize ? rsize - from : 0;
	size_t need = chan_floor_bytes(RING_64B, s->ring_64k);
	s->resident = room >= s->ring_64k ? spare : NULL;
	s->floor = spare;
	s->floor_where = "the region, past the channels";
	if (room < need) {
		s->anon_size = need;
		s->anon = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (s->anon == MAP_FAILED)
			return cli_error("bench chan: cannot map %zu bytes for the floors: %s", need, strerror(errno));
		s->floor = s->anon;
		s->floor_where = "an anonymous shared mapping (no room in the region)";
	}
	memset(s->floor, 0, need); /* fault it in before it is timed */
	s->large = mmap(NULL, LARGE_SPAN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return 0;
}

/* The 64 KiB channels of the sizes in CHAN_SWEEP_RINGS, each tried when
 * the region's channels still end in its first half with it (the floors and
 * memcpy's span stay in the region), and the main one's (b64k, of the
 * library's default size unless IVS_BENCH_RING).  0 or -errno. */
static int setup_sweep(struct setup *s)
{
	static const uint64_t rings[] = CHAN_SWEEP_RINGS;
	struct chan_sweep *w = &s->sweep;
	bool have_main = false;
	for (size_t i = 0; i < IVS_ARRAY_SIZE(rings); i++) {
		uint64_t ring = rings[i];
		if (!have_main && ring >= s->ring_64k) {
			w->main = w->n;
			w->ring[w->n] = s->ring_64k;
			snprintf(w->name[w->n++], sizeof(w->name[0]), "b64k");
			have_main = true;
			if (ring == s->ring_64k)
				continue;
		}
		if (channels_end(s->ep) + ring > ivshmem_mem_size(s->ep) / 2)
			continue;
		snprintf(w->name[w->n], sizeof(w->name[0]), "k%llu", (unsigned long long)ring >> 10);
		int r = ivshmem_chan_create(s->ep, w->name[w->n], ring, CHAN_BIG);
		if (r == -ENOSPC)
			continue;
		if (r < 0)
			return r;
		w->ring[w->n++] = ring;
	}
	if (!have_main) {
		w->main = w->n;
		w->ring[w->n] = s->ring_64k;
		snprintf(w->name[w->n++], sizeof(w->name[0]), "b64k");
	}
	return 0;
}

/* The region (a 64 MiB file unless --dev), its four channels and the ring
 * sizes' channels. */
static int setup_region(struct opts *o, struct setup *s)
{
	const char *dev = o->dev;
	if (!dev) {
		snprintf(s->path, sizeof(s->path), "/dev/shm/ivshmem-bench-XXXXXX");
		int fd = mkstemp(s->path);
		if (fd < 0) {
			s->path[0] = 0;
			return cli_error("cannot create a file in /dev/shm: %s", strerror(errno));
		}
		int r = ftruncate(fd, (off_t)(64ull << 20));
		close(fd);
		if (r < 0)
			return cli_error("cannot size %s: %s", s->path, strerror(errno));
		snprintf(s->spec, sizeof(s->spec), "file:%s", s->path);
		dev = s->spec;
	}
	o->cli.open.flags |= IVSHMEM_OPEN_NO_IRQ;
	if (cli_open(dev, &o->cli, &s->ep))
		return 1;
	/* Mapped (the children inherit the mapping): the name can go now, so
	 * that nothing is left even if this process is killed. */
	if (s->path[0])
		unlink(s->path);
	/* The 64 KiB ring: the library's default (what a user gets), or
	 * IVS_BENCH_RING halved to fit. */
	const char *env = getenv("IVS_BENCH_RING");
	size_t big_ring = env ? strtoul(env, NULL, 0) : 0;
	while (big_ring > 256 * 1024 && big_ring + (2u << 20) > ivshmem_mem_size(s->ep) / 2)
		big_ring >>= 1;
	int r = ivshmem_layout_init(s->ep);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "b64", RING_64B, CHAN_SMALL);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "b64k", big_ring, CHAN_BIG);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "ping", CHAN_RT_RING, CHAN_SMALL);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "pong", CHAN_RT_RING, CHAN_SMALL);
	if (r < 0)
		return r == -ENOSPC ? cli_error("%s is too small for the benchmark (needs ~1.5 MiB plus 4x64 "
						"KiB rings)", dev)
				    : cli_lib_error(dev, "set up channels in", r);
	struct ivshmem_chan_opts mo = {0};
	struct ivshmem_chan_stat st;
	ivshmem_chan *m = NULL;
	r = ivshmem_chan_open(s->ep, "b64k", IVSHMEM_CHAN_MONITOR, &mo, &m);
	if (r == 0)
		r = ivshmem_chan_stat(m, &st);
	ivshmem_chan_close(m);
	if (r < 0)
		return cli_lib_error(dev, "read back the 64 KiB channel in", r);
	s->ring_64k = st.ring_size;
	s->sweep.lib_default = !env;
	if ((r = setup_sweep(s)) < 0)
		return cli_lib_error(dev, "set up the ring sizes' channels in", r);
	return setup_spare(s, dev);
}

/* The doorbell round trip's server (its own region with ping and pong), on
 * the default region only.  1 only after bench_fork failed (the rest would
 * fail too); otherwise bell_note says why the round trip won't be measured
 * (after a message on stderr when no server could be made). */
static int setup_doorbells(struct setup *s)
{
	if (!s->path[0]) {
		s->bell_note = "not measured (--dev given)";
		return 0;
	}
	s->bell_note = "no server: see the message above";
	s->srv.size = 4u << 20;
	if (bench_tmpdir(&s->srv, "chan"))
		return 0;
	int r = bench_server_start(&s->srv);
	if (r == 2)
		return 1; /* no process to spare: the rest would fail too */
	if (r)
		return 0;
	s->bell_note = "the server's channels could not be set up";
	if (ivshmem_open(s->srv.spec, NULL, &s->sep) == 0 && ivshmem_layout_init(s->sep) == 0 &&
	    ivshmem_chan_create(s->sep, "ping", CHAN_RT_RING, CHAN_SMALL) == 0 &&
	    ivshmem_chan_create(s->sep, "pong", CHAN_RT_RING, CHAN_SMALL) == 0)
		s->bell_note = NULL;
	return 0;
}

static void teardown(struct setup *s)
{
	if (s->large && s->large != MAP_FAILED)
		munmap(s->large, LARGE_SPAN);
	if (s->anon && s->anon != MAP_FAILED)
		munmap(s->anon, s->anon_size);
	ivshmem_close(s->sep);
	bench_server_stop(&s->srv);
	ivshmem_close(s->ep);
	if (s->path[0])
		unlink(s->path);
}

/* The machine's mode: a short cache-line ping-pong between the machine's
 * first two CPUs (the parent unpinned for it, pinned back after).  0, or 1
 * after a message. */
static int probe(const struct chan_bench *b, double *ns)
{
	bench_pin(&b->cpus, -1);
	int r = bench_machine_probe("chan", PROBE_BATCHES, b->keep_out, ns);
	bench_pin(&b->cpus, 0);
	return r ? 1 : 0;
}

/* After measure v: the mode probe pr[*np] (the one before it is
 * pr[*np - 1]), v's modes, v measured or not.  0, or 1 after a message. */
static int probe_after(const struct chan_bench *b, double *pr, unsigned *np, struct chan_val *v)
{
	if (probe(b, &pr[*np]))
		return 1;
	v->mode[0] = pr[*np - 1];
	v->mode[1] = pr[*np];
	v->ok = v->v > 0;
	(*np)++;
	return 0;
}

/* One round: every measure once, in a fixed order, so a burst of foreign
 * load hits them all alike; the machine's mode before the first and after
 * each.  0, or 1 after a message. */
static int run_round(const struct chan_bench *b, struct chan_runs *r)
{
	unsigned k = r->n, np = 0;
	double *pr = r->probe[k];
	if (probe(b, &pr[np++]))
		return 1;
	for (int m = 0; m < CM_N; m++) {
		if (m == CM_RT_BELL && !r->bell_ok)
			continue;
		struct chan_val *v = &r->v[m][k];
		*v = (struct chan_val){0};
		int e = chan_measure(b, (enum chan_m)m, v);
		if (e > 0)
			return 1;
		if (e < 0 && m == CM_RT_BELL) {
			r->bell_ok = false;
			r->bell_note = "a run failed";
			continue;
		}
		if (e < 0)
			return cli_error("bench chan: %s failed: %s (a child process died?)",
					 chan_m_info((enum chan_m)m)->name, strerror(-e));
		if (probe_after(b, pr, &np, v))
			return 1;
	}
	for (unsigned i = 0; i < b->sweep->n; i++)
		for (int w = 0; w < SW_N; w++) {
			struct chan_val *v = &r->sweep[i][w][k];
			*v = (struct chan_val){0};
			int e = chan_measure_ring(b, w, i, v);
			if (e > 0)
				return 1;
			if (e < 0)
				return cli_error("bench chan: the 64 KiB channel with a %llu KiB ring (%s) failed: %s",
						 (unsigned long long)b->sweep->ring[i] >> 10,
						 w == SW_ZC ? "zero copy" : "copy", strerror(-e));
			if (probe_after(b, pr, &np, v))
				return 1;
		}
	r->probes[k] = np;
	r->n++;
	return 0;
}

int bench_chan(int argc, char **argv)
{
	struct opts o = {0};
	if (parse(argc, argv, &o))
		return 1;
	struct setup s = {.srv = BENCH_SERVER_INIT, .large = MAP_FAILED, .anon = MAP_FAILED};
	struct chan_bench b = {.secs = o.secs, .parent = getpid(), .keep_out = -1};
	bench_cpus_init(&b.cpus, o.pin);
	static struct chan_runs runs; /* ~100 KiB */
	runs = (struct chan_runs){0};
	int rc = setup_region(&o, &s);
	if (rc == 0)
		rc = setup_doorbells(&s);
	if (rc == 0) {
		b.ep = s.ep;
		b.keep_out = s.srv.stop;
		b.ring_64b = RING_64B;
		b.ring_64k = s.ring_64k;
		b.floor = s.floor;
		b.resident = s.resident;
		b.large = s.large != MAP_FAILED ? s.large : NULL;
		b.large_span = LARGE_SPAN;
		b.sweep = &s.sweep;
		b.bell_spec = s.bell_note ? NULL : s.srv.spec;
		runs.bell_ok = !s.bell_note;
		runs.bell_note = s.bell_note;
		struct chan_setup info = {.kind = ivshmem_kind(s.ep), .secs = o.secs, .cpus = &b.cpus,
					  .pin_asked = o.pin, .ring_64b = RING_64B, .ring_64k = s.ring_64k,
					  .sweep = &s.sweep, .floor_where = s.floor_where, .probe_batches = PROBE_BATCHES};
		fflush(stdout);
		bench_machine_sample(&info.before);
		for (unsigned k = 0; rc == 0 && k < o.runs; k++)
			rc = run_round(&b, &runs);
		bench_machine_sample(&info.after);
		if (rc == 0)
			rc = chan_report(&runs, &info, o.cli.json);
	}
	teardown(&s);
	bench_pin(&b.cpus, -1);
	return rc;
}
