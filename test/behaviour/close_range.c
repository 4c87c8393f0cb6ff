/* SPDX-License-Identifier: MIT */
/*
 * Proves: close_range over a span of descriptors that holds connections
 * closes them (their peers see EOF) and leaves the others alone;
 * CLOSE_RANGE_CLOEXEC only marks them (still usable, no EOF);
 * close_range(3, ~0U) and closefrom(3) — what daemons do before exec —
 * close everything the program owns, yet new connections made afterwards
 * are X-IO and work (the shim's own descriptors were not taken away), and an
 * epoll set created afterwards works too.
 */
#include <linux/close_range.h>
#include <poll.h>
#include <sys/epoll.h>

#include "helpers.h"

static void eof_on(int c)
{
	char b;
	struct pollfd p = {.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(c, &b, 1), 0);
}

static void round_trip(int a, int b)
{
	char buf[8];
	write_all(a, "ping", 4);
	read_all(b, buf, 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	write_all(b, "pong", 4);
	read_all(a, buf, 4);
	CHECK(memcmp(buf, "pong", 4) == 0);
}

/* A fresh pair works, is X-IO, and epoll sees its data. */
static void fresh_pair_works(void)
{
	int c, s;
	make_pair(&c, &s);
	round_trip(c, s);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 5}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	write_all(c, "e", 1);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
	CHECK_EQ(ev.data.u64, 5);
	close(ep);
	close(c);
	close(s);
}

int main(void)
{
	int c[3], s[3];

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);

	/* Put three server ends at 50, 51, 52 and the clients far away. */
	for (int i = 0; i < 3; i++) {
		int cc, ss;
		make_pair(&cc, &ss);
		c[i] = OK(fcntl(cc, F_DUPFD, 80 + i));
		s[i] = 50 + i;
		CHECK_EQ(dup2(ss, s[i]), s[i]);
		close(cc);
		close(ss);
		require_xio(s[i]);
		require_xio(c[i]);
	}

	/* CLOSE_RANGE_CLOEXEC: marked, still open, still a connection. */
	OK(close_range(50, 52, CLOSE_RANGE_CLOEXEC));
	for (int i = 0; i < 3; i++) {
		CHECK(OK(fcntl(s[i], F_GETFD)) & FD_CLOEXEC);
		round_trip(c[i], s[i]);
	}

	/* Close 50..51: those peers see EOF, 52 lives on. */
	OK(close_range(50, 51, 0));
	CHECK_ERR(fcntl(50, F_GETFD), EBADF);
	CHECK_ERR(fcntl(51, F_GETFD), EBADF);
	eof_on(c[0]);
	eof_on(c[1]);
	round_trip(c[2], s[2]);

	/* The numbers are free again and take new connections. */
	int c2, s2;
	make_pair(&c2, &s2);
	CHECK_EQ(dup2(s2, 50), 50);
	close(s2);
	round_trip(c2, 50);
	close(50);
	close(c2);

	/* close_range(3, ~0U): everything goes, the shim keeps working. */
	OK(close_range(3, ~0U, 0));
	CHECK_ERR(fcntl(c[2], F_GETFD), EBADF);
	CHECK_ERR(fcntl(s[2], F_GETFD), EBADF);
	fresh_pair_works();

	/* closefrom(3) (glibc calls the close_range system call itself). */
	int keep_c, keep_s;
	make_pair(&keep_c, &keep_s);
	closefrom(3);
	CHECK_ERR(fcntl(keep_c, F_GETFD), EBADF);
	fresh_pair_works();

	printf("close_range: ok\n");
	return 0;
}
