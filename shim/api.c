/* SPDX-License-Identifier: MIT */
/* The exported xio_* API (include/xio.h): fd lookup and errno here, the logic in stack/zc.c. */
#include <fcntl.h>

#include "shim.h"
#include "xio.h"
#include "zc.h"

XIO_EXPORT const char *xio_version(void)
{
	return XIO_VERSION;
}

XIO_EXPORT int xio_fd_kind(int fd)
{
	SHIM_INIT();
	struct fd_entry *e = shim_entry(fd);
	if (!e)
		return 0;
	return e->kind == FD_CONN ? 1 : e->kind == FD_LISTENER ? 2 : 0;
}

/* The X-IO connection behind @fd, or NULL with errno: EBADF (not open) or ENOTSUP. */
static struct fd_entry *zc_conn(int fd)
{
	SHIM_INIT();
	struct fd_entry *e = fd >= 0 ? shim_conn(fd) : NULL;
	if (!e)
		errno = fd >= 0 && real.fcntl(fd, F_GETFD) >= 0 ? ENOTSUP : EBADF;
	return e;
}

XIO_EXPORT size_t xio_buf_size(void)
{
	SHIM_INIT();
	int err = 0;
	size_t n = xio_zc_buf_size(&err);
	if (n == 0)
		errno = -err;
	return n;
}

XIO_EXPORT void *xio_malloc(size_t size)
{
	SHIM_INIT();
	int err = 0;
	void *p = xio_zc_malloc(size, &err);
	if (!p)
		errno = -err;
	return p;
}

XIO_EXPORT int xio_free(void *ptr)
{
	SHIM_INIT();
	return (int)shim_ret(xio_zc_free(ptr));
}

XIO_EXPORT ssize_t xio_tx(int fd, void *buf, size_t len)
{
	struct fd_entry *e = zc_conn(fd);
	if (!e)
		return -1;
	return shim_ret(xio_zc_tx(e->conn, fd, buf, len, e->nonblock));
}

XIO_EXPORT ssize_t xio_rx(int fd, void **buf)
{
	if (!buf) {
		errno = EINVAL;
		return -1;
	}
	*buf = NULL;
	struct fd_entry *e = zc_conn(fd);
	if (!e)
		return -1;
	return shim_ret(xio_zc_rx(e->conn, fd, buf, e->nonblock));
}

XIO_EXPORT ssize_t xio_send_reserve(int fd, size_t len, void **ptr)
{
	if (!ptr) {
		errno = EINVAL;
		return -1;
	}
	struct fd_entry *e = zc_conn(fd);
	if (!e)
		return -1;
	return shim_ret(xio_zc_send_reserve(e->conn, fd, len, ptr, e->nonblock));
}

XIO_EXPORT int xio_send_commit(int fd, void *ptr, size_t len)
{
	struct fd_entry *e = zc_conn(fd);
	if (!e)
		return -1;
	return (int)shim_ret(xio_zc_send_commit(e->conn, fd, ptr, len));
}

XIO_EXPORT ssize_t xio_recv_peek(int fd, const void **ptr)
{
	if (!ptr) {
		errno = EINVAL;
		return -1;
	}
	struct fd_entry *e = zc_conn(fd);
	if (!e)
		return -1;
	return shim_ret(xio_zc_recv_peek(e->conn, fd, ptr, e->nonblock));
}

XIO_EXPORT int xio_recv_consume(int fd, size_t n)
{
	struct fd_entry *e = zc_conn(fd);
	if (!e)
		return -1;
	return (int)shim_ret(xio_zc_recv_consume(e->conn, fd, n));
}
