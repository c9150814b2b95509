/* SPDX-License-Identifier: MIT */
#include "cli.h"

int cmd_peers(int argc, char **argv)
{
	return cli_error("'peers' is not available in this build yet");
}
