/* SPDX-License-Identifier: MIT */
/* ivshmem bench topic: one publisher fanning messages out to N subscriber
 * processes (N = 1, 2, 4, 8), 64 B and 64 KiB messages, three ways in the
 * same run:
 *
 *   topic     one ring, each message written once, every subscriber reads
 *             it in place (peek/release)
 *   channels  N channels: the publisher copies each message N times, each
 *             subscriber reads its own channel in place
 *   sockets   N UNIX SOCK_SEQPACKET pairs: one write per subscriber
 *
 * Every subscriber reads every byte (a checksum, checked at the end) and
 * checks each message's number.  "Delivered" is the messages all
 * subscribers received, divided by the time from the publisher's first
 * message to the last subscriber's end.  Every measure is repeated --runs
 * times, the repetitions interleaved; medians are reported.  The region is
 * a temporary file in /dev/shm ("file:"): on one host, sleepers wait on a
 * futex.  Processes are not pinned: up to nine share the machine's CPUs.
 *
 * Then, in the same run and region, latest mode against a raw seqlock,
 * with the machine's mode before and after: topic-latest.c. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/topic.h"
#include "cli/cli.h"
#include "util/util.h"

enum { OPT_SECONDS = CLI_OPT_FIRST_FREE, OPT_RUNS };
enum method { M_TOPIC, M_CHAN, M_SOCK, M_N };
static const char *const method_name[M_N] = {"topic", "N channels", "UNIX sockets"};
static const char *const method_key[M_N] = {"topic", "chan", "sock"};

#define NN 4
static const unsigned subs_of[NN] = {1, 2, 4, 8};
#define MAX_SUBS 8
#define NSIZE 2
static const size_t size_of[NSIZE] = {64, 65536};
static const uint64_t ring_of[NSIZE] = {1u << 20, 4u << 20};
#define REGION (64ull << 20)
#define WAIT_MS 5000 /* the bound on any one wait */

struct opts {
	double secs;
	unsigned runs;
	bool json;
};

/* What a subscriber reports through its pipe. */
struct sub_result {
	uint64_t msgs, bytes;
	uint64_t bad; /* messages with a wrong size, number or checksum */
	uint64_t end_ns;
	int err; /* the error that ended it other than the end (-EPIPE, EOF) */
};

/* One measure: delivered messages per second (all subscribers), and the
 * wakeups per message per subscriber (topic only). */
struct measure {
	double msgs_s, wakeups;
	bool ok;
};

static struct measure runs[NSIZE][NN][M_N][BENCH_MAX_RUNS];
static unsigned char payload[65536]; /* every message: its number, then this */
static uint64_t payload_sum[NSIZE];

static int parse(int argc, char **argv, struct opts *o)
{
	o->secs = 0.3;
	o->runs = 3;
	static const struct option longopts[] = {
		{"json", no_argument, NULL, CLI_OPT_JSON},
		{"seconds", required_argument, NULL, OPT_SECONDS},
		{"runs", required_argument, NULL, OPT_RUNS},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == CLI_OPT_JSON) {
			o->json = true;
		} else if (c == OPT_SECONDS) {
			int ms;
			if (cli_parse_seconds("seconds", optarg, &ms))
				return 1;
			o->secs = ms / 1000.0 > 0.02 ? ms / 1000.0 : 0.02;
		} else if (c == OPT_RUNS) {
			if (cli_parse_uint("runs", optarg, BENCH_MAX_RUNS, &o->runs))
				return 1;
			if (o->runs == 0)
				return cli_usage_error("--runs must be at least 1");
		} else {
			return cli_bad_option(argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument '%s' (usage: ivshmem bench topic [--json] "
				       "[--seconds N] [--runs N])", argv[optind]);
	return 0;
}

/* The checksum of a message's bytes after its number, as 64-bit words:
 * every byte is read. */
static uint64_t sum_words(const unsigned char *p, size_t n)
{
	uint64_t s = 0, w;
	for (size_t i = 8; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	return s;
}

/* A subscriber checks one message: its size, its number, its bytes. */
static void take(struct sub_result *res, const unsigned char *p, size_t n, size_t want, uint64_t sum)
{
	uint64_t seq;
	memcpy(&seq, p, 8);
	if (n != want || seq != res->msgs || sum_words(p, n) != sum)
		res->bad++;
	res->msgs++;
	res->bytes += n;
}

/* ---- subscribers (children) ------------------------------------------- */

/* A subscriber reading in place: a topic's or a channel's peek/release. */
struct zc_reader {
	void *h;
	ssize_t (*peek)(void *h, const void **p, int timeout_ms);
	int (*release)(void *h);
};

static ssize_t topic_peek(void *h, const void **p, int ms)
{
	return ivshmem_topic_peek(h, p, ms);
}

static int topic_release(void *h)
{
	return ivshmem_topic_release(h);
}

static ssize_t chan_peek(void *h, const void **p, int ms)
{
	return ivshmem_chan_peek(h, p, ms);
}

static int chan_release(void *h)
{
	return ivshmem_chan_release(h);
}

/* Take every message until the end (-EPIPE). */
static void drain(const struct zc_reader *rd, int si, struct sub_result *res)
{
	for (;;) {
		const void *p;
		ssize_t n = rd->peek(rd->h, &p, WAIT_MS);
		if (n == -EPIPE)
			break;
		if (n == -ECONNRESET)
			continue;
		if (n < 0) {
			res->err = (int)n;
			break;
		}
		take(res, p, (size_t)n, size_of[si], payload_sum[si]);
		if ((res->err = rd->release(rd->h)) < 0)
			break;
	}
}

static void sub_topic(ivshmem_ep *ep, const char *name, int si, struct sub_result *res)
{
	ivshmem_topic *t = NULL;
	if ((res->err = ivshmem_topic_open(ep, name, IVSHMEM_TOPIC_SUBSCRIBER, NULL, &t)) < 0)
		return;
	drain(&(struct zc_reader){t, topic_peek, topic_release}, si, res);
	ivshmem_topic_close(t);
}

static void sub_chan(ivshmem_ep *ep, const char *name, int si, struct sub_result *res)
{
	ivshmem_chan *c = NULL;
	if ((res->err = ivshmem_chan_open(ep, name, IVSHMEM_CHAN_CONSUMER, NULL, &c)) < 0)
		return;
	drain(&(struct zc_reader){c, chan_peek, chan_release}, si, res);
	ivshmem_chan_close(c);
}

static void sub_sock(int fd, int si, struct sub_result *res)
{
	unsigned char *buf = malloc(65536 + 1);
	if (!buf) {
		res->err = -ENOMEM;
		return;
	}
	for (;;) {
		ssize_t n = read(fd, buf, 65536 + 1);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			res->err = -errno;
			break;
		}
		take(res, buf, (size_t)n, size_of[si], payload_sum[si]);
	}
	free(buf);
}

/* ---- one measure ------------------------------------------------------ */

struct kids {
	pid_t pid[MAX_SUBS];
	int res[MAX_SUBS]; /* read end of each child's result pipe */
	int sock[MAX_SUBS][2];
	unsigned n;
};

static void kids_close(struct kids *k)
{
	for (unsigned i = 0; i < MAX_SUBS; i++) {
		if (k->res[i] >= 0)
			close(k->res[i]);
		for (int j = 0; j < 2; j++)
			if (k->sock[i][j] >= 0)
				close(k->sock[i][j]);
		k->res[i] = k->sock[i][0] = k->sock[i][1] = -1;
	}
}

/* Reap the subscribers, waiting up to ms for each (0: a failed measure,
 * kill them now: they may wait for a publisher that won't come). */
static void kids_reap(struct kids *k, int ms)
{
	kids_close(k);
	for (unsigned i = 0; i < k->n; i++)
		bench_reap(k->pid[i], ms);
	k->n = 0;
}

/* Fork subscriber i.  0, 1 after bench_fork's message, -1 (pipe). */
static int spawn(struct kids *k, unsigned i, ivshmem_ep *ep, enum method m, const char *name, int si)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t parent = getpid();
	pid_t pid = bench_fork("topic", "a subscriber");
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return 1;
	}
	if (pid == 0) {
		bench_child_signals();
		close(p[0]);
		struct sub_result res = {0};
		int mine = -1;
		if (m == M_SOCK) { /* keep only our end: EOF comes when the parent closes */
			mine = k->sock[i][1];
			for (unsigned j = 0; j < MAX_SUBS; j++) {
				if (k->sock[j][0] >= 0)
					close(k->sock[j][0]);
				if (j != i && k->sock[j][1] >= 0)
					close(k->sock[j][1]);
			}
		}
		for (unsigned j = 0; j < i; j++)
			close(k->res[j]);
		if (bench_child_bind(parent, -1) == 0) {
			if (m == M_TOPIC)
				sub_topic(ep, name, si, &res);
			else if (m == M_CHAN)
				sub_chan(ep, name, si, &res);
			else
				sub_sock(mine, si, &res);
		}
		res.end_ns = ivs_now_ns();
		_exit(write(p[1], &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	k->pid[i] = pid;
	k->res[i] = p[0];
	k->n = i + 1;
	return 0;
}

/* Until every subscriber has attached (topic: n live slots; channels:
 * each consumer attached).  true, or false after WAIT_MS. */
static bool attached(ivshmem_ep *ep, enum method m, int si, unsigned n)
{
	uint64_t deadline = ivs_now_ns() + (uint64_t)WAIT_MS * 1000000u;
	char name[32];
	for (;;) {
		unsigned live = 0;
		if (m == M_TOPIC) {
			static struct ivshmem_topic_stat st;
			ivshmem_topic *t = NULL;
			snprintf(name, sizeof(name), "t%d", si);
			if (ivshmem_topic_open(ep, name, IVSHMEM_TOPIC_MONITOR, NULL, &t) == 0 &&
			    ivshmem_topic_stat(t, &st) == 0)
				for (unsigned s = 0; s < st.subscribers; s++)
					live += st.sub[s].state == IVSHMEM_TOPIC_SUB_LIVE;
			ivshmem_topic_close(t);
		} else {
			for (unsigned i = 0; i < n; i++) {
				struct ivshmem_chan_stat st;
				ivshmem_chan *c = NULL;
				snprintf(name, sizeof(name), "c%d.%u", si, i);
				if (ivshmem_chan_open(ep, name, IVSHMEM_CHAN_MONITOR, NULL, &c) == 0 &&
				    ivshmem_chan_stat(c, &st) == 0)
					live += st.consumer_attached;
				ivshmem_chan_close(c);
			}
		}
		if (live >= n)
			return true;
		if (ivs_now_ns() >= deadline)
			return false;
		usleep(200); /* poll interval */
	}
}

/* Publish for secs: one message = its number + the payload. */
static int publish(ivshmem_ep *ep, enum method m, int si, unsigned n, double secs, struct kids *k,
		   uint64_t *count, uint64_t *start, double *wakeups)
{
	size_t len = size_of[si];
	ivshmem_topic *t = NULL;
	ivshmem_chan *c[MAX_SUBS] = {0};
	char name[32];
	int r = 0;
	if (m == M_TOPIC) {
		snprintf(name, sizeof(name), "t%d", si);
		r = ivshmem_topic_open(ep, name, IVSHMEM_TOPIC_PUBLISHER, NULL, &t);
	} else if (m == M_CHAN) {
		for (unsigned i = 0; i < n && r == 0; i++) {
			snprintf(name, sizeof(name), "c%d.%u", si, i);
			r = ivshmem_chan_open(ep, name, IVSHMEM_CHAN_PRODUCER, NULL, &c[i]);
		}
	}
	uint64_t t0 = ivs_now_ns(), end = t0 + (uint64_t)(secs * 1e9), seq = 0;
	*start = t0;
	while (r == 0) {
		if ((seq & 63) == 0 && ivs_now_ns() >= end)
			break;
		if (m == M_TOPIC) {
			void *p;
			if ((r = ivshmem_topic_reserve(t, len, &p, WAIT_MS)) == 0) {
				memcpy(p, &seq, 8);
				memcpy((char *)p + 8, payload + 8, len - 8);
				r = ivshmem_topic_commit(t, len);
			}
		} else if (m == M_CHAN) {
			for (unsigned i = 0; i < n && r == 0; i++) {
				void *p;
				if ((r = ivshmem_chan_reserve(c[i], len, &p, WAIT_MS)) == 0) {
					memcpy(p, &seq, 8);
					memcpy((char *)p + 8, payload + 8, len - 8);
					r = ivshmem_chan_commit(c[i], len);
				}
			}
		} else {
			memcpy(payload, &seq, 8);
			for (unsigned i = 0; i < n && r == 0; i++)
				if (write(k->sock[i][0], payload, len) != (ssize_t)len)
					r = -errno;
		}
		if (r == 0)
			seq++;
	}
	*count = seq;
	*wakeups = 0;
	if (m == M_TOPIC && r == 0) {
		static struct ivshmem_topic_stat st;
		if (ivshmem_topic_stat(t, &st) == 0 && seq) {
			uint64_t rings = st.rings;
			for (unsigned s = 0; s < st.subscribers; s++)
				rings += st.sub[s].state == IVSHMEM_TOPIC_SUB_LIVE ? st.sub[s].rings : 0;
			*wakeups = (double)rings / (double)seq / n;
		}
	}
	ivshmem_topic_close(t);
	for (unsigned i = 0; i < MAX_SUBS; i++)
		ivshmem_chan_close(c[i]);
	for (unsigned i = 0; i < n && m == M_SOCK; i++) { /* EOF for each subscriber */
		close(k->sock[i][0]);
		k->sock[i][0] = -1;
	}
	return r;
}

/* One measure of method m with n subscribers and size si.  0, 1 after a
 * message (a fork failed: the rest would fail too), -1 (failed: not
 * counted, after a message). */
static int measure(ivshmem_ep *ep, enum method m, int si, unsigned n, double secs, struct measure *out)
{
	struct kids k = {.n = 0};
	for (unsigned i = 0; i < MAX_SUBS; i++)
		k.res[i] = k.sock[i][0] = k.sock[i][1] = -1;
	for (unsigned i = 0; i < n && m == M_SOCK; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, k.sock[i]) < 0) {
			kids_close(&k);
			return cli_error("bench topic: socketpair: %s", strerror(errno)), -1;
		}
	char name[32];
	for (unsigned i = 0; i < n; i++) {
		if (m == M_TOPIC)
			snprintf(name, sizeof(name), "t%d", si);
		else
			snprintf(name, sizeof(name), "c%d.%u", si, i);
		int r = spawn(&k, i, ep, m, name, si);
		if (r) {
			kids_reap(&k, 0);
			return r > 0 ? 1 : (cli_error("bench topic: pipe: %s", strerror(errno)), -1);
		}
	}
	for (unsigned i = 0; i < n && m == M_SOCK; i++) {
		close(k.sock[i][1]);
		k.sock[i][1] = -1;
	}
	if (m != M_SOCK && !attached(ep, m, si, n)) {
		kids_reap(&k, 0);
		return cli_error("bench topic: %s: the subscribers did not attach within %d ms", method_name[m],
				 WAIT_MS), -1;
	}
	uint64_t count = 0, start = 0;
	double wakeups = 0;
	int r = publish(ep, m, si, n, secs, &k, &count, &start, &wakeups);
	uint64_t total = 0, last = start, bad = 0;
	int err = r;
	for (unsigned i = 0; i < n; i++) {
		struct sub_result res = {0};
		int pr = ivs_poll1(k.res[i], POLLIN, WAIT_MS * 2);
		if (pr <= 0 || read(k.res[i], &res, sizeof(res)) != (ssize_t)sizeof(res)) {
			err = err ? err : -ETIMEDOUT;
			continue;
		}
		if (res.err && !err)
			err = res.err;
		if (res.msgs != count || res.bad)
			bad += res.bad + (res.msgs != count);
		total += res.msgs;
		if (res.end_ns > last)
			last = res.end_ns;
	}
	kids_reap(&k, err ? 0 : WAIT_MS);
	if (err || bad)
		return cli_error("bench topic: %s, %u subscriber(s), %zu B: %s", method_name[m], n, size_of[si],
				 err ? strerror(-err) : "a subscriber got wrong or missing messages"),
		       -1;
	out->msgs_s = last > start ? (double)total / ((double)(last - start) / 1e9) : 0;
	out->wakeups = wakeups;
	out->ok = true;
	return 0;
}

/* ---- set-up, report --------------------------------------------------- */

static int setup(char *path, size_t plen, ivshmem_ep **ep)
{
	snprintf(path, plen, "/dev/shm/ivshmem-bench-topic-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		path[0] = 0;
		return cli_error("cannot create a file in /dev/shm: %s", strerror(errno));
	}
	int r = ftruncate(fd, (off_t)REGION);
	close(fd);
	if (r < 0)
		return cli_error("cannot size %s: %s", path, strerror(errno));
	char spec[96];
	snprintf(spec, sizeof(spec), "file:%s", path);
	struct ivshmem_open_opts oo = {.flags = IVSHMEM_OPEN_NO_IRQ};
	if ((r = ivshmem_open(spec, &oo, ep)) < 0)
		return cli_lib_error(spec, "open", r);
	unlink(path); /* mapped, and the children inherit the mapping */
	path[0] = 0;
	char name[32];
	for (int si = 0; si < NSIZE && r == 0; si++) {
		struct ivshmem_topic_config c = {.size = ring_of[si], .max_msg = size_of[si],
						 .subscribers = MAX_SUBS, .stall_timeout_ms = WAIT_MS};
		snprintf(name, sizeof(name), "t%d", si);
		r = ivshmem_topic_create(*ep, name, &c);
		for (unsigned i = 0; i < MAX_SUBS && r == 0; i++) {
			snprintf(name, sizeof(name), "c%d.%u", si, i);
			r = ivshmem_chan_create(*ep, name, ring_of[si], size_of[si]);
		}
	}
	if (r < 0)
		return cli_lib_error(spec, "set up the topics and channels in", r);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 7 + 3);
	for (int si = 0; si < NSIZE; si++)
		payload_sum[si] = sum_words(payload, size_of[si]);
	return 0;
}

struct summary {
	double med[NSIZE][NN][M_N], wake[NSIZE][NN];
};

static void summarize(const struct opts *o, struct summary *s)
{
	double v[BENCH_MAX_RUNS];
	for (int si = 0; si < NSIZE; si++)
		for (int ni = 0; ni < NN; ni++) {
			for (int m = 0; m < M_N; m++) {
				size_t k = 0;
				for (unsigned r = 0; r < o->runs; r++)
					if (runs[si][ni][m][r].ok)
						v[k++] = runs[si][ni][m][r].msgs_s;
				s->med[si][ni][m] = bench_median(v, k);
			}
			size_t k = 0;
			for (unsigned r = 0; r < o->runs; r++)
				if (runs[si][ni][M_TOPIC][r].ok)
					v[k++] = runs[si][ni][M_TOPIC][r].wakeups;
			s->wake[si][ni] = bench_max(v, k);
		}
}

/* The targets at N = 4 (index 2). */
#define N4 2

static void report_text(const struct opts *o, const struct summary *s, const struct bench_machine *m0,
			const struct bench_machine *m1)
{
	printf("ivshmem bench topic: file endpoint, 1 publisher and N subscriber processes, %u runs x %.2f s, "
	       "not pinned\n",
	       o->runs, o->secs);
	printf("load %.2f -> %.2f, steal %.1f%%; %ld CPUs online\n", m0->load1, m1->load1, bench_steal_pct(m0, m1),
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (int si = 0; si < NSIZE; si++) {
		bool big = size_of[si] > 64;
		printf("\n%s messages: delivered %s, all subscribers (median)\n", big ? "64 KiB" : "64 B",
		       big ? "B/s" : "msgs/s");
		printf("%3s %12s %12s %12s %12s %10s %10s %12s\n", "N", "topic", "per sub", "N channels", "UNIX sockets",
		       "topic/chan", "topic/sock", "wakeups/msg");
		for (int ni = 0; ni < NN; ni++) {
			double sc = big ? (double)size_of[si] : 1;
			const double *x = s->med[si][ni];
			printf("%3u %12.3g %12.3g %12.3g %12.3g %9.2fx %9.2fx %12.5f\n", subs_of[ni], x[M_TOPIC] * sc,
			       x[M_TOPIC] * sc / subs_of[ni], x[M_CHAN] * sc, x[M_SOCK] * sc,
			       bench_ratio(x[M_TOPIC], x[M_CHAN]), bench_ratio(x[M_TOPIC], x[M_SOCK]), s->wake[si][ni]);
		}
		printf("cost of more subscribers, topic: per-subscriber rate at N = 8 is %.2fx the one at N = 1 "
		       "(N channels %.2fx, sockets %.2fx)\n",
		       bench_ratio(s->med[si][3][M_TOPIC] / 8, s->med[si][0][M_TOPIC]),
		       bench_ratio(s->med[si][3][M_CHAN] / 8, s->med[si][0][M_CHAN]),
		       bench_ratio(s->med[si][3][M_SOCK] / 8, s->med[si][0][M_SOCK]));
	}
	printf("\ntargets at N = 4 (ratios of medians)\n");
	double worst = 0;
	for (int si = 0; si < NSIZE; si++) {
		const char *sz = size_of[si] > 64 ? "64 KiB" : "64 B";
		double rs = bench_ratio(s->med[si][N4][M_TOPIC], s->med[si][N4][M_SOCK]);
		double rc = bench_ratio(s->med[si][N4][M_TOPIC], s->med[si][N4][M_CHAN]);
		printf("  %-6s topic >= 5x the UNIX-socket fan-out      %7.2fx  %s\n", sz, rs,
		       rs >= 5 ? "met" : "NOT met");
		printf("  %-6s topic >= 1.5x the N-channel copy fan-out %7.2fx  %s\n", sz, rc,
		       rc >= 1.5 ? "met" : "NOT met");
		for (int ni = 0; ni < NN; ni++)
			worst = s->wake[si][ni] > worst ? s->wake[si][ni] : worst;
	}
	printf("  wakeups <= 0.01 per message per subscriber (worst N and size) %.5f  %s\n", worst,
	       worst <= 0.01 ? "met" : "NOT met");
	topic_latest_text();
}

static void report_json(const struct opts *o, const struct summary *s, const struct bench_machine *m0,
			const struct bench_machine *m1)
{
	printf("{\"benchmark\":\"topic\",\"endpoint\":\"file\",\"runs\":%u,\"seconds\":%.3f,\"load_before\":%.2f,"
	       "\"load_after\":%.2f,\"steal_pct\":%.2f,\"sizes\":{",
	       o->runs, o->secs, m0->load1, m1->load1, bench_steal_pct(m0, m1));
	for (int si = 0; si < NSIZE; si++) {
		printf("%s\"%zu\":{", si ? "," : "", size_of[si]);
		for (int ni = 0; ni < NN; ni++) {
			printf("%s\"%u\":{", ni ? "," : "", subs_of[ni]);
			for (int m = 0; m < M_N; m++)
				printf("\"%s_msgs_s\":%.6g,", method_key[m], s->med[si][ni][m]);
			printf("\"topic_per_sub_msgs_s\":%.6g,\"wakeups_per_msg_sub\":%.6g,\"ratio_topic_chan\":%.4f,"
			       "\"ratio_topic_sock\":%.4f}",
			       s->med[si][ni][M_TOPIC] / subs_of[ni], s->wake[si][ni],
			       bench_ratio(s->med[si][ni][M_TOPIC], s->med[si][ni][M_CHAN]),
			       bench_ratio(s->med[si][ni][M_TOPIC], s->med[si][ni][M_SOCK]));
		}
		printf("}");
	}
	printf("},");
	topic_latest_json();
	printf("}\n");
}

int bench_topic(int argc, char **argv)
{
	struct opts o = {0};
	if (parse(argc, argv, &o))
		return 1;
	char path[64] = "";
	ivshmem_ep *ep = NULL;
	int rc = setup(path, sizeof(path), &ep);
	struct bench_machine m0, m1;
	bench_machine_sample(&m0);
	/* Interleaved: one of each measure per round. */
	for (unsigned r = 0; rc == 0 && r < o.runs; r++)
		for (int si = 0; rc == 0 && si < NSIZE; si++)
			for (int ni = 0; rc == 0 && ni < NN; ni++)
				for (int m = 0; rc == 0 && m < M_N; m++) {
					int e = measure(ep, (enum method)m, si, subs_of[ni], o.secs, &runs[si][ni][m][r]);
					if (e)
						rc = 1;
				}
	if (rc == 0)
		rc = topic_latest_run(ep, o.secs, o.runs);
	bench_machine_sample(&m1);
	if (rc == 0) {
		static struct summary s;
		summarize(&o, &s);
		if (o.json)
			report_json(&o, &s, &m0, &m1);
		else
			report_text(&o, &s, &m0, &m1);
	}
	ivshmem_close(ep);
	if (path[0])
		unlink(path);
	return rc;
}
