/* SPDX-License-Identifier: MIT */
/*
 * The notified socket calls, one handler each. A call on something X-IO does
 * not carry (a UDP or Unix socket, a remote peer, a listener the manager
 * declined) continues in the kernel untouched.
 *
 * connect: the stack makes the connection on our copy of the program's
 *   socket (pidfd_getfd: the same socket), which puts the AF_UNIX end at our
 *   copy's number; the end is demoted at once (an in-band byte stream) and
 *   installed at the program's fd number.
 * listen: the listen is done on our copy, the stack publishes the rendezvous,
 *   and the program's fd becomes an epoll fd that holds the TCP listener and
 *   the rendezvous listener: the program's own poller (Go's netpoller) sees
 *   it readable when either has a connection, and its accept comes here.
 * accept: the stack accepts from either (TCP or X-IO); an X-IO connection is
 *   demoted, and the fd is installed with the call's answer.
 * getsockname/getpeername, get/setsockopt: answered as TCP would for the
 *   fds we installed (a listener: its TCP socket; a connection: the stack).
 */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "demote.h"
#include "stack.h"
#include "sv.h"

/* A listener we published: the program's fd is @ep (inode @ino), its TCP socket is @tcp. */
struct sv_listener {
	dev_t dev;
	ino_t ino;
	int ep, tcp;
	struct xio_listener *l;
	pid_t holders[8]; /* processes seen listening or accepting on it */
	int nholders;
};

static struct sv_listener *listeners;
static int nlisteners, listeners_cap;

/*
 * Without kcmp (a kernel built without CONFIG_KCMP): does the epoll file @fd
 * watch our fd @tcp? Its fdinfo names the fds we registered, in our numbers.
 */
static bool watches(int fd, int tcp)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "re");
	bool found = false;
	int t;
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "tfd: %d", &t) == 1 && t == tcp;
	if (f)
		fclose(f);
	return found;
}

/*
 * Is our copy @fd of a program's fd one of our listeners? Every epoll file has
 * the one inode of anon_inode:[eventpoll]: the inode only rules out other
 * files, kcmp(KCMP_FILE) says which epoll it is.
 */
static struct sv_listener *listener_of(int fd)
{
	struct stat st;
	if (nlisteners == 0 || fstat(fd, &st) < 0)
		return NULL;
	pid_t me = getpid();
	for (int i = 0; i < nlisteners; i++) {
		if (listeners[i].ino != st.st_ino || listeners[i].dev != st.st_dev)
			continue;
		long k = syscall(SYS_kcmp, me, me, KCMP_FILE, fd, listeners[i].ep);
		if (k == 0 || (k < 0 && errno == ENOSYS && watches(fd, listeners[i].tcp)))
			return &listeners[i];
	}
	return NULL;
}

static bool is_tcp_stream(int fd)
{
	int type = 0, proto = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(proto);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) == 0 && proto == IPPROTO_TCP;
}

/* What the program's fd @tfd is to us: *@l, *@c (a reference) or neither. Our copy in *@fd. */
static int what(struct sv_req *r, int tfd, int *fd, struct sv_listener **l, struct xio_conn **c)
{
	*l = NULL;
	*c = NULL;
	*fd = sv_getfd(r, tfd);
	if (*fd < 0)
		return *fd;
	*l = listener_of(*fd);
	if (!*l && xio_conn_adopt(*fd, c) != 0)
		*c = NULL;
	return 0;
}

/* Write a socket address and its length where the program asked (accept, getsockname). */
static int put_name(struct sv_req *r, uint64_t sa, uint64_t lenp, const void *name, socklen_t len)
{
	if (!sa || !lenp)
		return 0;
	socklen_t room;
	int e = sv_read(r, lenp, &room, sizeof(room));
	if (e < 0)
		return e == -ENOENT ? e : -EFAULT;
	if ((int)room < 0)
		return -EINVAL;
	if ((e = sv_write(r, sa, name, room < len ? room : len)) < 0 ||
	    (e = sv_write(r, lenp, &len, sizeof(len))) < 0)
		return e == -ENOENT ? e : -EFAULT;
	return 0;
}

static void note_holder(struct sv_listener *l, struct sv_req *r)
{
	pid_t p = sv_tgid((pid_t)r->n.pid);
	for (int i = 0; i < l->nholders; i++)
		if (l->holders[i] == p)
			return;
	if (p <= 0)
		return;
	int n = (int)(sizeof(l->holders) / sizeof(l->holders[0]));
	if (l->nholders == n)
		memmove(l->holders, l->holders + 1, (size_t)(n - 1) * sizeof(pid_t));
	else
		l->nholders++;
	l->holders[l->nholders - 1] = p;
}

/*
 * Has every process that used @l closed the program's fd of it (the epoll
 * file)? The supervisor does not see close(); it looks when the port is
 * wanted again. False when it cannot tell.
 */
static bool orphaned(struct sv_listener *l)
{
	pid_t me = getpid();
	for (int i = 0; i < l->nholders; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)l->holders[i]);
		DIR *d = opendir(path);
		if (!d)
			continue; /* gone */
		struct dirent *e;
		bool held = false;
		while (!held && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			long k =
			    syscall(SYS_kcmp, l->holders[i], me, KCMP_FILE, atoi(e->d_name), l->ep);
			held = k == 0 || (k < 0 && errno != EBADF && errno != ESRCH);
		}
		closedir(d);
		if (held)
			return false;
	}
	return true;
}

/* The program closed @l: give its port back (new clients are refused, as by the kernel). */
static void release(struct sv_listener *l)
{
	xio_listener_withdraw(l->l, l->tcp);
	xio_listener_put(l->l);
	close(l->tcp);
	close(l->ep);
	*l = listeners[--nlisteners];
}

/* bind: a port we still hold for a listener the program has closed is released first. */
static long on_bind(struct sv_req *r)
{
	const __u64 *a = r->n.data.args;
	struct sockaddr_storage ss;
	socklen_t len = (socklen_t)a[2];
	if (nlisteners == 0 || len < sizeof(sa_family_t) || len > sizeof(ss) ||
	    sv_read(r, a[1], &ss, len) < 0 || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return SV_CONTINUE;
	in_port_t port = ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						 : ((struct sockaddr_in6 *)&ss)->sin6_port;
	for (int i = 0; i < nlisteners && port; i++) {
		struct sockaddr_storage ls;
		socklen_t ll = sizeof(ls);
		if (getsockname(listeners[i].tcp, (struct sockaddr *)&ls, &ll) < 0)
			continue;
		in_port_t lp = ls.ss_family == AF_INET ? ((struct sockaddr_in *)&ls)->sin_port
						       : ((struct sockaddr_in6 *)&ls)->sin6_port;
		if (lp == port && orphaned(&listeners[i])) {
			xio_log(1, "supervisor: port %u of a closed listener released",
				ntohs(port));
			release(&listeners[i]);
			i--;
		}
	}
	return SV_CONTINUE;
}

static long on_connect(struct sv_req *r)
{
	const __u64 *a = r->n.data.args;
	struct sockaddr_storage ss;
	socklen_t len = (socklen_t)a[2];
	if (len < sizeof(sa_family_t) || len > sizeof(ss) || sv_read(r, a[1], &ss, len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return SV_CONTINUE;
	int s = sv_getfd(r, (int)a[0]);
	if (s < 0)
		return SV_CONTINUE;
	if (!is_tcp_stream(s) || listener_of(s)) {
		close(s);
		return SV_CONTINUE;
	}
	struct xio_conn *c = NULL;
	bool nonblock;
	int k = xio_conn_connect(s, (struct sockaddr *)&ss, len, NULL, &c, &nonblock);
	int e = errno;
	if (k != 0) {
		close(s);
		if (k == XIO_NOT_CARRIED)
			return SV_CONTINUE;
		if (k == XIO_TCP_CONNECTED)
			return 0;
		return k == XIO_TCP_FAILED ? -e : k;
	}
	/* A failed demotion leaves an end that reads ECONNRESET: installed all the same. */
	xio_conn_demote_nowait(c, s);
	xio_conn_put(c);
	long v = sv_install(r, s, (int)a[0], sv_cloexec(r, (int)a[0]));
	close(s);
	if (v < 0)
		xio_log(1, "supervisor: connect of pid %u fd %d: cannot install: %s", r->n.pid,
			(int)a[0], strerror((int)-v));
	return v;
}

static long on_listen(struct sv_req *r)
{
	const __u64 *a = r->n.data.args;
	int tfd = (int)a[0], backlog = (int)a[1];
	int s = sv_getfd(r, tfd);
	if (s < 0)
		return SV_CONTINUE;
	struct sv_listener *known = listener_of(s);
	if (known || !is_tcp_stream(s)) {
		/* listen() again on ours changes the backlog; anything else is the kernel's. */
		long v = known ? (listen(known->tcp, backlog) < 0 ? -errno : 0) : SV_CONTINUE;
		close(s);
		return v;
	}
	if (listen(s, backlog) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	struct xio_listener *l;
	if (xio_listener_open(s, &l) != 0) {
		close(s); /* a kernel TCP listener, counted by the stack */
		return 0;
	}
	if (nlisteners == listeners_cap) {
		int cap = listeners_cap ? 2 * listeners_cap : 8;
		struct sv_listener *n = realloc(listeners, (size_t)cap * sizeof(*n));
		if (!n)
			goto kernel;
		listeners = n;
		listeners_cap = cap;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	if (ep < 0)
		goto kernel;
	ev.data.fd = s;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
		goto kernel_ep;
	ev.data.fd = xio_listener_helper_fd(l);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		goto kernel_ep;
	/* The program's blocking or not goes to its new file; ours never blocks. */
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(ep, F_SETFL, fl & O_NONBLOCK) < 0 ||
	    fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0)
		goto kernel_ep;
	struct stat st;
	if (fstat(ep, &st) < 0 || sv_install(r, ep, tfd, sv_cloexec(r, tfd)) < 0) {
		fcntl(s, F_SETFL, fl);
		goto kernel_ep;
	}
	listeners[nlisteners++] =
	    (struct sv_listener){.dev = st.st_dev, .ino = st.st_ino, .ep = ep, .tcp = s, .l = l};
	note_holder(&listeners[nlisteners - 1], r);
	return 0;
kernel_ep:
	if (ep >= 0)
		close(ep);
kernel:
	/* Listening on TCP already: withdraw the rendezvous, the program accepts from TCP. */
	xio_listener_withdraw(l, s);
	xio_listener_put(l);
	close(s);
	return 0;
}

static long on_accept(struct sv_req *r, int flags, int *wait_fd)
{
	const __u64 *a = r->n.data.args;
	int s = sv_getfd(r, (int)a[0]);
	if (s < 0)
		return SV_CONTINUE;
	struct sv_listener *l = listener_of(s);
	close(s);
	if (!l)
		return SV_CONTINUE;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	note_holder(l, r);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct xio_conn *c = NULL;
	int fd = xio_listener_accept(l->l, l->tcp, (struct sockaddr *)&ss, &sl,
				     (flags & SOCK_NONBLOCK) | SOCK_CLOEXEC, true, &c);
	if (fd == -EAGAIN || fd == -EWOULDBLOCK) {
		if (fcntl(l->ep, F_GETFL) & O_NONBLOCK)
			return -EAGAIN;
		*wait_fd = l->ep; /* a blocking accept: answered when one arrives */
		return SV_PENDING;
	}
	if (fd < 0)
		return fd;
	if (c) {
		xio_conn_demote_nowait(c, fd);
		xio_conn_put(c);
	}
	long v = put_name(r, a[1], a[2], &ss, sl);
	if (v == 0)
		v = sv_install_answer(r, fd, flags & SOCK_CLOEXEC);
	close(fd); /* on failure the connection is closed: its peer sees EOF */
	return v == 0 ? SV_ANSWERED : v;
}

static long on_name(struct sv_req *r, bool peer)
{
	const __u64 *a = r->n.data.args;
	struct sv_listener *l;
	struct xio_conn *c;
	int fd;
	if (what(r, (int)a[0], &fd, &l, &c) < 0)
		return SV_CONTINUE;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	long v = SV_CONTINUE;
	if (l)
		v = (peer ? getpeername : getsockname)(l->tcp, (struct sockaddr *)&ss, &sl) < 0
			? -errno
			: 0;
	else if (c)
		v = xio_conn_name(c, peer, (struct sockaddr *)&ss, &sl);
	if (v == 0)
		v = put_name(r, a[1], a[2], &ss, sl);
	if (c)
		xio_conn_put(c);
	close(fd);
	return v;
}

#define OPT_MAX 256

static long on_sockopt(struct sv_req *r, bool set)
{
	const __u64 *a = r->n.data.args;
	int level = (int)a[1], name = (int)a[2];
	struct sv_listener *l;
	struct xio_conn *c;
	int fd;
	if (what(r, (int)a[0], &fd, &l, &c) < 0)
		return SV_CONTINUE;
	long v = SV_CONTINUE;
	char val[OPT_MAX];
	socklen_t len = 0;
	if (l || c) {
		if (set) {
			len = (socklen_t)a[4];
			if (len > sizeof(val))
				v = -EINVAL;
			else if (len && a[3] && sv_read(r, a[3], val, len) < 0)
				v = -EFAULT;
			else if (l)
				v = setsockopt(l->tcp, level, name, val, len) < 0 ? -errno : 0;
			else
				v = xio_conn_setsockopt(c, fd, level, name, val, len);
		} else {
			if (!a[3] || !a[4] || sv_read(r, a[4], &len, sizeof(len)) < 0)
				v = -EFAULT;
			else {
				socklen_t room = len < sizeof(val) ? len : sizeof(val);
				len = room;
				if (l)
					v = getsockopt(l->tcp, level, name, val, &len) < 0 ? -errno
											   : 0;
				else
					v = xio_conn_getsockopt(c, fd, level, name, val, &len);
				if (v == 0 &&
				    (sv_write(r, a[3], val, len < room ? len : room) < 0 ||
				     sv_write(r, a[4], &len, sizeof(len)) < 0))
					v = -EFAULT;
			}
		}
	}
	if (c)
		xio_conn_put(c);
	close(fd);
	return v;
}

long sv_handle(struct sv_req *r, int *wait_fd)
{
	switch (r->n.data.nr) {
	case SYS_connect:
		return on_connect(r);
	case SYS_listen:
		return on_listen(r);
	case SYS_bind:
		return on_bind(r);
	case SYS_accept:
		return on_accept(r, 0, wait_fd);
	case SYS_accept4:
		return on_accept(r, (int)r->n.data.args[3], wait_fd);
	case SYS_getsockname:
		return on_name(r, false);
	case SYS_getpeername:
		return on_name(r, true);
	case SYS_setsockopt:
		return on_sockopt(r, true);
	case SYS_getsockopt:
		return on_sockopt(r, false);
	default:
		return SV_CONTINUE;
	}
}
