/* SPDX-License-Identifier: MIT */
/* ivshmem bench chan, the driver (chan.h has the parts): channels against a UNIX stream socket, a pipe, an
 * eventfd and plain memcpy, all measured in the same run between two
 * processes (fork).
 *
 *   throughput  64 B and 64 KiB messages (copy; zero copy for 64 KiB)
 *   round trip  ping-pong over two channels, polling and blocking, vs eventfd
 *   wakeups     doorbells (or futex wakes), both directions, per message at
 *               saturation
 *   memcpy      the same 64 KiB copies in one process: into a span of the
 *               region as large as the 64 KiB channel's ring (cache
 *               resident), and into a 256 MiB shared buffer (memory bound)
 *
 * Methodology: every measure is repeated --runs times, the repetitions are
 * interleaved (one of each per round) so a burst of foreign load hits all of
 * them alike, and the median is reported (round trips: median of each
 * run's p50 and p99).  When at least two CPUs are allowed, the two processes
 * are pinned to different CPUs.  The load average before and after and the
 * steal time are reported: on a shared machine the numbers are only
 * comparable within one run.
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

enum { OPT_SECONDS = CLI_OPT_FIRST_FREE, OPT_DEV, OPT_RUNS, OPT_NO_PIN };

#define RING_64B (1u << 20)
#define RING_64K_DEFAULT (4u << 20)
#define LARGE_SPAN (256u << 20)

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
	struct bench_server srv; /* for the doorbell round trip */
	ivshmem_ep *sep;	 /* holds the server's channels */
	const char *bell_note;	 /* why no doorbell round trip, or NULL */
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

/* The region (a 64 MiB file unless --dev) and its four channels. */
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
	/* The 64 KiB ring: IVS_BENCH_RING, else 4 MiB, halved to fit. */
	const char *env = getenv("IVS_BENCH_RING");
	size_t big_ring = env ? strtoul(env, NULL, 0) : RING_64K_DEFAULT;
	while (big_ring > 256 * 1024 && big_ring + (2u << 20) > ivshmem_mem_size(s->ep) / 2)
		big_ring >>= 1;
	int r = ivshmem_layout_init(s->ep);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "b64", RING_64B, CHAN_SMALL);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "b64k", big_ring, CHAN_BIG);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "ping", 64 * 1024, CHAN_SMALL);
	if (r == 0)
		r = ivshmem_chan_create(s->ep, "pong", 64 * 1024, CHAN_SMALL);
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
	size_t rsize = ivshmem_mem_size(s->ep);
	s->resident = rsize / 2 >= s->ring_64k ? (char *)ivshmem_mem(s->ep) + rsize / 2 : NULL;
	s->large = mmap(NULL, LARGE_SPAN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return 0;
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
	    ivshmem_chan_create(s->sep, "ping", 64 * 1024, CHAN_SMALL) == 0 &&
	    ivshmem_chan_create(s->sep, "pong", 64 * 1024, CHAN_SMALL) == 0)
		s->bell_note = NULL;
	return 0;
}

static void teardown(struct setup *s)
{
	if (s->large && s->large != MAP_FAILED)
		munmap(s->large, LARGE_SPAN);
	ivshmem_close(s->sep);
	bench_server_stop(&s->srv);
	ivshmem_close(s->ep);
	if (s->path[0])
		unlink(s->path);
}

/* One round: every measure once, in a fixed order, so a burst of foreign
 * load hits them all alike.  0, or 1 after a message. */
static int run_round(const struct chan_bench *b, struct chan_runs *r, char *resident, uint64_t ring_64k,
		     char *large)
{
	unsigned k = r->n;
	for (int t = 0; t < T_N; t++) {
		struct chan_tput_res x = {0};
		int e = chan_measure_tput(b, (enum chan_tput)t, &x);
		if (e)
			return e > 0 ? 1
				     : cli_error("throughput run '%s' failed (a child process died?)",
						 chan_tput_name((enum chan_tput)t));
		r->tput[t][k] = chan_tput_msg((enum chan_tput)t) == CHAN_SMALL ? x.msgs : x.bytes;
		r->wakeups[t][k] = x.wakeups_per_msg;
	}
	r->memcpy_resident[k] = resident ? chan_memcpy_rate(b, resident, ring_64k) : 0;
	r->memcpy_large[k] = large != MAP_FAILED ? chan_memcpy_rate(b, large, LARGE_SPAN) : 0;
	for (int t = 0; t < R_N; t++) {
		struct chan_rt_res x = {0};
		if (t == R_BELL && !r->bell_ok)
			continue;
		int e = chan_measure_rt(b, (enum chan_rt)t, &x);
		if (e > 0)
			return 1;
		if (e && t == R_BELL) {
			r->bell_ok = false;
			r->bell_note = "server run failed";
			continue;
		}
		if (e)
			return cli_error("round-trip run %d failed (a child process died?)", t);
		r->p50[t][k] = x.p50;
		r->p99[t][k] = x.p99;
		r->mean[t][k] = x.mean;
		if (t == R_BLOCK)
			r->sleeps[k] = x.sleeps_per_rt;
	}
	r->n++;
	return 0;
}

int bench_chan(int argc, char **argv)
{
	struct opts o = {0};
	if (parse(argc, argv, &o))
		return 1;
	struct setup s = {.srv = BENCH_SERVER_INIT, .large = MAP_FAILED};
	struct chan_bench b = {.secs = o.secs, .parent = getpid(), .keep_out = -1};
	bench_cpus_init(&b.cpus, o.pin);
	static struct chan_runs runs; /* ~40 KiB */
	runs = (struct chan_runs){0};
	int rc = setup_region(&o, &s);
	if (rc == 0)
		rc = setup_doorbells(&s);
	if (rc == 0) {
		b.ep = s.ep;
		b.keep_out = s.srv.stop;
		b.bell_spec = s.bell_note ? NULL : s.srv.spec;
		runs.bell_ok = !s.bell_note;
		runs.bell_note = s.bell_note;
		struct chan_setup info = {.kind = ivshmem_kind(s.ep), .secs = o.secs, .cpus = &b.cpus,
					  .pin_asked = o.pin, .ring_64b = RING_64B, .ring_64k = s.ring_64k};
		fflush(stdout);
		bench_machine_sample(&info.before);
		for (unsigned k = 0; rc == 0 && k < o.runs; k++)
			rc = run_round(&b, &runs, s.resident, s.ring_64k, s.large);
		bench_machine_sample(&info.after);
		if (rc == 0)
			rc = chan_report(&runs, &info, o.cli.json);
	}
	teardown(&s);
	bench_pin(&b.cpus, -1);
	return rc;
}
