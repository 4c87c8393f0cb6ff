/* SPDX-License-Identifier: MIT */
/* fd -> X-IO object table (see fdtable.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fdtable.h"
#include "stack.h"

#define CHUNK_BITS 10
#define CHUNK	   (1 << CHUNK_BITS)
#define NCHUNKS	   4096 /* 4 M fds */

static _Atomic(struct fd_entry *_Atomic *) chunks[NCHUNKS];
static _Atomic int max_fd = -1;

static struct fd_entry *_Atomic *slot_of(int fd, bool create)
{
	if (fd < 0 || fd >= NCHUNKS * CHUNK)
		return NULL;
	struct fd_entry *_Atomic *c =
	    atomic_load_explicit(&chunks[fd >> CHUNK_BITS], memory_order_acquire);
	if (!c && create) {
		struct fd_entry *_Atomic *n = calloc(CHUNK, sizeof(*n));
		if (!n)
			return NULL;
		if (!atomic_compare_exchange_strong(&chunks[fd >> CHUNK_BITS], &c, n))
			free(n);
		else
			c = n;
	}
	return c ? &c[fd & (CHUNK - 1)] : NULL;
}

struct fd_entry *fdt_get(int fd)
{
	struct fd_entry *_Atomic *s = slot_of(fd, false);
	return s ? atomic_load_explicit(s, memory_order_acquire) : NULL;
}

/* Shared by every fd probed as plain kernel: never freed. */
static struct fd_entry kernel_marker = {.kind = FD_KERNEL};

void fdt_mark_kernel(int fd)
{
	struct fd_entry *_Atomic *s = slot_of(fd, true);
	if (s) {
		struct fd_entry *old = NULL;
		/* Only an unknown fd becomes "kernel": never overwrite a live X-IO entry. */
		atomic_compare_exchange_strong(s, &old, &kernel_marker);
	}
}

/* X-IO entries ever freed: epoll sets look for their stale items only when it moved. */
static _Atomic uint64_t closes;

uint64_t fdt_closes(void)
{
	return atomic_load_explicit(&closes, memory_order_acquire);
}

static void entry_free(struct fd_entry *e)
{
	if (!e || e == &kernel_marker)
		return;
	atomic_fetch_add_explicit(&closes, 1, memory_order_release);
	if (e->kind == FD_CONN) {
		xio_conn_fd_count(e->conn, -1);
		xio_conn_put(e->conn);
	} else if (e->kind == FD_LISTENER)
		xio_listener_put(e->listener);
	else if (e->kind == FD_EPOLL)
		ep_set_put(e->epoll);
	/*
	 * Like the kernel's fd table we do not wait for other threads still inside a
	 * call on this fd: closing an fd another thread is using is a bug of the
	 * application (TODO: deferred free, issue 3).
	 */
	free(e);
}

static int install(int fd, struct fd_entry *e)
{
	struct fd_entry *_Atomic *s = slot_of(fd, true);
	if (!s) {
		entry_free(e);
		return -ENOMEM;
	}
	entry_free(atomic_exchange(s, e));
	int m = atomic_load(&max_fd);
	while (fd > m && !atomic_compare_exchange_weak(&max_fd, &m, fd))
		;
	return 0;
}

int fdt_set_conn(int fd, struct xio_conn *c, bool nonblock)
{
	struct fd_entry *e = calloc(1, sizeof(*e));
	if (!e) {
		xio_conn_put(c);
		return -ENOMEM;
	}
	e->kind = FD_CONN;
	e->conn = c;
	e->nonblock = nonblock;
	xio_conn_fd_count(c, 1);
	return install(fd, e);
}

int fdt_set_listener(int fd, struct xio_listener *l, bool nonblock)
{
	struct fd_entry *e = calloc(1, sizeof(*e));
	if (!e) {
		xio_listener_put(l);
		return -ENOMEM;
	}
	e->kind = FD_LISTENER;
	e->listener = l;
	e->nonblock = nonblock;
	return install(fd, e);
}

int fdt_set_epoll(int fd, struct ep_set *set)
{
	struct fd_entry *e = calloc(1, sizeof(*e));
	if (!e) {
		ep_set_put(set);
		return -ENOMEM;
	}
	e->kind = FD_EPOLL;
	e->epoll = set;
	return install(fd, e);
}

void fdt_clear(int fd)
{
	struct fd_entry *_Atomic *s = slot_of(fd, false);
	if (s)
		entry_free(atomic_exchange(s, NULL));
}

void fdt_dup(int oldfd, int newfd)
{
	/* socket.c: through another fd of a socket its options may change. */
	shim_fresh_forget(newfd, true);
	struct fd_entry *e = fdt_get(oldfd);
	if (!e || e->kind == FD_KERNEL) {
		fdt_clear(newfd);
		return;
	}
	if (e->kind == FD_CONN) {
		xio_conn_get(e->conn);
		fdt_set_conn(newfd, e->conn, e->nonblock);
	} else if (e->kind == FD_LISTENER) {
		xio_listener_get(e->listener);
		fdt_set_listener(newfd, e->listener, e->nonblock);
	} else if (e->kind == FD_EPOLL) {
		ep_set_get(e->epoll);
		fdt_set_epoll(newfd, e->epoll);
	}
}

void fdt_set_nonblock(int fd, bool nonblock)
{
	struct fd_entry *e = fdt_get(fd);
	if (!e || e->kind == FD_KERNEL)
		return;
	if (e->kind == FD_CONN && !xio_conn_fd_shared(e->conn)) {
		e->nonblock = nonblock; /* no other fd of it: no need to walk the table */
		return;
	}
	void *obj = e->kind == FD_CONN ? (void *)e->conn : (void *)e->listener;
	int max = fdt_max();
	for (int i = 0; i <= max; i++) {
		struct fd_entry *o = fdt_get(i);
		if (o && o->kind == e->kind &&
		    (o->kind == FD_CONN ? (void *)o->conn : (void *)o->listener) == obj)
			o->nonblock = nonblock;
	}
}

int fdt_max(void)
{
	return atomic_load(&max_fd);
}
