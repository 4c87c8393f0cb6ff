/* SPDX-License-Identifier: MIT */
/**
 * @file xio.h
 * Public native API of X-IO.
 *
 * Programs do not need this header: under libxio_preload.so (or xio-run)
 * ordinary socket calls are carried over shared memory when the peer is
 * local and also under X-IO. This header lets a program ask what X-IO does
 * with its sockets, and use the zero-copy primitives of the X-IO paper on
 * connections X-IO carries:
 *
 * - xio_malloc() / xio_free(): buffers in the domain's shared memory;
 * - xio_tx() / xio_rx(): hand a whole buffer to the peer and take one
 *   back; the bytes are never copied, only a 16-byte descriptor travels;
 * - xio_send_reserve() / xio_send_commit() and xio_recv_peek() /
 *   xio_recv_consume(): write into and read from the connection's ring in
 *   place, without a buffer of your own.
 *
 * All of them work on a TCP socket that the program opened with the usual
 * calls (socket/connect/accept) and that X-IO carries (xio_fd_kind() == 1).
 * They mix freely with read()/write() and the other socket calls on the same
 * connection: the connection stays one byte stream. A buffer sent with
 * xio_tx() arrives as one record that xio_rx() returns whole; a peer that
 * uses read() instead gets its bytes copied out and the buffer freed.
 *
 * Errors: every call returns -1 (or NULL) and sets errno; a call that fails
 * changes nothing (a buffer whose xio_tx() failed still belongs to the
 * caller). The calls never raise SIGPIPE. On a non-blocking socket they
 * fail with EAGAIN instead of waiting; SO_RCVTIMEO/SO_SNDTIMEO apply.
 *
 * Buffers belong to the process that allocated or received them (threads
 * share them; a forked child or another process does not). When a process
 * dies, the manager frees the buffers it held; buffers in flight on a
 * connection are freed with the connection. The pool (xio-manager --bufs)
 * is shared by the whole domain, and buffers in flight count against it.
 *
 * Service chains: a buffer returned by xio_rx() may be amended in place and
 * sent onwards with xio_tx() on any X-IO connection, whole or a sub-range,
 * through any number of processes (source -> relay -> ... -> sink); each
 * hop moves ownership once, and the last holder xio_free()s it. Fan-out is
 * a copy: a buffer is in flight on one connection at a time, and a second
 * xio_tx() of a sent buffer fails with EPERM; to send the same bytes to
 * several peers, xio_malloc() a buffer per extra peer and memcpy() them.
 *
 * Every function is exported by libxio_preload.so with default visibility;
 * link against it or look the symbols up with dlsym() to stay optional.
 * See xio(3).
 */
#ifndef XIO_H
#define XIO_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Version of the X-IO library in use.
 * @return a static string such as "0.1.0".
 */
const char *xio_version(void);

/**
 * Tell whether @p fd is carried by X-IO.
 * @param fd a file descriptor of the calling process.
 * @return 1 for an X-IO connection, 2 for a listening socket that also
 *         accepts X-IO connections, 0 for anything the kernel carries alone.
 */
int xio_fd_kind(int fd);

/**
 * Size of every zero-copy buffer of the domain (the largest @p size
 * xio_malloc() accepts). Attaches to the domain if needed.
 * @return bytes per buffer (xio-manager --buf-kb), or 0 with errno ENOTSUP
 *         when no manager is reachable, X-IO is disabled or the domain has
 *         no buffer pool (xio-manager --bufs 0).
 */
size_t xio_buf_size(void);

/**
 * Allocate a zero-copy buffer from the domain's shared memory. The buffer is
 * at least @p size bytes (in fact xio_buf_size()) and 64-byte aligned; its
 * contents are undefined. It belongs to the calling process until it is
 * passed to xio_free() or xio_tx(). Safe to call from several threads;
 * needs no EAL and takes no lock: one compare-and-swap.
 * @param size bytes needed, at most xio_buf_size().
 * @return the buffer, or NULL with errno: ENOMEM (every buffer of the pool
 *         is in use), EINVAL (@p size > xio_buf_size()), ENOTSUP (no pool,
 *         see xio_buf_size()).
 */
void *xio_malloc(size_t size);

/**
 * Return a buffer to the pool.
 * @param ptr a buffer from xio_malloc() or xio_rx() held by this process;
 *            any address inside the buffer is accepted.
 * @return 0, or -1 with errno: EINVAL (@p ptr is not in the buffer pool,
 *         NULL included), EALREADY (the buffer is already free: a double
 *         free), EPERM (another process holds it, or it was sent with
 *         xio_tx() and is no longer the caller's).
 */
int xio_free(void *ptr);

/**
 * Send @p len bytes starting at @p buf without copying them: ownership of
 * the whole buffer passes to the peer, which receives the bytes as one
 * record. The caller must not touch the buffer after success.
 * Blocks while the connection's ring has no room for a descriptor (unless
 * the socket is non-blocking).
 * @param fd an X-IO connection (xio_fd_kind(fd) == 1).
 * @param buf an address inside a buffer the caller holds (from
 *            xio_malloc() or xio_rx(): a received buffer may be forwarded);
 *            the bytes [@p buf, @p buf + @p len) must lie inside it.
 * @param len bytes to send; 0 sends nothing and keeps the buffer.
 * @return @p len, or -1 with errno (the buffer still belongs to the caller):
 *         - EBADF: @p fd is not open;
 *         - ENOTSUP: @p fd is not an X-IO connection, or no longer is (it
 *           was demoted to a plain byte stream because the fd went to a
 *           program without X-IO), or the domain has no pool;
 *         - EINVAL: @p buf is not in the pool, or the range leaves the
 *           buffer;
 *         - EXDEV: the buffer is of another domain generation than the
 *           connection (a manager restart in between);
 *         - EALREADY, EPERM: the buffer is free, or not the caller's
 *           (EPERM also for a second send of a buffer already sent:
 *           fan-out needs a copy per extra peer);
 *         - EBUSY: this thread holds a reservation on @p fd;
 *         - EPIPE: the connection is shut down for writing or the peer is
 *           gone;
 *         - ECONNRESET, EINTR;
 *         - EAGAIN: non-blocking socket and full ring, or SO_SNDTIMEO.
 */
ssize_t xio_tx(int fd, void *buf, size_t len);

/**
 * Receive the next record as a buffer, without copying when the peer sent
 * it with xio_tx(). Bytes the peer wrote with write()/send() are copied
 * into a new buffer (at most xio_buf_size() bytes per call). If part of the
 * record was already read with read(), the rest is returned.
 * Blocks until data or EOF arrives (unless the socket is non-blocking).
 * @param fd an X-IO connection.
 * @param buf where to store the buffer's address; the caller owns the
 *            buffer and must xio_free() it (or xio_tx() it onwards).
 *            Set to NULL unless a buffer is returned.
 * @return bytes at *@p buf (> 0), 0 at end of stream, or -1 with errno:
 *         EBADF, ENOTSUP, EINVAL (@p buf NULL), ENOMEM (bytes from write()
 *         arrived and the pool is exhausted: read() them instead), EBUSY
 *         (this thread holds a peek on @p fd), ECONNRESET, EAGAIN, EINTR.
 */
ssize_t xio_rx(int fd, void **buf);

/**
 * Reserve room for up to @p len bytes in the connection's send ring and
 * return where to write them; nothing is sent until xio_send_commit().
 * Until then the calling thread holds the connection's send side: no other
 * thread or process can send on it, and the calling thread must not call
 * another send function on it. One reservation per thread.
 * Blocks while the ring is full (unless the socket is non-blocking).
 * @param fd an X-IO connection.
 * @param len bytes wanted (> 0).
 * @param ptr receives the address to write at.
 * @return bytes that may be written at *@p ptr (> 0, possibly fewer than
 *         @p len: the ring's free room, or the part before the ring wraps),
 *         or -1 with errno: EBADF, ENOTSUP, EINVAL (@p len 0, @p ptr NULL),
 *         EBUSY (this thread already holds a reservation), EPIPE,
 *         ECONNRESET, EAGAIN, EINTR.
 */
ssize_t xio_send_reserve(int fd, size_t len, void **ptr);

/**
 * Send the first @p len bytes written at a reservation and release it.
 * @param fd the reservation's connection.
 * @param ptr the address xio_send_reserve() returned.
 * @param len bytes to send, at most the reserved size; 0 cancels.
 * @return 0, or -1 with errno EINVAL (no reservation of this thread for
 *         @p fd and @p ptr, or @p len too large; the reservation is kept),
 *         EBADF, ENOTSUP.
 */
int xio_send_commit(int fd, void *ptr, size_t len);

/**
 * Look at the next unread bytes in place, without copying or consuming
 * them. Until xio_recv_consume() the calling thread holds the connection's
 * receive side (no other reader proceeds; do not call another receive
 * function on it meanwhile). One peek per thread.
 * Blocks until data or EOF arrives (unless the socket is non-blocking).
 * @param fd an X-IO connection.
 * @param ptr receives the address of the bytes (read-only).
 * @return contiguous bytes readable at *@p ptr (> 0; one record at most,
 *         and only up to the ring's end), 0 at end of stream (nothing
 *         held), or -1 with errno: EBADF, ENOTSUP, EINVAL, EBUSY (this
 *         thread already holds a peek), ECONNRESET, EAGAIN, EINTR.
 */
ssize_t xio_recv_peek(int fd, const void **ptr);

/**
 * Consume @p n of the bytes xio_recv_peek() showed and release the receive
 * side. The next read, xio_rx() or peek continues after them.
 * @param fd the peek's connection.
 * @param n bytes consumed, at most what the peek returned; 0 consumes
 *          nothing.
 * @return 0, or -1 with errno EINVAL (no peek of this thread for @p fd, or
 *         @p n too large; the peek is kept), ECONNRESET, EBADF, ENOTSUP.
 */
int xio_recv_consume(int fd, size_t n);

#ifdef __cplusplus
}
#endif

#endif
