/* SPDX-License-Identifier: MIT */
/*
 * sendfile from a file to an X-IO connection: the bytes are copied into the
 * ring (one copy, like the socket path); the kernel must never write them
 * into the AF_UNIX socket behind the ring's back. The file offset moves by
 * exactly what was sent, so a short non-blocking send loses nothing.
 */
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <unistd.h>

#include "shim.h"

/* Heap, not TLS: every thread of every program would pay for a TLS buffer. Below mmap's threshold. */
#define CHUNK (64 * 1024)

static ssize_t (*real_sendfile)(int, int, off_t *, size_t);

static ssize_t copy_file(struct fd_entry *e, int out, int in, off_t *offset, size_t count)
{
	off_t pos = offset ? *offset : lseek(in, 0, SEEK_CUR);
	size_t done = 0;

	if (pos < 0)
		return -1; /* errno from lseek: ESPIPE for a pipe, as sendfile would say EINVAL */
	char *buf = malloc(CHUNK);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	while (done < count) {
		size_t want = count - done < CHUNK ? count - done : CHUNK;
		ssize_t n = pread(in, buf, want, pos + (off_t)done);
		if (n < 0) {
			if (done)
				break;
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		struct iovec v = {buf, (size_t)n};
		ssize_t k = xio_conn_send(e->conn, out, &v, 1, 0, e->nonblock);
		if (k < 0) {
			if (done)
				break;
			free(buf);
			errno = (int)-k;
			return -1;
		}
		done += (size_t)k;
		if (k < n)
			break;
	}
	free(buf);
	if (offset)
		*offset = pos + (off_t)done;
	else
		lseek(in, pos + (off_t)done, SEEK_SET);
	return (ssize_t)done;
}

XIO_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(out);
	if (!e) {
		if (!real_sendfile)
			real_sendfile = (ssize_t(*)(int, int, off_t *, size_t))shim_next("sendfile");
		return real_sendfile(out, in, offset, count);
	}
	return copy_file(e, out, in, offset, count);
}

XIO_EXPORT ssize_t sendfile64(int out, int in, off_t *offset, size_t count)
{
	return sendfile(out, in, offset, count);
}
