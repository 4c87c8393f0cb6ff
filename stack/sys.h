/* SPDX-License-Identifier: MIT */
/*
 * The real system calls the stack uses. Inside libxio_preload.so the libc
 * names resolve to the shim's own wrappers, so the shim fills this table with
 * the next definitions (dlsym RTLD_NEXT) before the stack runs; everywhere
 * else (manager, tests) xio_sys_use_libc() points it at libc directly.
 */
#ifndef XIO_SYS_H
#define XIO_SYS_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct xio_sys {
	int (*socket)(int, int, int);
	int (*close)(int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*fcntl)(int, int, ...);
	int (*dup3)(int, int, int);
	int (*shutdown)(int, int);
};

extern struct xio_sys xio_sys;

/* Point every entry at libc (for programs that do not interpose libc). */
void xio_sys_use_libc(void);

#endif
