/* SPDX-License-Identifier: MIT */
/*
 * Data transfer calls: read/write, the vector forms, send/recv families and the
 * _FORTIFY_SOURCE variants glibc headers redirect to. Every form reaches
 * the same two stack calls, so data never splits between the ring and the
 * kernel socket.
 */
#include <limits.h>
#include <string.h>

extern void __chk_fail(void) __attribute__((noreturn));

#include "shim.h"

static ssize_t do_recv(struct fd_entry *e, int fd, const struct iovec *iov, int n, int flags)
{
	return shim_ret(xio_conn_recv(e->conn, fd, iov, n, flags, e->nonblock));
}

static ssize_t do_send(struct fd_entry *e, int fd, const struct iovec *iov, int n, int flags)
{
	return shim_ret(xio_conn_send(e->conn, fd, iov, n, flags, e->nonblock));
}

/*
 * TCP Fast Open from the client: sendto/sendmsg with MSG_FASTOPEN and an
 * address on a socket not connected yet. It is connect (carried if it can
 * be) and then send: a carried connection has no handshake to save. On
 * kernel TCP it is Fast Open without a cookie: a non-blocking socket answers
 * EINPROGRESS and nothing was sent, as the kernel does then.
 */
static ssize_t fastopen(int fd, const struct iovec *iov, int n, int flags,
			const struct sockaddr *sa, socklen_t salen)
{
	int r = connect(fd, sa, salen);
	int err = errno;
	struct fd_entry *e = shim_conn(fd);
	flags &= ~MSG_FASTOPEN;
	if (e && (r == 0 || err == EINPROGRESS))
		return do_send(e, fd, iov, n, flags); /* carried: connected already */
	if (r < 0) {
		errno = err;
		return -1;
	}
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	return real.sendmsg(fd, &m, flags);
}

XIO_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.read(fd, buf, len);
	struct iovec v = {buf, len};
	return do_recv(e, fd, &v, 1, 0);
}

XIO_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail(); /* glibc reports and aborts, as the fortified call would */
	return read(fd, buf, len);
}

XIO_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.write(fd, buf, len);
	struct iovec v = {(void *)buf, len};
	return do_send(e, fd, &v, 1, 0);
}

XIO_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.readv(fd, iov, n);
	if (n < 0 || n > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	return do_recv(e, fd, iov, n, 0);
}

XIO_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.writev(fd, iov, n);
	if (n < 0 || n > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	return do_send(e, fd, iov, n, 0);
}

XIO_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.recv(fd, buf, len, flags);
	struct iovec v = {buf, len};
	return do_recv(e, fd, &v, 1, flags);
}

XIO_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

XIO_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.send(fd, buf, len, flags);
	struct iovec v = {(void *)buf, len};
	return do_send(e, fd, &v, 1, flags);
}

XIO_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
			    socklen_t *salen)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.recvfrom(fd, buf, len, flags, sa, salen);
	struct iovec v = {buf, len};
	ssize_t r = do_recv(e, fd, &v, 1, flags);
	if (r >= 0 && sa && salen)
		*salen = 0; /* TCP leaves the source address empty */
	return r;
}

XIO_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				  struct sockaddr *sa, socklen_t *salen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, sa, salen);
}

XIO_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			  const struct sockaddr *sa, socklen_t salen)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	struct iovec v = {(void *)buf, len};
	if (!e && (flags & MSG_FASTOPEN) && sa)
		return fastopen(fd, &v, 1, flags, sa, salen);
	if (!e)
		return real.sendto(fd, buf, len, flags, sa, salen);
	return do_send(e, fd, &v, 1, flags); /* a connected TCP socket ignores the address */
}

XIO_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e) {
		ssize_t r = real.recvmsg(fd, msg, flags);
		if (r >= 0 && msg->msg_controllen > 0)
			shim_forget_received(msg);
		return r;
	}
	if (msg->msg_iovlen > IOV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	ssize_t r = do_recv(e, fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
	if (r >= 0) {
		msg->msg_namelen = 0;
		msg->msg_controllen = 0; /* no ancillary data on a TCP stream */
		msg->msg_flags = r > 0 ? flags & MSG_OOB : 0; /* as tcp_recv_urg */
	}
	return r;
}

XIO_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e && msg && (flags & MSG_FASTOPEN) && msg->msg_name && !msg->msg_controllen &&
	    msg->msg_iovlen <= IOV_MAX)
		return fastopen(fd, msg->msg_iov, (int)msg->msg_iovlen, flags, msg->msg_name,
				msg->msg_namelen);
	if (!e) {
		if (msg && msg->msg_controllen > 0)
			shim_demote_passed(fd, msg); /* X-IO fds leaving: for whom? */
		return real.sendmsg(fd, msg, flags);
	}
	if (msg->msg_iovlen > IOV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return do_send(e, fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
}
