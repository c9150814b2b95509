/* SPDX-License-Identifier: MIT */
/* ivshmem bench mode: the machine's mode now (a cache-line ping-pong round
 * trip between two processes, pinned to two CPUs when two are allowed), for
 * benchmarks that run outside this program (python3 -m ivshmem.bench) to
 * report beside their figures, before and after. */
#include <getopt.h>
#include <stdio.h>

#include "bench/bench.h"
#include "cli/cli.h"

int bench_mode(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, CLI_OPT_JSON},
		{0},
	};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == CLI_OPT_JSON)
			json = true;
		else
			return cli_bad_option(argv);
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	double ns;
	if (bench_machine_mode("mode", &ns))
		return 1;
	if (json)
		printf("{\"benchmark\": \"mode\", \"pingpong_ns\": %.1f, \"mode\": \"%s\"}\n", ns,
		       bench_mode_name(ns));
	else
		printf("cache-line ping-pong round trip: %.0f ns: %s\n", ns, bench_mode_name(ns));
	return 0;
}
