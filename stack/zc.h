/* SPDX-License-Identifier: MIT */
/*
 * The native zero-copy calls of include/xio.h, on the stack's objects. The
 * shim maps an fd to its connection and turns our negative errno into
 * errno; everything else lives here (stack/zc.c).
 *
 * Buffers (xio_malloc) come from the domain's pool (bufpool.h). xio_tx puts
 * a descriptor record on the connection's ring (ring.h) and hands the
 * buffer over; xio_rx takes one back. Reserve/commit and peek/consume give
 * direct access to a ring's bytes; between the two calls the calling thread
 * holds that direction's lock, so one of each may be outstanding per thread.
 */
#ifndef XIO_ZC_H
#define XIO_ZC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct xio_conn;

/* Size of each buffer of the current domain's pool; 0 (and *@err) if there is none. */
size_t xio_zc_buf_size(int *err);

/* A buffer of at least @size bytes, or NULL with *@err (-ENOTSUP, -EINVAL, -ENOMEM). */
void *xio_zc_malloc(size_t size, int *err);

/* Return a buffer this process holds: 0, -EINVAL, -EALREADY or -EPERM. */
int xio_zc_free(void *ptr);

/* Hand @len bytes at @buf (a held buffer) to the peer: @len or -errno (buffer kept then). */
ssize_t xio_zc_tx(struct xio_conn *c, int fd, void *buf, size_t len, bool nonblock);

/* Take the next record as a buffer: its length, 0 at EOF, or -errno. */
ssize_t xio_zc_rx(struct xio_conn *c, int fd, void **buf, bool nonblock);

/* Room for up to @len bytes written in place at *@ptr: bytes reserved (>0) or -errno. */
ssize_t xio_zc_send_reserve(struct xio_conn *c, int fd, size_t len, void **ptr, bool nonblock);

/* Publish @len (<= reserved) bytes written at @ptr; 0 cancels. 0 or -EINVAL. */
int xio_zc_send_commit(struct xio_conn *c, int fd, void *ptr, size_t len);

/* Contiguous unread bytes at *@ptr: how many (>0), 0 at EOF, or -errno. */
ssize_t xio_zc_recv_peek(struct xio_conn *c, int fd, const void **ptr, bool nonblock);

/* Consume @n (<= peeked) bytes: 0 or -EINVAL. */
int xio_zc_recv_consume(struct xio_conn *c, int fd, size_t n);

#endif
