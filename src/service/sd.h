/* SPDX-License-Identifier: MIT */
/* The two protocols a service manager (systemd, or anything speaking them:
 * systemd-socket-activate, s6, dinit) offers a service, spoken without
 * libsystemd:
 *   - sockets passed at start (sd_listen_fds(3)): LISTEN_PID is our pid,
 *     LISTEN_FDS counts fds from 3 on (LISTEN_FDNAMES names them);
 *   - readiness (sd_notify(3)): a datagram "READY=1" or "STOPPING=1" to
 *     the UNIX socket named by NOTIFY_SOCKET (a path, or "@" for an
 *     abstract name).
 * Both variables come from whoever started us: only what they can do to
 * us is at stake (a user running the service gives it its environment
 * anyway), and nothing here blocks or follows them anywhere else.
 * Not thread-safe (they read and change the environment): call from the
 * main thread before starting others. */
#ifndef IVS_SERVICE_SD_H
#define IVS_SERVICE_SD_H

#define IVS_SD_LISTEN_FDS_START 3
#define IVS_SD_LISTEN_FDS_MAX 64 /* more is a mistake, not a service */

/* The sockets passed to this process: *n of them, fds 3 .. 3 + *n - 1, set
 * close-on-exec.  The three LISTEN_ variables are removed from the
 * environment either way (a child must not take them for its own).  As
 * sd_listen_fds(3): 0 with *n = 0 if none were passed to us (no LISTEN_PID,
 * LISTEN_PID another process's, or no LISTEN_FDS); -EINVAL if LISTEN_PID,
 * or our LISTEN_FDS, is not a decimal number, -E2BIG if LISTEN_FDS is over
 * IVS_SD_LISTEN_FDS_MAX, -EBADF if one of the fds is not open. */
int ivs_sd_listen_fds(unsigned *n);

/* Tell the service manager STATE ("READY=1", "STOPPING=1", ...), without
 * blocking.  1 sent, 0 no NOTIFY_SOCKET (nobody asked), -EINVAL (not a
 * socket address), -errno (sendto). */
int ivs_sd_notify(const char *state);

#endif
