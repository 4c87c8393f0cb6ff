/* SPDX-License-Identifier: MIT */
/* Inside the supervisor: one notified call, and what the call handlers may do with it. */
#ifndef XIO_SV_H
#define XIO_SV_H

#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sv_req {
	int nfd;		/* the filter's listener */
	struct seccomp_notif n; /* the call: n.pid is the calling thread */
	int pidfd;		/* of n.pid, opened on first need (-1) */
};

/* What a handler returns besides a result (>= 0) or -errno. */
#define SV_CONTINUE (-100000L) /* let the kernel run the call as it is */
#define SV_ANSWERED (-100001L) /* answered already (an fd installed with the answer) */
#define SV_PENDING  (-100002L) /* not yet: try again once *wait_fd is readable */

/* Copy from / to the calling process's memory; 0 or -errno (-ENOENT: the call is gone). */
int sv_read(struct sv_req *r, uint64_t addr, void *buf, size_t len);
int sv_write(struct sv_req *r, uint64_t addr, const void *buf, size_t len);

/* A copy of the caller's fd @fd in this process (close-on-exec), or -errno. */
int sv_getfd(struct sv_req *r, int fd);
/* Is the caller's fd @fd close-on-exec? */
bool sv_cloexec(struct sv_req *r, int fd);
/* Put our @src at the caller's fd number @fd (replacing what is there): 0 or -errno. */
int sv_install(struct sv_req *r, int src, int fd, bool cloexec);
/* Put our @src at a new fd of the caller and answer the call with its number: 0 or -errno. */
int sv_install_answer(struct sv_req *r, int src, bool cloexec);

/* The thread group (process) of thread @tid, or -1. */
pid_t sv_tgid(pid_t tid);

/* Handle the call (calls.c); *wait_fd is set with SV_PENDING. */
long sv_handle(struct sv_req *r, int *wait_fd);

#endif
