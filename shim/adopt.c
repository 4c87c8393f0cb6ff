/* SPDX-License-Identifier: MIT */
/*
 * Lazy classification of fds this process did not create through us:
 * inherited across exec or received over SCM_RIGHTS. Probed once; the
 * answer is cached in the fd table until the fd is closed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>

#include "demote.h"
#include "shim.h"

struct fd_entry *shim_probe(int fd)
{
	struct xio_conn *c;

	if (fd < 0)
		return NULL;
	if (!xio_config()->disabled && xio_conn_adopt(fd, &c) == 0) {
		int fl = real.fcntl(fd, F_GETFL);
		fdt_set_conn(fd, c, fl >= 0 && (fl & O_NONBLOCK));
		xio_log(1, "adopted inherited X-IO connection on fd %d", fd);
	} else {
		fdt_mark_kernel(fd);
	}
	return fdt_get(fd);
}

/* The descriptors of the SCM_RIGHTS messages in @msg, one after the other: @fn(fd, @arg). */
static void each_passed_fd(const struct msghdr *msg, void (*fn)(int fd, void *arg), void *arg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c;
	     c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *fds = (int *)CMSG_DATA(c);
		for (int i = 0; i < n; i++)
			fn(fds[i], arg);
	}
}

static void forget_one(int fd, void *arg)
{
	(void)arg;
	fdt_clear(fd);
}

/* Descriptors that just arrived in @msg must be probed again on first use. */
void shim_forget_received(const struct msghdr *msg)
{
	each_passed_fd(msg, forget_one, NULL);
}

struct passing {
	int u;
	bool named; /* sendto-style: the receiver is named in the message */
	int known;  /* receiver preloaded: -1 not asked yet */
};

static void demote_one(int fd, void *arg)
{
	struct passing *p = arg;
	struct fd_entry *e = shim_conn(fd);
	if (!e)
		return;
	if (p->known < 0)
		p->known = xio_demote_receiver_preloaded(p->u, p->named);
	if (!p->known)
		xio_conn_demote(e->conn, fd);
}

/*
 * An SCM_RIGHTS message on @u is about to carry X-IO connections: demote
 * those whose receiver might not be preloaded (docs/DESIGN.md, "Demotion").
 * Whether it is: every process holding the other end of @u maps the preload
 * (stack/demote.c). Unknown means not.
 */
void shim_demote_passed(int u, const struct msghdr *msg)
{
	struct passing p = {.u = u, .named = msg->msg_name != NULL, .known = -1};
	each_passed_fd(msg, demote_one, &p);
}

/*
 * Demote this process's X-IO connections: every one it uses (@all), or
 * those a program about to be exec'd without the preload inherits (fds
 * without FD_CLOEXEC), including fds this process never touched itself
 * (inherited, not probed yet).
 */
void shim_demote_fds(bool all)
{
	if (all) {
		/*
		 * From our table: a sandbox may already allow no new fd (RLIMIT_NOFILE
		 * 1). A demoted fd is then the kernel's alone: the program's calls on
		 * it reach the kernel as they are, as they would on TCP.
		 */
		int max = fdt_max();
		for (int fd = 0; fd <= max; fd++) {
			struct fd_entry *e = fdt_get(fd);
			if (e && e->kind == FD_CONN && xio_conn_demote(e->conn, fd) == 0) {
				shim_epoll_forget(fd);
				fdt_clear(fd);
				fdt_mark_kernel(fd); /* known plain: no probing syscalls later */
			}
		}
		return;
	}
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		int fd = atoi(de->d_name);
		if (fd == self || xio_is_helper_fd(fd))
			continue;
		int fl = real.fcntl(fd, F_GETFD);
		if (fl < 0 || (!all && (fl & FD_CLOEXEC)))
			continue;
		struct fd_entry *e = shim_conn(fd);
		if (e)
			xio_conn_demote(e->conn, fd);
	}
	closedir(d);
}
