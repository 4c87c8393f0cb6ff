/* SPDX-License-Identifier: MIT */
/*
 * One log line format for every X-IO program: "<who>: <message>\n", written
 * to stderr with one system call so that lines of several processes do not
 * interleave. The library says "xio[PID]" and prints only with XIO_LOG; the
 * manager says "xio-manager".
 *
 * The write is the raw system call, neither stdio (we may be inside the
 * program's own stdio call) nor write() (inside the preload that is the
 * shim's wrapper, which would classify stderr through us).
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stack.h"
#include "sys.h"

size_t xio_log_format(char *buf, size_t len, const char *who, const char *fmt, va_list ap)
{
	int n = snprintf(buf, len, "%s: ", who);
	if (n < 0)
		n = 0;
	if ((size_t)n < len - 1) {
		int m = vsnprintf(buf + n, len - (size_t)n - 1, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n > len - 2)
		n = (int)len - 2; /* truncated: the line still ends */
	buf[n++] = '\n';
	buf[n] = 0;
	return (size_t)n;
}

void xio_log_vline(const char *who, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n = xio_log_format(buf, sizeof(buf), who, fmt, ap);
	(void)xio_raw_syscall3(SYS_write, STDERR_FILENO, (long)buf, (long)n);
}

static void vlog_pid(const char *fmt, va_list ap)
{
	char who[32];
	snprintf(who, sizeof(who), "xio[%d]", (int)getpid());
	xio_log_vline(who, fmt, ap);
}

void xio_log(int level, const char *fmt, ...)
{
	va_list ap;
	if (xio_config()->log < level)
		return;
	va_start(ap, fmt);
	vlog_pid(fmt, ap);
	va_end(ap);
}

void xio_log_unchecked(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog_pid(fmt, ap);
	va_end(ap);
}
