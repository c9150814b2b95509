/* SPDX-License-Identifier: MIT */
#include "util/util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int ivs_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

ssize_t ivs_read_text(const char *path, char *buf, size_t size)
{
	if (size == 0)
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = ivs_pread_all(fd, buf, size - 1, 0);
	ivs_close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n;
}

int ivs_write_text(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t len = (ssize_t)strlen(s);
	ssize_t n;
	do
		n = write(fd, s, (size_t)len);
	while (n < 0 && errno == EINTR);
	int r = n < 0 ? -errno : (n == len ? 0 : -EIO);
	ivs_close(fd);
	return r;
}

int ivs_read_hex(const char *path, uint64_t *out)
{
	char buf[64];
	ssize_t n = ivs_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 16);
	if (errno || end == buf || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

ssize_t ivs_pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t ivs_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int ivs_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

uint64_t ivs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ivs_timerfd_at(int fd, uint64_t deadline_ns)
{
	struct itimerspec its = {
		.it_value = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
			     .tv_nsec = (long)(deadline_ns % 1000000000u)},
	};
	if (deadline_ns == 0)
		its.it_value.tv_nsec = 1; /* 0 would disarm */
	return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) == 0 ? 0 : -errno;
}

int ivs_remaining_ms(uint64_t deadline_ns)
{
	if (deadline_ns == 0)
		return -1;
	uint64_t now = ivs_now_ns();
	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int ivs_poll1(int fd, short events, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : ivs_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, ivs_remaining_ms(deadline));
		if (r > 0)
			return p.revents ? p.revents : events;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

void ivs_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int ivs_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

ssize_t ivs_read_nowait(int fd, void *buf, size_t len)
{
	struct iovec io = {buf, len};
	for (;;) {
		/* RWF_NOWAIT: never sleeps, whatever the file's O_NONBLOCK says.
		 * The flag lives in the file description, which every holder
		 * of the fd shares (a server's peers, a daemon's clients) and
		 * any of them may clear. */
		ssize_t n = preadv2(fd, &io, 1, -1, RWF_NOWAIT);
		if (n < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
			/* A kernel or file without it: read only what poll
			 * says is there (a race with another reader remains). */
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int r = poll(&p, 1, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -EAGAIN;
			n = read(fd, buf, len);
		}
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

int64_t ivs_eventfd_drain(int fd)
{
	uint64_t v;
	ssize_t n = ivs_read_nowait(fd, &v, sizeof(v));
	if (n == (ssize_t)sizeof(v))
		return v > INT32_MAX ? INT32_MAX : (int64_t)v;
	if (n == -EAGAIN)
		return 0;
	return n < 0 ? n : -EIO;
}

int ivs_eventfd_signal(int fd)
{
	uint64_t one = 1;
	/* The eventfds we ring are shared (a server's peers, a daemon's
	 * direct clients), and a write sleeps when the counter is full and
	 * someone cleared O_NONBLOCK on the shared description: put the flag
	 * back, so that a full counter (a pending ring) is EAGAIN below.  A
	 * holder clearing it again before the write can still make it sleep
	 * (there is no RWF_NOWAIT for eventfd writes): docs/security.md. */
	ivs_set_nonblock(fd);
	for (;;) {
		ssize_t n = write(fd, &one, sizeof(one));
		if (n == (ssize_t)sizeof(one))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		/* EAGAIN: counter saturated, the peer has plenty pending. */
		if (n < 0 && errno == EAGAIN)
			return 0;
		return n < 0 ? -errno : -EIO;
	}
}

int ivs_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= size ? -ENAMETOOLONG : 0;
}

size_t ivs_page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096;
}

bool ivs_all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}
