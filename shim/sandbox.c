/* SPDX-License-Identifier: MIT */
/*
 * Sandboxes. A process that installs a seccomp filter (sshd's pre-auth
 * child, browsers, systemd services) allows a short list of system calls,
 * typically read/write/poll but not sendto/recvfrom, which the ring's
 * doorbells use: one doorbell would kill it. So its X-IO connections are
 * demoted to plain byte streams on their AF_UNIX sockets first; from then
 * on it uses only the calls it would use on TCP, and X-IO carries nothing
 * new in it.
 */
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>

#include "shim.h"

void shim_before_seccomp(void)
{
	if (xio_config()->disabled)
		return;
	shim_demote_fds(true);
	/* Nothing new either: probing an unknown fd or a new socket's records costs calls too. */
	xio_config_disable();
}

XIO_EXPORT int prctl(int option, ...)
{
	SHIM_INIT();
	static int (*next)(int, ...);
	va_list ap;
	va_start(ap, option);
	unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
	unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
	va_end(ap);
	if (!next)
		*(void **)&next = shim_next("prctl");
	if (option == PR_SET_SECCOMP && a == SECCOMP_MODE_FILTER)
		shim_before_seccomp();
	return next(option, a, b, c, d);
}
