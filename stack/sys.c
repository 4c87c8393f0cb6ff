/* SPDX-License-Identifier: MIT */
/* Default system-call table: libc itself (the shim overrides it, see sys.h). */
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

struct xio_sys xio_sys;

void xio_sys_use_libc(void)
{
	xio_sys = (struct xio_sys){
	    .socket = socket,
	    .close = close,
	    .bind = bind,
	    .listen = listen,
	    .connect = connect,
	    .accept4 = accept4,
	    .recv = recv,
	    .send = send,
	    .recvmsg = recvmsg,
	    .sendmsg = sendmsg,
	    .poll = poll,
	    .getsockopt = getsockopt,
	    .setsockopt = setsockopt,
	    .getsockname = getsockname,
	    .getpeername = getpeername,
	    .fcntl = fcntl,
	    .dup3 = dup3,
	    .shutdown = shutdown,
	};
}

/*
 * The futex system call without libc's syscall(): inside the preload library
 * that name is the shim's own wrapper, and the stack never calls the shim.
 */
static long raw_futex(void *addr, long op, long val, const struct timespec *ts)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = (long)ts;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_futex), "D"(addr), "S"(op), "d"(val), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
#else
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
#endif
}

void xio_futex_wait(_Atomic uint32_t *w, uint32_t val, const struct timespec *ts)
{
	raw_futex((void *)w, FUTEX_WAIT, (long)val, ts);
}
