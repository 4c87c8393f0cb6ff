/* SPDX-License-Identifier: MIT */
/*
 * syscall(2). Some libraries close fds with syscall(SYS_close, fd) to avoid
 * a cancellation point (libuv, hence node.js); unseen, such a close leaves
 * a stale X-IO entry on a number the kernel hands out again. So calls that
 * change the fd table always go through our wrappers, and the data calls on
 * an fd we track do too (passed to the kernel they would read or write the
 * connection's doorbell socket). So do the RLIMIT_AS calls (rlimit.c).
 * Everything else is the plain system call.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <linux/seccomp.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "shim.h"

static long (*real_syscall)(long, ...);

static long passthrough(long nr, long a, long b, long c, long d, long e, long f)
{
	if (!real_syscall)
		*(void **)&real_syscall = shim_next("syscall");
	return real_syscall(nr, a, b, c, d, e, f);
}

XIO_EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	/* As glibc's own syscall(): six argument registers, whatever the call uses. */
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);

	switch (nr) {
	case SYS_close:
		return close((int)a);
	case SYS_close_range:
		return close_range((unsigned)a, (unsigned)b, (int)c);
	case SYS_dup2:
		return dup2((int)a, (int)b);
	case SYS_dup3:
		return dup3((int)a, (int)b, (int)c);
	case SYS_seccomp:
		if (a == SECCOMP_SET_MODE_FILTER)
			shim_before_seccomp();
		return passthrough(nr, a, b, c, d, e, f);
	case SYS_epoll_ctl: /* registering an fd we track in any set */
		return epoll_ctl((int)a, (int)b, (int)c, (struct epoll_event *)d);
	case SYS_prlimit64: /* the kernel's struct rlimit64 is glibc's */
		return prlimit64((pid_t)a, (__rlimit_resource_t)b, (const struct rlimit64 *)c,
				 (struct rlimit64 *)d);
#if __SIZEOF_LONG__ == 8 /* the kernel's struct rlimit is glibc's */
	case SYS_setrlimit:
		return setrlimit((__rlimit_resource_t)a, (const struct rlimit *)b);
	case SYS_getrlimit:
		return getrlimit((__rlimit_resource_t)a, (struct rlimit *)b);
#endif
	}
	if (!fdt_get((int)a))
		return passthrough(nr, a, b, c, d, e, f);
	switch (nr) {
	case SYS_read:
		return read((int)a, (void *)b, (size_t)c);
	case SYS_write:
		return write((int)a, (const void *)b, (size_t)c);
	case SYS_readv:
		return readv((int)a, (const struct iovec *)b, (int)c);
	case SYS_writev:
		return writev((int)a, (const struct iovec *)b, (int)c);
	case SYS_recvfrom:
		return recvfrom((int)a, (void *)b, (size_t)c, (int)d, (struct sockaddr *)e,
				(socklen_t *)f);
	case SYS_sendto:
		return sendto((int)a, (const void *)b, (size_t)c, (int)d,
			      (const struct sockaddr *)e, (socklen_t)f);
	case SYS_recvmsg:
		return recvmsg((int)a, (struct msghdr *)b, (int)c);
	case SYS_sendmsg:
		return sendmsg((int)a, (const struct msghdr *)b, (int)c);
	case SYS_recvmmsg:
		return recvmmsg((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d,
				(struct timespec *)e);
	case SYS_sendmmsg:
		return sendmmsg((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d);
	case SYS_shutdown:
		return shutdown((int)a, (int)b);
	case SYS_accept:
		return accept((int)a, (struct sockaddr *)b, (socklen_t *)c);
	case SYS_accept4:
		return accept4((int)a, (struct sockaddr *)b, (socklen_t *)c, (int)d);
	case SYS_connect:
		return connect((int)a, (const struct sockaddr *)b, (socklen_t)c);
	case SYS_getsockname:
		return getsockname((int)a, (struct sockaddr *)b, (socklen_t *)c);
	case SYS_getpeername:
		return getpeername((int)a, (struct sockaddr *)b, (socklen_t *)c);
	case SYS_getsockopt:
		return getsockopt((int)a, (int)b, (int)c, (void *)d, (socklen_t *)e);
	case SYS_setsockopt:
		return setsockopt((int)a, (int)b, (int)c, (const void *)d, (socklen_t)e);
	case SYS_fcntl:
		return fcntl((int)a, (int)b, c);
	case SYS_epoll_wait:
		return epoll_wait((int)a, (struct epoll_event *)b, (int)c, (int)d);
	case SYS_epoll_pwait:
		return epoll_pwait((int)a, (struct epoll_event *)b, (int)c, (int)d,
				   (const sigset_t *)e);
	}
	return passthrough(nr, a, b, c, d, e, f);
}
