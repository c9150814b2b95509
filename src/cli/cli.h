/* SPDX-License-Identifier: MIT */
/* Shared pieces of the `ivshmem` command: the command table, option parsing,
 * and error reporting.  The tool owns every message; the library only
 * returns -errno. */
#ifndef IVS_CLI_H
#define IVS_CLI_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ivshmem.h"

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *usage;
	const char *summary;
};

/* The subcommands, one file each (cmd-NAME.c). */
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_ring(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_bind(int argc, char **argv);
int cmd_peers(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_chan(int argc, char **argv);
int cmd_topic(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* Benchmarks behind `ivshmem bench` (bench-NAME.c). */
int bench_doorbell(int argc, char **argv);
int bench_chan(int argc, char **argv);
int bench_daemon(int argc, char **argv);
int bench_topic(int argc, char **argv);
int bench_mode(int argc, char **argv);

/* Options every device command accepts. */
struct cli_opts {
	struct ivshmem_open_opts open;
	bool json;
};

/* Long options shared by device commands: add CLI_COMMON_LONGOPTS to a
 * getopt_long table and pass unknown codes to cli_common_opt(). */
enum {
	CLI_OPT_BACKEND = 0x1000,
	CLI_OPT_CACHE,
	CLI_OPT_JSON,
	CLI_OPT_READONLY,
	CLI_OPT_FIRST_FREE,
};
#define CLI_COMMON_LONGOPTS                                                                        \
	{"backend", required_argument, NULL, CLI_OPT_BACKEND},                                     \
	{"cache", required_argument, NULL, CLI_OPT_CACHE},                                         \
	{"json", no_argument, NULL, CLI_OPT_JSON},                                                 \
	{"read-only", no_argument, NULL, CLI_OPT_READONLY}

void cli_opts_init(struct cli_opts *o);
/* Handle a common option; returns 0, or 1 after printing an error. */
int cli_common_opt(int c, const char *arg, struct cli_opts *o);
/* Parse argv for a command that takes only the common options; the
 * operands start at optind.  Returns 0, or 1 after printing an error. */
int cli_parse_common(int argc, char **argv, struct cli_opts *o);

extern const char *cli_prog; /* "ivshmem" */
extern const struct cli_cmd *cli_current;

/* Print "ivshmem: <msg>" on stderr; returns 1 (the exit status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus the command's usage line; returns 1. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A service's socket path must end in a file name (not "", "." or ".."):
 * 0, or 1 after a usage error naming the option. */
int cli_check_socket_path(const char *option, const char *path);
/* A service manager's protocols (service-manager.c).  listen_key is the .socket unit's
 * setting for the socket type the service serves ("ListenStream=").
 * The listening socket the service manager passed: *fd > 0 if one was, 0
 * if none; 0, or 1 after an error (bad LISTEN_ variables, more than one
 * socket).  Call once, before opening anything. */
int cli_passed_socket(const char *listen_key, int *fd);
/* The error for a passed socket ivs_rt_socket_adopt refused with r; 1. */
int cli_passed_socket_error(int r, const char *listen_key);
/* An option naming the socket (path, may be NULL) with a socket passed
 * too: 0 if it names the one served (served: its absolute path), else 1
 * after a usage error. */
int cli_passed_socket_check(const char *option, const char *path, const char *served);
/* Tell the service manager state ("READY=1", "STOPPING=1") if it asked
 * (NOTIFY_SOCKET); a warning naming cmd on stderr if that fails. */
void cli_notify(const char *cmd, const char *state);
/* Report an unknown option / missing argument from getopt; returns 1. */
int cli_bad_option(char **argv);

/* Parse a size/offset (decimal, 0x, K/M/G); prints the error, returns 0/1. */
int cli_parse_u64(const char *what, const char *s, uint64_t *out);
/* Parse an unsigned int in [0, max]; prints the error, returns 0/1. */
int cli_parse_uint(const char *what, const char *s, unsigned max, unsigned *out);
/* Parse SECONDS (may be fractional) into milliseconds; 0/1. */
int cli_parse_seconds(const char *what, const char *s, int *ms);

/* Open DEV as an endpoint, printing a one-line error that names the cause
 * and the way out.  Returns 0 or 1. */
int cli_open(const char *dev, const struct cli_opts *o, ivshmem_ep **ep);

/* Describe a library error for DEV in an action ("ring", "map", ...). */
int cli_lib_error(const char *dev, const char *action, int err);

/* The messages on stdin of a sending command (chan send, topic pub): one
 * per line, without its newline, or with raw all of stdin as one message,
 * read up to max + 1 bytes so that a larger input shows.  Zero-initialise
 * with .raw and .max set; cli_input_free() at the end. */
struct cli_input {
	bool raw;
	size_t max;
	char *buf;     /* the message, valid until the next call */
	size_t cap;
	unsigned long n; /* messages read so far */
	bool done;
};
/* The next message: 1 and *len, 0 at the end, or 1 after an error message
 * (out of memory, a stdin error) with *len = SIZE_MAX. */
int cli_input_next(struct cli_input *in, size_t *len);
void cli_input_free(struct cli_input *in);

/* JSON string output with escaping. */
void cli_json_str(FILE *f, const char *s);

/* Write all bytes to stdout; 0, or 1 after an error message.  A reader that
 * went away (EPIPE) gives 1 without a message and sets cli_stdout_gone: the
 * command stops, and exits 0 (main's finish), as `ivshmem read | head`
 * should. */
int cli_write_stdout(const void *buf, size_t len);
extern bool cli_stdout_gone;

#endif
