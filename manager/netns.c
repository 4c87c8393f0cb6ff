/* SPDX-License-Identifier: MIT */
/*
 * Network namespaces of domain members. Two pods may share a domain, and a
 * sock_diag dump only sees its own namespace, so the sweep must dump every
 * namespace a slot's sockets could live in, or it would free live slots.
 * We learn namespaces from PUBLISH (the listener's own) and HELLO (the
 * peer's), keep an nsfs fd to enter them, and let go of one once nothing
 * refers to it, so a dead pod's namespace is not kept alive by us.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "manager.h"

int mgr_netns_init(struct mgr *m)
{
	struct stat st;

	m->own_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (m->own_netns_fd < 0 || fstat(m->own_netns_fd, &st) < 0)
		return -errno;
	m->own_netns = st.st_ino;
	return 0;
}

static int diag_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	return fd < 0 ? -errno : fd;
}

int mgr_netns_run(struct mgr *m, ssize_t idx, int (*fn)(void *), void *arg)
{
	if (idx < 0)
		return fn(arg);
	if (setns(m->netns[idx].fd, CLONE_NEWNET) < 0)
		return -errno;
	int r = fn(arg);
	if (setns(m->own_netns_fd, CLONE_NEWNET) < 0) {
		mgr_err("cannot return to our network namespace: %s", strerror(errno));
		abort(); /* every later socket would land in the wrong namespace */
	}
	return r;
}

static int diag_socket_cb(void *arg)
{
	(void)arg;
	return diag_socket();
}

int mgr_netns_diag_socket(struct mgr *m, ssize_t idx)
{
	/* a socket stays in the namespace it was made in: enter, make, come back */
	return mgr_netns_run(m, idx, diag_socket_cb, NULL);
}

ssize_t mgr_netns_find(struct mgr *m, uint64_t ino)
{
	for (size_t i = 0; i < m->n_netns; i++)
		if (m->netns[i].ino == ino)
			return (ssize_t)i;
	return -1;
}

int mgr_netns_add_fd(struct mgr *m, int fd, uint64_t *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*ino = st.st_ino;
	if (st.st_ino == m->own_netns || mgr_netns_find(m, st.st_ino) >= 0) {
		close(fd);
		return 0;
	}
	if (m->n_netns == m->cap_netns) {
		size_t cap = m->cap_netns ? m->cap_netns * 2 : 8;
		struct mgr_netns *v = realloc(m->netns, cap * sizeof(*v));
		if (!v) {
			close(fd);
			return -ENOMEM;
		}
		m->netns = v;
		m->cap_netns = cap;
	}
	/* hit: a fresh namespace survives the next prune even before it has slots */
	m->netns[m->n_netns++] = (struct mgr_netns){.ino = st.st_ino, .fd = fd, .hit = true};
	return 0;
}

int mgr_netns_add_pid(struct mgr *m, pid_t pid, uint64_t *ino)
{
	char path[64];
	int fd;

	*ino = 0;
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = mgr_netns_add_fd(m, fd, ino);
	if (r == 0 && *ino == m->own_netns)
		*ino = 0;
	return r;
}

void mgr_netns_ref(struct mgr *m, uint64_t ino, int delta)
{
	ssize_t i = mgr_netns_find(m, ino);

	if (i >= 0)
		m->netns[i].refs += delta;
}

static bool rv_dir_exists(struct mgr *m, uint64_t ino)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/rv/%llu", m->dir, (unsigned long long)ino);
	return stat(path, &st) == 0;
}

void mgr_netns_prune(struct mgr *m)
{
	size_t j = 0;

	for (size_t i = 0; i < m->n_netns; i++) {
		struct mgr_netns *n = &m->netns[i];
		if (n->refs || n->hit || rv_dir_exists(m, n->ino)) {
			m->netns[j++] = *n;
			continue;
		}
		close(n->fd);
	}
	m->n_netns = j;
}

void mgr_netns_close(struct mgr *m)
{
	for (size_t i = 0; i < m->n_netns; i++)
		close(m->netns[i].fd);
	free(m->netns);
	m->netns = NULL;
	m->n_netns = m->cap_netns = 0;
	if (m->own_netns_fd >= 0)
		close(m->own_netns_fd);
	m->own_netns_fd = -1;
}
