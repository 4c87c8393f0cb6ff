/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection inherited through fork + exec by a new image (this
 * same program, preloaded again) keeps working there — it is still X-IO,
 * poll and epoll see its data, bytes flow both ways, SO_TYPE says stream —
 * while a copy marked close-on-exec (dup3 O_CLOEXEC, SOCK_CLOEXEC from
 * accept4, FD_CLOEXEC via fcntl) is gone in the new image (EBADF); the peer
 * sees EOF only when the exec'd image, holding the last copy, exits.
 */
#include <poll.h>
#include <sys/epoll.h>

#include "helpers.h"

/* The exec'd image: argv = self "child" <fd> <cloexec fd> <cloexec fd> <cloexec fd> */
static int child_main(char **argv)
{
	int fd = atoi(argv[2]);
	char buf[16];

	watchdog(15);
	for (int i = 3; i < 6; i++)
		CHECK_ERR(fcntl(atoi(argv[i]), F_GETFD), EBADF);
	CHECK_EQ(OK(fcntl(fd, F_GETFD)) & FD_CLOEXEC, 0);
	require_xio(fd);
	int type = 0;
	socklen_t len = sizeof(type);
	OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len));
	CHECK_EQ(type, SOCK_STREAM);

	/* The parent writes "hello" after we say "ready". */
	write_all(fd, "ready", 5);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EVENTS(p.revents, POLLIN);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 42}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
	CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
	CHECK_EQ(ev.data.u64, 42);
	read_all(fd, buf, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	write_all(fd, "world", 5);
	return 0; /* exit closes the last copy */
}

int main(int argc, char **argv)
{
	char buf[16];
	uint16_t port;

	if (argc == 6 && strcmp(argv[1], "child") == 0)
		return child_main(argv);
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);

	int l = listen_lo(&port);
	int c = connect_lo(port);
	int s = OK(accept4(l, NULL, NULL, SOCK_CLOEXEC)); /* close-on-exec by accept4 */
	require_xio(c);
	require_xio(s);
	CHECK(OK(fcntl(s, F_GETFD)) & FD_CLOEXEC);
	int keep = OK(dup(s)); /* dup never copies FD_CLOEXEC */
	CHECK_EQ(OK(fcntl(keep, F_GETFD)) & FD_CLOEXEC, 0);
	int d3 = OK(dup3(s, 60, O_CLOEXEC));
	int fx = OK(dup(s));
	OK(fcntl(fx, F_SETFD, FD_CLOEXEC));

	pid_t pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		char a[4][16];
		snprintf(a[0], sizeof(a[0]), "%d", keep);
		snprintf(a[1], sizeof(a[1]), "%d", s);
		snprintf(a[2], sizeof(a[2]), "%d", d3);
		snprintf(a[3], sizeof(a[3]), "%d", fx);
		execl("/proc/self/exe", argv[0], "child", a[0], a[1], a[2], a[3], (char *)NULL);
		_exit(127);
	}
	/* The parent lets go of every copy: only the exec'd image holds the connection. */
	close(s);
	close(keep);
	close(d3);
	close(fx);
	close(l);

	read_all(c, buf, 5);
	CHECK(memcmp(buf, "ready", 5) == 0);
	write_all(c, "hello", 5);
	read_all(c, buf, 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	wait_ok(pid);
	struct pollfd p = {.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	close(c);
	printf("cloexec_exec: ok\n");
	return 0;
}
