/* SPDX-License-Identifier: MIT */
/* The benchmarks' options and their child processes: forking, signals,
 * reaping.  See bench.h. */
#include "bench/bench.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

enum { OPT_ITER = CLI_OPT_FIRST_FREE, OPT_REPS };

int bench_parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, CLI_OPT_JSON},
		{"iterations", required_argument, NULL, OPT_ITER},
		{"repetitions", required_argument, NULL, OPT_REPS},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == CLI_OPT_JSON)
			o->json = true;
		else if (c == OPT_ITER) {
			if (cli_parse_uint("iterations", optarg, 10000000, &o->iters))
				return 1;
		} else if (c == OPT_REPS) {
			if (cli_parse_uint("repetitions", optarg, 1000, &o->reps))
				return 1;
		} else
			return cli_bad_option(argv);
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (o->iters == 0 || o->reps == 0)
		return cli_usage_error("iterations and repetitions must be at least 1");
	return 0;
}

void bench_child_signals(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
}

int bench_child_bind(pid_t parent, int fd)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		return -1;
	if (fd >= 0)
		close(fd);
	return 0;
}

pid_t bench_fork(const char *name, const char *who)
{
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		const char *way = e == EAGAIN ? " (raise the process limit, ulimit -u)"
				  : e == ENOMEM ? " (free some memory)" : "";
		cli_error("bench %s: cannot start %s: fork: %s%s", name, who, strerror(e), way);
		errno = e;
	}
	return pid;
}

int bench_reap(pid_t pid, int ms)
{
	if (pid <= 0)
		return -1;
	int st;
	uint64_t deadline = ivs_now_ns() + (uint64_t)ms * 1000000ull;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1; /* not our child: nothing to kill */
		if (ivs_now_ns() >= deadline)
			break;
		usleep(2000);
	}
	kill(pid, SIGKILL);
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	return r == pid ? st : -1;
}
