/* SPDX-License-Identifier: MIT */
/*
 * splice between a pipe and an X-IO connection, emulated with one copy
 * through a buffer (the kernel would move pages; we have no pages to move).
 * Kernel rules kept: one end must be a pipe, an offset on a pipe is ESPIPE,
 * a file -> socket splice is EINVAL. Bytes taken from one side are never
 * dropped: we only take what the other side can hold.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "shim.h"

#define CHUNK (16 * 1024) /* on the stack: threads may have small ones */

static ssize_t (*real_splice)(int, loff_t *, int, loff_t *, size_t, unsigned);

static bool is_pipe(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* Free space in pipe @fd (capacity minus what is queued). */
static size_t pipe_room(int fd)
{
	int cap = real.fcntl(fd, F_GETPIPE_SZ), queued = 0;
	if (cap < 0 || real.ioctl(fd, FIONREAD, &queued) < 0)
		return CHUNK;
	return cap > queued ? (size_t)(cap - queued) : 0;
}

/* pipe -> connection */
static ssize_t pipe_to_conn(int in, struct fd_entry *out, int outfd, size_t len, unsigned flags)
{
	char buf[CHUNK]; /* on the caller's stack, not in every thread's TLS */
	if (len > CHUNK)
		len = CHUNK;
	if (flags & SPLICE_F_NONBLOCK) {
		struct pollfd p = {.fd = in, .events = POLLIN};
		if (real.poll(&p, 1, 0) == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
	ssize_t n = real.read(in, buf, len);
	if (n <= 0)
		return n;
	/* The bytes have left the pipe: deliver all of them, waiting if we must. */
	struct iovec v = {buf, (size_t)n};
	ssize_t done = 0;
	while (done < n) {
		v.iov_base = buf + done;
		v.iov_len = (size_t)(n - done);
		ssize_t k = xio_conn_send(out->conn, outfd, &v, 1, 0, false);
		if (k < 0) {
			if (done)
				break;
			errno = (int)-k;
			return -1;
		}
		done += k;
	}
	return done;
}

/* connection -> pipe */
static ssize_t conn_to_pipe(struct fd_entry *in, int infd, int out, size_t len, unsigned flags)
{
	char buf[CHUNK]; /* on the caller's stack, not in every thread's TLS */
	bool nb = in->nonblock || (flags & SPLICE_F_NONBLOCK);
	size_t room;
	while ((room = pipe_room(out)) == 0) {
		if (nb) {
			errno = EAGAIN;
			return -1;
		}
		struct pollfd p = {.fd = out, .events = POLLOUT};
		if (real.poll(&p, 1, -1) < 0)
			return -1;
	}
	if (len > room)
		len = room;
	if (len > CHUNK)
		len = CHUNK;
	struct iovec v = {buf, len};
	ssize_t n = xio_conn_recv(in->conn, infd, &v, 1, nb ? MSG_DONTWAIT : 0, nb);
	if (n <= 0)
		return n < 0 ? (errno = (int)-n, -1) : 0;
	ssize_t done = 0;
	while (done < n) {
		ssize_t k = real.write(out, buf + done, (size_t)(n - done));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return done ? done : -1;
		}
		done += k;
	}
	return done;
}

XIO_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len,
			  unsigned flags)
{
	SHIM_INIT();
	struct fd_entry *ci = shim_conn(in), *co = shim_conn(out);
	if (!ci && !co) {
		if (!real_splice)
			real_splice = (ssize_t(*)(int, loff_t *, int, loff_t *, size_t, unsigned))
				shim_next("splice");
		return real_splice(in, off_in, out, off_out, len, flags);
	}
	if (ci && co) {
		errno = EINVAL; /* socket to socket: neither end is a pipe */
		return -1;
	}
	int other = co ? in : out;
	if (!is_pipe(other)) {
		errno = EINVAL; /* e.g. file -> socket: the kernel wants a pipe at one end */
		return -1;
	}
	if ((co && off_in) || (ci && off_out) || (co && off_out) || (ci && off_in)) {
		errno = ESPIPE;
		return -1;
	}
	return co ? pipe_to_conn(in, co, out, len, flags) : conn_to_pipe(ci, in, out, len, flags);
}
