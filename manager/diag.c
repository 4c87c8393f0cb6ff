/* SPDX-License-Identifier: MIT */
/*
 * AF_UNIX sock_diag dumps: which socket inodes exist (slot liveness) and
 * which paths have a listener (rendezvous liveness). A dump sees only the
 * network namespace its netlink socket was created in; netns.c makes
 * sockets in the others.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "manager.h"
#include "unix_diag.h"

/* ---- inode sets ----------------------------------------------------------- */

int mgr_inoset_add(struct mgr_inoset *s, uint64_t ino)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ino;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void mgr_inoset_sort(struct mgr_inoset *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
}

bool mgr_inoset_has(const struct mgr_inoset *s, uint64_t ino)
{
	return s->n && bsearch(&ino, s->v, s->n, sizeof(*s->v), cmp_u64);
}

void mgr_inoset_free(struct mgr_inoset *s)
{
	free(s->v);
	*s = (struct mgr_inoset){0};
}

/* ---- the dump itself ---------------------------------------------------- */

typedef int (*dump_cb)(const struct unix_diag_msg *d, struct rtattr *attr, size_t alen, void *arg);

static int dump(int nl, uint32_t states, uint32_t show, dump_cb cb, void *arg)
{
	static uint32_t seq;
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct sockaddr_nl nladdr = {.nl_family = AF_NETLINK};
	struct xio_unix_diag_req msg = xio_unix_diag_req(states, show, true, 0, ++seq);

	if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&nladdr, sizeof(nladdr)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != msg.nlh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : -EIO;
			}
			struct rtattr *attr;
			int alen;
			struct unix_diag_msg *d = xio_unix_diag_msg(h, &attr, &alen);
			if (!d)
				continue;
			int r = cb(d, attr, (size_t)alen, arg);
			if (r < 0)
				return r;
		}
	}
}

static int ino_cb(const struct unix_diag_msg *d, struct rtattr *attr, size_t alen, void *arg)
{
	(void)attr;
	(void)alen;
	return mgr_inoset_add(arg, d->udiag_ino);
}

int mgr_diag_inodes(int nl, struct mgr_inoset *set)
{
	return dump(nl, ~0u, 0, ino_cb, set);
}

struct listen_ctx {
	mgr_listen_cb cb;
	void *arg;
};

static int listen_cb(const struct unix_diag_msg *d, struct rtattr *a, size_t alen, void *arg)
{
	struct listen_ctx *lc = arg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	uint32_t qlen = 0;
	uint64_t vfs_ino = 0;
	bool named = false;
	int len = (int)alen;

	(void)d;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t plen = RTA_PAYLOAD(a);
		if (a->rta_type == UNIX_DIAG_NAME && plen > 0) {
			const char *p = RTA_DATA(a);
			if (p[0] == 0)
				return 0; /* abstract: never a rendezvous */
			if (plen >= sizeof(path))
				plen = sizeof(path) - 1;
			memcpy(path, p, plen);
			path[plen] = 0;
			named = true;
		} else if (a->rta_type == UNIX_DIAG_VFS && plen >= sizeof(struct unix_diag_vfs)) {
			vfs_ino = ((struct unix_diag_vfs *)RTA_DATA(a))->udiag_vfs_ino;
		} else if (a->rta_type == UNIX_DIAG_RQLEN &&
			   plen >= sizeof(struct unix_diag_rqlen)) {
			qlen = ((struct unix_diag_rqlen *)RTA_DATA(a))->udiag_rqueue;
		}
	}
	if (named)
		lc->cb(path, vfs_ino, qlen, lc->arg);
	return 0;
}

int mgr_diag_listeners(int nl, mgr_listen_cb cb, void *arg)
{
	struct listen_ctx lc = {.cb = cb, .arg = arg};
	return dump(nl, 1u << TCP_LISTEN, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN,
		    listen_cb, &lc);
}

struct bound_ctx {
	uint64_t sock_ino, vfs_ino;
	bool found;
};

static int bound_cb(const struct unix_diag_msg *d, struct rtattr *a, size_t alen, void *arg)
{
	struct bound_ctx *b = arg;
	int len = (int)alen;

	if (d->udiag_ino != b->sock_ino)
		return 0;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == UNIX_DIAG_VFS && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_vfs))
			b->vfs_ino = ((struct unix_diag_vfs *)RTA_DATA(a))->udiag_vfs_ino;
	b->found = true;
	return 0;
}

int mgr_diag_bound_ino(int nl, uint64_t sock_ino, uint64_t *vfs_ino)
{
	struct bound_ctx b = {.sock_ino = sock_ino};
	int r = dump(nl, 1u << TCP_LISTEN, UDIAG_SHOW_VFS, bound_cb, &b);

	if (r < 0)
		return r;
	if (!b.found || !b.vfs_ino)
		return -ENOENT;
	*vfs_ino = b.vfs_ino;
	return 0;
}
