/* SPDX-License-Identifier: MIT */
/*
 * The shim's fd table: which application fds are X-IO connections or X-IO
 * listeners. Two-level array of atomic pointers indexed by fd: lookups are
 * two loads and never lock; an fd the table does not know is plain kernel.
 */
#ifndef XIO_FDTABLE_H
#define XIO_FDTABLE_H

#include <stdbool.h>
#include <stdint.h>

struct xio_conn;
struct xio_listener;
struct ep_set;

enum fd_kind { FD_KERNEL = 0, FD_CONN, FD_LISTENER, FD_EPOLL };

struct fd_entry {
	enum fd_kind kind;
	union {
		struct xio_conn *conn;
		struct xio_listener *listener;
		struct ep_set *epoll; /* an epoll fd holding X-IO fds (epoll.c) */
	};
	bool nonblock; /* O_NONBLOCK of the open file, tracked through fcntl/ioctl */
};

/* The entry for @fd, or NULL for a plain kernel fd. */
struct fd_entry *fdt_get(int fd);

/* Install (takes over one reference of the conn/listener); replaces any old entry. */
int fdt_set_conn(int fd, struct xio_conn *c, bool nonblock);
int fdt_set_listener(int fd, struct xio_listener *l, bool nonblock);
int fdt_set_epoll(int fd, struct ep_set *s);

/* Reference counting of epoll sets lives in epoll.c. */
void ep_set_get(struct ep_set *s);
void ep_set_put(struct ep_set *s);

/* Remember that @fd was probed and is plain kernel (no allocation). */
void fdt_mark_kernel(int fd);

/* Forget @fd, dropping its reference (close, dup2 over it). */
void fdt_clear(int fd);

/* Make @newfd refer to what @oldfd refers to (dup family). */
void fdt_dup(int oldfd, int newfd);

/*
 * socket.c's records of TCP sockets made by socket(): forget @fd's; @dup: a
 * socket got another fd (its options may change behind a record).
 */
void shim_fresh_forget(int fd, bool dup);

/*
 * @fd is about to be closed in the kernel (close, dup2 over it, close_range):
 * if it is a listener, note what its port holder needs (socket.c). Its entry
 * must be dropped only after the kernel close.
 */
void shim_listener_closing(int fd);

/*
 * O_NONBLOCK belongs to the open file: set it on every fd of this process
 * that refers to the same connection or listener as @fd.
 */
void fdt_set_nonblock(int fd, bool nonblock);

/* Largest fd number that may have an entry, for close_range. */
int fdt_max(void);
/* How many X-IO entries were ever freed (closed or replaced); only ever grows. */
uint64_t fdt_closes(void);

#endif
