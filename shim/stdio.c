/* SPDX-License-Identifier: MIT */
/*
 * fdopen on an X-IO connection. glibc's stdio reads and writes through its
 * internal syscall wrappers, not through the interposable read/write, so a
 * plain fdopen stream would bypass the ring. We hand back a cookie stream
 * whose I/O goes through our read/write instead. Documented difference:
 * fileno() on such a stream returns -1.
 */
#include <stdint.h>
#include <stdio.h>

#include "shim.h"

static FILE *(*real_fdopen)(int, const char *);

static ssize_t cookie_read(void *cookie, char *buf, size_t len)
{
	return read((int)(intptr_t)cookie, buf, len);
}

static ssize_t cookie_write(void *cookie, const char *buf, size_t len)
{
	return write((int)(intptr_t)cookie, buf, len);
}

static int cookie_close(void *cookie)
{
	return close((int)(intptr_t)cookie);
}

XIO_EXPORT FILE *fdopen(int fd, const char *mode)
{
	SHIM_INIT();
	if (!shim_conn(fd)) {
		if (!real_fdopen)
			real_fdopen = (FILE * (*)(int, const char *)) shim_next("fdopen");
		return real_fdopen(fd, mode);
	}
	cookie_io_functions_t io = {
		.read = cookie_read, .write = cookie_write, .seek = NULL, .close = cookie_close};
	return fopencookie((void *)(intptr_t)fd, mode, io);
}
