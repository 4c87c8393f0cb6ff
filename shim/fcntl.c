/* SPDX-License-Identifier: MIT */
/*
 * File-descriptor calls: fcntl/ioctl (O_NONBLOCK, FIONBIO, FIONREAD,
 * SIOCOUTQ, SIOCATMARK), the dup family and close_range. The kernel does
 * the work — our fds are real kernel fds — we only keep the fd table in step.
 */
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "demote.h"
#include "shim.h"

/*
 * glibc's stdio writes stdout with its own internal write(), which we never
 * see (inetd-style servers and their children: git daemon, tcpserver,
 * CGI). A connection that lands on fd 0, 1 or 2 becomes a plain byte stream
 * (demoted) first, so stdio and read/write see the same bytes.
 */
static void to_stdio(int oldfd, int newfd)
{
	if (newfd < 0 || newfd > STDERR_FILENO || oldfd == newfd || xio_config()->disabled)
		return;
	struct fd_entry *e = shim_conn(oldfd);
	if (e)
		xio_conn_demote(e->conn, oldfd);
}

static int do_fcntl(int fd, int cmd, long arg)
{
	SHIM_INIT();
	struct fd_entry *e = fdt_get(fd);
	int r = real.fcntl(fd, cmd, arg);
	if (r < 0)
		return r;
	if (!e || e->kind == FD_KERNEL) {
		if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
			fdt_clear(r);		    /* a number whose close we may have missed */
			shim_fresh_forget(r, true); /* socket.c: a second fd of a socket */
		}
		return r;
	}
	switch (cmd) {
	case F_SETFL:
		fdt_set_nonblock(fd, (arg & O_NONBLOCK) != 0);
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		to_stdio(fd, r);
		fdt_dup(fd, r);
		break;
	default:
		break;
	}
	return r;
}

XIO_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

XIO_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

XIO_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	SHIM_INIT();
	struct fd_entry *e = fdt_get(fd);
	if (e && e->kind == FD_CONN && arg) {
		if (req == FIONREAD) {
			*(int *)arg = xio_conn_inq(e->conn);
			return 0;
		}
		if (req == SIOCOUTQ) {
			*(int *)arg = xio_conn_outq(e->conn);
			return 0;
		}
		if (req == SIOCATMARK) {
			int m = xio_conn_atmark(e->conn, fd);
			if (m < 0) {
				errno = -m;
				return -1;
			}
			*(int *)arg = m;
			return 0;
		}
	}
	int r = real.ioctl(fd, req, arg);
	if (r == 0 && e && e->kind != FD_KERNEL && req == FIONBIO && arg)
		fdt_set_nonblock(fd, *(int *)arg != 0);
	return r;
}

XIO_EXPORT int dup(int fd)
{
	SHIM_INIT();
	int r = real.dup(fd);
	if (r >= 0) {
		to_stdio(fd, r);
		fdt_dup(fd, r);
	}
	return r;
}

XIO_EXPORT int dup2(int oldfd, int newfd)
{
	SHIM_INIT();
	to_stdio(oldfd, newfd);
	if (oldfd != newfd && fdt_get(newfd)) {
		shim_epoll_forget(newfd);
		shim_listener_closing(newfd);
	}
	int r = real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd)
		fdt_dup(oldfd, newfd);
	return r;
}

XIO_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	SHIM_INIT();
	to_stdio(oldfd, newfd);
	if (oldfd != newfd && fdt_get(newfd)) {
		shim_epoll_forget(newfd);
		shim_listener_closing(newfd);
	}
	int r = real.dup3(oldfd, newfd, flags);
	if (r >= 0)
		fdt_dup(oldfd, newfd);
	return r;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* close_range without X-IO's own descriptors: the range is cut around them. */
static int close_range_around_helpers(unsigned first, unsigned last, int flags)
{
	int h[512], n = xio_helper_fds(h, 512), r = 0;
	qsort(h, (size_t)n, sizeof(int), cmp_int);
	for (int i = 0; i < n && first <= last; i++) {
		if ((unsigned)h[i] < first || (unsigned)h[i] > last)
			continue;
		if ((unsigned)h[i] > first)
			r |= real.close_range(first, (unsigned)h[i] - 1, flags);
		if ((unsigned)h[i] == ~0u)
			return r;
		first = (unsigned)h[i] + 1;
	}
	if (first <= last)
		r |= real.close_range(first, last, flags);
	return r < 0 ? -1 : 0;
}

XIO_EXPORT void closefrom(int lowfd)
{
	SHIM_INIT();
	if (lowfd < 0)
		lowfd = 0;
	close_range((unsigned)lowfd, ~0u, 0);
}

XIO_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	SHIM_INIT();
	if (!real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	if (first > last) {
		errno = EINVAL;
		return -1;
	}
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		int max = fdt_max();
		for (long fd = first; fd <= (long)last && fd <= max; fd++)
			shim_listener_closing((int)fd);
	}
	int r = close_range_around_helpers(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) {
		int max = fdt_max();
		for (long fd = first; fd <= (long)last && fd <= max; fd++)
			if (fdt_get((int)fd)) {
				shim_epoll_forget((int)fd);
				fdt_clear((int)fd);
			}
	}
	return r;
}
