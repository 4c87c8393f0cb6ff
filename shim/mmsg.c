/* SPDX-License-Identifier: MIT */
/*
 * sendmmsg/recvmmsg. On a TCP stream the kernel treats them as a loop of
 * sendmsg/recvmsg calls, so that is what they become on an X-IO connection;
 * passed straight to the kernel they would write into the connection's
 * doorbell socket and the bytes would be lost. On other fds they keep the
 * same fd-passing bookkeeping as sendmsg/recvmsg.
 */
#include <time.h>

#include "shim.h"
#include "sys.h"

XIO_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	SHIM_INIT();
	if (!shim_conn(fd)) {
		for (unsigned int i = 0; vec && i < n; i++)
			if (vec[i].msg_hdr.msg_controllen > 0)
				shim_demote_passed(fd, &vec[i].msg_hdr);
		return real.sendmmsg(fd, vec, n, flags);
	}
	if (n > UIO_MAXIOV)
		n = UIO_MAXIOV;
	unsigned int done = 0;
	for (; done < n; done++) {
		ssize_t r = sendmsg(fd, &vec[done].msg_hdr, flags);
		if (r < 0)
			break;
		vec[done].msg_len = (unsigned int)r;
	}
	/* As in the kernel: an error after the first message is left for the next call. */
	return done ? (int)done : -1;
}

static int expired(const struct timespec *timeout, uint64_t start_us)
{
	if (!timeout)
		return 0;
	uint64_t lim = (uint64_t)timeout->tv_sec * 1000000u + (uint64_t)timeout->tv_nsec / 1000u;
	return xio_mono_us() - start_us >= lim;
}

XIO_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags,
			struct timespec *timeout)
{
	SHIM_INIT();
	if (!shim_conn(fd)) {
		int r = real.recvmmsg(fd, vec, n, flags, timeout);
		for (int i = 0; i < r; i++)
			if (vec[i].msg_hdr.msg_controllen > 0)
				shim_forget_received(&vec[i].msg_hdr);
		return r;
	}
	if (timeout &&
	    (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	if (n > UIO_MAXIOV)
		n = UIO_MAXIOV;
	uint64_t start = xio_mono_us();
	unsigned int done = 0;
	for (; done < n; done++) {
		ssize_t r = recvmsg(fd, &vec[done].msg_hdr, flags);
		if (r < 0)
			break;
		vec[done].msg_len = (unsigned int)r;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		/* The kernel checks the timeout only after each message, as here. */
		if (expired(timeout, start))
			break;
	}
	return done ? (int)done : -1;
}
