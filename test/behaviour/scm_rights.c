/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection's descriptor passed over an AF_UNIX socket with
 * SCM_RIGHTS works in the receiving process exactly like the original: in
 * a preloaded receiver it is X-IO, bytes flow both ways, epoll sees them;
 * in a receiver that is not preloaded (exec'd without LD_PRELOAD through the
 * raw system call, as a static program would) it is a plain, correct byte
 * stream both ways; the sender's peer sees EOF only when the receiver,
 * holding the last copy, closes it.
 */
#include <poll.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "helpers.h"

/* Serve one passed connection: expect @ping, answer @pong, then close. */
static void serve_passed(int fd, const char *ping, const char *pong, int preloaded)
{
	char buf[64];
	size_t n = strlen(ping);
	if (preloaded) {
		require_xio(fd);
		int ep = OK(epoll_create1(0));
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = 7}, ev;
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
		CHECK_EQ(epoll_wait(ep, &ev, 1, 5000), 1);
		CHECK_EQ(ev.data.u64, 7);
		close(ep);
	}
	read_all(fd, buf, n);
	if (memcmp(buf, ping, n) != 0)
		FAIL("receiver got \"%.*s\", want \"%s\"", (int)n, buf, ping);
	write_all(fd, pong, strlen(pong));
	close(fd);
}

int main(int argc, char **argv)
{
	char buf[64];
	int u[2], c, s;

	if (argc == 3 && strcmp(argv[1], "plain") == 0) {
		/* Not preloaded: the library must not even be mapped here. */
		watchdog(15);
		CHECK_EQ(fd_kind(0), -1);
		/*
		 * Tell the sender we run the new image now: whether a receiver is
		 * preloaded is judged when the fd is sent (not if it execs later).
		 */
		CHECK_EQ(write(atoi(argv[2]), "R", 1), 1);
		serve_passed(recv_fd(atoi(argv[2])), "ping-plain", "pong-plain", 0);
		return 0;
	}
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));

	/* 1. A preloaded receiver (forked before the connection exists). */
	pid_t pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		watchdog(15);
		close(u[0]);
		serve_passed(recv_fd(u[1]), "ping", "pong", 1);
		_exit(0);
	}
	make_pair(&c, &s);
	send_fd(u[0], s);
	OK(close(s));
	write_all(c, "ping", 4);
	read_all(c, buf, 4);
	CHECK(memcmp(buf, "pong", 4) == 0);
	wait_ok(pid);
	struct pollfd p = {.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	close(c);

	/*
	 * 2. A receiver that is not preloaded: X-IO demotes the connection to an
	 * in-band byte stream (docs/DESIGN.md, "Demotion"). Runs as
	 * behaviour_scm_rights_unpreloaded (demote_scm goes further).
	 */
	if (!getenv("XIO_BEH_UNPRELOADED")) {
		printf("scm_rights: ok (preloaded receiver; unpreloaded part not run)\n");
		return 0;
	}
	pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		char a[16];
		close(u[0]);
		snprintf(a, sizeof(a), "%d", u[1]);
		unsetenv("LD_PRELOAD");
		/* The raw system call: the shim re-injects LD_PRELOAD into exec*() calls. */
		char *args[] = {argv[0], "plain", a, NULL};
		syscall(SYS_execve, "/proc/self/exe", args, environ);
		_exit(127);
	}
	CHECK_EQ(read(u[0], buf, 1), 1);
	CHECK_EQ(buf[0], 'R');
	make_pair(&c, &s);
	send_fd(u[0], s);
	OK(close(s));
	write_all(c, "ping-plain", 10);
	read_all(c, buf, 10);
	if (memcmp(buf, "pong-plain", 10) != 0)
		FAIL("sender got \"%.10s\", want \"pong-plain\"", buf);
	wait_ok(pid);
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	close(c);

	printf("scm_rights: ok\n");
	return 0;
}
