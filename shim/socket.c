/* SPDX-License-Identifier: MIT */
/*
 * Connection set-up and teardown: listen, accept, connect, close, shutdown,
 * names and options. Each wrapper classifies the fd and either hands the
 * call to the stack or passes it to libc.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "shim.h"

/* Only TCP over IPv4/IPv6 is ever carried. */
static bool is_tcp_socket(int fd)
{
	int type = 0, proto = 0;
	socklen_t l = sizeof(type);
	if (real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
		return false;
	l = sizeof(proto);
	return real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) == 0 &&
	       proto == IPPROTO_TCP;
}

/* Options set before listen() that X-IO cannot honour keep the listener plain TCP. */
static bool tcp_only_options(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (real.getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &l) == 0 && v > 0)
		return true;
	l = sizeof(v);
	return real.getsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &v, &l) == 0 && v > 0;
}

static bool fd_nonblock(int fd)
{
	int fl = real.fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

XIO_EXPORT int listen(int fd, int backlog)
{
	SHIM_INIT();
	int r = real.listen(fd, backlog);
	struct fd_entry *e = fdt_get(fd);
	if (r < 0 || (e && e->kind != FD_KERNEL) || xio_config()->disabled || !is_tcp_socket(fd) ||
	    tcp_only_options(fd))
		return r;
	struct xio_listener *l;
	if (xio_listener_open(fd, &l) == 0)
		fdt_set_listener(fd, l, fd_nonblock(fd));
	return 0;
}

XIO_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	SHIM_INIT();
	struct fd_entry *e = fdt_get(fd);
	if (!e || e->kind != FD_LISTENER) {
		int r = real.accept4(fd, sa, len, flags);
		if (r >= 0)
			fdt_clear(r); /* a number we missed the close of */
		return r;
	}
	struct xio_conn *c = NULL;
	int r = xio_listener_accept(e->listener, fd, sa, len, flags, e->nonblock, &c);
	if (r < 0)
		return (int)shim_ret(r);
	if (c)
		fdt_set_conn(r, c, flags & SOCK_NONBLOCK);
	else
		fdt_clear(r);
	return r;
}

XIO_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	return accept4(fd, sa, len, 0);
}

XIO_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	SHIM_INIT();
	struct fd_entry *e = fdt_get(fd);
	if (e && e->kind == FD_CONN) {
		/* After EINPROGRESS the next connect reports completion (0), later ones EISCONN. */
		if (xio_conn_take_connect_pending(e->conn))
			return 0;
		errno = EISCONN;
		return -1;
	}
	if ((e && e->kind != FD_KERNEL) || !sa || len < sizeof(sa_family_t) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || xio_config()->disabled ||
	    !is_tcp_socket(fd))
		return real.connect(fd, sa, len);
	struct xio_conn *c;
	int r = xio_conn_connect(fd, sa, len, &c);
	if (r == XIO_NOT_CARRIED)
		return real.connect(fd, sa, len);
	if (r < 0)
		return (int)shim_ret(r);
	bool nb = fd_nonblock(fd);
	fdt_set_conn(fd, c, nb);
	if (nb) {
		/* What a non-blocking TCP connect says; the fd is writable right away. */
		xio_conn_set_connect_pending(c);
		errno = EINPROGRESS;
		return -1;
	}
	return 0;
}

XIO_EXPORT int close(int fd)
{
	SHIM_INIT();
	if (__builtin_expect(xio_is_helper_fd(fd), 0)) {
		/* Ours, not the program's: to it the number is not open. */
		errno = EBADF;
		return -1;
	}
	struct fd_entry *e = fdt_get(fd);
	if (e) {
		if (e->kind == FD_CONN && xio_conn_linger_abort(e->conn) &&
		    !xio_conn_fd_shared(e->conn))
			xio_conn_abort(e->conn, fd);
		shim_epoll_forget(fd);
		fdt_clear(fd);
	}
	return real.close(fd);
}

XIO_EXPORT int shutdown(int fd, int how)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.shutdown(fd, how);
	return (int)shim_ret(xio_conn_shutdown(e->conn, fd, how));
}

XIO_EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.getsockname(fd, sa, len);
	return (int)shim_ret(xio_conn_name(e->conn, false, sa, len));
}

XIO_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.getpeername(fd, sa, len);
	return (int)shim_ret(xio_conn_name(e->conn, true, sa, len));
}

XIO_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	SHIM_INIT();
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.getsockopt(fd, level, name, val, len);
	return (int)shim_ret(xio_conn_getsockopt(e->conn, fd, level, name, val, len));
}

/* Listener options X-IO cannot honour: the listener goes back to plain TCP. */
static bool listener_needs_tcp(int level, int name, const void *val, socklen_t len)
{
	int v = 0;
	if (level != IPPROTO_TCP || !val || len < (socklen_t)sizeof(int))
		return false;
	memcpy(&v, val, sizeof(v));
	return v > 0 && (name == TCP_DEFER_ACCEPT || name == TCP_FASTOPEN);
}

XIO_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	SHIM_INIT();
	struct fd_entry *l = fdt_get(fd);
	if (l && l->kind == FD_LISTENER && listener_needs_tcp(level, name, val, len)) {
		int r = real.setsockopt(fd, level, name, val, len);
		if (r == 0)
			fdt_clear(fd); /* unpublish: clients find no rendezvous and use TCP */
		return r;
	}
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return real.setsockopt(fd, level, name, val, len);
	return (int)shim_ret(xio_conn_setsockopt(e->conn, fd, level, name, val, len));
}
