/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's loop: receive each notified call, let calls.c handle it,
 * answer. A call that would block (accept on a blocking listener with nothing
 * queued) is kept and tried again when its listener becomes readable, so one
 * waiting thread never stops the others. The loop ends when the last process
 * under the filter has exited (the listener reports POLLHUP).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stack.h"
#include "supervise.h"
#include "sv.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

static bool still_valid(struct sv_req *r)
{
	__u64 id = r->n.id;
	return ioctl(r->nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int sv_read(struct sv_req *r, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = {buf, len}, rem = {(void *)(uintptr_t)addr, len};
	if (process_vm_readv((pid_t)r->n.pid, &l, 1, &rem, 1, 0) != (ssize_t)len)
		return errno ? -errno : -EFAULT;
	/* The thread may have died and its tid been reused between notification and read. */
	return still_valid(r) ? 0 : -ENOENT;
}

int sv_write(struct sv_req *r, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = {(void *)buf, len}, rem = {(void *)(uintptr_t)addr, len};
	if (!still_valid(r))
		return -ENOENT;
	if (process_vm_writev((pid_t)r->n.pid, &l, 1, &rem, 1, 0) != (ssize_t)len)
		return errno ? -errno : -EFAULT;
	return 0;
}

/* The thread group of thread @tid (/proc/TID/status), or -1. */
pid_t sv_tgid(pid_t tid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	int tgid = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	if (f)
		fclose(f);
	return tgid;
}

int sv_getfd(struct sv_req *r, int fd)
{
	if (r->pidfd < 0) {
		r->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)r->n.pid, PIDFD_THREAD);
		if (r->pidfd < 0 && errno == EINVAL) {
			/* Before Linux 6.9 a pidfd names a thread group: its leader's pid. */
			pid_t g = sv_tgid((pid_t)r->n.pid);
			if (g > 0)
				r->pidfd = (int)syscall(SYS_pidfd_open, g, 0);
		}
		if (r->pidfd < 0)
			return -errno;
		if (!still_valid(r))
			return -ENOENT;
	}
	int f = (int)syscall(SYS_pidfd_getfd, r->pidfd, fd, 0);
	return f < 0 ? -errno : f;
}

bool sv_cloexec(struct sv_req *r, int fd)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%u/fdinfo/%d", r->n.pid, fd);
	FILE *f = fopen(path, "re");
	bool on = true; /* what Go always asks for */
	if (!f)
		return on;
	while (fgets(line, sizeof(line), f)) {
		unsigned long flags;
		if (sscanf(line, "flags: %lo", &flags) == 1) {
			on = (flags & 02000000) != 0; /* O_CLOEXEC */
			break;
		}
	}
	fclose(f);
	return on;
}

int sv_install(struct sv_req *r, int src, int fd, bool cloexec)
{
	struct seccomp_notif_addfd a = {.id = r->n.id,
					.flags = SECCOMP_ADDFD_FLAG_SETFD,
					.srcfd = (__u32)src,
					.newfd = (__u32)fd,
					.newfd_flags = cloexec ? O_CLOEXEC : 0};
	return ioctl(r->nfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 ? -errno : 0;
}

int sv_install_answer(struct sv_req *r, int src, bool cloexec)
{
	struct seccomp_notif_addfd a = {.id = r->n.id,
					.flags = SECCOMP_ADDFD_FLAG_SEND,
					.srcfd = (__u32)src,
					.newfd_flags = cloexec ? O_CLOEXEC : 0};
	return ioctl(r->nfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 ? -errno : 0;
}

static void answer(struct sv_req *r, long v)
{
	if (v == SV_ANSWERED)
		return;
	struct seccomp_notif_resp resp = {.id = r->n.id};
	if (v == SV_CONTINUE)
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (v < 0)
		resp.error = (__s32)v;
	else
		resp.val = v;
	/* ENOENT: the caller is gone (killed, or a signal interrupted the call). */
	ioctl(r->nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* Handle @r; true when it must wait (kept in the pending list, its fd in *wait_fd). */
static bool run(struct sv_req *r, int *wait_fd)
{
	long v = sv_handle(r, wait_fd);
	if (v == SV_PENDING)
		return true;
	answer(r, v);
	return false;
}

#define MAX_PENDING 256

void xio_sv_serve(int nfd)
{
	struct seccomp_notif_sizes sizes;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0 ||
	    sizes.seccomp_notif > sizeof(struct seccomp_notif))
		/* A kernel whose notification is larger than ours: answered as ENOSYS by
		 * the kernel once we leave. Not seen on any kernel we know. */
		_exit(1);
	static struct sv_req pending[MAX_PENDING];
	static int wait[MAX_PENDING];
	int npending = 0;
	struct pollfd p[1 + MAX_PENDING];

	for (;;) {
		p[0] = (struct pollfd){.fd = nfd, .events = POLLIN};
		for (int i = 0; i < npending; i++)
			p[1 + i] = (struct pollfd){.fd = wait[i], .events = POLLIN};
		int k = poll(p, (nfds_t)(1 + npending), npending ? 1000 : -1);
		if (k < 0 && errno != EINTR)
			_exit(1);
		/* Kept calls first: their listener has something, or their caller went away. */
		for (int i = 0; i < npending; i++) {
			bool ready = k > 0 && p[1 + i].revents;
			if (!ready && (k != 0 || still_valid(&pending[i])))
				continue; /* checked for a gone caller once a second */
			bool keep = ready && still_valid(&pending[i]) && run(&pending[i], &wait[i]);
			if (!keep) {
				if (pending[i].pidfd >= 0)
					close(pending[i].pidfd);
				pending[i] = pending[npending - 1];
				wait[i] = wait[npending - 1];
				p[1 + i] = p[npending];
				npending--;
				i--;
			}
		}
		if (k <= 0 || !p[0].revents)
			continue;
		if (p[0].revents & (POLLHUP | POLLERR) && !(p[0].revents & POLLIN))
			_exit(0); /* every process under the filter has exited */
		struct sv_req r = {.nfd = nfd, .pidfd = -1};
		memset(&r.n, 0, sizeof(r.n));
		if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &r.n) < 0)
			continue; /* EINTR, or ENOENT: the caller was gone before we looked */
		int w = -1;
		if (run(&r, &w)) {
			if (npending < MAX_PENDING) {
				pending[npending] = r;
				wait[npending++] = w;
				continue;
			}
			answer(&r,
			       -EAGAIN); /* 256 threads blocked in accept: one is told to retry */
		}
		if (r.pidfd >= 0)
			close(r.pidfd);
	}
}
