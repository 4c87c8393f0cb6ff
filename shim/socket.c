/* SPDX-License-Identifier: MIT */
/*
 * Connection set-up and teardown: listen, accept, connect, close, shutdown,
 * names and options. Each wrapper classifies the fd and either hands the
 * call to the stack or passes it to libc.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "demote.h"
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

/* No connect in progress or done on kernel TCP socket @fd (one we hold no record of). */
static bool tcp_closed(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	return real.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
	       ti.tcpi_state == TCP_CLOSE;
}

static bool fd_nonblock(int fd)
{
	int fl = real.fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

/*
 * TCP sockets this process made with socket(), by fd number: what connect()
 * would otherwise ask the kernel (two getsockopt calls to see it is TCP,
 * four for the options a connection carries over). A record counts only if
 * the fd still holds that very socket (SO_COOKIE: one call instead of six).
 * Its options are trusted only if no fd was duplicated and no fork happened
 * since it was made (the epoch): another fd of the same socket could have
 * set them. Timeouts set on it are not mirrored (the kernel rounds them):
 * they are read back as before.
 */
#define FRESH_CHUNK_BITS 10
#define FRESH_CHUNK	 (1 << FRESH_CHUNK_BITS)
#define FRESH_CHUNKS	 64 /* fds below 65536 */

/* An epoll registration of a socket before its connect (see connect()). */
struct fresh_ep {
	int epfd;
	struct epoll_event ev;
};
#define FRESH_EPS 4

struct fresh {
	_Atomic uint64_t cookie; /* 0: no record */
	uint32_t epoch;
	uint8_t neps;
	struct fresh_ep eps[FRESH_EPS];
	bool opts_known;
	bool kernel_connect;	   /* connect() went to the kernel: so do later ones */
	struct xio_sock_opts opts; /* .unbound: no bind() through us since socket() */
};

static struct fresh *_Atomic fresh_chunks[FRESH_CHUNKS];
static _Atomic uint32_t fresh_epoch = 1;

static struct fresh *fresh_at(int fd, bool create)
{
	if (fd < 0 || fd >= FRESH_CHUNKS * FRESH_CHUNK)
		return NULL;
	struct fresh *c =
	    atomic_load_explicit(&fresh_chunks[fd >> FRESH_CHUNK_BITS], memory_order_acquire);
	if (!c && create) {
		struct fresh *n = calloc(FRESH_CHUNK, sizeof(*n));
		if (!n)
			return NULL;
		if (atomic_compare_exchange_strong(&fresh_chunks[fd >> FRESH_CHUNK_BITS], &c, n))
			c = n;
		else
			free(n);
	}
	return c ? &c[fd & (FRESH_CHUNK - 1)] : NULL;
}

static uint64_t sock_cookie(int fd)
{
	uint64_t v = 0;
	socklen_t l = sizeof(v);
	return real.getsockopt(fd, SOL_SOCKET, SO_COOKIE, &v, &l) == 0 ? v : 0;
}

void shim_fresh_forget(int fd, bool dup)
{
	struct fresh *f = fresh_at(fd, false);
	if (f)
		atomic_store_explicit(&f->cookie, 0, memory_order_release);
	if (dup)
		atomic_fetch_add(&fresh_epoch, 1);
}

static void fresh_new_epoch(void)
{
	atomic_fetch_add(&fresh_epoch, 1);
}

__attribute__((constructor)) static void fresh_hooks(void)
{
	pthread_atfork(NULL, fresh_new_epoch, fresh_new_epoch);
}

/* A setsockopt on kernel fd @fd succeeded: keep its record in step. */
static void fresh_note_option(int fd, int level, int name, const void *val, socklen_t len)
{
	struct fresh *f = fresh_at(fd, false);
	if (!f || !atomic_load_explicit(&f->cookie, memory_order_acquire))
		return;
	int v = 0;
	if (val && len >= (socklen_t)sizeof(int))
		memcpy(&v, val, sizeof(v));
	if (level == IPPROTO_TCP && name == TCP_NODELAY && val && len >= (socklen_t)sizeof(int))
		f->opts.nodelay = v != 0;
	else if (level == SOL_SOCKET && name == SO_KEEPALIVE && val &&
		 len >= (socklen_t)sizeof(int))
		f->opts.keepalive = v != 0;
	else if ((level == IPPROTO_TCP && name == TCP_NODELAY) ||
		 (level == SOL_SOCKET &&
		  (name == SO_KEEPALIVE || name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD ||
		   name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW)))
		f->opts_known = false;
}

/*
 * Is @fd a TCP socket this process created, still the same socket? Returns
 * -1 (unknown: ask the kernel), 0 (yes, options unknown) or 1 (yes, options
 * in *@opts).
 */
static int fresh_check(int fd, struct xio_sock_opts *opts)
{
	struct fresh *f = fresh_at(fd, false);
	uint64_t ck = f ? atomic_load_explicit(&f->cookie, memory_order_acquire) : 0;
	if (!ck)
		return -1;
	if (sock_cookie(fd) != ck) {
		atomic_store_explicit(&f->cookie, 0, memory_order_relaxed);
		return -1;
	}
	if (!f->opts_known || f->epoch != atomic_load(&fresh_epoch))
		return 0;
	*opts = f->opts;
	return 1;
}

/*
 * epoll_ctl on @fd, a kernel fd, succeeded: keep the registrations of a
 * socket of ours that is not connected yet. An X-IO connect gives @fd a new
 * file (the AF_UNIX end), and the kernel's registration would stay with the
 * old one: connect() moves them (Netty and postfix register before they
 * connect).
 */
void shim_fresh_epoll(int fd, int epfd, int op, const struct epoll_event *ev)
{
	struct fresh *f = fresh_at(fd, false);
	if (!f || !atomic_load_explicit(&f->cookie, memory_order_acquire))
		return;
	int i = 0;
	while (i < f->neps && f->eps[i].epfd != epfd)
		i++;
	if (op == EPOLL_CTL_DEL) {
		if (i < f->neps)
			f->eps[i] = f->eps[--f->neps];
		return;
	}
	if (!ev)
		return;
	if (i == f->neps) {
		if (f->neps == FRESH_EPS)
			return; /* more sets than we keep: those stay with the old file */
		f->neps++;
	}
	f->eps[i] = (struct fresh_ep){epfd, *ev};
}

/* Take @fd out of the epoll sets it was registered in before connect; returns how many. */
static int eps_take(int fd, struct fresh_ep *out)
{
	struct fresh *f = fresh_at(fd, false);
	int n = 0;
	for (int i = 0; f && i < f->neps; i++)
		if (real.epoll_ctl(f->eps[i].epfd, EPOLL_CTL_DEL, fd, NULL) == 0)
			out[n++] = f->eps[i]; /* only sets that really held it */
	if (f)
		f->neps = 0;
	return n;
}

/* Register @fd again in those sets: through X-IO's epoll if it is an X-IO connection now. */
static void eps_restore(int fd, struct fresh_ep *eps, int n, bool xio)
{
	for (int i = 0; i < n; i++) {
		if (xio)
			epoll_ctl(eps[i].epfd, EPOLL_CTL_ADD, fd, &eps[i].ev);
		else
			real.epoll_ctl(eps[i].epfd, EPOLL_CTL_ADD, fd, &eps[i].ev);
	}
}

XIO_EXPORT int socket(int domain, int type, int protocol)
{
	SHIM_INIT();
	int fd = real.socket(domain, type, protocol);
	if (fd >= 0)
		fdt_clear(fd); /* a number we missed the close of */
	if (fd < 0 || (domain != AF_INET && domain != AF_INET6) ||
	    (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP) || xio_config()->disabled)
		return fd;
	struct fresh *f = fresh_at(fd, true);
	if (!f)
		return fd;
	atomic_store_explicit(&f->cookie, 0, memory_order_relaxed);
	uint64_t ck = sock_cookie(fd);
	if (!ck)
		return fd;
	f->epoch = atomic_load(&fresh_epoch);
	f->neps = 0;
	f->opts_known = true;
	f->kernel_connect = false;
	/* A new socket: Nagle on, no keepalive, no timeouts. */
	memset(&f->opts, 0, sizeof(f->opts));
	f->opts.family = domain;
	f->opts.unbound = true;
	atomic_store_explicit(&f->cookie, ck, memory_order_release);
	return fd;
}

/*
 * Only to keep socket()'s records true: a socket bound through us is no
 * longer "unbound" (one bound behind our back makes X-IO's own bind fail,
 * and the connect then goes to the kernel).
 */
XIO_EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	SHIM_INIT();
	struct fresh *f = fresh_at(fd, false);
	if (f && atomic_load_explicit(&f->cookie, memory_order_acquire))
		f->opts.unbound = false; /* before: a failed bind may still have bound nothing */
	return real.bind(fd, sa, len);
}

XIO_EXPORT int listen(int fd, int backlog)
{
	SHIM_INIT();
	int r = real.listen(fd, backlog);
	struct fd_entry *e = fdt_get(fd);
	if (r < 0 || (e && e->kind != FD_KERNEL) || xio_config()->disabled || !is_tcp_socket(fd))
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
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || xio_config()->disabled)
		return real.connect(fd, sa, len);
	struct xio_sock_opts known;
	int fk = fresh_check(fd, &known);
	if (fk < 0 && (!is_tcp_socket(fd) || !tcp_closed(fd)))
		return real.connect(fd, sa, len);
	/*
	 * A socket whose connect fell back to TCP is the kernel's from then on:
	 * a second connect() reports its progress (EALREADY, EISCONN, 0).
	 */
	if (fk >= 0 && fresh_at(fd, false)->kernel_connect)
		return real.connect(fd, sa, len);
	struct xio_conn *c;
	bool nb = false;
	struct fresh_ep eps[FRESH_EPS];
	int neps = fk >= 0 ? eps_take(fd, eps) : 0;
	int r = xio_conn_connect(fd, sa, len, fk > 0 ? &known : NULL, &c, &nb);
	if (r == XIO_NOT_CARRIED || r == XIO_TCP_CONNECTED || r == XIO_TCP_FAILED) {
		int err = errno;
		if (fk >= 0) {
			struct fresh *f = fresh_at(fd, false);
			f->opts.unbound = false; /* X-IO may have bound it */
			f->kernel_connect = true;
		}
		eps_restore(fd, eps, neps, false);
		if (r == XIO_NOT_CARRIED)
			return real.connect(fd, sa, len);
		errno = err; /* the stack made the kernel connect (pair.c) */
		return r == XIO_TCP_CONNECTED ? 0 : -1;
	}
	if (r < 0) {
		eps_restore(fd, eps, neps, false);
		return (int)shim_ret(r);
	}
	shim_fresh_forget(fd, false); /* @fd is the AF_UNIX end now */
	fdt_set_conn(fd, c, nb);
	eps_restore(fd, eps, neps, true);
	if (nb) {
		/* What a non-blocking TCP connect says; the fd is writable right away. */
		xio_conn_set_connect_pending(c);
		errno = EINPROGRESS;
		return -1;
	}
	return 0;
}

void shim_listener_closing(int fd)
{
	struct fd_entry *e = fdt_get(fd);
	if (e && e->kind == FD_LISTENER)
		xio_listener_closing(e->listener, fd);
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
	struct xio_listener *closing = NULL;
	if (e) {
		if (e->kind == FD_LISTENER) {
			/* Dropped after the real close: the port may need a holder. */
			closing = e->listener;
			xio_listener_get(closing);
			xio_listener_closing(closing, fd);
		}
		if (e->kind == FD_CONN && !xio_conn_fd_shared(e->conn))
			xio_demote_before_close(e->conn, fd); /* a demoted ring first */
		if (e->kind == FD_CONN && xio_conn_linger_abort(e->conn) &&
		    !xio_conn_fd_shared(e->conn))
			xio_conn_abort(e->conn, fd);
		shim_epoll_forget(fd);
		fdt_clear(fd);
	}
	shim_fresh_forget(fd, false);
	int r = real.close(fd);
	if (closing) {
		int err = errno;
		xio_listener_put(closing);
		errno = err;
	}
	return r;
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

XIO_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	SHIM_INIT();
	struct fd_entry *l = fdt_get(fd);
	if (l && l->kind == FD_LISTENER && level == IPPROTO_TCP && name == TCP_DEFER_ACCEPT) {
		int r = real.setsockopt(fd, level, name, val, len);
		if (r == 0) /* the kernel's rounding decides the time, as for its own connections */
			xio_listener_defer_changed(l->listener, fd);
		return r;
	}
	struct fd_entry *e = shim_conn(fd);
	if (!e) {
		int r = real.setsockopt(fd, level, name, val, len);
		if (r == 0)
			fresh_note_option(fd, level, name, val, len);
		return r;
	}
	return (int)shim_ret(xio_conn_setsockopt(e->conn, fd, level, name, val, len));
}
