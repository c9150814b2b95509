/* SPDX-License-Identifier: MIT */
#include "cli.h"

int cmd_server(int argc, char **argv)
{
	return cli_error("'server' is not available in this build yet");
}
