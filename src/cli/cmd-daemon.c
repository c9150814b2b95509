/* SPDX-License-Identifier: MIT */
#include "cli.h"

int cmd_daemon(int argc, char **argv)
{
	return cli_error("'daemon' is not available in this build yet");
}
