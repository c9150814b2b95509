/* SPDX-License-Identifier: MIT */
#include "cli.h"

int cmd_chan(int argc, char **argv)
{
	return cli_error("'chan' is not available in this build yet");
}
