/* SPDX-License-Identifier: MIT */
#include "cli.h"

int bench_chan(int argc, char **argv)
{
	return cli_error("benchmark 'chan' is not available in this build yet");
}
