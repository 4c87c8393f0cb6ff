/* SPDX-License-Identifier: MIT */
/*
 * The control socket: AF_UNIX SOCK_SEQPACKET at <dir>/control, served by
 * libevent. One struct mgr_client per connection, one message per read
 * event (level-triggered, so queued requests come back round).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "manager.h"

#define REQ_MAX		256 /* larger than any request; more is garbage */
#define ACCEPT_BURST	64
#define ACCEPT_PAUSE_MS 100

static void client_free(struct mgr_client *c)
{
	struct mgr *m = c->m;

	TAILQ_REMOVE(&m->clients, c, link);
	if (!c->send_only)
		m->nclients--;
	mgr_pair_client_gone(m, c);
	if (c->netns)
		mgr_netns_ref(m, c->netns, -1);
	event_free(c->rd_ev);
	event_free(c->wr_ev);
	close(c->fd);
	free(c);
}

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/*
 * recvmsg() returned 0 without descriptors: end-of-file, or an empty
 * SOCK_SEQPACKET message (which is no request of ours, but no reason to drop
 * the client either). After the peer's close the socket reports RDHUP.
 */
static bool peer_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
	int r = poll(&p, 1, 0);

	return r < 0 || (r == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)));
}

static void client_read(evutil_socket_t fd, short what, void *arg)
{
	struct mgr_client *c = arg;
	union {
		struct xio_msg_hdr h;
		char b[REQ_MAX];
	} u;
	int fds[2] = {-1, -1}, nfds = 0;
	ssize_t n;

	(void)what;
	n = xio_recv_with_fds(fd, u.b, sizeof(u.b), fds, &nfds, 2);
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return;
	if (n == 0 && (nfds > 0 || !peer_gone(fd)))
		n = -EMSGSIZE; /* an empty message, not end-of-file: garbage */
	if (n == -EMSGSIZE) {
		/* empty, too long or too many fds: not a request of ours */
		struct xio_msg_hdr h;
		close_fds(fds, nfds);
		mgr_reply(c, &h, sizeof(h), -EPROTO, NULL, 0);
	} else if (n <= 0) {
		close_fds(fds, nfds); /* none arrive with an error or EOF; be sure */
		c->dead = true;
	} else {
		mgr_handle(c, u.b, (size_t)n, fds, nfds); /* closes every fd it does not keep */
	}
	if (c->dead) {
		client_free(c);
		return;
	}
	mgr_sweep_arm(c->m);
}

static void client_write(evutil_socket_t fd, short what, void *arg)
{
	struct mgr_client *c = arg;

	(void)fd;
	(void)what;
	mgr_conns_continue(c);
	if (c->dead)
		client_free(c);
}

struct mgr_client *mgr_client_new(struct mgr *m, int fd)
{
	struct mgr_client *c = calloc(1, sizeof(*c));
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	if (!c) {
		close(fd);
		return NULL;
	}
	c->m = m;
	c->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		c->pid = cred.pid;
	c->rd_ev = event_new(m->base, fd, EV_READ | EV_PERSIST, client_read, c);
	c->wr_ev = event_new(m->base, fd, EV_WRITE, client_write, c);
	if (!c->rd_ev || !c->wr_ev || event_add(c->rd_ev, NULL) < 0) {
		if (c->rd_ev)
			event_free(c->rd_ev);
		if (c->wr_ev)
			event_free(c->wr_ev);
		close(fd);
		free(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&m->clients, c, link);
	m->nclients++;
	return c;
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct mgr *m = arg;

	(void)fd;
	(void)what;
	event_add(m->ctl_ev, NULL);
}

static void ctl_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct mgr *m = arg;

	(void)what;
	for (int k = 0; k < ACCEPT_BURST; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			mgr_client_new(m, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* level-triggered: stop listening a moment instead of spinning */
			struct timeval tv = {.tv_usec = ACCEPT_PAUSE_MS * 1000};
			mgr_err("control socket: %s, pausing accepts", strerror(errno));
			event_del(m->ctl_ev);
			event_base_once(m->base, -1, EV_TIMEOUT, accept_resume, m, &tv);
		}
		return;
	}
}

int mgr_control_open(struct mgr *m)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	TAILQ_INIT(&m->clients);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->ctl_path);
	/* we hold the domain lock: whatever is there is a dead manager's */
	if (unlink(sa.sun_path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, m->sock_mode) < 0 ||
	    (m->o.gid != (gid_t)-1 && chown(sa.sun_path, (uid_t)-1, m->o.gid) < 0) ||
	    listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		unlink(sa.sun_path);
		return r;
	}
	m->ctl_fd = fd;
	m->ctl_ev = event_new(m->base, fd, EV_READ | EV_PERSIST, ctl_accept, m);
	if (!m->ctl_ev || event_add(m->ctl_ev, NULL) < 0)
		return -ENOMEM;
	r = mgr_denied_open(m);
	if (r < 0) /* not fatal: only the count of refused processes is lost */
		mgr_err("cannot serve %s.denied: %s", m->dir, strerror(-r));
	return 0;
}

void mgr_control_close(struct mgr *m)
{
	mgr_denied_close();
	while (!TAILQ_EMPTY(&m->clients))
		client_free(TAILQ_FIRST(&m->clients));
	if (m->ctl_ev)
		event_free(m->ctl_ev);
	m->ctl_ev = NULL;
	if (m->ctl_fd >= 0) {
		close(m->ctl_fd);
		unlink(m->ctl_path);
	}
	m->ctl_fd = -1;
}
