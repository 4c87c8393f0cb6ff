/* SPDX-License-Identifier: MIT */
/*
 * The real system calls the stack uses. Inside libxio_preload.so the libc
 * names resolve to the shim's own wrappers, so the stack never calls a libc
 * function the shim exports (shim/exports.map) by its name: it calls it
 * through this table, which the shim fills with the next definitions
 * (dlsym RTLD_NEXT) before the stack runs; everywhere else (manager, tests)
 * xio_sys_use_libc() (sys_libc.c, never linked into the preload) points it
 * at libc directly. test/fault/stack_calls_libc.sh checks both.
 */
#ifndef XIO_SYS_H
#define XIO_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "clock.h"

struct xio_sys {
	int (*socket)(int, int, int);
	int (*close)(int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*fcntl)(int, int, ...);
	int (*dup3)(int, int, int);
	int (*shutdown)(int, int);
	int (*ioctl)(int, unsigned long, ...);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	long (*syscall)(long, ...); /* only for xio_raw_syscall4 where it has no instruction */
};

extern struct xio_sys xio_sys;

/* Point every entry at libc (for programs that do not interpose libc). */
void xio_sys_use_libc(void);

/*
 * Sleep while the shared 32-bit word at @w holds @val, at most @ts (futex,
 * shared between processes). Returns when woken, on a changed value, a
 * signal or the timeout; the caller looks again.
 */
void xio_futex_wait(_Atomic uint32_t *w, uint32_t val, const struct timespec *ts);

/*
 * A system call made with the instruction itself: no libc, no table, so it
 * works before the table is filled and never enters the shim (the futex
 * wait, the log's write to stderr, xio-run's exec of the manager). Returns
 * what the kernel returns, -errno on failure; errno is not set.
 */
static inline long xio_raw_syscall4(long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory", "cc");
	return x0;
#else
	/* libc's syscall() through the table (the shim fills it with the real one). */
	if (!xio_sys.syscall)
		return -ENOSYS;
	long r = xio_sys.syscall(nr, a, b, c, d, 0L, 0L);
	return r < 0 ? -errno : r;
#endif
}

static inline long xio_raw_syscall3(long nr, long a, long b, long c)
{
	return xio_raw_syscall4(nr, a, b, c, 0);
}

/*
 * The start of a small file (/proc) into @buf, NUL-terminated, by raw system
 * calls (no shim, no libc stdio): the bytes read, or <= 0.
 */
static inline long xio_raw_read_file(const char *path, char *buf, size_t len)
{
	long fd = xio_raw_syscall4(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long n = xio_raw_syscall4(SYS_read, fd, (long)buf, (long)len - 1, 0);
	xio_raw_syscall4(SYS_close, fd, 0, 0, 0);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* Gone, or a zombie nobody has reaped yet (kill() still finds those). */
static inline bool xio_pid_dead(pid_t pid)
{
	char path[32], buf[256];
	if (kill(pid, 0) < 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (xio_raw_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	const char *st = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold anything */
	return st && (st[1] == ' ') && (st[2] == 'Z' || st[2] == 'X');
}

/* SO_RCVTIMEO/SO_SNDTIMEO as a poll timeout: -1 for none, rounded up. */
static inline int xio_timeval_ms(const struct timeval *tv)
{
	if (tv->tv_sec == 0 && tv->tv_usec == 0)
		return -1;
	long long ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

#endif
