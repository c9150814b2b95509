/* SPDX-License-Identifier: MIT */
/* `ivshmem`: git-style front end.  Each subcommand lives in cmd-*.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"


static const struct cli_cmd commands[] = {
	{"list", cmd_list, "list [--json]", "list IVSHMEM devices"},
	{"info", cmd_info, "info DEV [--json] [--backend B] [--cache C]",
	 "BARs, peer ID, vectors, backend, cache mode"},
	{"read", cmd_read, "read DEV [--offset N] [--length N]", "shared memory to stdout"},
	{"write", cmd_write, "write DEV [--offset N]", "stdin into the shared memory"},
	{"ring", cmd_ring, "ring DEV PEER [VECTOR]", "ring a peer's doorbell"},
	{"wait", cmd_wait, "wait DEV [VECTOR] [--timeout SECONDS]",
	 "wait for an interrupt (exit 2 on timeout)"},
	{"bind", cmd_bind, "bind DEV [DRIVER] [--force]", "bind a PCI device to vfio-pci (or DRIVER)"},
	{"peers", cmd_peers, "peers server:SOCKET [--json]", "the peers of an ivshmem server"},
	{"server", cmd_server,
	 "server [-S SOCKET] [-M SHMNAME [--shm-reuse] | -m DIR] [-l SIZE] [-n VECTORS] [-F] [-p PIDFILE] [-v]\n"
	 "         [--socket-mode OCTAL] [--socket-owner USER] [--socket-group GROUP]\n"
	 "         [--max-peers N] [--greeting-timeout SECONDS] [--ids next|lowest] [--json-log]",
	 "run an ivshmem server that QEMU connects to"},
	{"daemon", cmd_daemon,
	 "daemon DEV [--socket PATH] [--config FILE] [--allow-user USER]... [--allow-group GROUP]...\n"
	 "         [--read-only] [--exclusive] [--allow-registers]\n"
	 "         [--ring-user USER]... [--ring-group GROUP]... [--ring | --no-ring]\n"
	 "         [--direct-user USER]... [--direct-group GROUP]... [--direct | --no-direct]\n"
	 "         [--max-clients N] [--max-clients-per-user N] [--backend vfio|sysfs|file] [--cache uc|wc|wb] [-v]",
	 "broker a device to unprivileged clients"},
	{"chan", cmd_chan,
	 "chan init DEV | chan list DEV [--json]\n"
	 "       chan create DEV NAME [--size N] [--max-message N]\n"
	 "       chan send DEV NAME [--raw] [--timeout SECONDS]\n"
	 "       chan recv DEV NAME [--count N] [--timeout SECONDS]\n"
	 "       chan stat DEV NAME [--json] | chan delete DEV NAME",
	 "message channels in shared memory"},
	{"topic", cmd_topic,
	 "topic create DEV NAME [--subscribers N] [--mode lossless|latest] [--size N] [--max-message N]\n"
	 "                    [--stall-timeout MS]\n"
	 "       topic pub DEV NAME [--raw] [--timeout SECONDS]\n"
	 "       topic sub DEV NAME [--count N] [--timeout SECONDS] [--from tail|oldest] [--read-only]\n"
	 "       topic stat DEV NAME [--json]",
	 "one-to-many message topics in shared memory"},
	{"bench", cmd_bench,
	 "bench doorbell [--json] [--iterations N] [--repetitions N]\n"
	 "       bench chan [--json] [--seconds N] [--runs N] [--no-pin] [--dev DEV]\n"
	 "       bench topic [--json] [--seconds N] [--runs N]\n"
	 "       bench daemon [--json] [--iterations N] [--repetitions N]\n"
	 "       bench mode [--json]",
	 "measure against sockets, pipes, eventfd, memcpy"},
};

const char *cli_prog = "ivshmem";
const struct cli_cmd *cli_current;

static void usage(FILE *f)
{
	fprintf(f, "usage: ivshmem COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nDEV: a PCI address (0000:00:04.0), auto, file:PATH, server:SOCKET or daemon:SOCKET\n"
		   "common options: --backend vfio|sysfs|file  --cache uc|wc|wb  --read-only  --json\n"
		   "sizes and offsets: decimal, 0x hex, K/M/G suffixes\n"
		   "environment: IVSHMEM_SYSFS_ROOT=/ABSOLUTE/DIR looks for PCI devices under it, not /sys\n"
		   "'ivshmem COMMAND --help' shows a command's usage.\n");
}

/* A closed stdin/stdout/stderr is a free descriptor number: the first file
 * the command opens (a file: region, a BAR) would land on it, and then
 * "stdout" is the shared memory.  Occupy each closed one with /dev/null
 * opened the wrong way round, so using it still fails (EBADF) as a closed
 * descriptor would. */
static int guard_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nfd = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
		if (nfd != fd) {
			if (nfd >= 0)
				close(nfd);
			return -1;
		}
	}
	return 0;
}

/* Output through stdio (info, list, ...) is only written at exit for a pipe
 * or a file: report a failure then, except a reader that went away.  A
 * command whose write(2) to stdout met a reader gone (cli_write_stdout:
 * 1 without a message) is done too: the reader had what it wanted
 * (ivshmem read ... | head -c 10, chan recv | head -n 1). */
static int finish(int rc)
{
	if (rc == 1 && cli_stdout_gone)
		rc = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EBADF && rc == 0)
			rc = cli_error("writing to stdout: it is closed: redirect it (e.g. > FILE)");
		else if (errno != EPIPE && rc == 0)
			rc = cli_error("writing to stdout: %s", strerror(errno ? errno : EIO));
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (guard_std_fds() < 0)
		return 1; /* no /dev/null: nowhere safe to say so */
	/* A reader that goes away (ivshmem read ... | head -c 10) is EPIPE,
	 * handled where stdout is written, not a signal that kills us. */
	signal(SIGPIPE, SIG_IGN);
	opterr = 0; /* option errors are reported by cli_bad_option() */
	/* The documented forms put options after DEV ("read DEV --offset N"):
	 * GNU getopt permutes them there, unless POSIXLY_CORRECT asks it to
	 * stop at the first operand, which would turn "--offset" into a DEV. */
	unsetenv("POSIXLY_CORRECT");
	if (argc < 2)
		return cli_error("no command given (see 'ivshmem --help')");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return finish(0);
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ivshmem %s\n", ivshmem_version());
		return finish(0);
	}
	/* The library ignores a relative root and uses /sys: a command meant
	 * for a test tree must not act on the real devices instead. */
	const char *root = getenv("IVSHMEM_SYSFS_ROOT");
	if (root && root[0] && root[0] != '/')
		return cli_error("IVSHMEM_SYSFS_ROOT=%s is not an absolute path: give an absolute one, or "
				 "unset it for /sys", root);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			cli_current = &commands[i];
			for (int a = 2; a < argc; a++) {
				if (!strcmp(argv[a], "--"))
					break;
				if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
					printf("usage: ivshmem %s\n", commands[i].usage);
					return finish(0);
				}
			}
			return finish(commands[i].run(argc - 1, argv + 1));
		}
	}
	return cli_error("unknown command '%s' (see 'ivshmem --help')", argv[1]);
}
