/* SPDX-License-Identifier: MIT */
/*
 * Demotion: turning an X-IO connection into a plain byte stream on its
 * AF_UNIX pair, for when code that does not know X-IO may read one end (an
 * fd passed to a process that is not preloaded, exec of a static program).
 * The protocol is described at the top of demote.c.
 */
#ifndef XIO_DEMOTE_H
#define XIO_DEMOTE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "conn.h"
#include "layout.h"

struct xio_iov_cursor;

/* Demote @c, whose end in this process is @fd, before @fd leaves for code that does not know
 * X-IO. Returns 0, or -errno when it could not be done exactly: @fd then reads ECONNRESET. */
int xio_conn_demote(struct xio_conn *c, int fd);

/*
 * The same for a connection that has not carried a byte yet and whose end
 * leaves for a program under xio-run's seccomp supervisor (supervise/): no
 * wait for the peer, which does its part on its next call (the supervisor
 * serves other calls meanwhile, the peer's accept among them). XIO_DEMOTE=0
 * does not apply: such a program can read nothing else.
 */
int xio_conn_demote_nowait(struct xio_conn *c, int fd);

/*
 * Would every process that holds the other end of the AF_UNIX socket @u
 * (the receiver of an SCM_RIGHTS message sent on @u) adopt an X-IO fd?
 * False when unknown.
 */
bool xio_demote_receiver_preloaded(int u, bool has_name);

/* ---- hooks of the data path (stack/conn.c) ------------------------------- */

/* A doorbell byte from our end, unless demotion closed the way: send()'s result (0: not sent). */
ssize_t xio_demote_bell(struct xio_conn *c, int fd, int flags);

/* Around a doorbell drain of our socket: false when drains are over (demoted). */
bool xio_demote_drain_enter(struct xio_conn *c);
void xio_demote_drain_exit(struct xio_conn *c, uint64_t bytes);

/* A waiter woke on a demoted connection: do this end's part without blocking on locks. */
void xio_demote_poke(struct xio_conn *c, int fd);

/* The last fd of this process on @c is being closed. */
void xio_demote_before_close(struct xio_conn *c, int fd);

/*
 * The data path of a demoted connection: its operations are xio_demote_ops
 * (conn.h). The ring's call these when a demotion comes while they wait.
 */
ssize_t xio_demote_send(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock);
ssize_t xio_demote_send_rest(struct xio_conn *c, int fd, const struct xio_iov_cursor *cur,
			     int flags, bool nonblock);
ssize_t xio_demote_recv(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock);
ssize_t xio_demote_recv_rest(struct xio_conn *c, int fd, const struct xio_iov_cursor *cur,
			     int flags, bool nonblock);
int xio_demote_shutdown(struct xio_conn *c, int fd, int how);

#endif
