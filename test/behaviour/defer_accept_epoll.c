/* SPDX-License-Identifier: MIT */
/*
 * Proves: TCP_DEFER_ACCEPT set and cleared after listen() on a listener
 * that is registered in epoll (pgbouncer does so on every reload) keeps the
 * registration and takes effect at once: with the option set, a silent
 * client leaves epoll_wait quiet and accept at EAGAIN, its first byte makes
 * the listener readable; with the option cleared, a silent client is
 * acceptable at once; set again, the next silent one waits again. Under
 * X-IO the listener stays carried throughout and every connection is X-IO.
 */
#include <sys/epoll.h>

#include "helpers.h"

static void set_defer(int l, int secs)
{
	OK(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)));
	require_xio_listener(l);
}

/* A silent client must not make the listener readable; its first byte must. */
static void deferred(int ep, int l, uint16_t port)
{
	struct epoll_event ev;
	int c = connect_lo(port);
	require_xio(c);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 300), 0);
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	write_all(c, "d", 1);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 2000), 1);
	CHECK_EQ(ev.data.fd, l);
	int s = accept_first_byte(l, 'd');
	close(c);
	close(s);
}

int main(void)
{
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	uint16_t port;
	int l = listen_lo(&port);
	set_nonblock(l, 1);
	int ep = OK(epoll_create1(0));
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev));

	set_defer(l, 5);
	deferred(ep, l, port);

	/* cleared: a silent client is acceptable at once */
	set_defer(l, 0);
	int c = connect_lo(port);
	require_xio(c);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 2000), 1);
	CHECK_EQ(ev.data.fd, l);
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	close(c);
	close(s);

	set_defer(l, 5);
	deferred(ep, l, port);
	close(ep);
	close(l);
	printf("defer_accept_epoll: ok\n");
	return 0;
}
