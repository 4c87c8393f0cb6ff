/* SPDX-License-Identifier: MIT */
/*
 * Putting a program under the supervisor: fork the supervisor (twice, so
 * that it is nobody's child and the program keeps xio-run's pid), install
 * the seccomp filter that notifies the set-up socket calls, and hand the
 * filter's listener fd to the supervisor over a socketpair (SCM_RIGHTS).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise.h"
#include "sys.h"

/* The calls the supervisor sees; every other call never leaves the kernel. */
static const int notified[] = {SYS_connect,	SYS_accept,	SYS_accept4,
			       SYS_listen,	SYS_bind,	SYS_getsockname,
			       SYS_getpeername, SYS_setsockopt, SYS_getsockopt};
#define NNOTIFIED (int)(sizeof(notified) / sizeof(notified[0]))

static int install_filter(void)
{
	struct sock_filter f[4 + NNOTIFIED + 2];
	int n = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	/* Another ABI (x32, i386 int 0x80): allowed, not carried. */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	for (int i = 0; i < NNOTIFIED; i++)
		/* Equal: jump over the remaining tests and the ALLOW to the NOTIFY. */
		f[n++] =
		    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)notified[i],
						 (unsigned char)(NNOTIFIED - i), 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};

	long fd =
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0 && errno == EACCES) {
		/* Without CAP_SYS_ADMIN a filter needs no_new_privs (set-user-ID programs then
		 * run without their privileges, as under any seccomp sandbox). */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return -errno;
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			     &prog);
	}
	return fd < 0 ? -errno : (int)fd;
}

static int send_fd(int sock, int fd)
{
	char byte = fd >= 0 ? 1 : 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The supervisor's process: keep only stderr and the socket, wait for the listener, serve. */
static void supervisor(int sock)
{
	for (int fd = 0; fd < 3; fd++)
		if (fd != 2) {
			int null = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (null >= 0 && null != fd) {
				dup2(null, fd);
				close(null);
			}
		}
	/* Nothing of the program's stays open here (a pipe held would keep its reader waiting). */
	int high = sock > 2 ? sock : 3;
	if (sock > 3)
		syscall(SYS_close_range, 3, sock - 1, 0);
	syscall(SYS_close_range, high + 1, ~0U, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN); /* ^C is for the program; we leave when it does */
	signal(SIGHUP, SIG_IGN);
	setsid(); /* not in the program's process group: its job control is not ours */
	xio_sys_use_libc();
	int nfd = recv_fd(sock);
	close(sock);
	if (nfd < 0)
		_exit(0); /* the program runs without us */
	xio_sv_serve(nfd);
}

int xio_sv_start(void)
{
	const char *sw = getenv("XIO_SUPERVISE");
	if (sw && !strcmp(sw, "0"))
		return -ENOSYS;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t mid = fork();
	if (mid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (mid == 0) {
		close(sv[0]);
		pid_t sup = fork();
		if (sup == 0)
			supervisor(sv[1]);
		_exit(sup < 0 ? 1 : 0);
	}
	close(sv[1]);
	int st = 0;
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	int nfd = -EAGAIN;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		nfd = install_filter();
	if (nfd < 0) {
		send_fd(sv[0], -1); /* the supervisor leaves */
		close(sv[0]);
		return nfd;
	}
	int r = send_fd(sv[0], nfd);
	close(nfd);
	close(sv[0]);
	/*
	 * Without a supervisor the filter stays and every notified call fails
	 * with ENOSYS: nothing better can be done once the filter is in.
	 */
	return r;
}
