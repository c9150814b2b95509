/* SPDX-License-Identifier: MIT */
/* Small internal helpers shared by every layer.  Internal names: ivs_*. */
#ifndef IVS_UTIL_H
#define IVS_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ivshmem.h"

#define IVS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define IVS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define IVS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Close fd if >= 0 and return -1, preserving errno: fd = ivs_close(fd); */
int ivs_close(int fd);

/* Read a whole small text file (sysfs attribute) into buf, NUL-terminated,
 * trailing newline stripped.  Returns length or -errno. */
ssize_t ivs_read_text(const char *path, char *buf, size_t size);
/* Write a string to a file (sysfs attribute).  0 or -errno. */
int ivs_write_text(const char *path, const char *s);
/* Parse a sysfs hex attribute like "0x1af4". 0 or -errno. */
int ivs_read_hex(const char *path, uint64_t *out);

/* pread/pwrite the whole buffer, retrying on EINTR and short counts.
 * Returns bytes done (short only at EOF) or -errno. */
ssize_t ivs_pread_all(int fd, void *buf, size_t len, off_t off);
ssize_t ivs_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* write() the whole buffer; 0 or -errno. */
int ivs_write_all(int fd, const void *buf, size_t len);

/* Monotonic clock in nanoseconds / milliseconds. */
uint64_t ivs_now_ns(void);
/* Remaining ms until deadline_ns (monotonic), >= 0; -1 if deadline is 0
 * (meaning "forever"). */
int ivs_remaining_ms(uint64_t deadline_ns);
/* Arm a CLOCK_MONOTONIC timerfd to fire once at deadline_ns (absolute, as
 * ivs_now_ns; a deadline of 0 still fires).  0 or -errno. */
int ivs_timerfd_at(int fd, uint64_t deadline_ns);

/* poll() one fd for events with a timeout, retrying EINTR with the remaining
 * time.  Returns revents (>0), 0 on timeout, -errno. */
int ivs_poll1(int fd, short events, int timeout_ms);

/* Put O_NONBLOCK on fd's file description if it lacks it (shared with
 * every holder: all of them want it). */
void ivs_set_nonblock(int fd);
/* New eventfd (non-blocking, cloexec).  fd or -errno. */
int ivs_eventfd(void);
/* read() that never sleeps, even if another holder of the file description
 * cleared O_NONBLOCK: RWF_NOWAIT (eventfds since Linux 5.12, pipes), else
 * only after poll() saw data.  Bytes read, 0 at EOF, -EAGAIN, -errno. */
ssize_t ivs_read_nowait(int fd, void *buf, size_t len);
/* Read and return an eventfd's counter (0 if nothing pending), never
 * sleeping (ivs_read_nowait). */
int64_t ivs_eventfd_drain(int fd);
/* Add 1 to an eventfd (a full counter: nothing, it is pending), re-setting
 * O_NONBLOCK if another holder cleared it.  0 or -errno. */
int ivs_eventfd_signal(int fd);

/* Connect to a UNIX socket (type SOCK_STREAM / SOCK_SEQPACKET; cloexec),
 * with connect() and later blocking sends bounded by timeout_ms.  fd,
 * -ETIMEDOUT, -ENAMETOOLONG or -errno (ENOENT, ECONNREFUSED, ...). */
int ivs_unix_connect(const char *path, int type, int timeout_ms);

/* The one place fds cross a socket (SCM_RIGHTS).
 * Send buf[0..len) in one sendmsg with fd attached (fd < 0: none); flags
 * are added to MSG_NOSIGNAL; EINTR is retried.  Bytes sent (a stream may
 * take fewer: the fd went with the first byte), or -errno (-EAGAIN when
 * the socket is full). */
ssize_t ivs_send_fd(int sock, const void *buf, size_t len, int fd, int flags);
/* Receive into buf (cap bytes) in one recvmsg (MSG_CMSG_CLOEXEC | flags;
 * EINTR retried), with room for as many fds as the kernel passes in one
 * message (SCM_MAX_FD), so none is dropped inside recvmsg, where its last
 * close could block.  The first fd goes to *fd (-1 if none) when fd is
 * not NULL; every other one is given to discard (NULL: close) and counted
 * in *extra (may be NULL).  *mflags (may be NULL) gets msg_flags
 * (MSG_TRUNC, MSG_CTRUNC).  Bytes (0: end of stream or an empty record),
 * or -errno (-EAGAIN), with no fd kept. */
ssize_t ivs_recv_fds(int sock, void *buf, size_t cap, int flags, int *fd, void (*discard)(int),
		     unsigned *extra, int *mflags);

/* Are all n bytes at p zero?  (Reserved fields of option structs.) */
bool ivs_all_zero(const void *p, size_t n);

/* System page size. */
size_t ivs_page_size(void);

/* snprintf that reports truncation as -ENAMETOOLONG; 0 on success. */
int ivs_path(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
