/* SPDX-License-Identifier: MIT */
/*
 * Server side of the rendezvous: publish an AF_UNIX listener next to a
 * kernel TCP listener, and accept X-IO and TCP connections alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "slot.h"
#include "sys.h"

/* How long accept waits for the offer of a client that connected but has not sent it yet. */
#define OFFER_WAIT_MS 1000

struct xio_listener {
	_Atomic int refs;
	int helper; /* AF_UNIX listener (high fd, close-on-exec) */
	int family; /* of the TCP listener */
	struct xio_endpoint local;
	struct xio_domain *dom;
};

int xio_listener_helper_fd(const struct xio_listener *l)
{
	return l->helper;
}

void xio_listener_get(struct xio_listener *l)
{
	atomic_fetch_add(&l->refs, 1);
}

void xio_listener_put(struct xio_listener *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	xio_helper_fd(l->helper, false);
	xio_sys.close(l->helper);
	/* Hint: the manager removes the entry if no process listens on it any more. */
	struct xio_msg_hdr req, rep;
	xio_msg_init(&req, XIO_CTL_UNPUBLISH, sizeof(req));
	(void)xio_control_call(&req, sizeof(req), NULL, 0, &rep, sizeof(rep), NULL);
	free(l);
}

static int move_high(int fd)
{
	struct rlimit rl;
	int base = 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64)
		base = (int)(rl.rlim_cur * 3 / 4);
	int nfd = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, base);
	if (nfd < 0)
		return fd;
	xio_sys.close(fd);
	return nfd;
}

int xio_listener_open(int fd, struct xio_listener **out)
{
	const struct xio_config *cfg = xio_config();
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	enum xio_fallback why;
	int backlog = SOMAXCONN;

	if (cfg->disabled)
		return XIO_NOT_CARRIED;
	if (xio_sys.getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return XIO_NOT_CARRIED;
	struct xio_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return XIO_NOT_CARRIED;
	if (xio_ep_from_sockaddr(&l->local, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	l->family = ss.ss_family;
	l->dom = xio_domain_get(&why);
	if (!l->dom)
		goto fail;
	int u = xio_sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (u < 0)
		goto fail;
	struct xio_ctl_publish req = {.pid = getpid()};
	struct xio_ctl_publish_reply rep;
	xio_msg_init(&req.hdr, XIO_CTL_PUBLISH, sizeof(req));
	int fds[2] = {u, fd};
	ssize_t n = xio_control_call(&req, sizeof(req), fds, 2, &rep, sizeof(rep), NULL);
	if (n < 0 || xio_msg_check(&rep, (size_t)n, XIO_CTL_REPLY, sizeof(rep)) < 0 ||
	    rep.hdr.status < 0 || xio_sys.listen(u, backlog) < 0) {
		xio_log(1, "publish refused: %s",
			n < 0 ? strerror((int)-n) : strerror(rep.hdr.status < 0 ? -rep.hdr.status : EPROTO));
		xio_sys.close(u);
		goto fail;
	}
	rep.path[sizeof(rep.path) - 1] = 0;
	xio_log(1, "published %s", rep.path);
	l->helper = move_high(u);
	xio_helper_fd(l->helper, true);
	atomic_init(&l->refs, 1);
	*out = l;
	return 0;
fail:
	free(l);
	return XIO_NOT_CARRIED;
}

/* Read the client's offer, waiting briefly if it has not arrived yet. */
static int read_offer(int u, struct xio_hs_offer *o)
{
	size_t got = 0;
	int waited = 0;

	while (got < sizeof(*o)) {
		ssize_t n = xio_sys.recv(u, (char *)o + got, sizeof(*o) - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ENODATA; /* client died mid-handshake */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || waited >= OFFER_WAIT_MS)
			return -errno == -EAGAIN ? -ETIMEDOUT : -errno;
		struct pollfd p = {.fd = u, .events = POLLIN};
		xio_sys.poll(&p, 1, 50);
		waited += 50;
	}
	return 0;
}

/* Complete the handshake on a freshly accepted AF_UNIX stream @u. */
static int handshake(struct xio_listener *l, int u, struct xio_conn **out)
{
	struct xio_hs_offer o;
	struct stat st;
	int r = read_offer(u, &o);

	if (r == 0)
		r = xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o));
	if (r == 0)
		r = xio_offer_check(&o, l->dom->generation, l->dom->hdr->nslots);
	if (r < 0)
		return r;
	struct xio_slot *s = xio_slot_at(l->dom->hdr, o.slot);
	if (fstat(u, &st) < 0)
		return -errno;
	/* The answer: claiming the slot accepts; returning an error closes the stream (refused). */
	r = xio_slot_claim(s, o.token, st.st_ino, getpid());
	if (r < 0)
		return r;
	s->server.family = (uint16_t)l->family; /* for adoption after exec */
	struct xio_conn *c = xio_conn_new(l->dom, s, true);
	if (!c)
		return -ENOMEM;
	c->family = l->family;
	c->token = o.token;
	c->tuple.local = o.server;
	c->tuple.remote = o.client;
	/* What getsockname says on an accepted socket: the address the client reached. */
	c->tuple.local.port = l->local.port;
	xio_conn_register(c);
	atomic_fetch_add_explicit(&l->dom->hdr->stats.conns_total, 1, memory_order_relaxed);
	*out = c;
	return 0;
}

/* Give the accepted fd exactly the flags accept4() was asked for. */
static int apply_flags(int nfd, int flags)
{
	int fl = xio_sys.fcntl(nfd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = (flags & SOCK_NONBLOCK) ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (xio_sys.fcntl(nfd, F_SETFL, fl) < 0 ||
	    xio_sys.fcntl(nfd, F_SETFD, (flags & SOCK_CLOEXEC) ? FD_CLOEXEC : 0) < 0)
		return -errno;
	return 0;
}

static int accept_xio(struct xio_listener *l, struct sockaddr *sa, socklen_t *len, int flags,
		      struct xio_conn **conn)
{
	for (;;) {
		int u = xio_sys.accept4(l->helper, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (u < 0)
			return -errno;
		int r = handshake(l, u, conn);
		if (r == 0)
			r = apply_flags(u, flags);
		if (r == 0) {
			if (sa && len) {
				int k = xio_ep_to_sockaddr(&(*conn)->tuple.remote, l->family, sa, len);
				if (k < 0)
					r = k;
			}
			if (r == 0)
				return u;
			xio_conn_put(*conn);
			*conn = NULL;
		}
		/* A truncated or stale offer is that client's problem: drop it, try the next. */
		xio_log(1, "dropped a rendezvous connection: %s", strerror(-r));
		xio_sys.close(u);
	}
}

int xio_listener_accept(struct xio_listener *l, int fd, struct sockaddr *sa, socklen_t *len,
			int flags, bool nonblock, struct xio_conn **conn)
{
	*conn = NULL;
	for (;;) {
		int r = accept_xio(l, sa, len, flags, conn);
		if (r >= 0 || (r != -EAGAIN && r != -EWOULDBLOCK))
			return r;
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = l->helper, .events = POLLIN}};
		if (!nonblock) {
			/* Sleep on both queues; accept4 on the TCP listener only once it is ready. */
			if (xio_sys.poll(p, 2, -1) < 0) {
				if (errno == EINTR && xio_signal_restarts())
					continue;
				return -errno;
			}
			if (!(p[0].revents & POLLIN))
				continue;
		}
		int t = xio_sys.accept4(fd, sa, len, flags);
		if (t >= 0)
			return t;
		return -errno;
	}
}
