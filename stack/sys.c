/* SPDX-License-Identifier: MIT */
/*
 * The system-call table (sys.h): the shim fills it, or xio_sys_use_libc()
 * (sys_libc.c). And the futex wait, a system call the stack makes itself.
 */
#include <linux/futex.h>
#include <sys/syscall.h>

#include "sys.h"

struct xio_sys xio_sys;

void xio_futex_wait(_Atomic uint32_t *w, uint32_t val, const struct timespec *ts)
{
	xio_raw_syscall4(SYS_futex, (long)w, FUTEX_WAIT, (long)val, (long)ts);
}
