/* SPDX-License-Identifier: MIT */
#include "cli.h"

int cmd_bench(int argc, char **argv)
{
	return cli_error("'bench' is not available in this build yet");
}
