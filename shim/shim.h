/* SPDX-License-Identifier: MIT */
/*
 * Shared by the shim's wrappers: the next definitions of the libc functions
 * we interpose (resolved once with dlsym(RTLD_NEXT)), and small helpers to
 * turn the stack's negative errno into the POSIX -1/errno convention.
 */
#ifndef XIO_SHIM_H
#define XIO_SHIM_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdtable.h"
#include "stack.h"

#define XIO_EXPORT __attribute__((visibility("default")))

struct real_fns {
	int (*socket)(int, int, int);
	int (*close)(int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *,
			    const sigset_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*shutdown)(int, int);
	int (*close_range)(unsigned int, unsigned int, int);
};

extern struct real_fns real;
extern int shim_ready;

/* The next definition of libc function @name (for wrappers resolved on first use). */
void *shim_next(const char *name);

/* Resolve the real functions and hand them to the stack. Idempotent, thread safe. */
void shim_init(void);

#define SHIM_INIT()                                                                                \
	do {                                                                                       \
		if (__builtin_expect(!shim_ready, 0))                                              \
			shim_init();                                                               \
	} while (0)

/* First use of an fd we know nothing about: adopt an inherited X-IO connection or mark it kernel.
 */
struct fd_entry *shim_probe(int fd);

/* The X-IO entry (connection, listener, epoll set) behind @fd, or NULL for a kernel fd. */
static inline struct fd_entry *shim_entry(int fd)
{
	struct fd_entry *e = fdt_get(fd);
	if (__builtin_expect(!e, 0))
		e = shim_probe(fd);
	return e && e->kind != FD_KERNEL ? e : NULL;
}

/* The X-IO connection behind @fd, or NULL. */
static inline struct fd_entry *shim_conn(int fd)
{
	struct fd_entry *e = shim_entry(fd);
	return e && e->kind == FD_CONN ? e : NULL;
}

static inline long shim_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Descriptors received with SCM_RIGHTS: forget stale entries (adopt.c). */
void shim_forget_received(const struct msghdr *msg);

/* Demote X-IO fds an SCM_RIGHTS message on @u passes to a process that may not be preloaded
 * (adopt.c). */
void shim_demote_passed(int u, const struct msghdr *msg);
/* epoll_ctl on a kernel fd succeeded: a socket not yet connected may get a new file (socket.c). */
void shim_fresh_epoll(int fd, int epfd, int op, const struct epoll_event *ev);

/* Demote every X-IO connection (@all) or those an exec'd program inherits (adopt.c). */
void shim_demote_fds(bool all);
/*
 * @envp with LD_PRELOAD (this library), XIO_DOMAIN and XIO_RUNDIR put back
 * where missing; @envp itself when nothing is (exec.c).
 */
char *const *shim_fixed_env(char *const envp[]);
/* Give back what shim_fixed_env(@envp) made (@env), if it made anything. */
void shim_fixed_env_free(char *const *env, char *const envp[]);
/*
 * RLIMIT_AS around an exec (rlimit.c): put the program's own limit back
 * before it; true if it was lowered. @any_file: execvp's search, which
 * runs /bin/sh on a file that is not ELF.
 */
bool shim_rlimit_before_exec(const char *path, bool any_file);
/* The exec returned: raise the limit again if shim_rlimit_before_exec() lowered it (@lowered). */
void shim_rlimit_exec_failed(bool lowered);
/* The child @pid was spawned (a copy of us, then an exec): give it the program's own limit. */
void shim_rlimit_spawned(pid_t pid);
/* Does this process run with a limit raised for X-IO's mappings? */
bool shim_rlimit_raised(void);
/* A seccomp filter is about to be installed (sandbox.c). */
void shim_before_seccomp(void);

/* poll(2) over a mix of X-IO and kernel fds (poll.c); used by select too. */
int shim_poll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask);

/* Our epoll set @epfd is watched from outside (another epoll, poll, select). */
void shim_epoll_nested(int epfd);

/* Forget epoll registrations of @fd (close) (epoll.c). */
void shim_epoll_forget(int fd);

#endif
