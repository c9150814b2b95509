/* SPDX-License-Identifier: MIT */
#include "cli.h"

int bench_doorbell(int argc, char **argv)
{
	return cli_error("benchmark 'doorbell' is not available in this build yet");
}
