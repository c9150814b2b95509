/* SPDX-License-Identifier: MIT */
#include "cli.h"

int bench_daemon(int argc, char **argv)
{
	return cli_error("benchmark 'daemon' is not available in this build yet");
}
