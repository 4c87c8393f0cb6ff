/* SPDX-License-Identifier: MIT */
/*
 * <rundir>/<domain>.denied: where a process that may not join the domain
 * (the control socket refused its uid and group) says so, so that xio-stat
 * counts what X-IO declined there too. Such a process has no mapping of the
 * domain's memory to count in itself.
 *
 * An AF_UNIX datagram socket next to the domain's directory (which is closed
 * to others), writable by everyone: anyone may send, and all a message can do
 * is add one to no_domain_access or listener_no_domain_access. The sender's
 * credentials come from the kernel (SO_PASSCRED); a claim from root or from
 * the domain's --group, who could have joined, is dropped. Reading is bounded
 * per event, so a flood costs the manager no more than a full socket buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "manager.h"

#define DENIED_BURST 64

static int denied_fd = -1;
static struct event *denied_ev;
static char denied_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void denied_read(evutil_socket_t fd, short what, void *arg)
{
	struct mgr *m = arg;
	(void)what;

	for (int k = 0; k < DENIED_BURST; k++) {
		struct xio_denied msg;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(struct ucred))];
		} ctl;
		struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = &ctl,
				    .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return; /* EAGAIN: done */
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		if ((size_t)n != sizeof(msg) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !c ||
		    c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS ||
		    xio_msg_check(&msg, (size_t)n, XIO_DENIED, sizeof(msg)) < 0 ||
		    (msg.reason != XIO_FB_NO_DOMAIN_ACCESS &&
		     msg.reason != XIO_FB_LISTENER_NO_DOMAIN_ACCESS))
			continue;
		struct ucred cr;
		memcpy(&cr, CMSG_DATA(c), sizeof(cr));
		if (cr.uid == 0 || cr.uid == geteuid() ||
		    (m->o.gid != (gid_t)-1 && cr.gid == m->o.gid))
			continue; /* could have joined: not what this socket is for */
		atomic_fetch_add_explicit(&m->hdr->stats.fallback[msg.reason], 1,
					  memory_order_relaxed);
		if (m->o.verbose)
			fprintf(stderr, "xio-manager: pid %d uid %u gid %u may not join: %s\n",
				(int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid,
				xio_fallback_name(msg.reason));
	}
}

int mgr_denied_open(struct mgr *m)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int one = 1, fd, r;

	if (snprintf(denied_path, sizeof(denied_path), "%s.denied", m->dir) >=
	    (int)sizeof(denied_path)) {
		denied_path[0] = 0;
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, denied_path, sizeof(denied_path));
	/* we hold the domain lock: whatever is there is a dead manager's */
	if (unlink(sa.sun_path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0622) < 0) {
		r = -errno;
		close(fd);
		unlink(sa.sun_path);
		return r;
	}
	denied_ev = event_new(m->base, fd, EV_READ | EV_PERSIST, denied_read, m);
	if (!denied_ev || event_add(denied_ev, NULL) < 0) {
		close(fd);
		unlink(sa.sun_path);
		return -ENOMEM;
	}
	denied_fd = fd;
	return 0;
}

void mgr_denied_close(void)
{
	if (denied_ev)
		event_free(denied_ev);
	denied_ev = NULL;
	if (denied_fd >= 0) {
		close(denied_fd);
		unlink(denied_path);
	}
	denied_fd = -1;
}
