/* SPDX-License-Identifier: MIT */
/*
 * Proves: after its partner fd left for a process that is not preloaded, a
 * connection watched with EPOLLET reports an arrival once, as TCP does (not
 * again on every epoll_wait while the byte stays unread), and EPOLL_CTL_MOD,
 * EPOLL_CTL_DEL and a second EPOLL_CTL_ADD act on it as on a kernel socket.
 * Under X-IO the demoted connection's registration is handed to the kernel
 * once the switch is over (shim/epoll.c, hand_over).
 */
#include <stdlib.h>

#include "demote_stream.h"

/* The receiver: on 'W' write one byte to the connection and answer 'A'; on 'Q' leave. */
static int plain(int uu)
{
	int s = recv_fd(uu);
	char cmd;
	while (read(uu, &cmd, 1) == 1 && cmd == 'W') {
		CHECK_EQ(write(s, "x", 1), 1);
		CHECK_EQ(write(uu, "A", 1), 1);
	}
	close(s);
	return 0;
}

/* Have the receiver write one byte to our end and wait until it did. */
static void one_byte(int u)
{
	char a;
	CHECK_EQ(write(u, "W", 1), 1);
	CHECK_EQ(read(u, &a, 1), 1);
}

static int wait_n(int ep, int ms)
{
	struct epoll_event ev[4];
	int n = epoll_wait(ep, ev, 4, ms);
	CHECK(n >= 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(ev[i].data.u64, 42u);
	return n;
}

int main(int argc, char **argv)
{
	int u[2], c, s;
	char b[4];

	if (argc == 3 && strcmp(argv[1], "plain") == 0)
		return plain(plain_ready(argv[2]));
	pid_t recv = start_plain_receiver(argv[0], u);
	make_pair(&c, &s);
	require_xio(c);
	send_fd(u[0], s);
	OK(close(s));
	set_nonblock(c, 1);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u64 = 42};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));

	/* An arrival, read to EAGAIN: one report, then none. */
	one_byte(u[0]);
	CHECK_EQ(wait_n(ep, 5000), 1);
	CHECK_EQ(read(c, b, sizeof(b)), 1);
	CHECK_ERR(read(c, b, sizeof(b)), EAGAIN);
	CHECK_EQ(wait_n(ep, 100), 0);
	/* An arrival left unread: reported once, not on every later wait. */
	one_byte(u[0]);
	CHECK_EQ(wait_n(ep, 5000), 1);
	CHECK_EQ(wait_n(ep, 100), 0);
	CHECK_EQ(wait_n(ep, 0), 0);
	/* Another arrival is a new edge. */
	one_byte(u[0]);
	CHECK_EQ(wait_n(ep, 5000), 1);
	CHECK_EQ(wait_n(ep, 100), 0);
	/* Level-triggered after EPOLL_CTL_MOD: reported while unread. */
	e.events = EPOLLIN;
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
	CHECK_EQ(wait_n(ep, 1000), 1);
	CHECK_EQ(wait_n(ep, 0), 1);
	/* Gone after EPOLL_CTL_DEL, back after EPOLL_CTL_ADD. */
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL));
	CHECK_EQ(wait_n(ep, 100), 0);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL), ENOENT);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, c, &e), ENOENT);
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e), EEXIST);
	CHECK_EQ(wait_n(ep, 1000), 1);
	CHECK_EQ(read(c, b, sizeof(b)), 2);
	CHECK(b[0] == 'x' && b[1] == 'x');
	CHECK_EQ(wait_n(ep, 100), 0);
	CHECK_EQ(write(u[0], "Q", 1), 1);
	CHECK_EQ(wait_n(ep, 5000), 1); /* the receiver's close: EOF is readable */
	CHECK_EQ(read(c, b, sizeof(b)), 0);
	close(ep);
	close(c);
	wait_ok(recv);
	printf("demote_epoll_et: ok\n");
	return 0;
}
