/* SPDX-License-Identifier: MIT */
/*
 * The server's port after its listener is closed. With kernel TCP the
 * accepted sockets keep the listener's port bound (with its SO_REUSEADDR and
 * SO_REUSEPORT) until the last of them is closed; accepted X-IO connections
 * are AF_UNIX sockets and hold nothing. So when a process closes its last fd
 * of a listener while connections it accepted from it live, a hidden kernel
 * TCP socket bound to the listener's address with the listener's options
 * (not listening) stands in for them: a helper fd, released with the last of
 * those connections. Its bind fails when another socket still holds the port
 * as a listener (another copy of it after fork): then nothing is needed.
 *
 * One holder object per listener, shared by the listener and every
 * connection accepted from it in this process (a reference each). A forked
 * child has copies of both the counts and the fd, so each process releases
 * its own copy when its own last connection goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sys.h"

struct xio_porthold {
	_Atomic int refs; /* the listener's + one per accepted connection */
	int fd;		  /* the holder socket, or -1 */
};

struct xio_porthold *xio_porthold_new(void)
{
	struct xio_porthold *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	atomic_init(&p->refs, 1);
	p->fd = -1;
	return p;
}

void xio_porthold_get(struct xio_porthold *p)
{
	if (p)
		atomic_fetch_add(&p->refs, 1);
}

void xio_porthold_put(struct xio_porthold *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	if (p->fd >= 0) {
		xio_helper_fd(p->fd, false);
		xio_sys.close(p->fd);
	}
	free(p);
}

void xio_porthold_listener_closed(struct xio_porthold *p, const struct xio_porthold_addr *a)
{
	/* Called with the listener's reference still held: > 1 means connections live. */
	if (!p || atomic_load(&p->refs) <= 1 || p->fd >= 0)
		return;
	int h = xio_sys.socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h < 0)
		return;
	if ((a->reuseaddr &&
	     xio_sys.setsockopt(h, SOL_SOCKET, SO_REUSEADDR, &a->reuseaddr, sizeof(int)) < 0) ||
	    (a->reuseport &&
	     xio_sys.setsockopt(h, SOL_SOCKET, SO_REUSEPORT, &a->reuseport, sizeof(int)) < 0) ||
	    (a->addr.ss_family == AF_INET6 &&
	     xio_sys.setsockopt(h, IPPROTO_IPV6, IPV6_V6ONLY, &a->v6only, sizeof(int)) < 0) ||
	    xio_sys.bind(h, (const struct sockaddr *)&a->addr, a->len) < 0) {
		/* EADDRINUSE: another copy of the listener (after fork) still holds the port */
		xio_log(2, "no holder for the closed listener's port: %s", strerror(errno));
		xio_sys.close(h);
		return;
	}
	h = xio_fd_move_high(h);
	xio_helper_fd(h, true);
	p->fd = h;
}
