/* SPDX-License-Identifier: MIT */
/* ivshmem bench WHAT: each benchmark measures the project and its
 * alternative in the same run and prints ratios. */
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} benches[] = {
	{"doorbell", bench_doorbell},
	{"chan", bench_chan},
	{"daemon", bench_daemon},
	{"topic", bench_topic},
	{"mode", bench_mode},
};

int cmd_bench(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("expected a benchmark: doorbell, chan, topic, daemon or mode");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (strcmp(argv[1], benches[i].name) == 0)
			return benches[i].run(argc - 1, argv + 1);
	return cli_usage_error("unknown benchmark '%s': use doorbell, chan, topic, daemon or mode", argv[1]);
}
