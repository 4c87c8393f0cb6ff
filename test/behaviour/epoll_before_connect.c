/* SPDX-License-Identifier: MIT */
/*
 * Proves: a socket registered in epoll before its connect (Netty, postfix's
 * event loop) stays registered as the same socket: a non-blocking connect's
 * completion is reported as EPOLLOUT with the application's data, MOD and
 * DEL find the registration, and bytes from the server are reported as
 * EPOLLIN afterwards; the same for a blocking connect and for a socket in
 * two sets.
 */
#include <stdbool.h>
#include <sys/epoll.h>

#include "helpers.h"

static void one(bool nonblock)
{
	uint16_t port;
	int l = listen_lo(&port);
	int c = OK(socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0));
	int ep = OK(epoll_create1(0)), ep2 = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLOUT, .data.u64 = 0x77}, ev[4];
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
	e.data.u64 = 0x88;
	OK(epoll_ctl(ep2, EPOLL_CTL_ADD, c, &e));

	struct sockaddr_in a = sin_of("127.0.0.1", port);
	int r = connect(c, (struct sockaddr *)&a, sizeof(a));
	CHECK(r == 0 || (nonblock && errno == EINPROGRESS));
	CHECK_EQ(epoll_wait(ep, ev, 4, 2000), 1);
	CHECK_EQ(ev[0].data.u64, 0x77);
	CHECK_EQ(ev[0].events, EPOLLOUT);
	CHECK_EQ(epoll_wait(ep2, ev, 4, 2000), 1);
	CHECK_EQ(ev[0].data.u64, 0x88);
	int s = OK(accept(l, NULL, NULL));
	require_xio(c);

	/* The registration is the connection's: MOD and DEL find it. */
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0x99};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
	CHECK_EQ(epoll_wait(ep, ev, 4, 100), 0);
	write_all(s, "hi", 2);
	CHECK_EQ(epoll_wait(ep, ev, 4, 2000), 1);
	CHECK_EQ(ev[0].data.u64, 0x99);
	CHECK_EQ(ev[0].events, EPOLLIN);
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL));
	OK(epoll_ctl(ep2, EPOLL_CTL_DEL, c, NULL));
	CHECK_EQ(epoll_wait(ep, ev, 4, 0), 0);
	close(ep);
	close(ep2);
	close(c);
	close(s);
	close(l);
}

int main(void)
{
	watchdog(20);
	one(true);
	one(false);
	printf("ok\n");
	return 0;
}
